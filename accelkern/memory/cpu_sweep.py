"""The CPU size sweep: bandwidth of accelkern's kernels from a working set that fits the L1 to one well past
the last-level cache (hot: one set reused call after call, so each size shows the level that holds it), the
pointer-chase latency at every size, the plateaus found from the data (cpu_levels) set beside the sysfs cache
sizes, and one row per level found. Sizes are bytes; `per thread` sizes are what one pinned thread's arrays
take, the working set is all threads' together.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Callable, Iterable

from accelkern import timing
from accelkern.errors import AccelkernError
from accelkern.memory import cpu_kernels as ck, cpu_latency, cpu_levels
from accelkern.memory.cpu_run import base_row, make_workload, measure_row, require_fits
from accelkern.memory.measure import join, settled
from accelkern.results import Row
from accelkern.units import format_bytes, format_value

DEFAULT_MIN_PER_THREAD = 16 << 10   # the start: inside any L1d
LLC_MULTIPLE = 8                    # the sweep ends at >= this many times the last-level cache (all threads)
HOT_BYTES_PER_CALL = 64 << 20       # credited bytes one sweep call moves (sets the passes at small sizes)


@dataclass
class CpuSweepPoint:
    per_thread: int          # bytes of one thread's arrays
    working_set: int         # all threads
    tbps: float              # credited bytes / s, 1e12
    settled: bool = True     # the row's timing met the rule (median known well)
    enough: bool = True      # at least the rule's fewest samples: good enough to find a step between levels
    err: float = 0.0         # relative uncertainty of its median (robust)


@dataclass
class LevelFinding:
    """One sysfs cache level and where the data put its end: the bandwidth curve's boundary (all threads'
    working set vs the level's size for all of them), else the latency curve's (one thread vs one CPU's)."""
    level: int
    sysfs_bytes: int             # as the curve that found it counts it
    boundary_bytes: float | None
    source: str | None           # 'bandwidth' | 'latency' | None (not found)

    @property
    def ratio(self) -> float | None:
        return self.boundary_bytes / self.sysfs_bytes if self.boundary_bytes else None

    @property
    def within(self) -> bool:
        r = self.ratio
        return r is not None and 1 / cpu_levels.MATCH_FACTOR <= r <= cpu_levels.MATCH_FACTOR


@dataclass
class CpuSweep:
    kernel: str
    points: list = field(default_factory=list)      # CpuSweepPoint
    latency: list = field(default_factory=list)     # cpu_latency.LatencyPoint (size = per-thread bytes)
    levels: cpu_levels.Levels | None = None         # from bandwidth vs all threads' working set
    latency_levels: cpu_levels.Levels | None = None  # from latency vs one thread's size
    findings: list = field(default_factory=list)    # LevelFinding per sysfs level


def default_max_per_thread(llc_bytes: int | None, threads: int) -> int:
    """Per-thread bytes at which all threads' working set is >= LLC_MULTIPLE x the last-level cache (whole MiB);
    256 MiB in all when the cache is unknown."""
    total = LLC_MULTIPLE * (llc_bytes or 32 << 20)
    per = -(-total // threads)
    return -(-per // (1 << 20)) * (1 << 20)


def sweep_sizes(lo: int, hi: int, per_octave: int = 2) -> list[int]:
    """Per-thread sizes from lo to hi, both included, 2^(1/per_octave) apart, rounded to 4 KiB."""
    if lo < 4096:
        raise AccelkernError(f"--sweep-min {format_bytes(lo)}: at least 4 KiB per thread")
    if hi < lo:
        raise AccelkernError(f"sweep range {format_bytes(lo)}..{format_bytes(hi)} per thread is reversed: "
                             "--sweep-min must not exceed --sweep-max")
    n = int(math.floor(per_octave * math.log2(hi / lo) + 1e-9))
    out = {max(4096, int(round(lo * 2 ** (i / per_octave) / 4096)) * 4096) for i in range(n + 1)}
    out.add(hi // 4096 * 4096 or 4096)
    return sorted(out)


def check_fits(sizes: list[int], threads: int):
    """Refuses (one line, before allocating) a sweep whose largest size does not fit in free memory (every
    thread's arrays; the latency chase, one thread's size, runs after they are freed)."""
    hi = max(sizes)
    require_fits(hi * threads, f"--sweep-max {format_bytes(hi)} per thread x {threads} thread(s)")


def sysfs_levels(caches) -> list[tuple[int, int]]:
    """[(level, bytes the CPUs in use can reach at that level)] from hostcpu.caches.CpuCaches."""
    if caches is None or not caches.known:
        return []
    return [(c.level, c.usable_bytes) for c in caches.levels]


def run(kernels: list[ck.CpuMemKernel], sizes: list[int], cpus: list[int], info, spec, rule: timing.StopRule,
        caches=None, *, latency: bool = True, clock=None, emit: Callable[[Row], Row] = lambda r: r,
        iterate: Callable[[list], Iterable] = lambda xs: xs) -> list[CpuSweep]:
    """Every kernel at every per-thread size (rows to emit()), then the latency at every size, the plateaus
    from the first kernel's points, and one 'hbm-levels' row per plateau. clock: a hostcpu ClockReading for
    cycles when perf events are not available."""
    threads = len(cpus)
    out = []
    for k in kernels:
        out.append(_bandwidth(k, sizes, cpus, info, spec, rule, emit, iterate))
    if latency and out:
        _latency(out[0], sizes, cpus[0], rule, clock, emit, iterate)
    if out:
        one = None
        if caches is not None:
            from accelkern.hostcpu import caches as caches_mod
            one = caches_mod.read_caches(cpus=cpus[:1])
        find_levels(out[0], sysfs_levels(caches), sysfs_levels(one), threads)
        for r in level_rows(out[0], threads):
            emit(r)
    return out


def find_levels(sw: CpuSweep, sysfs_all: list, sysfs_one: list, threads: int) -> CpuSweep:
    """Plateaus of the bandwidth curve (points with enough samples; sizes: all threads' working set, against
    the cache the threads reach together) and of the latency curve (one thread, against one CPU's caches); then
    per sysfs level the boundary that matched it, bandwidth first."""
    good = [p for p in sw.points if p.enough]
    hi = max((p.working_set for p in sw.points), default=0)
    sw.levels = cpu_levels.detect([p.working_set for p in good], [p.tbps for p in good], sysfs_all,
                                  dram_reached=bool(sysfs_all) and hi >= 4 * sysfs_all[-1][1],
                                  errors=[p.err for p in good])
    lat = [p for p in sw.latency if p.ns]
    if lat:
        top = max(p.size for p in lat)
        sw.latency_levels = cpu_levels.detect([p.size for p in lat], [p.ns for p in lat], sysfs_one,
                                              dram_reached=bool(sysfs_one) and top >= 4 * sysfs_one[-1][1],
                                              errors=[p.err for p in lat])
    sw.findings = []
    one = dict(sysfs_one)
    for lvl, size in sysfs_all:
        b = next((b for b in sw.levels.boundaries if b.level == lvl), None)
        if b is not None:
            sw.findings.append(LevelFinding(lvl, size, b.bytes, "bandwidth"))
            continue
        lb = next((b for b in (sw.latency_levels.boundaries if sw.latency_levels else []) if b.level == lvl), None)
        if lb is not None:
            sw.findings.append(LevelFinding(lvl, lb.sysfs_bytes, lb.bytes, "latency"))
        else:
            sw.findings.append(LevelFinding(lvl, one.get(lvl, size), None, None))
    return sw


def _bandwidth(k, sizes, cpus, info, spec, rule, emit, iterate) -> CpuSweep:
    threads = len(cpus)
    hi = max(sizes)
    w = make_workload(k, hi * threads // k.n_arrays, cpus)
    sw = CpuSweep(k.label)
    try:
        ok, why = w.check()   # once, at the largest size: every size runs the same code on a prefix
        for size in iterate(sizes):
            elems = ck.elems_for(k, size * threads, threads)
            elems = min(elems, w.capacity)
            per_call = ck.traffic(k, elems, threads).credited
            w.resize(elems, max(1, math.ceil(HOT_BYTES_PER_CALL / per_call)))
            if not ok:
                row = base_row(w, "hbm-sweep")
                row.status, row.correct = "failed", False
                row.note = f"wrong result at the largest size: {why}; not timed"
            else:
                row = measure_row(w, info, spec, rule, None, dram=False, suite="hbm-sweep", check=False,
                                  cache_note="hot: one set reused, the level that holds it serves it")
                row.correct = True
            row.config["cache"] = "hot: one set reused"
            row.config["per_thread_bytes"] = elems * k.elem_bytes * k.n_arrays
            emit(row)
            if row.status == "ok" and row.value:
                sw.points.append(CpuSweepPoint(elems * k.elem_bytes * k.n_arrays, w.traffic.working_set, row.value,
                                               settled(row), (row.samples or 0) >= rule.min_samples,
                                               row.config.get("median_robust_err") or 0.0))
    finally:
        w.close()
    return sw


def _latency(sw: CpuSweep, sizes, cpu, rule, clock, emit, iterate):
    require_fits(max(sizes), "pointer chase")
    ch = cpu_latency.Chaser(cpu, max(sizes))
    lrule = timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=max(0.05, min(rule.max_time_s, 0.2)),
                            target_noise=0.01)
    mhz = clock.mhz if clock is not None else None
    how = f"the core clock measured before the sweep ({clock.method})" if clock is not None else ""
    try:
        for size in iterate(sizes):
            p, meas = cpu_latency.measure_point(ch, size, lrule, mhz, how)
            sw.latency.append(p)
            emit(cpu_latency.latency_row(p, meas, ch, lrule, suite="hbm-sweep-latency"))
    finally:
        ch.close()


def level_rows(sw: CpuSweep, threads: int) -> list[Row]:
    """One row per bandwidth plateau found (median of its points, range, boundary vs sysfs, the latency of
    the chases inside it) and one per latency plateau (one thread)."""
    rows = []
    lv = sw.levels
    if lv is None:
        return rows
    for i, p in enumerate(sw.latency_levels.plateaus if sw.latency_levels else []):
        b = sw.latency_levels.boundaries[i] if i < len(sw.latency_levels.boundaries) else None
        cyc = [q.cycles for q in sw.latency if q.cycles and p.lo_bytes <= q.size <= p.hi_bytes]
        note = (f"ends at {format_bytes(b.bytes)} (one thread), sysfs L{b.level} {format_bytes(b.sysfs_bytes)}: "
                f"x{b.ratio:.2f}") if b is not None and b.level is not None else None
        rows.append(Row(suite="hbm-levels", name=f"{p.label} latency", dtype=None,
                        shape=f"{format_bytes(p.lo_bytes)}..{format_bytes(p.hi_bytes)}", backend="accelkern",
                        kernel="pointer chase plateau (one thread)", metric="ns", value=p.value,
                        config={"range_bytes": [p.lo_bytes, p.hi_bytes], "points": p.points, "threads": 1,
                                "latency_cycles": statistics.median(cyc) if cyc else None,
                                "boundary_bytes": b.bytes if b else None,
                                "sysfs_bytes": b.sysfs_bytes if b else None,
                                "boundary_vs_sysfs": b.ratio if b else None},
                        note=note))
    lat_by_label = {p.label: p for p in (sw.latency_levels.plateaus if sw.latency_levels else [])}
    for i, p in enumerate(lv.plateaus):
        b = lv.boundaries[i] if i < len(lv.boundaries) else None
        lp = lat_by_label.get(p.label)
        ns = lp.value if lp else None
        cyc = [q.cycles for q in sw.latency if lp and q.cycles and lp.lo_bytes <= q.size <= lp.hi_bytes]
        cyc = statistics.median(cyc) if cyc else None
        cfg = {"range_bytes": [p.lo_bytes, p.hi_bytes], "points": p.points, "threads": threads,
               "boundary_bytes": b.bytes if b else None, "sysfs_bytes": b.sysfs_bytes if b else None,
               "boundary_vs_sysfs": b.ratio if b else None, "latency_ns": ns, "latency_cycles": cyc,
               "kernel": sw.kernel, "noise": lv.noise}
        note = None
        if b is not None and b.level is not None:
            note = (f"ends at {format_bytes(b.bytes)} (all threads), sysfs L{b.level} {format_bytes(b.sysfs_bytes)}: "
                    f"x{b.ratio:.2f}")
        elif b is not None:
            note = f"ends at {format_bytes(b.bytes)}: no sysfs level within {cpu_levels.MATCH_FACTOR:g}x"
        if ns is not None:
            note = join(note, f"latency (one thread, its {p.label} plateau) {ns:.3g} ns" +
                        (f" = {cyc:.3g} cycles" if cyc else ""))
        rows.append(Row(suite="hbm-levels", name=p.label, dtype=None,
                        shape=f"{format_bytes(p.lo_bytes)}..{format_bytes(p.hi_bytes)}", backend="accelkern",
                        kernel=f"{sw.kernel} sweep plateau", metric="TB/s", value=p.value, config=cfg, note=note))
    return rows


def footer(sw: CpuSweep, threads: int) -> list[str]:
    """Lines for the table's footer: each curve's plateaus and boundaries, then each sysfs level beside the
    boundary found for it."""
    if sw.levels is None:
        return []
    out = [f"{sw.kernel} bandwidth, {threads} thread(s): {line}"
           for line in sw.levels.lines(format_bytes, lambda v: format_value(v, "TB/s"))]
    if sw.latency_levels is not None:
        out += [f"latency, one thread: {line}"
                for line in sw.latency_levels.lines(format_bytes, lambda v: f"{v:.3g} ns")]
    parts = []
    for f in sw.findings:
        if f.source is None:
            parts.append(f"L{f.level} ({format_bytes(f.sysfs_bytes)}): not found")
        else:
            parts.append(f"L{f.level} ends at {format_bytes(f.boundary_bytes)} ({f.source}) vs sysfs "
                         f"{format_bytes(f.sysfs_bytes)}: x{f.ratio:.2f}{'' if f.within else ' (beyond 2x)'}")
    if parts:
        out.append("levels vs sysfs: " + "; ".join(parts))
    return out
