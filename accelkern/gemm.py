"""GEMM through cuBLASLt, cuBLAS and torch for every dtype, and cuBLASLt's algorithm explorer.

Problem convention (cuBLAS's own, column-major): D[M x N] = op(A)[M x K] . op(B)[K x N] over a batch.
`layout` names op(A) and op(B): 't' = transposed, 'n' = not. The default 'tn' stores both operands
K-contiguous: A as a row-major [M, K] tensor and B as a row-major [N, K] tensor (torch's
`A @ B.T`), the layout cuBLASLt's fp8 kernels require below sm_100 and its fastest on Hopper. D is
stored column-major: a row-major [N, M] tensor. A tile 'RxC' is R rows (M) by C columns (N) of D.

FLOPs = 2*M*N*K per batch entry. Inputs are random (normal floats, small integers for int8), never
zero, rotated over enough sets to exceed the L2 (or the L2 is flushed); outputs are poisoned before a
check against a float64 reference of a top-left and a bottom-right block (checks.TOLERANCES).

Workspace: 32 MiB on sm_90 and newer, 4 MiB before, as cuBLAS recommends: Hopper's split-K and
stream-K kernels keep partial tiles and tile counters there, and with less workspace the heuristic
leaves them out (slower on shapes with few output tiles).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Iterator

from accelkern import _ext, checks, figures, timing, torch_backend
from accelkern.errors import AccelkernError, Unavailable
from accelkern.results import Row
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
    blas: str            # name in csrc/blas/gemm_desc.cu
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
           "bfloat16": "bf16"}
# what `--dtype all` runs (the fp8 operand mixes and fp16 accumulation on request only)
MAIN_DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")


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


# ---- layout rules -----------------------------------------------------------------------------------

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
    st = storage(layout, m, n, k)
    if dt.fp8:
        if (cc is None or tuple(cc) < (10, 0)) and layout != "tn":
            return (f"fp8 on sm_89/sm_90 runs only in layout tn (A transposed, B not: both operands "
                    f"K-contiguous, A as [M,K] and B as [N,K] row-major); got {layout}")
        if k % 16 or m % 16:
            return (f"fp8 needs K and M to be multiples of 16 (16-byte aligned operand rows and output "
                    f"columns); got M={m}, K={k}")
    if dt.name == "int8":
        lda, ldb = st["lda"], st["ldb"]
        if lda % 4 or ldb % 4:
            return (f"int8 needs the leading dimensions of A and B to be multiples of 4 (4-byte aligned "
                    f"int8 rows; layout {layout}: lda={lda}, ldb={ldb})"
                    + ("; with tn that is K % 4 == 0" if layout == "tn" else ""))
    return None


def capability_missing(dtype: str, device: str) -> str | None:
    """Why the cuBLAS/cuBLASLt paths cannot run this dtype on this device, or None."""
    dt = gemm_dtype(dtype)
    if not str(device).startswith("cuda"):
        return f"cuBLAS/cuBLASLt need a CUDA device (this run is on {device})"
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


# ---- algorithms ---------------------------------------------------------------------------------------

REDUCTIONS = {0: "none", 1: "inplace", 2: "compute_type", 4: "output_type"}
MMA_KINDS = {0x1: "fma", 0x2: "hmma", 0x4: "imma", 0x8: "dmma"}


@dataclass
class AlgoInfo:
    """One cuBLASLt algorithm for one problem, its enums turned into numbers."""
    index: int               # rank in the heuristic list (0 = heuristic's first choice)
    algo_id: int
    tile: str | None         # '128x256': rows (M) x cols (N) of D per CTA; None if undefined
    tile_m: int | None
    tile_n: int | None
    stages: int | None       # pipeline stages (None: AUTO or undefined)
    cluster: str | None      # '2x1x1' CTAs per cluster (M x N x 1); None: AUTO / no clusters
    cluster_m: int | None
    cluster_n: int | None
    splitk: int              # 1 = none
    reduction: str           # 'none', 'inplace', 'compute_type', 'output_type'
    swizzle: int
    custom_option: int
    workspace_bytes: int
    waves_count: float       # cuBLASLt's wavesCount from the heuristic (or the algo check)
    raw: tuple               # the opaque cublasLtMatmulAlgo_t data (8 x uint64), reusable
    stages_k: int | None = None      # K depth of one stage
    stages_str: str | None = None    # '64x4', '128xAUTO'
    tile_id: int = 0
    stages_id: int = 0
    cluster_id: int = 0
    inner_shape_id: int = 0
    mma: str | None = None           # numerical implementation: hmma, imma, fma, ...

    @property
    def label(self) -> str:
        parts = [f"#{self.index} algo {self.algo_id}", self.tile or "tile ?"]
        if self.stages_str:
            parts.append(f"stages {self.stages_str}")
        if self.cluster:
            parts.append(f"cluster {self.cluster}")
        if self.splitk > 1:
            parts.append(f"splitK {self.splitk} ({self.reduction})")
        return ", ".join(parts)

    def config(self) -> dict:
        """Row.config fields (raw left out: it is only meaningful to the same cuBLASLt build)."""
        d = asdict(self)
        d.pop("raw")
        d["algo_index"] = d.pop("index")
        return d


_TABLES: dict | None = None


def enum_tables() -> dict:
    """cuBLASLt's tile / stages / cluster enum tables from accelkern._C (generated from cublasLt.h)."""
    global _TABLES
    if _TABLES is None:
        _TABLES = dict(_ext.require().lt_enum_tables())
    return _TABLES


def tile_dims(tile_id: int) -> tuple[int, int] | None:
    """CUBLASLT_MATMUL_TILE_<R>x<C> id -> (R, C); None for UNDEFINED or an id this build does not know."""
    v = enum_tables()["tile"].get(int(tile_id))
    return None if v is None else (int(v[0]), int(v[1]))


def stages_dims(stages_id: int) -> tuple[int, int | None] | None:
    """CUBLASLT_MATMUL_STAGES_<K>x<N> id -> (K per stage, N stages; None for AUTO)."""
    v = enum_tables()["stages"].get(int(stages_id))
    return None if v is None else (int(v[0]), int(v[1]) or None)


def cluster_dims(cluster_id: int) -> tuple[int, int, int] | None:
    """CUBLASLT_CLUSTER_SHAPE_<X>x<Y>x<Z> id -> (X, Y, Z); None for AUTO (0) or unknown."""
    v = enum_tables()["cluster"].get(int(cluster_id))
    return None if v is None else (int(v[0]), int(v[1]), int(v[2]))


def mma_kind(impl_flags: int) -> str | None:
    if impl_flags is None or impl_flags < 0:
        return None
    op = impl_flags & 0xFF
    return MMA_KINDS.get(op, f"0x{op:x}" if op else None)


def algo_info(index: int, d: dict) -> AlgoInfo:
    """AlgoInfo from accelkern._C's algorithm dict (ids, workspace, waves)."""
    tile = tile_dims(d["tile_id"]) if d["tile_id"] > 0 else None
    st = stages_dims(d["stages_id"]) if d["stages_id"] > 0 else None
    cl = cluster_dims(d["cluster_id"]) if d["cluster_id"] > 0 else None
    if st:
        stages_str = f"{st[0]}x{st[1] if st[1] else 'AUTO'}"
    elif d["stages_id"] > 0:
        stages_str = f"id {d['stages_id']}"
    else:
        stages_str = None
    return AlgoInfo(
        index=int(index), algo_id=int(d["algo_id"]),
        tile=f"{tile[0]}x{tile[1]}" if tile else (f"id {d['tile_id']}" if d["tile_id"] > 0 else None),
        tile_m=tile[0] if tile else None, tile_n=tile[1] if tile else None,
        stages=st[1] if st else None, cluster=f"{cl[0]}x{cl[1]}x{cl[2]}" if cl else None,
        cluster_m=cl[0] if cl else None, cluster_n=cl[1] if cl else None,
        splitk=max(1, int(d["splitk"])), reduction=REDUCTIONS.get(int(d["reduction_id"]), f"id {d['reduction_id']}"),
        swizzle=int(d["swizzle"]), custom_option=int(d["custom_option"]),
        workspace_bytes=int(d.get("workspace_bytes", 0)), waves_count=float(d.get("waves_count", 0.0)),
        raw=tuple(int(x) for x in d["raw"]), stages_k=st[0] if st else None, stages_str=stages_str,
        tile_id=int(d["tile_id"]), stages_id=int(d["stages_id"]), cluster_id=int(d["cluster_id"]),
        inner_shape_id=int(d["inner_shape_id"]), mma=mma_kind(d.get("impl_flags", -1)))


# ---- operands and plans -------------------------------------------------------------------------------

def _torch_dtype(attr: str):
    import torch
    return getattr(torch, attr)


class _Operands:
    """Inputs (one set per rotation slot), the output and the workspace of one GEMM problem, stored as
    `storage()` says, plus the description the C++ plans take."""

    def __init__(self, dtype: str, m: int, n: int, k: int, device: str, *, batch: int = 1, layout: str | None = None,
                 out: str | None = None, fast_accum: bool | None = None, workspace_bytes: int | None = None,
                 slots: int | None = None, cache_bytes: int | None = None, seed: int = 0, values: str = "normal",
                 allocate: bool = True):
        import torch
        self.dt = gemm_dtype(dtype)
        self.layout = parse_layout(layout)
        if min(m, n, k) <= 0 or batch <= 0:
            raise AccelkernError(f"GEMM {m}x{n}x{k} batch {batch}: M, N, K and batch must be positive")
        if max(m, n, k) > MAX_DIM:
            raise AccelkernError(f"GEMM {m}x{n}x{k}: sizes must be at most {MAX_DIM} (cuBLAS uses int32)")
        why = capability_missing(self.dt.name, device)
        if why:
            raise Unavailable(why)
        self.device = str(torch.device(device)) if ":" in str(device) else f"cuda:{torch.cuda.current_device()}"
        self.dev_index = torch.device(self.device).index
        cc = torch.cuda.get_device_capability(self.dev_index)
        rule = layout_rule_violation(self.dt.name, m, n, k, self.layout, cc)
        if rule:
            raise AccelkernError(rule)
        if out is not None and not self.dt.fp8:
            raise AccelkernError(f"an output dtype can be chosen for fp8 only (got {out} for {self.dt.name})")
        self.out = (out or "bf16") if self.dt.fp8 else None
        if self.out is not None and self.out not in FP8_OUTPUTS:
            raise AccelkernError(f"fp8 output '{self.out}' not supported; allowed: {', '.join(FP8_OUTPUTS)}")
        self.fast_accum = bool(True if fast_accum is None else fast_accum) if self.dt.fp8 else None
        self.shape = BatchedShape(m, n, k, batch)
        self.m, self.n, self.k, self.batch = m, n, k, batch
        self.st = st = storage(self.layout, m, n, k)
        self.a_dtype = _torch_dtype(self.dt.a)
        self.b_dtype = _torch_dtype(self.dt.b)
        self.d_dtype = _torch_dtype({"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[self.out]
                                    if self.out else self.dt.out)
        esz = lambda t: torch.empty((), dtype=t).element_size()
        self.a_es, self.b_es, self.d_es = esz(self.a_dtype), esz(self.b_dtype), esz(self.d_dtype)
        ra, ca = st["a"]
        rb, cb = st["b"]
        self.stride_a, self.stride_b, self.stride_d = ra * ca, rb * cb, m * n
        self.workspace_bytes = default_workspace_bytes(cc) if workspace_bytes is None else int(workspace_bytes)
        if self.workspace_bytes < 0:
            raise AccelkernError("workspace size must be >= 0 bytes")
        self.set_bytes = batch * (self.stride_a * self.a_es + self.stride_b * self.b_es)
        self.out_bytes = batch * self.stride_d * self.d_es
        self.desc = {
            "dtype": self.dt.blas, "out": self.out or "", "trans_a": st["trans_a"], "trans_b": st["trans_b"],
            "m": m, "n": n, "k": k, "lda": st["lda"], "ldb": st["ldb"], "ldd": st["ldd"], "batch": batch,
            "stride_a": self.stride_a if batch > 1 else 0, "stride_b": self.stride_b if batch > 1 else 0,
            "stride_d": self.stride_d if batch > 1 else 0,
            # every tensor starts 256-byte aligned (torch's allocator); rows and batch entries may not
            "align_a": _pow2_align(st["lda"] * self.a_es, self.stride_a * self.a_es if batch > 1 else 0),
            "align_b": _pow2_align(st["ldb"] * self.b_es, self.stride_b * self.b_es if batch > 1 else 0),
            "align_d": _pow2_align(st["ldd"] * self.d_es, self.stride_d * self.d_es if batch > 1 else 0),
            "fast_accum": bool(self.fast_accum),
        }
        self.a_scale = self.b_scale = None
        if self.dt.fp8:  # per-tensor scales, 1.0 while timing (check() proves they are applied)
            self.a_scale = torch.ones(1, dtype=torch.float32, device=self.device)
            self.b_scale = torch.ones(1, dtype=torch.float32, device=self.device)
            self.desc["a_scale"], self.desc["b_scale"] = self.a_scale, self.b_scale
        self.a: list = []
        self.b: list = []
        self.d = None
        self.workspace = None
        self.slots = 0
        if allocate:
            self._allocate(slots, cache_bytes, seed, values)

    def _allocate(self, slots, cache_bytes, seed, values):
        import torch
        free = torch_backend.free_bytes(self.device)
        fixed = self.out_bytes + self.workspace_bytes
        need = self.set_bytes + fixed
        if free is not None and need > 0.9 * free:
            raise Unavailable(
                f"GEMM {self.shape} {self.dt.name} needs {need / 2**30:.2f} GiB (inputs {self.set_bytes / 2**30:.2f}, "
                f"output {self.out_bytes / 2**30:.2f}, workspace {self.workspace_bytes / 2**20:.0f} MiB), "
                f"only {free / 2**30:.2f} GiB free on {self.device}")
        if cache_bytes is None:
            props = torch.cuda.get_device_properties(self.dev_index)
            cache_bytes = int(getattr(props, "L2_cache_size", 0)) or None
        budget = None if free is None else int(0.8 * free) - fixed
        self.slots = int(slots) if slots else timing.rotation_slots(self.set_bytes, cache_bytes, budget)
        self.cache_bytes = cache_bytes
        gen = torch.Generator(device=self.device).manual_seed(seed)
        b, (ra, ca), (rb, cb) = self.batch, self.st["a"], self.st["b"]
        # column-major rows x cols == row-major [cols, rows]
        self.a = [self.random((b, ca, ra), self.a_dtype, gen, values) for _ in range(self.slots)]
        self.b = [self.random((b, cb, rb), self.b_dtype, gen, values) for _ in range(self.slots)]
        self.d = torch.empty((b, self.n, self.m), dtype=self.d_dtype, device=self.device)
        self.workspace = torch.empty(max(self.workspace_bytes, 0), dtype=torch.uint8, device=self.device)

    def random(self, shape, dtype, gen, values: str):
        """Normal floats (small integers in [-8, 8) for int8), or small integers in [-2, 2] for exact checks;
        zeros are redrawn as 1 so no input is zero."""
        import torch
        if dtype == torch.int8:
            lo, hi = (-8, 8) if values == "normal" else (-2, 3)
            x = torch.randint(lo, hi, shape, dtype=torch.int8, device=self.device, generator=gen)
            return torch.where(x == 0, torch.ones_like(x), x)
        if values == "normal":
            x = torch.randn(shape, dtype=torch.float32, device=self.device, generator=gen)
        elif values == "small_int":
            x = torch.randint(-2, 3, shape, device=self.device, generator=gen).to(torch.float32)
        else:
            raise ValueError(f"values must be 'normal' or 'small_int', got {values}")
        # decided in float32 (fp8 types lack most ops): whatever rounds to zero in `dtype` becomes 1
        x = torch.where(x.to(dtype).to(torch.float32) == 0, torch.ones_like(x), x)
        return x.to(dtype)

    # math views: op(A) as [M, K], op(B) as [K, N], D as [M, N]
    def a_math(self, slot: int, i: int):
        return col_major_op(self.a[slot][i], self.st["trans_a"])

    def b_math(self, slot: int, i: int):
        return col_major_op(self.b[slot][i], self.st["trans_b"])

    def d_math(self, i: int):
        return col_major_op(self.d[i], False)

    def check(self, run: Callable[[int], object], tol_key: str, block: int = 256) -> tuple[bool, float, float]:
        """Poisons D, runs slot 0, compares a top-left and a bottom-right block (first and last batch entry)
        with a float64 reference of the same inputs. fp8 runs with scales 2.0 and 0.25 so a scale left out
        or applied twice shows."""
        import torch
        checks.poison_(self.d)
        scale = 1.0
        if self.a_scale is not None:
            self.a_scale.fill_(2.0)
            self.b_scale.fill_(0.25)
            scale = 0.5
        try:
            run(0)
            torch.cuda.synchronize(self.dev_index)
        finally:
            if self.a_scale is not None:
                self.a_scale.fill_(1.0)
                self.b_scale.fill_(1.0)
        ok, worst, tol = True, 0.0, checks.tolerance(tol_key)
        rows = _blocks(self.m, block)
        cols = _blocks(self.n, block)
        for i in sorted({0, self.batch - 1}):
            a, b, d = self.a_math(0, i), self.b_math(0, i), self.d_math(i)
            for r0, r1 in rows:
                a64 = a[r0:r1].to(torch.float32).to("cpu", torch.float64)
                for c0, c1 in cols:
                    b64 = b[:, c0:c1].to(torch.float32).to("cpu", torch.float64)
                    ref = (a64 @ b64) * scale
                    good, err, tol = checks.compare(d[r0:r1, c0:c1], ref, tol_key)
                    ok = ok and good
                    worst = max(worst, err)
        return ok, worst, tol

    def close(self):
        self.a = self.b = []
        self.d = self.workspace = self.a_scale = self.b_scale = None
        self.desc = {}


def _blocks(size: int, block: int) -> list[tuple[int, int]]:
    """[first block, last block] ranges of a dimension (one range when they overlap)."""
    if size <= 2 * block:
        return [(0, size)]
    return [(0, block), (size - block, size)]


def _lt_unavailable(ops: _Operands, what: str) -> Unavailable:
    dt = ops.dt
    hint = {"fp8": "fp8: layout tn, M and K multiples of 16",
            "int8": "int8: leading dimensions of A and B multiples of 4"}.get(dt.base if dt.fp8 else dt.name, "")
    return Unavailable(f"cuBLASLt {what} for {dt.name} {ops.shape} layout {ops.layout}"
                       f"{' (' + hint + ')' if hint else ''}")


def heuristic_algos(dtype: str, m: int, n: int, k: int, device: str = "cuda", layout: str | None = None,
                    top_k: int = 8, workspace_bytes: int | None = None, *, batch: int = 1, out: str | None = None,
                    fast_accum: bool | None = None) -> list[AlgoInfo]:
    """cublasLtMatmulAlgoGetHeuristic's top_k algorithms for this problem, best first ([] if none fits).
    Alignment is that of tightly packed tensors from torch's allocator (what CublasLtGemm runs)."""
    if top_k < 1:
        raise AccelkernError(f"top_k must be >= 1 (got {top_k})")
    ops = _Operands(dtype, m, n, k, device, batch=batch, layout=layout, out=out, fast_accum=fast_accum,
                    workspace_bytes=workspace_bytes, allocate=False)
    try:
        plan = _ext.require().LtMatmulPlan(ops.desc, ops.dev_index)
        try:
            found = plan.heuristic(int(top_k), int(ops.workspace_bytes))
        except RuntimeError as exc:
            raise _lt_unavailable(ops, f"heuristic refused ({str(exc).splitlines()[0]})") from None
        return [algo_info(i, d) for i, d in enumerate(found)]
    finally:
        ops.close()


class CublasLtGemm:
    """D = op(A) op(B) through cublasLtMatmul with one chosen algorithm, rotating over `slots` input sets:
    a callable workload for timing.measure, like torch_backend.TorchGemm.

    algo=None: the heuristic's first choice; int i: the heuristic's i-th; AlgoInfo: that exact algorithm
    (its raw data) for this problem, checked with cublasLtMatmulAlgoCheck (Unavailable if it cannot run).
    """

    name = "cublasLt"

    def __init__(self, dtype: str, m: int, n: int, k: int, device: str = "cuda", *, layout: str | None = None,
                 algo: AlgoInfo | int | None = None, workspace_bytes: int | None = None, slots: int | None = None,
                 cache_bytes: int | None = None, seed: int = 0, batch: int = 1, out: str | None = None,
                 fast_accum: bool | None = None, values: str = "normal", top_k: int = 8):
        self.ops = _Operands(dtype, m, n, k, device, batch=batch, layout=layout, out=out, fast_accum=fast_accum,
                             workspace_bytes=workspace_bytes, slots=slots, cache_bytes=cache_bytes, seed=seed,
                             values=values)
        try:
            self.plan = _ext.require().LtMatmulPlan(self.ops.desc, self.ops.dev_index)
            self.plan.set_workspace(self.ops.workspace)
            self._algos: list[AlgoInfo] | None = None
            want = int(algo) + 1 if isinstance(algo, int) and not isinstance(algo, bool) else 1
            self._top_k = max(int(top_k), want)
            self.algo: AlgoInfo = self._resolve(algo)
            self._use(self.algo)
        except BaseException:
            self.ops.close()
            raise
        self.dtype, self.device, self.layout = self.ops.dt.name, self.ops.device, self.ops.layout
        self.shape, self.slots = self.ops.shape, self.ops.slots

    @property
    def output(self):
        """The output tensor (D) every call writes."""
        return self.ops.d

    @property
    def algos(self) -> list[AlgoInfo]:
        """The heuristic's top-K list for this problem (K = top_k given, at least the index asked)."""
        if self._algos is None:
            try:
                found = self.plan.heuristic(self._top_k, int(self.ops.workspace_bytes))
            except RuntimeError as exc:
                raise _lt_unavailable(self.ops, f"heuristic refused ({str(exc).splitlines()[0]})") from None
            self._algos = [algo_info(i, d) for i, d in enumerate(found)]
        return self._algos

    def _resolve(self, algo) -> AlgoInfo:
        if algo is None or (isinstance(algo, int) and not isinstance(algo, bool)):
            idx = 0 if algo is None else int(algo)
            if idx < 0:
                raise AccelkernError(f"algorithm index must be >= 0 (got {idx})")
            if not self.algos:
                raise _lt_unavailable(self.ops, f"has no algorithm within {self.ops.workspace_bytes / 2**20:.0f} MiB "
                                                f"of workspace")
            if idx >= len(self.algos):
                raise Unavailable(f"algorithm index {idx} out of range: the heuristic offers {len(self.algos)} "
                                     f"for {self.ops.dt.name} {self.ops.shape} (0..{len(self.algos) - 1})")
            return self.algos[idx]
        if isinstance(algo, AlgoInfo):
            res = self.plan.check(list(algo.raw))
            if res["status"] != 0:
                raise Unavailable(f"algorithm {algo.label} cannot run {self.ops.dt.name} {self.ops.shape} layout "
                                  f"{self.ops.layout}: cublasLtMatmulAlgoCheck says {res['status_name']}")
            info = algo_info(algo.index, res)
            if info.workspace_bytes > self.ops.workspace_bytes:
                raise Unavailable(f"algorithm {algo.label} needs {info.workspace_bytes} B of workspace for "
                                  f"{self.ops.shape}, the limit is {self.ops.workspace_bytes} B")
            return info
        raise TypeError(f"algo must be None, an int or an AlgoInfo (got {type(algo).__name__})")

    def set_algo(self, algo: AlgoInfo | int | None):
        """Switches to another algorithm (same rules as the constructor's `algo`)."""
        info = self._resolve(algo)
        self._use(info)
        self.algo = info

    def _use(self, info: AlgoInfo):
        """Selects the algorithm and runs it once: a call cuBLASLt refuses becomes Unavailable here."""
        self.plan.set_algo(list(info.raw))
        try:
            self(0)
        except RuntimeError as exc:
            raise Unavailable(f"cublasLtMatmul with {info.label} failed for {self.ops.dt.name} {self.ops.shape} "
                              f"layout {self.ops.layout}: {str(exc).splitlines()[0]}") from None

    def __call__(self, slot: int):
        self.plan.run(self.ops.a[slot], self.ops.b[slot], self.ops.d)

    def check(self) -> tuple[bool, float, float]:
        """(ok, max error, tolerance) of the current algorithm on poisoned output (see _Operands.check)."""
        return self.ops.check(self, self.ops.dt.tolerance_key)

    def config(self) -> dict:
        c = self.algo.config()
        c.update(self.ops_config())
        return c

    def ops_config(self) -> dict:
        o = self.ops
        c = {"batch": o.batch, "slots": o.slots, "workspace_limit_bytes": o.workspace_bytes,
             "accumulate": o.dt.accumulate, "lda": o.st["lda"], "ldb": o.st["ldb"], "ldd": o.st["ldd"]}
        if o.dt.fp8:
            c.update(out=o.out, fast_accum=o.fast_accum, a=o.dt.a, b=o.dt.b)
        return c

    def close(self):
        self.plan = None
        self.ops.close()


class CublasGemm:
    """The same problem through cublasGemmEx (cublasGemmStridedBatchedEx for batch > 1), CUBLAS_GEMM_DEFAULT."""

    def __init__(self, dtype: str, m: int, n: int, k: int, device: str = "cuda", *, layout: str | None = None,
                 workspace_bytes: int | None = None, slots: int | None = None, cache_bytes: int | None = None,
                 seed: int = 0, batch: int = 1, values: str = "normal"):
        dt = gemm_dtype(dtype)
        if not dt.cublas:
            raise Unavailable(f"cublasGemmEx has no {dt.name} (fp8 runs through cuBLASLt only)")
        self.ops = _Operands(dtype, m, n, k, device, batch=batch, layout=layout, workspace_bytes=workspace_bytes,
                             slots=slots, cache_bytes=cache_bytes, seed=seed, values=values)
        try:
            self.plan = _ext.require().CublasGemmPlan(self.ops.desc, self.ops.dev_index)
            self.plan.set_workspace(self.ops.workspace)
            try:  # one call: a configuration cuBLAS refuses becomes Unavailable here
                self(0)
            except RuntimeError as exc:
                raise Unavailable(f"cublasGemmEx failed for {dt.name} {self.ops.shape} layout {self.ops.layout}: "
                                  f"{str(exc).splitlines()[0]}") from None
        except BaseException:
            self.ops.close()
            raise
        self.name = "cublasGemmEx" if batch == 1 else "cublasGemmStridedBatchedEx"
        self.dtype, self.device, self.layout = dt.name, self.ops.device, self.ops.layout
        self.shape, self.slots = self.ops.shape, self.ops.slots

    def __call__(self, slot: int):
        self.plan.run(self.ops.a[slot], self.ops.b[slot], self.ops.d)

    def check(self) -> tuple[bool, float, float]:
        return self.ops.check(self, self.ops.dt.tolerance_key)

    def config(self) -> dict:
        o = self.ops
        return {"algo": "CUBLAS_GEMM_DEFAULT", "batch": o.batch, "slots": o.slots,
                "workspace_limit_bytes": o.workspace_bytes, "accumulate": o.dt.accumulate,
                "lda": o.st["lda"], "ldb": o.st["ldb"], "ldd": o.st["ldd"]}

    def close(self):
        self.plan = None
        self.ops.close()


# ---- measuring: rows ------------------------------------------------------------------------------

@dataclass
class GemmRequest:
    """What the CLI (or a suite) asks for: one dtype, one shape, how to run it."""
    dtype: str
    m: int
    n: int
    k: int
    batch: int = 1
    layout: str = DEFAULT_LAYOUT
    out: str | None = None           # fp8 output dtype (default bf16)
    fast_accum: bool | None = None   # fp8 fast accumulation (default on)
    workspace_bytes: int | None = None
    check: bool = True
    algo_index: int | None = None    # cublaslt: run this heuristic index instead of the first
    top_k: int | None = None         # cublaslt: explore the heuristic's top K and time each

    @property
    def shape(self) -> BatchedShape:
        return BatchedShape(self.m, self.n, self.k, self.batch)


def _base_row(req: GemmRequest, backend: str, name: str, layout: str | None) -> Row:
    return Row(suite="gemm", name=name, dtype=gemm_dtype(req.dtype).name, shape=str(req.shape), layout=layout,
               backend=backend, flops=req.shape.flops)


def skipped_row(req: GemmRequest, backend: str, why: str) -> Row:
    row = _base_row(req, backend, backend, req.layout)
    row.status, row.note = "skipped", why
    return row


def _spec_dtype(dtype: str, device_info) -> str:
    return torch_backend.spec_dtype(gemm_dtype(dtype).base, device_info.kind, device_info.compute_capability)


def _short_call(w, device: str) -> bool:
    """True when one call takes under 50 us: such calls are timed as CUDA-graph replays."""
    import torch
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    w(0)
    start.record()
    for i in range(5):
        w(i % w.slots)
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 5 < 0.05


def measure_workload(w, device: str, rule: timing.StopRule | None, cache_bytes: int | None = None):
    """timing.measure with rotation, an L2 flush when the rotated sets do not exceed the cache, and graph
    replay for short calls."""
    ops = getattr(w, "ops", None)
    set_bytes = ops.set_bytes if ops else 0
    cache = cache_bytes or (ops.cache_bytes if ops else None) or 0
    flush = bool(cache) and set_bytes * w.slots < 3 * cache
    graph = str(device).startswith("cuda") and _short_call(w, device)
    return timing.measure(w, device, slots=w.slots, rule=rule, l2_flush=flush, graph=graph)


def _finish_row(row: Row, w, meas, device_info, spec, req: GemmRequest, chk) -> Row:
    if chk is not None:
        row.correct, row.max_error, row.tolerance = chk
    row.config.setdefault("l2_flush", meas.mode.get("l2_flush"))
    row.config.setdefault("graph", meas.mode.get("graph"))
    return figures.compute_row(row, meas, device_info, spec, _spec_dtype(req.dtype, device_info))


def lt_rows(req: GemmRequest, device_info, spec, rule: timing.StopRule | None = None,
            progress: Callable[[str], None] = lambda m: None) -> Iterator[Row]:
    """cuBLASLt: the heuristic's choice (or index), or with req.top_k every one of the top K, each timed
    (and checked); explorer rows come out in heuristic order, the fastest marked 'best of K'."""
    dev = device_info.torch_device
    start_algo = req.algo_index if req.top_k is None else None
    w = CublasLtGemm(req.dtype, req.m, req.n, req.k, dev, layout=req.layout, algo=start_algo,
                     workspace_bytes=req.workspace_bytes, batch=req.batch, out=req.out, fast_accum=req.fast_accum,
                     cache_bytes=device_info.l2_bytes, top_k=req.top_k or 8)
    try:
        algos = w.algos if req.top_k else [w.algo]
        rows: list[Row] = []
        try:
            for a in algos:
                progress(f"  gemm {w.dtype} {w.shape} cublasLt {a.label}")
                try:
                    w.set_algo(a)
                except Unavailable as exc:  # one algorithm the library will not run: say so, go on
                    row = skipped_row(req, "cublaslt", str(exc))
                    row.kernel, row.config = f"#{a.index} algo {a.algo_id}", a.config()
                    rows.append(row)
                    continue
                chk = w.check() if req.check else None
                meas = measure_workload(w, dev, rule)
                row = _base_row(req, "cublaslt", w.name, w.layout)
                row.kernel = f"#{a.index} algo {a.algo_id}"
                row.config = w.config()
                if req.top_k:
                    row.config["explored"] = len(algos)
                rows.append(_finish_row(row, w, meas, device_info, spec, req, chk))
        except KeyboardInterrupt:
            yield from rows  # Ctrl-C keeps the algorithms already measured
            raise
        if req.top_k and rows:
            best = max((r for r in rows if r.value is not None and r.correct is not False),
                       key=lambda r: r.value, default=None)
            if best is not None:
                best.note = f"best of {len(rows)}" + (f"; {best.note}" if best.note else "")
                best.config["best_of"] = len(rows)
        yield from rows
    finally:
        w.close()


def cublas_rows(req: GemmRequest, device_info, spec, rule=None, progress=lambda m: None) -> Iterator[Row]:
    dev = device_info.torch_device
    w = CublasGemm(req.dtype, req.m, req.n, req.k, dev, layout=req.layout, workspace_bytes=req.workspace_bytes,
                   batch=req.batch, cache_bytes=device_info.l2_bytes)
    try:
        progress(f"  gemm {w.dtype} {w.shape} {w.name}")
        chk = w.check() if req.check else None
        meas = measure_workload(w, dev, rule)
        row = _base_row(req, "cublas", w.name, w.layout)
        row.kernel = "CUBLAS_GEMM_DEFAULT"
        row.config = w.config()
        yield _finish_row(row, w, meas, device_info, spec, req, chk)
    finally:
        w.close()


def torch_rows(req: GemmRequest, device_info, spec, rule=None, progress=lambda m: None) -> Iterator[Row]:
    """The foundation's torch backend on the same M, N, K: torch.mm (row-major A[M,K] @ B[K,N]),
    torch._scaled_mm (fp8 e4m3, bf16 out) or torch._int_mm."""
    dt = gemm_dtype(req.dtype)
    dev = device_info.torch_device
    if not dt.torch:
        raise Unavailable(f"the torch backend has no {dt.name} (it times fp32, tf32, fp16, bf16, fp8 e4m3 x e4m3 "
                          f"with bf16 output, int8)")
    if req.batch > 1:
        raise Unavailable("the torch backend times single GEMMs (batch 1)")
    if dt.fp8 and (req.out or "bf16") != "bf16":
        raise Unavailable("torch._scaled_mm is timed with bf16 output only")
    why = torch_backend.gemm_unavailable(dt.name, dev)
    if why:
        raise Unavailable(why)
    w = torch_backend.TorchGemm(dt.name, req.m, req.n, req.k, dev, cache_bytes=device_info.l2_bytes)
    try:
        progress(f"  gemm {dt.name} {w.shape} {w.name}")
        chk = w.check() if req.check else None
        meas = timing.measure(w, dev, slots=w.slots, rule=rule)
        row = _base_row(req, "torch", w.name, f"{w.layout} (row-major)")
        row.kernel = w.name
        row.config = {"slots": w.slots, "layout_note": "torch's row-major A[M,K] @ B" +
                      ("[N,K].T" if w.layout == "nt" else "[K,N]")}
        if dt.fp8:
            row.config.update(out="bf16", fast_accum=False)
        yield _finish_row(row, w, meas, device_info, spec, req, chk)
    finally:
        w.close()


ROW_FUNCS = {"cublaslt": lt_rows, "cublas": cublas_rows, "torch": torch_rows}


def gemm_rows(req: GemmRequest, backend: str, device_info, spec, rule=None,
              progress: Callable[[str], None] = lambda m: None) -> Iterator[Row]:
    """Rows of one (request, backend); a capability this GPU/build lacks becomes a skipped row."""
    try:
        yield from ROW_FUNCS[backend](req, device_info, spec, rule, progress)
    except Unavailable as exc:
        yield skipped_row(req, backend, str(exc))
    except RuntimeError as exc:  # a CUDA/cuBLAS error mid-run: a failed row with the library's words
        row = skipped_row(req, backend, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        row.status = "failed"
        yield row


def check_requests(reqs: list[GemmRequest], cc: tuple | None, strict: bool = True) -> list[tuple[GemmRequest, str]]:
    """Layout/alignment rules (for a GPU of compute capability `cc`) before anything runs: a broken rule is
    an AccelkernError (strict) or returned as (request, rule) to be reported as a skipped row."""
    bad = []
    for r in reqs:
        why = layout_rule_violation(r.dtype, r.m, r.n, r.k, r.layout, cc)
        if why:
            if strict:
                raise AccelkernError(f"{gemm_dtype(r.dtype).name} {r.shape}: {why}")
            bad.append((r, why))
    return bad


# ---- columns for the gemm table --------------------------------------------------------------------

def _cfg(key):
    return lambda r: (r.config or {}).get(key)


def _algo_col(r: Row):
    return r.kernel if r.backend == "cublaslt" else None


def _splitk(r: Row):
    c = r.config or {}
    if "splitk" not in c:
        return None
    return str(c["splitk"]) + (f" {c['reduction']}" if c.get("splitk", 1) > 1 else "")


def _workspace(r: Row):
    from accelkern.units import format_bytes
    ws = (r.config or {}).get("workspace_bytes")
    return None if ws is None else format_bytes(ws)


def _columns():
    from accelkern import tables
    C = tables.Column
    return (
        C("dtype", lambda r: r.dtype),
        C("shape", lambda r: r.shape),
        C("layout", lambda r: r.layout),
        C("backend", lambda r: r.backend),
        C("algo", _algo_col),
        C("tile", _cfg("tile")),
        C("stages", _cfg("stages_str")),
        C("cluster", _cfg("cluster")),
        C("splitK", _splitk),
        C("swizzle", _cfg("swizzle")),
        C("custom", _cfg("custom_option")),
        C("workspace", _workspace),
        C("waves", _cfg("waves_count"), "{:.2f}"),
        C("measured", lambda r: None if r.value is None else
          f"{r.value:.1f} {r.metric}" if r.value >= 1 else f"{r.value:.4g} {r.metric}"),
        C("spec", lambda r: r.spec_value, "{:.4g}"),
        C("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
        C("% clk peak", lambda r: r.pct_of_clock_peak, "{:.1f}"),
        C("spread", lambda r: r.rel_stddev, "{:.1%}"),
        C("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
        C("power W", lambda r: r.power_mean_w, "{:.0f}"),
        C("throttle", lambda r: r.throttle),
        C("ok", lambda r: r.correct),
        C("note", lambda r: f"{r.status}: {r.note}" if r.status != "ok" else (r.note or "")),
    )


GEMM_COLUMNS = None  # built on first use (tables imports results)


def columns():
    global GEMM_COLUMNS
    if GEMM_COLUMNS is None:
        GEMM_COLUMNS = _columns()
    return GEMM_COLUMNS


def order_rows(rows: list[Row]) -> list[Row]:
    """Keeps (dtype, shape) groups in run order; within a group the cuBLASLt explorer rows by measured
    throughput (fastest first), then the other backends."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((r.dtype, r.shape), []).append(r)
    out = []
    for g in groups.values():
        lt = [r for r in g if r.backend == "cublaslt"]
        rest = [r for r in g if r.backend != "cublaslt"]
        lt.sort(key=lambda r: -(r.value if r.value is not None else -math.inf))
        out += lt + rest
    return out


# ---- validate suite --------------------------------------------------------------------------------

VALIDATE_DTYPES = MAIN_DTYPES
VALIDATE_TOP_K = 4


def validate_rows(ctx) -> Iterator[Row]:
    """Per dtype at 8192^3: the best of the heuristic's top 4 cuBLASLt algorithms vs the datasheet."""
    dev = ctx.device
    if _ext.load() is None:
        raise Unavailable(_ext.error())
    n_left = len(VALIDATE_DTYPES)
    for dtype in VALIDATE_DTYPES:
        req = GemmRequest(dtype, 8192, 8192, 8192, top_k=VALIDATE_TOP_K, check=False)
        rule = ctx.rule(n_left * VALIDATE_TOP_K, min_s=0.2)
        n_left -= 1
        rows = list(gemm_rows(req, "cublaslt", dev, ctx.spec, rule, ctx.progress))
        ok_rows = [r for r in rows if r.status == "ok" and r.value is not None]
        if not ok_rows:
            yield rows[0] if rows else skipped_row(req, "cublaslt", "no result")
            continue
        best = max(ok_rows, key=lambda r: r.value)
        # the winner is checked for correctness before it is reported
        w = CublasLtGemm(dtype, req.m, req.n, req.k, dev.torch_device, algo=_algo_from_config(best),
                         cache_bytes=dev.l2_bytes, slots=1, top_k=VALIDATE_TOP_K)
        try:
            best.correct, best.max_error, best.tolerance = w.check()
        except Unavailable as exc:
            best.note = f"not checked: {exc}"
        finally:
            w.close()
        best.suite = "gemm"
        best.note = f"best of {len(ok_rows)} cuBLASLt heuristic algorithms"
        yield best


def _algo_from_config(row: Row) -> int:
    return int(row.config.get("algo_index", 0))


def _register():
    from accelkern import validate
    validate.register(validate.Suite("gemm", "GEMM per dtype through cuBLASLt (best of the heuristic's top 4, "
                                     "8192^3)", validate_rows, devices=("cuda",), weight=3.0,
                                     needs="a CUDA GPU and accelkern._C (cuBLASLt)"))


_register()
