"""The `validate` suite "peak": the compute ceiling per dtype (the best instruction path this GPU has)
next to the GEMM results."""
from __future__ import annotations

from typing import Iterator

from accelkern import _ext
from accelkern.errors import Unavailable
from accelkern.peak.kernels import ALL_KERNELS, PATH_LABEL, PeakKernel, unavailable
from accelkern.peak.sweep import run
from accelkern.results import Row

VALIDATE_DTYPES = ("fp32", "fp64", "fp16", "bf16", "tf32", "fp8", "int8")
_PATH_ORDER = {"wgmma": 0, "mma": 1, "simt": 2}


def validate_kernels(device_info) -> list[PeakKernel]:
    """One kernel per dtype: the fastest instruction path this GPU has (wgmma, else mma.sync; fp32 SIMT;
    fp64 on the tensor cores, as fp64 GEMMs use them: m16n8k16 where it exists, else m8n8k4)."""
    chosen = []
    for d in VALIDATE_DTYPES:
        cands = [k for k in ALL_KERNELS if k.dtype == d and k.op not in ("f16.f16", "e5m2", "e5m2.f32")]
        if d == "fp32":
            cands = [k for k in cands if k.path == "simt"]
        if d == "fp64":
            cands = [k for k in cands if k.path == "mma"]
        cands.sort(key=lambda k: (_PATH_ORDER[k.path], k.op != "f64.f64.k16"))
        runnable = [k for k in cands if not unavailable(k, device_info)]
        if d == "fp8" and device_info.compute_capability and tuple(device_info.compute_capability)[0] == 9:
            runnable = [k for k in runnable if k.path == "wgmma"]   # the emulated mma.sync is no ceiling
        chosen.append(runnable[0] if runnable else cands[0])
    return chosen


def validate_rows(ctx) -> Iterator[Row]:
    """Best row per dtype within ctx.budget_s; kernels the budget leaves no time for become skipped rows.
    On a CPU: accelkern's CPU kernels (peak/cpu_suite.py)."""
    if ctx.device.kind == "cpu":
        from accelkern.peak import cpu_suite
        yield from cpu_suite.validate_rows(ctx)
        return
    if _ext.load() is None:
        raise Unavailable(f"compute ceiling needs accelkern._C: {_ext.error()}")
    kernels = validate_kernels(ctx.device)
    results = run(kernels, ctx.device, ctx.spec, max(1.0, ctx.time_left()), quick=True, progress=ctx.progress)
    for i, k in enumerate(kernels):
        if ctx.time_left() <= 0:
            for rest in kernels[i:]:
                yield Row(suite="peak", name=rest.instruction, dtype=rest.dtype, backend=PATH_LABEL[rest.path],
                          kernel=rest.instruction, status="skipped", note="no time left in the validate budget")
            return
        yield next(results).best


def _register():
    from accelkern import validate
    validate.register(validate.Suite("peak", "compute ceiling: compute-only peak per dtype (best instruction path)",
                                     validate_rows, devices=("cuda", "cpu"), weight=2.0,
                                     needs="a CUDA GPU and accelkern._C, or a CPU and accelkern._cpu"))


_register()
