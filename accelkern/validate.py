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


# every suite name, in the order they run (validate --help lists them; a test keeps this true)
SUITE_NAMES = ("gemm-torch", "hbm", "gemm", "peak", "mamf")

# the budget is a promise: total wall time <= budget x (1 + OVERRUN) + FIXED_OVERHEAD_S
OVERRUN = 0.1
FIXED_OVERHEAD_S = 10.0


def runnable(names: list[str], kind: str) -> list[str]:
    """The suites of `names` that can run on a device of this kind."""
    load_suites()
    return [n for n in names if n in SUITES and (kind in SUITES[n].devices or "any" in SUITES[n].devices)]


def why_not(name: str, kind: str) -> str:
    s = SUITES[name]
    return f"{name} needs {s.needs or ' or '.join(s.devices)}"


def shares(suites: list[Suite], budget_s: float) -> list[float]:
    """Each suite's share of the budget in whole seconds (>= 1), by weight, summing to the budget."""
    total_w = sum(s.weight for s in suites) or 1.0
    raw = [max(1.0, budget_s * s.weight / total_w) for s in suites]
    out = [float(round(x)) for x in raw]
    if out:
        out[-1] = max(1.0, out[-1] + round(budget_s) - sum(out))
    return out


def run(device: DeviceInfo, spec: Spec | None, budget_s: float, emit: Callable[[Row], Row],
        only: list[str] | None = None, progress: Callable[[str], None] = lambda m: None,
        clock: Callable[[], float] = time.monotonic) -> list[str]:
    """Runs the suites (all, or `only`), emitting rows as they finish; returns the skip reasons.

    Each suite gets its printed share; time a suite leaves unused goes to the ones after it. A suite past
    its share (plus 10%) is stopped after its current row and what it did not run is said, so the whole
    run keeps the promise of budget x 1.1 + 10 s."""
    suites = load_suites()
    if only:
        unknown = [n for n in only if n not in SUITES]
        if unknown:
            raise AccelkernError(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITES)}")
        suites = [SUITES[n] for n in only]
    runnable = [s for s in suites if device.kind in s.devices or "any" in s.devices]
    skipped = [f"{s.name}: needs {s.needs or ' or '.join(s.devices)} (this run is on {device.kind})"
               for s in suites if s not in runnable]
    start = clock()
    planned = shares(runnable, budget_s)
    carry = 0.0
    for i, s in enumerate(runnable):
        share = max(1.0, planned[i] + carry)  # an overrun is taken from the next share, unused time given to it
        progress(f"[{i + 1}/{len(runnable)}] {s.title} (budget {share:.0f} s)")
        ctx = Context(device=device, spec=spec, budget_s=share, progress=progress, started=clock())
        hard_stop = ctx.started + share * (1 + OVERRUN)
        rows = s.run(ctx)
        try:
            for row in rows:
                emit(row)
                if row.status == "skipped":
                    skipped.append(f"{s.name} {row.dtype or row.name}: {row.note}")
                if clock() > hard_stop:
                    why = (f"stopped at its budget share ({share:.0f} s); what it had left was not measured "
                           "(a larger --budget gives it more)")
                    emit(Row(suite=s.name, name="(rest of suite)", backend="-", status="skipped",
                             note=why))  # in the files too
                    skipped.append(f"{s.name}: {why}")
                    break
        except Unavailable as exc:
            emit(Row(suite=s.name, name=s.title, status="skipped", note=str(exc)))
            skipped.append(f"{s.name}: {exc}")
        finally:
            close = getattr(rows, "close", None)
            if close:
                close()  # a generator stopped early frees its buffers now
        carry = share - (clock() - ctx.started)
    progress(f"validate: {clock() - start:.0f} s of the {budget_s:.0f} s budget")
    return skipped


# ---- torch-backend suite: GEMM per dtype (memory bandwidth: accelkern/memory.py's suite "hbm") -----

VALIDATE_GEMM_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")


GPU_GEMM_SIZE = 8192
CPU_GEMM_SIZES = (256, 4096)    # smallest and largest square size on other devices
SAMPLES_PER_ROW = 12            # a row's slice of the budget should hold about this many calls
MAX_CALL_S = 0.25               # and no call may take longer than this


def gemm_size(device: DeviceInfo, dtype: str, slice_s: float) -> tuple[int | None, str]:
    """(square size, how it was chosen): 8192 on a GPU; elsewhere the largest power of two whose call,
    predicted from a warmed probe (torch_backend.affordable_size), fits the row's slice of the budget
    (slice / 12 calls, at most 0.25 s). The slice comes from the planned share, not from time left, and
    the power-of-two grid moves 8x the work per step, so two runs on one machine choose the same size.
    None when even the smallest size cannot fit (the reason is the second element)."""
    if device.kind == "cuda":
        return GPU_GEMM_SIZE, "fixed size on a GPU"
    cap = min(MAX_CALL_S, slice_s / SAMPLES_PER_ROW)
    lo, hi = CPU_GEMM_SIZES
    n = torch_backend.affordable_size(dtype, device.torch_device, cap, min_size=lo, max_size=hi)
    p = torch_backend.probe(dtype, device.torch_device)
    rate = f"a warmed {p.size}^3 call took {p.call_s * 1e3:.3g} ms"
    if n is None:
        return None, (f"a {lo}^3 call would take {p.predict_s(lo, lo, lo):.2g} s, above the {cap:.2g} s per call "
                      f"this budget allows ({rate}; torch may emulate {dtype} here)")
    return n, f"largest power of two with a predicted call <= {cap * 1e3:.3g} ms ({rate})"


def torch_gemm_rows(ctx: Context) -> Iterator[Row]:
    dev = ctx.device
    dtypes = list(VALIDATE_GEMM_DTYPES)
    for i, dtype in enumerate(dtypes):
        why = torch_backend.gemm_unavailable(dtype, dev.torch_device)
        if why:
            yield Row(suite="gemm-torch", name="torch", dtype=dtype, backend="torch", status="skipped", note=why)
            continue
        try:
            n, how = gemm_size(dev, dtype, ctx.budget_s / len(dtypes))
        except Unavailable as exc:
            yield Row(suite="gemm-torch", name="torch", dtype=dtype, backend="torch", status="skipped",
                      note=str(exc))
            continue
        if n is None:
            yield Row(suite="gemm-torch", name="torch", dtype=dtype, backend="torch", status="skipped",
                      note=f"too slow for this budget: {how}")
            continue
        g = torch_backend.TorchGemm(dtype, n, n, n, dev.torch_device, cache_bytes=dev.l2_bytes)
        try:
            ok, err, tol = g.check()
            ctx.progress(f"  gemm {dtype} {g.shape} via {g.name}: correct={ok} (err {err:.2e} <= {tol:g})")
            meas = timing.measure(g, dev.torch_device, slots=g.slots, rule=ctx.rule(len(dtypes) - i))
            row = Row(suite="gemm-torch", name=g.name, dtype=dtype, shape=str(g.shape), layout=g.layout,
                      backend="torch", kernel=g.name, flops=g.shape.flops, correct=ok, max_error=err,
                      tolerance=tol, config={"slots": g.slots, "size_choice": how})
            sd = torch_backend.spec_dtype(dtype, dev.kind, dev.compute_capability)
            yield figures.label_cpu_torch_path(figures.compute_row(row, meas, dev, ctx.spec, sd), dev, dtype)
        finally:
            g.close()


register(Suite("gemm-torch", "GEMM per dtype through torch (large square shapes)", torch_gemm_rows, weight=3.0))
