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
        self.last = self.run.run(self.passes)
        self.calls += 1
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
                             f"of memory is available; at most {format_bytes(int(FREE_SHARE * free))} fits")


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
           "formula": k.formula, "bytes_per_buffer": per_array, "buffers": k.n_arrays,
           "elements_per_thread": w.elems, "passes": w.passes, "working_set_bytes": t.working_set,
           "byte_convention": ck.BYTE_CONVENTION, "write_allocate_bytes": t.write_allocate,
           "load_instr": k.load_instr, "store_instr": k.store_instr, "cache": "cold: one set, >= 8x the caches"}
    return Row(suite=suite, name=k.label, dtype="fp64", shape=size_text(per_array), backend=f"accelkern {k.path}",
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
    meas = timing.measure(w, "cpu", rule=rule, self_timed=True)
    figures.memory_row(row, meas, info, spec)
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
    if dram and theo is not None and theo.known:
        row.theoretical_value = theo.bytes_s / 1e12
        row.pct_of_theoretical = 100.0 * row.value / row.theoretical_value
        row.config["theoretical_source"] = theo.source
    caveat = timing_caveat(row, rule)
    row.config["timing_settled"] = caveat is None
    theo_note = None
    if dram:
        theo_note = (theo.note if theo is not None and theo.known else
                     (theo.describe() if theo is not None else "theoretical DRAM bandwidth not asked for"))
    preempt = None
    frac = row.config.get("on_core_fraction")
    if frac is not None and frac < 0.9:
        preempt = (f"the threads were on their cores {frac:.0%} of the last call's span (others ran there): the "
                   "figure is low")
    row.note = join(ck.byte_note(k, t, median_s), cache_note, placement_note(w.placement()), caveat, preempt,
                    theo_note)
    return row
