"""GEMM dtypes, options and the documented layout rules of cuBLAS/cuBLASLt.

Problem convention (cuBLAS's own, column-major): D[M x N] = op(A)[M x K] . op(B)[K x N] over a batch.
`layout` names op(A) and op(B): 't' = transposed, 'n' = not. The default 'tn' stores both operands
K-contiguous: A as a row-major [M, K] tensor and B as a row-major [N, K] tensor (torch's `A @ B.T`).
D is stored column-major: a row-major [N, M] tensor. FLOPs = 2*M*N*K per batch entry.
"""
from __future__ import annotations

from dataclasses import dataclass

from accelkern import _ext
from accelkern.errors import AccelkernError
from accelkern.torch_backend import GemmShape

LAYOUTS = ("tn", "nn", "nt", "tt")
DEFAULT_LAYOUT = "tn"
BACKENDS = ("cublaslt", "cublas", "torch")
FP8_OUTPUTS = ("bf16", "fp16", "fp32")
MAX_DIM = 2**31 - 1   # cuBLAS sizes and leading dimensions are int32


@dataclass(frozen=True)
class GemmDtype:
    """A GEMM flavour: input types, accumulation, output, and which datasheet column judges it."""
    name: str            # user-facing: 'bf16', 'fp8', 'fp8_e4m3_e5m2', ...
    blas: str | None     # name in csrc/blas/gemm_desc.cu; None: no cuBLAS/cuBLASLt path (torch only)
    a: str               # torch dtype attribute names of the inputs and the (default) output
    b: str
    out: str
    base: str            # spec column and tolerance row
    accumulate: str      # words for the table
    min_cc: tuple = (7, 0)
    cublas: bool = True  # cublasGemmEx offers it
    torch: bool = True   # the torch backend (torch.mm / _scaled_mm / _int_mm) offers it
    fp8: bool = False

    @property
    def tolerance_key(self) -> str:
        return "fp16_acc16" if self.name == "fp16_acc16" else self.base


DTYPES = {d.name: d for d in (
    GemmDtype("fp64", None, "float64", "float64", "float64", "fp64", "fp64", cublas=False),
    GemmDtype("fp32", "fp32", "float32", "float32", "float32", "fp32", "fp32 (no tensor cores)"),
    GemmDtype("tf32", "tf32", "float32", "float32", "float32", "tf32", "fp32, tf32 inputs", (8, 0)),
    GemmDtype("fp16", "fp16", "float16", "float16", "float16", "fp16", "fp32"),
    GemmDtype("fp16_acc16", "fp16_acc16", "float16", "float16", "float16", "fp16", "fp16", torch=False),
    GemmDtype("bf16", "bf16", "bfloat16", "bfloat16", "bfloat16", "bf16", "fp32", (8, 0)),
    GemmDtype("fp8", "fp8_e4m3", "float8_e4m3fn", "float8_e4m3fn", "bfloat16", "fp8", "fp32", (8, 9),
              cublas=False, fp8=True),
    GemmDtype("fp8_e4m3_e5m2", "fp8_e4m3_e5m2", "float8_e4m3fn", "float8_e5m2", "bfloat16", "fp8", "fp32",
              (8, 9), cublas=False, torch=False, fp8=True),
    GemmDtype("fp8_e5m2_e4m3", "fp8_e5m2_e4m3", "float8_e5m2", "float8_e4m3fn", "bfloat16", "fp8", "fp32",
              (8, 9), cublas=False, torch=False, fp8=True),
    GemmDtype("int8", "int8", "int8", "int8", "int32", "int8", "int32", (7, 5)),
)}
ALIASES = {"fp8_e4m3": "fp8", "e4m3": "fp8", "fp16acc16": "fp16_acc16", "float32": "fp32", "float16": "fp16",
           "bfloat16": "bf16", "float64": "fp64"}
# what `--dtype all` runs (the fp8 operand mixes and fp16 accumulation on request only)
MAIN_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")


def gemm_dtype(name: str) -> GemmDtype:
    key = ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if key not in DTYPES:
        raise AccelkernError(f"dtype '{name}' not supported; allowed: {', '.join(DTYPES)} (fp8 = e4m3 x e4m3)")
    return DTYPES[key]


def parse_dtypes(text: str) -> list[str]:
    """'bf16,fp8' -> ['bf16', 'fp8']; 'all' -> MAIN_DTYPES; every name checked."""
    from accelkern.units import split_list
    names = split_list(text)
    if not names:
        raise AccelkernError("--dtype is empty; give e.g. bf16 or bf16,fp8 or all")
    out: list[str] = []
    for n in names:
        for d in (MAIN_DTYPES if n.lower() == "all" else [gemm_dtype(n).name]):
            if d not in out:
                out.append(d)
    return out


def parse_layout(text: str | None) -> str:
    lay = (text or DEFAULT_LAYOUT).strip().lower()
    if lay not in LAYOUTS:
        raise AccelkernError(f"layout '{text}' not understood; allowed: {', '.join(LAYOUTS)} "
                             "(op(A) then op(B), t = transposed; tn = both operands K-contiguous)")
    return lay


def parse_shapes(text: str) -> list[tuple[int, int, int]]:
    """'8192x8192x8192,1x4096x4096' -> [(8192, 8192, 8192), (1, 4096, 4096)]."""
    from accelkern.units import parse_gemm_shape, split_list
    items = split_list(text)
    if not items:
        raise AccelkernError("--shape is empty; give MxNxK, e.g. 8192x8192x8192")
    shapes = [parse_gemm_shape(s) for s in items]
    for s, txt in zip(shapes, items):
        if max(s) > MAX_DIM:
            raise AccelkernError(f"shape '{txt}': M, N and K must be at most {MAX_DIM} (cuBLAS uses int32 sizes)")
    return shapes


def parse_backends(text: str) -> list[str]:
    from accelkern.units import split_list
    names = [b.lower() for b in split_list(text)]
    bad = [b for b in names if b not in BACKENDS]
    if bad or not names:
        raise AccelkernError(f"backend '{','.join(bad) or text}' not understood; allowed: {', '.join(BACKENDS)}")
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class BatchedShape(GemmShape):
    batch: int = 1

    @property
    def flops(self) -> float:
        """2*M*N*K per batch entry: one multiply and one add per term."""
        return 2.0 * self.m * self.n * self.k * self.batch

    def __str__(self):
        return f"{self.m}x{self.n}x{self.k}" + (f"x{self.batch}b" if self.batch > 1 else "")


def default_workspace_bytes(cc: tuple | None) -> int:
    """32 MiB on sm_90+ (Hopper's split-K/stream-K kernels want it), 4 MiB before (cuBLAS's guidance)."""
    return (32 << 20) if cc and tuple(cc) >= (9, 0) else (4 << 20)


# ---- layout rules ------------------------------------------------------------------------------------

def storage(layout: str, m: int, n: int, k: int) -> dict:
    """Column-major storage of A, B and D for a layout: rows, cols and leading dimension (elements)."""
    ta, tb = layout[0] == "t", layout[1] == "t"
    ra, ca = (k, m) if ta else (m, k)
    rb, cb = (n, k) if tb else (k, n)
    return {"trans_a": ta, "trans_b": tb, "a": (ra, ca), "b": (rb, cb), "d": (m, n), "lda": ra, "ldb": rb, "ldd": m}


def col_major_op(stored, trans: bool):
    """op(X) of a column-major matrix X held as its row-major transpose `stored` ([cols, rows]):
    X = stored.T, so op(X) = X^T = stored when transposed, else stored.T."""
    return stored if trans else stored.t()


def layout_rule_violation(dtype: str, m: int, n: int, k: int, layout: str, cc: tuple | None) -> str | None:
    """The documented cuBLAS/cuBLASLt rule this problem breaks, in words, or None."""
    dt = gemm_dtype(dtype)
    if dt.fp8:
        if (cc is None or tuple(cc) < (10, 0)) and layout != "tn":
            return (f"fp8 on sm_89/sm_90 runs only in layout tn (A transposed, B not: both operands "
                    f"K-contiguous, A as [M,K] and B as [N,K] row-major); got {layout}")
        if k % 16 or m % 16:
            return (f"fp8 needs K and M to be multiples of 16 (16-byte aligned operand rows and output "
                    f"columns); got M={m}, K={k}")
    if dt.name == "int8":
        # cuBLASLt's IMMA kernels with regular (column-major) ordering: TN only, lda = ldb = K and
        # ldc = M multiples of 4 (4-byte aligned int8 columns)
        if layout != "tn":
            return (f"int8 (IMMA tensor cores, regular ordering) runs only in layout tn (A transposed, B not: "
                    f"A as [M,K] and B as [N,K] row-major); got {layout}")
        if m % 4 or k % 4:
            return (f"int8 (IMMA, layout tn) needs M and K to be multiples of 4 (leading dimensions "
                    f"lda = ldb = K and ldc = M); got M={m}, K={k}")
    return None


def capability_missing(dtype: str, device: str) -> str | None:
    """Why the cuBLAS/cuBLASLt paths cannot run this dtype on this device, or None."""
    dt = gemm_dtype(dtype)
    if not str(device).startswith("cuda"):
        return f"cuBLAS/cuBLASLt need a CUDA device (this run is on {device})"
    if dt.blas is None:
        return f"accelkern._C has no cuBLAS/cuBLASLt {dt.name} GEMM (the torch backend times {dt.name})"
    if _ext.load() is None:
        return _ext.error()
    import torch
    cc = torch.cuda.get_device_capability(torch.device(device))
    if tuple(cc) < dt.min_cc:
        return (f"{dt.name} needs sm_{dt.min_cc[0]}{dt.min_cc[1]} or newer "
                f"(this GPU is sm_{cc[0]}{cc[1]})")
    return None


def _pow2_align(*byte_counts: int) -> int:
    """Largest power of two <= 256 dividing every count (0 counts ignored)."""
    a = 256
    for b in byte_counts:
        if b:
            a = min(a, b & -b)
    return a
