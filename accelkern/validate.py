"""`accelkern validate`: every registered suite within one time budget, measured vs spec in one table.

A capability module registers its suite with `register(Suite(...))` at import and is listed in
SUITE_MODULES. A suite yields finished Rows; the runner writes each at once (so Ctrl-C keeps them),
gives each suite its share of the budget, and turns a suite that cannot run here into a 'skipped' row.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from accelkern import figures, timing, torch_backend
from accelkern.device import DeviceInfo
from accelkern.errors import AccelkernError, Unavailable
from accelkern.results import Row
from accelkern.specs import Spec

# modules whose import registers suites (later capabilities append theirs)
SUITE_MODULES = (
    "accelkern.validate",
    "accelkern.memory",
    "accelkern.gemm",
    "accelkern.peak",
    "accelkern.mamf",
)


@dataclass
class Context:
    device: DeviceInfo
    spec: Spec | None
    budget_s: float                          # this suite's share
    progress: Callable[[str], None] = lambda msg: None
    started: float = field(default_factory=time.monotonic)

    def rule(self, n_measurements: int, min_s: float = 0.3) -> timing.StopRule:
        """A stop rule giving each of n measurements an equal slice of the suite's remaining budget."""
        left = self.budget_s - (time.monotonic() - self.started)
        return timing.StopRule(max_time_s=max(min_s, left / max(1, n_measurements)))

    def time_left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)


@dataclass
class Suite:
    name: str
    title: str
    run: Callable[[Context], Iterator[Row]]
    devices: tuple = ("cuda", "cpu")
    weight: float = 1.0                      # relative share of the budget
    needs: str = ""                          # what it needs, said when skipped


SUITES: dict[str, Suite] = {}


def register(suite: Suite) -> Suite:
    SUITES[suite.name] = suite
    return suite


def load_suites() -> list[Suite]:
    for mod in SUITE_MODULES:
        importlib.import_module(mod)
    return list(SUITES.values())


def run(device: DeviceInfo, spec: Spec | None, budget_s: float, emit: Callable[[Row], Row],
        only: list[str] | None = None, progress: Callable[[str], None] = lambda m: None) -> list[str]:
    """Runs the suites (all, or `only`), emitting rows as they finish; returns the skip reasons."""
    suites = load_suites()
    if only:
        unknown = [n for n in only if n not in SUITES]
        if unknown:
            raise AccelkernError(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}")
        suites = [SUITES[n] for n in only]
    runnable = [s for s in suites if device.kind in s.devices]
    skipped = [f"{s.name}: needs {s.needs or ' or '.join(s.devices)} (this run is on {device.kind})"
               for s in suites if s not in runnable]
    total_w = sum(s.weight for s in runnable) or 1.0
    start = time.monotonic()
    for i, s in enumerate(runnable):
        left_w = sum(x.weight for x in runnable[i:])
        share = max(1.0, (budget_s - (time.monotonic() - start)) * s.weight / left_w) if total_w else budget_s
        progress(f"[{i + 1}/{len(runnable)}] {s.title} (budget {share:.0f} s)")
        ctx = Context(device=device, spec=spec, budget_s=share, progress=progress)
        try:
            for row in s.run(ctx):
                emit(row)
                if row.status == "skipped":
                    skipped.append(f"{s.name} {row.dtype or row.name}: {row.note}")
        except Unavailable as exc:
            emit(Row(suite=s.name, name=s.title, status="skipped", note=str(exc)))
            skipped.append(f"{s.name}: {exc}")
    return skipped


# ---- torch-backend suite: GEMM per dtype (memory bandwidth: accelkern/memory.py's suite "hbm") -----

VALIDATE_GEMM_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")


def gemm_size(device: DeviceInfo, dtype: str) -> int:
    """Square size for a device: 8192 on a GPU; on a CPU the power of two (256..4096) at which one
    call takes >= 20 ms, so the measurement is not dominated by call overhead."""
    if device.kind == "cuda":
        return 8192
    n = 256
    while n < 4096:
        g = torch_backend.TorchGemm(dtype, n, n, n, device.torch_device, slots=1)
        t0 = time.perf_counter()
        g(0)
        dt = time.perf_counter() - t0
        g.close()
        if dt >= 0.02:
            break
        n *= 2
    return n


def torch_gemm_rows(ctx: Context) -> Iterator[Row]:
    dev = ctx.device
    dtypes = list(VALIDATE_GEMM_DTYPES)
    for i, dtype in enumerate(dtypes):
        why = torch_backend.gemm_unavailable(dtype, dev.torch_device)
        if why:
            yield Row(suite="gemm-torch", name="torch", dtype=dtype, backend="torch", status="skipped", note=why)
            continue
        n = gemm_size(dev, dtype)
        g = torch_backend.TorchGemm(dtype, n, n, n, dev.torch_device, cache_bytes=dev.l2_bytes)
        try:
            ok, err, tol = g.check()
            ctx.progress(f"  gemm {dtype} {g.shape} via {g.name}: correct={ok} (err {err:.2e} <= {tol:g})")
            meas = timing.measure(g, dev.torch_device, slots=g.slots, rule=ctx.rule(len(dtypes) - i))
            row = Row(suite="gemm-torch", name=g.name, dtype=dtype, shape=str(g.shape), layout=g.layout,
                      backend="torch", kernel=g.name, flops=g.shape.flops, correct=ok, max_error=err,
                      tolerance=tol, config={"slots": g.slots})
            sd = torch_backend.spec_dtype(dtype, dev.kind, dev.compute_capability)
            yield figures.compute_row(row, meas, dev, ctx.spec, sd)
        finally:
            g.close()


register(Suite("gemm-torch", "GEMM per dtype through torch (large square shapes)", torch_gemm_rows, weight=3.0))
