"""The per-device suites, run on every rank at the same time (each starts after a barrier of the whole
fleet, so power and thermals are those of a full node), through the family modules:

  gemm   one GEMM at a fixed shape: bf16 8192^3 via cuBLASLt (torch without the extension) on a GPU,
         fp32 512^3 via torch on a CPU
  mamf   the rank's short guided MAMF search (accelkern.mamf.run)
  hbm    copy and read bandwidth (accelkern.memory.run_kernel; 2 GiB buffers on a GPU, 16 MiB on a CPU)
  peak   the compute-only bf16 peak (accelkern.peak) where the extension is built, on GPUs only

and the self-test: on the slowed rank every call timed by the one harness (accelkern.timing.measure)
does its work FACTOR times while the work counted stays once, so that rank's figures drop by FACTOR.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from accelkern import timing
from accelkern.errors import Unavailable
from accelkern.results import Row

CPU_HBM_BYTES = 16 << 20
CPU_MAMF_MAX_DIM = 256
# shares of --budget (the same on every rank: counts must agree across the fleet, clocks need not)
WEIGHTS = {"gemm": 1.0, "mamf": 2.0, "hbm": 1.0, "peak": 1.0, "collectives": 2.0, "p2p": 1.0}


@dataclass
class FleetContext:
    env: object                     # ranks.RankEnv
    opts: object                    # options.FleetOptions
    info: object                    # device.DeviceInfo
    spec: object                    # specs.Spec or None
    device: object                  # torch.device
    identities: dict = field(default_factory=dict)
    budget_s: float = 0.0           # this suite's share
    progress: Callable[[str], None] = lambda m: None


def shares(suites, kind: str, budget_s: float) -> dict:
    """Seconds per suite; peak gets none on a CPU (it is skipped there)."""
    w = {s: WEIGHTS[s] for s in suites if not (s == "peak" and kind != "cuda")}
    total = sum(w.values()) or 1.0
    return {s: budget_s * w.get(s, 0.0) / total for s in suites}


@contextlib.contextmanager
def slowed_harness(factor: int):
    """Self-test: every timed call does its work `factor` times (rotating over the input sets)."""
    original = timing.measure

    def measure(fn, device="cuda", *, slots: int = 1, **kw):
        def repeated(slot):
            out = None
            for j in range(factor):
                out = fn((slot + j) % slots)
            return out
        return original(repeated, device, slots=slots, **kw)

    timing.measure = measure
    try:
        yield
    finally:
        timing.measure = original


def _failed(suite: str, name: str, exc: BaseException) -> Row:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return Row(suite=suite, name=name, status="failed", note=f"{type(exc).__name__}: {text}")


def gemm_rows(ctx: FleetContext) -> Iterator[Row]:
    from accelkern import _ext, gemm
    dtype, (m, n, k) = ctx.opts.gemm(ctx.info.kind)
    backend = "cublaslt" if ctx.info.kind == "cuda" and _ext.load() is not None else "torch"
    req = gemm.GemmRequest(dtype, m, n, k, check=True)
    rule = timing.StopRule(max_time_s=max(0.2, 0.7 * ctx.budget_s))
    yield from gemm.gemm_rows(req, backend, ctx.info, ctx.spec, rule, ctx.progress)


def mamf_rows(ctx: FleetContext) -> Iterator[Row]:
    from accelkern import mamf
    cuda = ctx.info.kind == "cuda"
    dtype = "bf16" if cuda else "fp32"
    got: list[Row] = []
    try:
        if cuda:
            res = mamf.run(ctx.info, ctx.spec, dtype, got.append, budget_s=max(1.0, 0.4 * ctx.budget_s),
                           warmup_s=min(5.0, ctx.budget_s / 4), top=2, repeats=2, progress=ctx.progress)
        else:   # small shapes, no warm-up beyond the harness's own, one re-measure: CPU ranks share cores
            res = mamf.run(ctx.info, ctx.spec, dtype, got.append, budget_s=max(0.3, 0.3 * ctx.budget_s),
                           warmup_s=0, top=1, repeats=1, max_dim=CPU_MAMF_MAX_DIM, progress=ctx.progress)
    except Unavailable as exc:
        yield Row(suite="mamf", name="MAMF", dtype=dtype, status="skipped", note=str(exc))
        return
    except Exception as exc:  # the search is another family's: its failure is this rank's failed row
        yield _failed("mamf", "MAMF", exc)
        return
    winner = next((r for r in reversed(got) if r.name == "MAMF" and r.status == "ok"), None)
    if winner is None:
        row = Row(suite="mamf", name="MAMF", dtype=dtype, status="failed", note=mamf.headline(res))
        yield row
        return
    winner.note = mamf.headline(res)
    yield winner


def hbm_rows(ctx: FleetContext) -> Iterator[Row]:
    from accelkern import memory
    cuda = ctx.info.kind == "cuda"
    size = memory.validate_size(ctx.info)
    nbytes = size if cuda else min(size, CPU_HBM_BYTES)
    for kernel in ("copy", "read"):
        rule = timing.StopRule(max_time_s=max(0.2, 0.35 * ctx.budget_s))
        ctx.progress(f"  hbm {kernel}")
        row = memory.run_kernel(kernel, nbytes, ctx.info, ctx.spec, rule, hint="stream")
        if row.status == "skipped" and cuda and kernel == "copy":   # no extension: torch's copy instead
            row = memory.run_kernel("torch", nbytes, ctx.info, ctx.spec, rule)
        yield row


def peak_rows(ctx: FleetContext) -> Iterator[Row]:
    from accelkern import _ext
    if ctx.info.kind != "cuda" or _ext.load() is None:
        why = "needs a CUDA GPU" if ctx.info.kind != "cuda" else f"needs accelkern._C: {_ext.error()}"
        yield Row(suite="peak", name="peak", dtype="bf16", status="skipped", note=f"compute-only peak {why}")
        return
    from accelkern import peak
    kernels = [k for k in peak.validate_kernels(ctx.info) if k.dtype == "bf16"]
    for res in peak.run(kernels, ctx.info, ctx.spec, max(2.0, 0.8 * ctx.budget_s), quick=True, progress=ctx.progress):
        yield res.best


SUITE_ROWS = {"gemm": gemm_rows, "mamf": mamf_rows, "hbm": hbm_rows, "peak": peak_rows}


def run_suite(name: str, ctx: FleetContext, slow_factor: int | None) -> Iterator[Row]:
    """One per-device suite's rows (a failure becomes a failed row), suite renamed fleet-<name>."""
    guard = slowed_harness(slow_factor) if slow_factor else contextlib.nullcontext()
    with guard:
        try:
            yield from SUITE_ROWS[name](ctx)
        except Unavailable as exc:
            yield Row(suite=name, name=name, status="skipped", note=str(exc))
        except Exception as exc:
            yield _failed(name, name, exc)
