"""Measuring the CPU compute kernels: one pinned thread per physical core, a launch-shape sweep
(accumulators x unroll), the best shape re-measured on every core and on one core (a core alone usually
runs faster: the clock drops with more active cores), each run checked against the value its chain must
produce, and the Row: TFLOPS (TOPS for int8), FLOP/clk/core at the clock measured right after each call
beside the rate table's, % of the peak at that clock. Times in seconds, clocks in MHz.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Callable, Iterator

from accelkern import _cpu_ext, figures, specs, timing
from accelkern.hostcpu import clock as cpu_clock
from accelkern.peak.cpu_check import CheckResult, check
from accelkern.peak.cpu_kernels import CpuPeakKernel, unavailable
from accelkern.results import Row

CALL_S = 0.01          # one timed call lasts about this long
PROBE_S = 0.0005       # the add chain after each call, per core
CHECK_PASSES = 1001    # the check run: an odd count, so an 'alternate' chain that skipped an update shows


@dataclass
class CpuPeakResult:
    kernel: CpuPeakKernel
    best: Row
    grid: list = field(default_factory=list)       # every shape of the sweep
    single_core: Row | None = None


class ChainRunner:
    """One kernel at one launch shape on pinned cores, as a self-timed workload for timing.measure:
    each call runs `iters` passes on every core at once, then the clock probe; returns the team's span."""

    def __init__(self, kernel: CpuPeakKernel, accumulators: int, unroll: int, cpus: list[int]):
        self.mod = _cpu_ext.require()
        self.kernel, self.accumulators, self.unroll, self.cpus = kernel, accumulators, unroll, list(cpus)
        self.run = self.mod.PeakRun(kernel.name, accumulators, unroll, self.cpus)
        self.start = self.run.initial_values()
        self.updates = 0
        self.iters = 1000
        self.probe_passes = 0
        self.clock_mhz: list[float] = []
        self.on_cpu: list[float] = []
        self.cycles_mhz: list[float] = []

    def size(self, call_s: float = CALL_S) -> None:
        """Pick iters so one call lasts about call_s, and the probe so it lasts about PROBE_S."""
        r = self.run.run(1000)
        per = max(r["wall_s"], 1e-7) / 1000
        self.iters = max(1000, int(call_s / per))
        p = self.mod.chain_clock(self.cpus[:1], 1000)
        per_pass = max(p["cpu_seconds"][0], 1e-7) / 1000
        self.probe_passes = max(200, int(PROBE_S / per_pass))
        self.run.reset()
        self.updates = 0

    def check_run(self, passes: int = CHECK_PASSES) -> CheckResult:
        """Reset, run `passes` passes on every core, check every core's accumulators exactly, reset."""
        self.run.reset()
        self.run.run(passes)
        res = self.check(passes * self.unroll)
        self.run.reset()
        self.updates = 0
        return res

    def check(self, updates: int | None = None) -> CheckResult:
        """Every worker's accumulators against the rule after `updates` (default: all so far)."""
        n = self.updates if updates is None else updates
        results = [check(self.kernel, self.start, self.run.values(w), n) for w in range(len(self.cpus))]
        bad = [r for r in results if not r.ok]
        inexact = [r for r in results if not r.exact]
        return (bad or inexact or results)[0]

    def __call__(self, slot: int) -> float:
        r = self.run.run(self.iters, self.probe_passes)
        self.updates += self.iters * self.unroll
        busy = sum(r["thread_s"])
        if busy > 0:
            self.on_cpu.append(min(1.0, sum(r["thread_cpu_s"]) / busy))
        mhz = [cpu_clock.mhz_from_chain(r["probe_adds"], s) for s in r["probe_cpu_s"]]
        mhz = [m for m in mhz if m]
        if mhz:
            self.clock_mhz.append(sum(mhz) / len(mhz))
        if "cycles" in r:
            c = [cpu_clock.mhz_from_cycles(cy, s) for cy, s in zip(r["cycles"], r["thread_cpu_s"])]
            c = [m for m in c if m]
            if c:
                self.cycles_mhz.append(sum(c) / len(c))
        return r["wall_s"]

    def flops_per_call(self) -> float:
        return len(self.cpus) * self.iters * self.kernel.ops_per_pass(self.accumulators, self.unroll)

    def clock(self) -> tuple[list[float], str]:
        """Per-call clock readings and how they were taken."""
        if self.cycles_mhz:
            return self.cycles_mhz, "perf cycles over each call's own span, mean of the cores"
        return self.clock_mhz, ("add chain on every core right after each call (dependent 1-cycle adds over "
                                "each thread's time on its core), mean of the cores")


def _rate(kernel: CpuPeakKernel, facts, spec) -> specs.CpuRate | None:
    return specs.effective_cpu_rate(facts.uarch, kernel.dtype, kernel.path, spec)


def measure_shape(kernel: CpuPeakKernel, accumulators: int, unroll: int, cpus: list[int], device, spec, facts,
                  rule: timing.StopRule) -> Row:
    """One checked, timed Row for a kernel at a launch shape on `cpus`."""
    runner = ChainRunner(kernel, accumulators, unroll, cpus)
    pre = runner.check_run()
    runner.size()
    meas = timing.measure(runner, "cpu", rule=rule, warmup_s=0.02, warmup_calls=2, self_timed=True,
                          telemetry=False)
    post = runner.check()
    clocks, method = runner.clock()
    config = {"accumulators": accumulators, "unroll": unroll, "threads": len(cpus), "cpus": list(cpus),
              "path": kernel.path, "isa": kernel.isa, "instruction": kernel.instruction,
              "iters_per_call": runner.iters, "ops_per_update": kernel.ops_per_update,
              "instructions_per_update": kernel.instructions_per_update, "clock_method": method,
              "check": f"check run ({CHECK_PASSES} passes): {pre.verdict}; timed runs "
                       f"({runner.updates:,} updates per accumulator): {post.verdict}"}
    if runner.on_cpu:
        config["on_cpu"] = statistics.median(runner.on_cpu)
    row = Row(suite="peak", name=kernel.instruction, dtype=kernel.dtype, backend=kernel.isa, kernel=kernel.name,
              config=config, flops=runner.flops_per_call(), correct=pre.ok and post.ok,
              max_error=max(pre.max_error, post.max_error if post.exact else 0.0), tolerance=0.0)
    if clocks:
        row.sm_clock_mean_mhz = sum(clocks) / len(clocks)
        row.sm_clock_min_mhz, row.sm_clock_max_mhz = min(clocks), max(clocks)
    figures.compute_row(row, meas, device, spec, kernel.dtype)
    config = row.config                        # compute_row adds to a new dict
    rate = _rate(kernel, facts, spec)
    config["arch_flop_per_clk_per_core"] = rate.flop_per_clk_per_core if rate else None
    if not row.correct:
        bad = pre if not pre.ok else post
        row.note = _join(row.note, f"WRONG RESULT: {bad.detail}")
    if runner.on_cpu and config["on_cpu"] < 0.95:
        row.note = _join(row.note, f"threads were on their cores {100 * config['on_cpu']:.0f}% of the time: "
                                   "another process competed, so this figure understates the CPU")
    return row


def _join(a, b):
    return b if not a else f"{a}; {b}"


def shapes_for(kernel: CpuPeakKernel, quick: bool) -> list[tuple]:
    """The sweep's launch shapes; quick: the two largest accumulator counts without unroll and the largest
    with it (enough independent chains to cover latency x ports on every core known)."""
    if not quick:
        return list(kernel.shapes)
    u1 = sorted(a for a, u in kernel.shapes if u == 1)
    u2 = sorted(a for a, u in kernel.shapes if u > 1)
    picked = [(a, 1) for a in u1[-2:]] + ([(u2[-1], max(u for _, u in kernel.shapes))] if u2 else [])
    return [s for s in picked if s in kernel.shapes]


def skipped_row(kernel: CpuPeakKernel, why: str) -> Row:
    return Row(suite="peak", name=kernel.instruction, dtype=kernel.dtype, backend=kernel.isa, kernel=kernel.name,
               status="skipped", note=why, config={"path": kernel.path, "isa": kernel.isa})


def run(kernels: list[CpuPeakKernel], device, spec, facts, budget_s: float, cpus: list[int], quick: bool = False,
        single_core: bool = True, progress: Callable[[str], None] = lambda m: None) -> Iterator[CpuPeakResult]:
    """Each kernel's sweep within its share of budget_s; kernels this CPU cannot run yield a skipped row."""
    runnable = [k for k in kernels if not unavailable(k, facts)]
    share = budget_s / max(1, len(runnable))
    for k in kernels:
        why = unavailable(k, facts)
        if why:
            yield CpuPeakResult(k, skipped_row(k, why))
            continue
        shapes = shapes_for(k, quick)
        sweep_s = share * 0.5 / max(1, len(shapes))
        grid = []
        for a, u in shapes:
            progress(f"  {k.name}: {a} accumulators x unroll {u} on {len(cpus)} core(s)")
            grid.append(measure_shape(k, a, u, cpus, device, spec, facts, timing.StopRule(max_time_s=max(0.05, sweep_s),
                                                                                          min_time_s=0.02)))
        ok = [r for r in grid if r.correct and r.value is not None]
        pick = max(ok or grid, key=lambda r: r.value or 0)
        a, u = pick.config["accumulators"], pick.config["unroll"]
        final_s = share * (0.35 if single_core else 0.5)
        best = measure_shape(k, a, u, cpus, device, spec, facts, timing.StopRule(max_time_s=max(0.1, final_s)))
        best.config["sweep"] = f"best of {len(grid)} launch shape(s), re-measured"
        one = None
        if single_core and len(cpus) > 1:
            one = measure_shape(k, a, u, cpus[:1], device, spec, facts,
                                timing.StopRule(max_time_s=max(0.05, share * 0.15)))
            one.config["sweep"] = "the best shape on one core"
            _compare_per_core(best, one)
        yield CpuPeakResult(k, best, grid, one)


def _compare_per_core(every: Row, one: Row) -> None:
    """Every core together should do per core what one core alone does (less only by a lower clock): say so
    when they do not, per clock, since cores that share execution units (SMT siblings of a VM's host) or a
    busy machine show only there."""
    if not (every.flop_per_clk_per_sm and one.flop_per_clk_per_sm):
        return
    ratio = every.flop_per_clk_per_sm / one.flop_per_clk_per_sm
    every.config["per_core_vs_one_core"] = ratio
    if ratio < 0.9:
        every.note = _join(every.note, f"per core and clock, all {every.config['threads']} cores together did "
                                       f"{ratio:.0%} of what one core did alone: the cores may share execution "
                                       "units (SMT siblings, a VM's vCPUs on one host core) or other work ran")
