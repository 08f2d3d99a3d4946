"""The torch backend for GEMM: torch.mm (fp8 via torch._scaled_mm, int8 via torch._int_mm) on any torch
device. It is the CPU path and the independent cross-check of the CUDA paths: it is timed as
`A @ B_nk.T` (A [M,K] and B [N,K] row-major, both K-contiguous), the layout cuBLASLt is timed in ('tn').
Workloads are callables `w(slot)` for timing.measure, with their work counted. `affordable_size` and
`predict_call_s` size problems on slow devices (an emulated fp8 CPU GEMM of 1024^3 can take 20 s) from a
warmed probe. (Memory bandwidth through torch: memory.TorchWorkload.)
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from accelkern import checks, timing
from accelkern.errors import AccelkernError, Unavailable


class DoesNotFit(AccelkernError):
    """A problem larger than the device's free memory: one line; a command reports it as a failed row."""


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
    """Free bytes on the device (the host's memory for the CPU; None where torch cannot tell)."""
    import torch
    dev = torch.device(device)
    if dev.type == "cpu":
        from accelkern.device import _host_memory
        return _host_memory()
    info = getattr(getattr(torch, dev.type, None), "mem_get_info", None)
    if info is None:
        return None
    try:
        return int(info(dev)[0])
    except Exception:  # a backend that cannot answer: no memory check
        return None


def _out_bytes(dtype: str, m: int, n: int) -> int:
    return m * n * (4 if dtype in ("fp32", "tf32", "int8") else 8 if dtype == "fp64" else 2)


def check_fits(dtype: str, m: int, n: int, k: int, device: str, slots: int = 1) -> int | None:
    """Raises DoesNotFit when one input set and the output do not fit in 80% of the free memory;
    returns the bytes left for more input sets (None: unknown)."""
    set_bytes = (m * k + k * n) * element_size(dtype)
    out_bytes = _out_bytes(dtype, m, n)
    free = free_bytes(device)
    budget = None if free is None else int(free * 0.8) - out_bytes
    if budget is not None and budget < set_bytes * slots:
        raise DoesNotFit(f"GEMM {m}x{n}x{k} {dtype} needs {(set_bytes * slots + out_bytes) / 2**30:.2f} GiB, "
                         f"only {free / 2**30:.2f} GiB free on {device}")
    return budget


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
    kind = torch.device(device).type
    if kind == "cuda":
        cc = torch.cuda.get_device_capability(torch.device(device))
        if dtype in ("tf32", "bf16") and cc < (8, 0):
            return f"{dtype} needs sm_80 or newer (this GPU is sm_{cc[0]}{cc[1]})"
        if dtype == "fp8" and cc < (8, 9):
            return f"fp8 needs sm_89 or newer (this GPU is sm_{cc[0]}{cc[1]})"
        return None
    if dtype == "tf32":
        what = "the CPU has none" if kind == "cpu" else f"torch's {kind} device has no tf32 mode"
        return f"tf32 is a tensor-core mode of NVIDIA GPUs (sm_80+); {what}"
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
    """C[M,N] = A[M,K] @ B[N,K].T through torch, rotating over `slots` input sets: A and B row-major and
    K-contiguous, the layout cuBLASLt is timed in ('tn' in cuBLAS's column-major terms; torch.mm hands
    cuBLAS op(B)=T, op(A)=N with M and N swapped, the same kernel class). `b[slot]` is the [K, N] view.
    fp8 (torch._scaled_mm, bf16 out) uses fast accumulation when `fast_accum` (cuBLASLt's default)."""

    layout = "tn"

    def __init__(self, dtype: str, m: int, n: int, k: int, device: str, slots: int | None = None,
                 cache_bytes: int | None = None, seed: int = 0, fast_accum: bool | None = None):
        import torch
        self.dtype, self.device = dtype, device
        self.shape = GemmShape(m, n, k)
        self.tdtype = torch_dtype(dtype)
        self.name = {"fp8": "torch._scaled_mm", "int8": "torch._int_mm"}.get(dtype, "torch.mm")
        self.fast_accum = bool(True if fast_accum is None else fast_accum) if dtype == "fp8" else None
        set_bytes = (m * k + k * n) * element_size(dtype)
        budget = check_fits(dtype, m, n, k, device, slots or 1)
        self.slots = slots or timing.rotation_slots(set_bytes, cache_bytes, budget)
        gen = torch.Generator(device=device).manual_seed(seed)
        self.a = [_random((m, k), dtype, device, gen) for _ in range(self.slots)]
        self.b = [_random((n, k), dtype, device, gen).t() for _ in range(self.slots)]   # [K, N] view of [N, K]
        out_dtype = torch.bfloat16 if dtype == "fp8" else torch.int32 if dtype == "int8" else self.tdtype
        if dtype == "fp8":
            self.scale = torch.ones((), dtype=torch.float32, device=device)
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
            return torch._scaled_mm(a, b, self.scale, self.scale, out_dtype=torch.bfloat16,
                                    use_fast_accum=self.fast_accum, out=self.out)
        if self.dtype == "int8":
            return torch._int_mm(a, b, out=self.out)
        if torch.get_float32_matmul_precision() != self._precision:
            torch.set_float32_matmul_precision(self._precision)
        return torch.mm(a, b, out=self.out)

    @property
    def output(self):
        """The output tensor every call writes."""
        return self.out

    def config(self) -> dict:
        """How torch ran it: layout, accumulation, and the torch switches that change the kernel class."""
        import torch
        c = {"slots": self.slots, "layout_note": "A[M,K] @ B[N,K].T, both row-major (cuBLAS tn, M and N swapped)"}
        if self.dtype == "fp8":
            c.update(out="bf16", fast_accum=self.fast_accum)
        elif self.dtype in ("fp16", "bf16") and torch.device(self.device).type == "cuda":
            flag = f"allow_{self.dtype}_reduced_precision_reduction"
            c["reduced_precision_reduction"] = bool(getattr(torch.backends.cuda.matmul, flag, False))
        elif self.dtype in ("fp32", "tf32"):
            c["float32_matmul_precision"] = self._precision
        return c

    def close(self):
        import torch
        torch.set_float32_matmul_precision(self._saved_precision)
        self.a = self.b = self.out = None

    def check(self) -> tuple[bool, float, float]:
        """Poisons C, runs slot 0, compares the whole of C with a float64 reference of the same inputs
        computed on the same device (checks.check_gemm; fp8 runs at scale 1)."""
        checks.poison_(self.out)
        self(0)
        return checks.check_gemm([(self.a[0], self.b[0], self.out)], self.dtype)


# ---- sizing on slow devices ---------------------------------------------------------------------------

PROBE_SIZES = (64, 128, 256, 512, 1024)   # probe ladder (squares)
PROBE_CALL_S = 0.05      # a rung whose call takes this long is representative: stop climbing
PROBE_NEXT_MAX_S = 0.25  # ... and never climb to a rung predicted (cubically) to take longer than this
PROBE_REPEATS = 5        # timed calls per rung after a warm one; their median counts
_RATES: dict = {}


@dataclass(frozen=True)
class Probe:
    """Seconds per FLOP of a dtype on a device, from the median of warmed calls at size^3."""
    dtype: str
    device: str
    size: int
    call_s: float

    @property
    def s_per_flop(self) -> float:
        return self.call_s / (2.0 * self.size ** 3)

    def predict_s(self, m: int, n: int, k: int) -> float:
        """One call's predicted seconds (cubic extrapolation: bigger GEMMs are rarely less efficient)."""
        return self.s_per_flop * 2.0 * m * n * k


def _call_times(dtype: str, n: int, device: str, repeats: int) -> tuple[float, float]:
    """(median, fastest) seconds of `repeats` warmed calls at n^3."""
    sync = timing.synchronizer(device)
    g = TorchGemm(dtype, n, n, n, device, slots=1)   # its constructor ran one call already
    try:
        g(0)
        sync()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            g(0)
            sync()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), min(times)
    finally:
        g.close()


def probe(dtype: str, device: str) -> Probe:
    """The warmed, repeated median call time at the rung of PROBE_SIZES where a call first takes
    PROBE_CALL_S (or the last rung predicted to stay under PROBE_NEXT_MAX_S); cached per process. The
    climb follows each rung's fastest call, so a call slowed by another process does not stop it early;
    small rungs are dominated by call overhead, so the largest affordable one sets the rate (overhead
    included: the extrapolation errs long). Unavailable when torch cannot run the dtype here."""
    key = (dtype, str(device))
    if key in _RATES:
        return _RATES[key]
    why = gemm_unavailable(dtype, device)
    if why:
        raise Unavailable(why)
    size = PROBE_SIZES[0]
    call_s, fastest = _call_times(dtype, size, device, PROBE_REPEATS)
    for nxt in PROBE_SIZES[1:]:
        if fastest >= PROBE_CALL_S or fastest * (nxt / size) ** 3 > PROBE_NEXT_MAX_S:
            break
        size = nxt
        call_s, fastest = _call_times(dtype, size, device, PROBE_REPEATS)
    _RATES[key] = Probe(dtype, str(device), size, max(call_s, 1e-9))
    return _RATES[key]


def predict_call_s(dtype: str, device: str, m: int, n: int, k: int) -> float:
    """Predicted seconds of one torch GEMM call of this shape on this device (from `probe`)."""
    return probe(dtype, device).predict_s(m, n, k)


def affordable_size(dtype: str, device: str, max_call_s: float, *, min_size: int = 256,
                    max_size: int = 8192) -> int | None:
    """The largest power-of-two square size in [min_size, max_size] whose predicted call takes at most
    `max_call_s` and whose operands fit in memory, or None when even min_size does not. The power-of-two
    grid (8x the work per step) keeps two runs on one machine on the same size."""
    if max_call_s <= 0:
        raise ValueError("max_call_s must be positive")
    p = probe(dtype, device)
    best = None
    n = 1
    while n < min_size:
        n *= 2
    while n <= max_size:
        if p.predict_s(n, n, n) > max_call_s:
            break
        try:
            check_fits(dtype, n, n, n, device)
        except DoesNotFit:
            break
        best = n
        n *= 2
    return best
