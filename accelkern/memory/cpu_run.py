"""accelkern's CPU memory kernels as measured rows: a workload over accelkern._cpu.MemoryRun (pinned threads,
arrays first touched by the thread that uses them), its check, the refusal of a working set that does not fit,
and the row with its byte convention, threads, ISA path, measured clock and % of the theoretical DRAM figure.
Sizes are bytes, times seconds, rates TB/s in rows (1e12 B/s) as every memory row.
"""
from __future__ import annotations

from accelkern import figures, timing
from accelkern.device import DeviceInfo
from accelkern.errors import AccelkernError
from accelkern.memory import cpu_kernels as ck
from accelkern.memory.cpu_theoretical import Theoretical
from accelkern.memory.measure import join, size_text, timing_caveat
from accelkern.memory.plan import host_available_bytes
from accelkern.results import Row
from accelkern.units import format_bytes

FREE_SHARE = 0.9          # a working set may take this much of MemAvailable
ON_CORE_MIN = 0.97        # a call whose threads were on their cores less than this share of its span was preempted
RETRIES = 3               # a preempted call is run again up to this many times before its time is taken anyway


def on_core(t: dict) -> float | None:
    """The smallest share of its span any worker of a call spent on its core (None: not measured)."""
    cpu, wall = t.get("thread_cpu_s"), t.get("thread_s")
    if not cpu or not wall:
        return None
    return min(c / w if w > 0 else 1.0 for c, w in zip(cpu, wall))


def unpreempted(call):
    """Runs call() (returning a timing dict) until no worker was preempted during it, at most RETRIES more times:
    another process on a worker's core is not the memory system. Returns (timing, calls discarded)."""
    dropped = 0
    while True:
        t = call()
        frac = on_core(t)
        if frac is None or frac >= ON_CORE_MIN or dropped >= RETRIES:
            return t, dropped
        dropped += 1


class CpuMemoryWorkload:
    """w(slot) runs `passes` passes of a kernel on every pinned worker and returns the team's own seconds
    (first worker's start to last worker's end), for timing.measure(self_timed=True)."""

    def __init__(self, kernel: ck.CpuMemKernel, elems: int, cpus: list[int]):
        mod = ck._module()
        self.kernel, self.cpus, self.passes = kernel, list(cpus), 1
        self.run = mod.MemoryRun(kernel.name, elems, self.cpus)
        self.capacity = elems
        self.elems = elems
        self.calls = 0            # kernel runs since the last check was prepared
        self.last = None          # the last call's timing dict (cycles where perf events work)
        self.preempted = 0        # calls run again because a worker was preempted
        self.samples = 0

    @property
    def threads(self) -> int:
        return len(self.cpus)

    @property
    def traffic(self) -> ck.CpuTraffic:
        return ck.traffic(self.kernel, self.elems, self.threads, self.passes)

    def set_kernel(self, kernel: ck.CpuMemKernel):
        """Another kernel on the same arrays (the other store kind, another path)."""
        self.run.set_kernel(kernel.name)
        self.kernel = kernel

    def resize(self, elems: int, passes: int = 1):
        """Run on the first `elems` elements per worker and array, `passes` times per call."""
        self.run.set_elems(elems)
        self.elems, self.passes = elems, passes

    def __call__(self, _slot: int = 0) -> float:
        self.last, dropped = unpreempted(lambda: self.run.run(self.passes))
        self.calls += 1 + dropped
        self.preempted += dropped
        self.samples += 1
        return self.last["wall_s"]

    def check(self) -> tuple[bool, str | None]:
        """(ok, what was wrong): inputs refilled and outputs poisoned (unless nothing ran since they were), one
        pass, then every output element compared bit for bit with the formula (read: its sum), and the guard
        past the end with its poison."""
        passes = self.passes
        if self.calls:
            self.run.prepare_check(1)
        self.passes = 1
        try:
            self()
        finally:
            self.passes = passes
        self.calls = 0
        return judge(self.run.verify(), self.kernel)

    def placement(self) -> list[dict]:
        return self.run.placement

    def close(self):
        self.run = None


def judge(checks: list[dict], k: ck.CpuMemKernel) -> tuple[bool, str | None]:
    """(ok, the first problem in words) from MemoryRun.verify()'s per-worker results."""
    for w, c in enumerate(checks):
        if k.op == "read" and c["mismatches"]:
            return False, (f"worker {w}: the read sum {c['got_sum']:#x} differs from the sum of its input "
                           f"{c['want_sum']:#x}")
        if c["mismatches"]:
            return False, (f"worker {w}: {c['mismatches']} of {c['elements']} output elements differ from "
                           f"{k.formula} (first at element {c['first_bad']})")
        if c.get("guard_damaged"):
            return False, f"worker {w}: {c['guard_damaged']} element(s) past the end were written"
    return True, None


ROBUST_ERR_MAX = 0.02      # a CPU row is settled when its median is known within this (robust estimate)


def median_robust_err(samples) -> float:
    """Relative standard error of the median from the samples' median absolute deviation, so that a few
    samples stretched by the machine's other work do not hide a well-known median (inf below 2 samples)."""
    import numpy as np
    x = np.asarray(samples, dtype=float)
    if x.size < 2:
        return float("inf")
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med))) * 1.4826
    return 1.2533 * mad / (x.size ** 0.5) / med if med > 0 else float("inf")


def robust_caveat(row: Row, meas, rule: timing.StopRule) -> str | None:
    """Why a CPU row's figure is not settled: fewer samples than the rule asks for, or a median known less well
    than ROBUST_ERR_MAX (robust to outliers: the nvbench noise of a shared machine rarely converges, its median
    does). The harness's own verdict stays in the row (converged, stop_reason)."""
    err = median_robust_err(meas.stats.samples_s)
    row.config["median_robust_err"] = err
    if row.samples is not None and row.samples < rule.min_samples:
        return timing_caveat(row, rule)
    if err > ROBUST_ERR_MAX:
        return (f"median known to {err:.1%} only (> {ROBUST_ERR_MAX:.0%}) after {row.samples} samples "
                f"({row.stop_reason}); raise --time")
    return None


def placement_note(placement: list[dict]) -> str | None:
    """None when each worker first touched its arrays on its own CPU and the pages sit on that CPU's node;
    else what differs (the row keeps its figure, the note says why it may be low)."""
    bad = []
    for w, p in enumerate(placement):
        if p["cpu_touched"] != p["cpu_pinned"]:
            bad.append(f"worker {w} touched its arrays on CPU {p['cpu_touched']}, not its CPU {p['cpu_pinned']}")
        nodes = {n for n in p["page_nodes"] if n >= 0}
        if nodes and p["node_touched"] >= 0 and nodes != {p["node_touched"]}:
            bad.append(f"worker {w}'s pages are on node(s) {sorted(nodes)}, its CPU on node {p['node_touched']}")
    return "; ".join(bad) or None


def require_fits(working_set: int, what: str, free: int | None = None):
    """AccelkernError (one line, before anything is allocated) when `working_set` bytes exceed
    FREE_SHARE of the memory available now, with the size that fits."""
    free = host_available_bytes() if free is None else free
    if free is not None and working_set > FREE_SHARE * free:
        raise AccelkernError(f"{what}: the working set needs {format_bytes(working_set)}, only {format_bytes(free)} "
                             f"free (MemAvailable); at most {format_bytes(int(FREE_SHARE * free))} fits")


def make_workload(k: ck.CpuMemKernel, nbytes_per_array: int, cpus: list[int]) -> CpuMemoryWorkload:
    """A workload whose arrays hold nbytes_per_array each (all threads together), rounded down to whole blocks
    per thread; refused before allocating when it does not fit."""
    elems = ck.elems_for(k, nbytes_per_array * k.n_arrays, len(cpus))
    require_fits(elems * len(cpus) * k.elem_bytes * k.n_arrays, f"{k.op} at {format_bytes(nbytes_per_array)} per array")
    return CpuMemoryWorkload(k, elems, cpus)


def base_row(w: CpuMemoryWorkload, suite: str = "hbm") -> Row:
    k, t = w.kernel, w.traffic
    per_array = w.elems * w.threads * k.elem_bytes
    cfg = {"threads": w.threads, "cpus": w.cpus, "path": k.path, "isa": k.isa, "stores": k.store_kind,
           "hint": "stream" if k.streaming else ("default" if k.stores else None),
           "formula": k.formula, "element_bytes": k.elem_bytes, "bytes_per_buffer": per_array,
           "buffers": k.n_arrays, "elements_per_thread": w.elems, "passes": w.passes,
           "byte_convention": ck.BYTE_CONVENTION, "write_allocate_bytes": t.write_allocate,
           "load_instr": k.load_instr, "store_instr": k.store_instr}
    # the sweep's x axis (the report draws rows that carry it as a sweep); a fixed-size row names its set so
    cfg["working_set_bytes" if suite != "hbm" else "set_bytes"] = t.working_set
    return Row(suite=suite, name=k.label, dtype=None, shape=size_text(per_array), backend=f"accelkern {k.path}",
               kernel=k.name, config=cfg, bytes_read=t.loaded, bytes_written=t.stored)


def measure_row(w: CpuMemoryWorkload, info: DeviceInfo, spec, rule: timing.StopRule, theo: Theoretical | None,
                *, dram: bool = True, suite: str = "hbm", check: bool = True, cache_note: str | None = None) -> Row:
    """Checks the kernel (a wrong result gives a 'failed' row, not timed), times it through the harness (its
    own pinned-thread timing), fills the figures: rd+wr and one direction (explicit bytes), the memory's
    traffic with write-allocate in the note, the core clock right after, % of the theoretical on DRAM rows."""
    row = base_row(w, suite)
    k = w.kernel
    if check:
        ok, why = w.check()
        row.correct = ok
        if not ok:
            row.status = "failed"
            row.note = join(f"wrong result: {why}; not timed")
            return row
    w.preempted = w.samples = 0
    meas = timing.measure(w, "cpu", rule=rule, self_timed=True)
    figures.memory_row(row, meas, info, spec)
    row.config["preempted_calls_rerun"] = w.preempted
    row.spec_value = row.pct_of_spec = None
    row.theoretical_value = row.pct_of_theoretical = None
    median_s = meas.stats.median_s
    t = w.traffic
    row.config["memory_traffic_tbps"] = t.moved / median_s / 1e12
    last = w.last or {}
    cyc, secs = last.get("cycles"), last.get("thread_s")
    if cyc and secs and all(s > 0 for s in secs):
        row.config["perf_clock_mhz"] = sum(c / s for c, s in zip(cyc, secs)) / len(cyc) / 1e6
    cpu_s = last.get("thread_cpu_s")
    if cpu_s and secs and sum(secs) > 0:
        row.config["on_core_fraction"] = sum(cpu_s) / sum(secs)
    if dram:
        from accelkern.hostcpu import caches as cpu_caches
        cache_note = join(cache_note, cpu_caches.cache_note(t.working_set, cpu_caches.read_caches(cpus=w.cpus)))
        row.config["cache"] = (f"cold: one set of {format_bytes(t.working_set)}, no rotation" if cache_note is None
                               else "cold: one set, may be partly served from cache (see note)")
    if dram and theo is not None and theo.known:
        row.theoretical_value = theo.bytes_s / 1e12
        row.pct_of_theoretical = 100.0 * row.value / row.theoretical_value
        row.config["theoretical_source"] = theo.source
    caveat = robust_caveat(row, meas, rule)
    row.config["timing_settled"] = caveat is None
    theo_note = None
    if dram:
        theo_note = (theo.note if theo is not None and theo.known else
                     (theo.describe() if theo is not None else "theoretical DRAM bandwidth not asked for"))
    preempt = None
    if w.preempted:
        preempt = (f"{w.preempted} call(s) run again: another process took a worker's core during them "
                   f"(a worker on its core < {ON_CORE_MIN:.0%} of the call)")
    row.note = join(ck.byte_note(k, t, median_s), cache_note, placement_note(w.placement()), caveat, preempt,
                    theo_note)
    return row
