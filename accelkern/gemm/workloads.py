"""The cuBLASLt and cuBLAS workloads: operands stored as the layout says (one input set per rotation slot),
poisoned-output checks of the whole answer against a float64 reference, cuBLASLt's heuristic and one chosen algorithm.

Inputs are random (normal floats, small integers for int8), never zero, rotated over enough sets to exceed
the L2 (or the L2 is flushed); outputs are poisoned before a check of every element of every batch entry.
Workspace: 32 MiB on sm_90 and newer, 4 MiB before, as cuBLAS recommends: Hopper's split-K and stream-K
kernels keep partial tiles and tile counters there, and with less workspace the heuristic leaves them out.
"""
from __future__ import annotations

from typing import Callable

from accelkern import _ext, checks, timing, torch_backend
from accelkern.errors import AccelkernError, Unavailable
from accelkern.gemm.algos import AlgoInfo, algo_info
from accelkern.gemm.dtypes import (FP8_OUTPUTS, MAX_DIM, BatchedShape, _pow2_align, capability_missing,
                                   col_major_op, default_workspace_bytes, gemm_dtype, layout_rule_violation,
                                   parse_layout, storage)
from accelkern.torch_backend import DoesNotFit

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
            raise DoesNotFit(
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

    def check(self, run: Callable[[int], object], tol_key: str) -> tuple[bool, float, float]:
        """Poisons D, runs slot 0, compares the whole of D (every batch entry) with a float64 reference of the
        same inputs computed on the GPU (checks.check_gemm). fp8 runs with scales 2.0 and 0.25 so a scale
        left out or applied twice shows."""
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
        entries = ((self.a_math(0, i), self.b_math(0, i), self.d_math(i)) for i in range(self.batch))
        return checks.check_gemm(entries, tol_key, scale)

    def close(self):
        self.a = self.b = []
        self.d = self.workspace = self.a_scale = self.b_scale = None
        self.desc = {}


def _lt_unavailable(ops: _Operands, what: str) -> Unavailable:
    dt = ops.dt
    hint = {"fp8": "fp8: layout tn, M and K multiples of 16",
            "int8": "int8: layout tn, M and K multiples of 4"}.get(dt.base if dt.fp8 else dt.name, "")
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
        if dt.blas is None:
            raise Unavailable(capability_missing(dt.name, "cuda"))
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
