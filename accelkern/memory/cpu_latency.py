"""Load-to-use latency by pointer chase (accelkern._cpu.LatencyRun): the 64-byte lines of a working set linked
in one random cycle, walked one dependent load at a time by one pinned thread, so neither out-of-order
overlap nor a prefetcher hides a miss. ns per load, and cycles per load at the clock measured during the
chase (perf cycles) or right after it (the add chain). Sizes bytes, times ns.

Huge pages are advised for the buffer; past what the TLBs reach, a page walk is part of each load's latency
(as for a program's random accesses), which the row says.
"""
from __future__ import annotations

from dataclasses import dataclass

from accelkern import timing
from accelkern.memory import cpu_kernels as ck
from accelkern.memory.cpu_run import robust_caveat, unpreempted
from accelkern.memory.measure import join, size_text
from accelkern.results import Row

TARGET_CALL_S = 0.002        # one timed chase lasts about this long
MIN_STEPS = 4096
WARM_LINES_MAX = 1 << 19     # a warm-up walk covers the whole cycle up to this many lines (32 MiB)
DEFAULT_NS_GUESS = 100.0     # sizes the first chase before anything is known


@dataclass
class LatencyPoint:
    size: int                  # bytes chased
    ns: float                  # median ns per dependent load
    cycles: float | None       # per load, at the clock below
    clock_mhz: float | None
    clock_method: str
    settled: bool = True
    err: float = 0.0           # relative uncertainty of the median (robust)


class Chaser:
    """One pinned walker over a buffer of `capacity` bytes, reused for every size up to it."""

    def __init__(self, cpu: int, capacity: int):
        self.cpu = cpu
        self.run = ck._module().LatencyRun(cpu, max(capacity, 128))
        self._ns_guess = DEFAULT_NS_GUESS
        self.steps = MIN_STEPS
        self.last = None
        self.preempted = 0        # chases run again because another process took the walker's core

    def build(self, size: int, seed: int = 1) -> int:
        """Links the first `size` bytes into one random cycle; returns its lines. Up to WARM_LINES_MAX lines the
        chain is walked whole and must close after exactly that many (a broken chain would time something
        else); past it, one walk would cost seconds of dependent misses and the single cycle rests on how
        Sattolo's algorithm builds it (tested on smaller chains)."""
        self.run.build(size, seed)
        n = self.run.lines
        if n <= WARM_LINES_MAX:
            got = self.run.cycle_length()
            if got != n:
                raise RuntimeError(f"pointer chase at {size} B: the chain closes after {got} of {n} lines")
        return n

    def __call__(self, _slot: int = 0) -> float:
        self.last, dropped = unpreempted(lambda: self.run.chase(self.steps))
        self.preempted += dropped
        return self.last["wall_s"]

    def close(self):
        self.run = None


def _steps_for(ns_per_load: float) -> int:
    n = int(TARGET_CALL_S / max(ns_per_load, 0.2) * 1e9)
    return max(MIN_STEPS, n // 8 * 8)


def measure_point(ch: Chaser, size: int, rule: timing.StopRule, clock_mhz: float | None = None,
                  clock_method: str = "") -> tuple[LatencyPoint, object]:
    """Latency at one size: the cycle built, walked once whole (up to WARM_LINES_MAX lines) so the caches hold
    what they can, then timed chases continuing along it. Returns the point and the harness's Measurement."""
    ch.preempted = 0
    lines = ch.build(size)
    ch.steps = min(lines, WARM_LINES_MAX) // 8 * 8 or 8
    warm_s = ch()
    ch._ns_guess = warm_s / ch.steps * 1e9
    ch.steps = _steps_for(ch._ns_guess)
    meas = timing.measure(ch, "cpu", rule=rule, self_timed=True, telemetry=False, warmup_s=0.0, warmup_calls=1)
    ns = meas.stats.median_s / ch.steps * 1e9
    cycles, mhz, how = None, clock_mhz, clock_method
    last = ch.last or {}
    if last.get("cycles") and last.get("thread_s"):
        mhz = last["cycles"][0] / last["thread_s"][0] / 1e6
        how = "perf cycles during the chase"
    if mhz:
        cycles = ns * mhz / 1e3
    return LatencyPoint(size, ns, cycles, mhz, how), meas


def latency_row(p: LatencyPoint, meas, ch: Chaser, rule: timing.StopRule, level: str | None = None,
                suite: str = "hbm-latency") -> Row:
    """A row for one latency point: value in ns per load, cycles in config."""
    row = Row(suite=suite, name="latency" + (f" {level}" if level else ""), dtype=None, shape=size_text(p.size),
              backend="accelkern", kernel="pointer chase (random cycle of 64 B lines, 1 dependent load at a time)",
              metric="ns", value=p.ns, config={"bytes": p.size, "lines": p.size // 64, "cpu": ch.cpu,
                                              "steps_per_call": ch.steps, "cycles_per_load": p.cycles,
                                              "clock_mhz": p.clock_mhz, "clock_method": p.clock_method,
                                              "per_thread_bytes": p.size, "level": level})
    for k, v in meas.stats.summary().items():
        setattr(row, k, v)
    row.timer = meas.mode.get("timer")
    row.value_best = meas.stats.min_s / ch.steps * 1e9
    caveat = robust_caveat(row, meas, rule)
    row.config["timing_settled"] = p.settled = caveat is None
    p.err = row.config.get("median_robust_err") or 0.0
    row.config["preempted_calls_rerun"] = ch.preempted
    cyc = (f"{p.cycles:.1f} cycles per load at {p.clock_mhz:.0f} MHz ({p.clock_method})" if p.cycles else
           "cycles unknown: no clock measured")
    row.note = join(cyc, caveat)
    return row


def per_level(cpu: int, caches, rule: timing.StopRule | None = None, clock_mhz: float | None = None,
              clock_method: str = "") -> list[tuple[str, int, LatencyPoint]]:
    """Latency of each cache level and of DRAM for `accelkern info` and the like: one chase per level at half
    that level's size for one CPU (inside it, past the level below when the levels are 4x apart or more), and
    one at 8x the last level for DRAM. [(label, bytes chased, point)]; about a second on a server CPU."""
    levels = [(f"L{c.level}", c.usable_bytes) for c in caches.levels] if caches is not None and caches.known else []
    sizes = [(name, max(4096, size // 2)) for name, size in levels]
    sizes.append(("DRAM", 8 * levels[-1][1] if levels else 256 << 20))
    rule = rule or timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=0.2, target_noise=0.01)
    ch = Chaser(cpu, max(s for _, s in sizes))
    try:
        return [(name, size, measure_point(ch, size, rule, clock_mhz, clock_method)[0]) for name, size in sizes]
    finally:
        ch.close()
