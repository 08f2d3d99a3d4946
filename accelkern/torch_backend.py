"""The torch backend for GEMM: torch.mm (fp8 via torch._scaled_mm, int8 via torch._int_mm) on any torch
device. It is the CPU path and the independent cross-check of the CUDA paths. Workloads are callables
`w(slot)` for timing.measure, with their work counted. (Memory bandwidth through torch: memory.TorchWorkload.)
"""
from __future__ import annotations

from dataclasses import dataclass

from accelkern import checks, timing
from accelkern.errors import AccelkernError, Unavailable

GEMM_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")


def torch_dtype(name: str):
    import torch
    table = {"fp64": torch.float64, "fp32": torch.float32, "tf32": torch.float32, "fp16": torch.float16,
             "bf16": torch.bfloat16, "fp8": torch.float8_e4m3fn, "int8": torch.int8}
    if name not in table:
        raise AccelkernError(f"dtype '{name}' not supported; allowed: {', '.join(table)}")
    return table[name]


def element_size(dtype: str) -> int:
    return {"fp64": 8, "fp32": 4, "tf32": 4, "fp16": 2, "bf16": 2, "fp8": 1, "int8": 1}[dtype]


def spec_dtype(dtype: str, device_kind: str, cc: tuple | None) -> str:
    """Which datasheet column a GEMM of this dtype is judged against (fp64 GEMM uses tensor cores on sm_80+)."""
    if dtype == "fp64" and device_kind == "cuda" and cc and cc >= (8, 0):
        return "fp64_tensor"
    return dtype


def free_bytes(device: str) -> int | None:
    import torch
    if str(device).startswith("cuda"):
        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    from accelkern.device import _host_memory
    return _host_memory()


def _random(shape, dtype: str, device, gen=None):
    import torch
    if dtype == "int8":
        return torch.randint(-8, 8, shape, dtype=torch.int8, device=device, generator=gen)
    x = torch.randn(shape, dtype=torch.float32, device=device, generator=gen)
    return x.to(torch_dtype(dtype))


def gemm_unavailable(dtype: str, device: str) -> str | None:
    """Why torch cannot run this GEMM dtype on this device, or None."""
    import torch
    if dtype not in GEMM_DTYPES:
        return f"dtype '{dtype}' not supported; allowed: {', '.join(GEMM_DTYPES)}"
    is_cuda = str(device).startswith("cuda")
    if is_cuda:
        cc = torch.cuda.get_device_capability(torch.device(device))
        if dtype in ("tf32", "bf16") and cc < (8, 0):
            return f"{dtype} needs sm_80 or newer (this GPU is sm_{cc[0]}{cc[1]})"
        if dtype == "fp8" and cc < (8, 9):
            return f"fp8 needs sm_89 or newer (this GPU is sm_{cc[0]}{cc[1]})"
        return None
    if dtype == "tf32":
        return "tf32 is a tensor-core mode of NVIDIA GPUs (sm_80+); the CPU has none"
    if dtype in ("fp8", "int8"):
        try:  # probe the op itself: CPU support differs between torch releases
            TorchGemm(dtype, 32, 32, 32, device, slots=1)(0)
        except Unavailable as exc:
            return str(exc)
    return None


@dataclass(frozen=True)
class GemmShape:
    """M x N x K of C[M,N] = A[M,K] @ B[K,N]; FLOPs count a multiply-add as 2."""
    m: int
    n: int
    k: int

    @property
    def flops(self) -> float:
        return 2.0 * self.m * self.n * self.k

    def __str__(self):
        return f"{self.m}x{self.n}x{self.k}"


class TorchGemm:
    """C[M,N] = A[M,K] @ B[K,N] through torch, rotating over `slots` input sets. Layout 'nn' (row-major
    A and B) except fp8, whose B is column-major as torch._scaled_mm requires ('nt')."""

    def __init__(self, dtype: str, m: int, n: int, k: int, device: str, slots: int | None = None,
                 cache_bytes: int | None = None, seed: int = 0):
        import torch
        self.dtype, self.device = dtype, device
        self.shape = GemmShape(m, n, k)
        self.tdtype = torch_dtype(dtype)
        self.layout = "nt" if dtype == "fp8" else "nn"
        self.name = {"fp8": "torch._scaled_mm", "int8": "torch._int_mm"}.get(dtype, "torch.mm")
        esz = element_size(dtype)
        set_bytes = (m * k + k * n) * esz
        out_bytes = m * n * (4 if dtype in ("fp32", "tf32", "int8") else 8 if dtype == "fp64" else 2)
        free = free_bytes(device)
        budget = None if free is None else int(free * 0.8) - out_bytes
        if budget is not None and budget < set_bytes:
            raise AccelkernError(f"GEMM {self.shape} {dtype} needs {(set_bytes + out_bytes) / 2**30:.2f} GiB, "
                                 f"only {free / 2**30:.2f} GiB free on {device}")
        self.slots = slots or timing.rotation_slots(set_bytes, cache_bytes, budget)
        gen = torch.Generator(device=device).manual_seed(seed)
        self.a = [_random((m, k), dtype, device, gen) for _ in range(self.slots)]
        if dtype == "fp8":  # column-major B: the transpose of a row-major (N, K) tensor
            self.b = [_random((n, k), dtype, device, gen).t() for _ in range(self.slots)]
            self.scale = torch.ones((), dtype=torch.float32, device=device)
            out_dtype = torch.bfloat16
        else:
            self.b = [_random((k, n), dtype, device, gen) for _ in range(self.slots)]
            out_dtype = torch.int32 if dtype == "int8" else self.tdtype
        self.out = torch.empty((m, n), dtype=out_dtype, device=device)
        self._precision = "high" if dtype == "tf32" else "highest"
        self._saved_precision = torch.get_float32_matmul_precision()
        try:
            self(0)
        except RuntimeError as exc:
            raise Unavailable(f"{self.name} {dtype} on {device} failed in torch {torch.__version__}: "
                              f"{str(exc).splitlines()[0]}") from None

    def __call__(self, slot: int):
        import torch
        a, b = self.a[slot], self.b[slot]
        if self.dtype == "fp8":
            return torch._scaled_mm(a, b, self.scale, self.scale, out_dtype=torch.bfloat16, out=self.out)
        if self.dtype == "int8":
            return torch._int_mm(a, b, out=self.out)
        if torch.get_float32_matmul_precision() != self._precision:
            torch.set_float32_matmul_precision(self._precision)
        return torch.mm(a, b, out=self.out)

    @property
    def output(self):
        """The output tensor every call writes."""
        return self.out

    def close(self):
        import torch
        torch.set_float32_matmul_precision(self._saved_precision)
        self.a = self.b = self.out = None

    def check(self, rows: int = 256, cols: int = 256) -> tuple[bool, float, float]:
        """Poisons C, runs slot 0, compares C[:rows,:cols] with a float64 reference of the same inputs."""
        import torch
        checks.poison_(self.out)
        self(0)
        r, c = min(rows, self.shape.m), min(cols, self.shape.n)
        a = self.a[0][:r].to("cpu", torch.float64)
        b = self.b[0][:, :c].to("cpu", torch.float64)
        return checks.compare(self.out[:r, :c], a @ b, self.dtype)
