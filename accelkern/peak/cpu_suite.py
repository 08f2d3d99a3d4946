"""The `validate` compute-ceiling suite on a CPU: per dtype, the fastest instruction path this CPU has
(by the rate table), quick sweep, every physical core; beside the GEMM rows it is the ceiling they are
measured against."""
from __future__ import annotations

from typing import Iterator

from accelkern import _cpu_ext, specs
from accelkern.errors import Unavailable
from accelkern.hostcpu import facts as cpu_facts
from accelkern.hostcpu import topology
from accelkern.peak import cpu_kernels, cpu_sweep
from accelkern.results import Row


def validate_rows(ctx) -> Iterator[Row]:
    if _cpu_ext.load() is None:
        raise Unavailable(f"CPU compute ceiling needs accelkern._cpu: {_cpu_ext.error()}")
    facts = cpu_facts.cpu_facts()
    kernels = cpu_kernels.all_kernels()
    chosen = cpu_kernels.fastest_per_dtype(facts, kernels, lambda k: _table_rate(facts, k))
    if not chosen:
        raise Unavailable(f"no CPU compute kernel runs on this CPU ({facts.uarch_name or facts.arch})")
    for d in cpu_kernels.CPU_DTYPES:
        if d not in {k.dtype for k in chosen}:
            why = "; ".join(f"{k.name}: {cpu_kernels.unavailable(k, facts)}" for k in kernels if k.dtype == d)
            yield Row(suite="peak", name=f"{d} compute ceiling", dtype=d, backend="-", status="skipped",
                      note=why or f"no {d} kernel")
    cpus = topology.one_cpu_per_core()
    for res in cpu_sweep.run(chosen, ctx.device, ctx.spec, facts, max(1.0, ctx.time_left() * 0.9), cpus,
                             quick=True, single_core=False, progress=ctx.progress):
        yield res.best
        if ctx.time_left() <= 0:
            return


def _table_rate(facts, kernel) -> float | None:
    r = specs.cpu_rate(facts.uarch, kernel.dtype, kernel.path)
    return r.flop_per_clk_per_core if r else None
