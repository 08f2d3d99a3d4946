"""The `hbm` validate suite on a CPU with accelkern._cpu: per direction (read, write, copy) accelkern's kernel
at the widest ISA path, normal and streaming stores, the best one emitted with % of the theoretical DRAM
figure; then, when the budget allows, one cache-level figure (read within the L2 the threads reach). Set-up
(allocation, first touch, check) counts against the suite's share and sizes the working set. Sizes bytes.
"""
from __future__ import annotations

import time
from typing import Iterator

from accelkern import timing
from accelkern.memory import cpu_kernels as ck
from accelkern.memory.cpu_run import make_workload, measure_row
from accelkern.memory.measure import join, size_text
from accelkern.results import Row
from accelkern.units import format_value

DIRECTIONS = (("read", [False]), ("write", [False, True]), ("copy", [False, True]))
SETUP_SHARE = 0.4              # of the share that allocation, first touch and checks may take
CALIBRATION_ELEMS = 1 << 20    # per worker: a copy set up and checked to estimate the set-up cost per byte
MIN_TIME_S = 0.05
WARMUP_S = 0.1
CACHE_FIGURE_MIN_S = 1.0       # time left at least this much: the cache-level figure runs
HOT_CALL_BYTES = 64 << 20


def setup_seconds_per_byte(cpus: list[int], path: str) -> float:
    """Seconds to allocate, first touch and check one byte of arrays, from a small copy."""
    k = ck.find("copy", path, False)
    t0 = time.perf_counter()
    w = make_workload(k, CALIBRATION_ELEMS * 8 * len(cpus), cpus)
    try:
        w.check()
    finally:
        w.close()
    return (time.perf_counter() - t0) / (2 * CALIBRATION_ELEMS * 8 * len(cpus))


def rows(ctx, dram_bytes: int) -> Iterator[Row]:
    """The suite's rows (see the module doc); dram_bytes: the default per-array size, lowered to fit the
    set-up share of the budget."""
    from accelkern.hostcpu import caches as cpu_caches, facts as cpu_facts, topology
    from accelkern.memory import cpu_theoretical
    facts = cpu_facts.cpu_facts()
    cpus = topology.one_cpu_per_core()
    path = ck.best_path(ck.cpu_features())
    theo = cpu_theoretical.resolve(ctx.spec, getattr(ctx, "spec_how", ""), sockets=facts.sockets,
                                   cores_used=len(cpus))
    per_byte = setup_seconds_per_byte(cpus, path)
    arrays = sum(ck.find(op, path, False).n_arrays for op, _ in DIRECTIONS)
    fit = int(SETUP_SHARE * max(0.0, ctx.time_left()) / (per_byte * arrays)) // (1 << 20) * (1 << 20)
    nbytes, size_note = dram_bytes, None
    if fit < dram_bytes:
        nbytes = max(1 << 20, fit)
        size_note = f"size limited to {size_text(nbytes)} by the {ctx.budget_s:.0f} s validate budget"
    n_meas = sum(len(s) for _, s in DIRECTIONS)
    setup_s = per_byte * nbytes * 2

    def rule(done: int) -> timing.StopRule:
        left = n_meas - done
        spare = ctx.time_left() - left * WARMUP_S - setup_s - CACHE_FIGURE_MIN_S
        return timing.StopRule(max_time_s=max(MIN_TIME_S, spare / max(1, left)))

    done = 0
    all_k = ck.all_kernels()
    for direction, stores in DIRECTIONS:
        ks = [ck.find(direction, path, nt, all_k) for nt in stores]
        w = make_workload(ks[0], nbytes, cpus)
        measured = []
        try:
            for k in ks:
                if k is not ks[0]:
                    w.set_kernel(k)
                ctx.progress(f"  hbm {direction}: {k.name} {size_text(nbytes)}")
                row = measure_row(w, ctx.device, ctx.spec, rule(done), theo)
                row.note = join(row.note, size_note)
                measured.append(row)
                done += 1
        finally:
            w.close()
        ok = [r for r in measured if r.status == "ok" and r.value]
        if not ok:
            yield from measured
            continue
        best = max(ok, key=lambda r: r.value)
        others = [f"{r.name} {format_value(r.value, r.metric)}" for r in ok if r is not best]
        best.name = f"{direction}: {best.name}"
        what = f"{direction} direction, accelkern {path}"
        if others:
            what += (f", best of {best.name.split(': ')[-1]} {format_value(best.value, best.metric)}, "
                     + ", ".join(others))
        best.note = join(what, best.note)
        yield best
    if ctx.time_left() >= CACHE_FIGURE_MIN_S:
        row = cache_row(ctx, cpus, path, cpu_caches.read_caches(cpus=cpus))
        if row is not None:
            yield row


def cache_row(ctx, cpus: list[int], path: str, caches) -> Row | None:
    """Read bandwidth within the L2 the threads reach (half of it: the level's own plateau, not its edge), hot:
    one set reused, passes per call so a call moves HOT_CALL_BYTES."""
    lvl = next((c for c in caches.levels if c.level == 2), None) if caches.known else None
    if lvl is None:
        return None
    k = ck.find("read", path, False)
    size = lvl.usable_bytes // 2
    w = make_workload(k, size, cpus)
    try:
        per_call = ck.traffic(k, w.elems, len(cpus)).credited
        w.resize(w.elems, max(1, -(-HOT_CALL_BYTES // per_call)))
        rule = timing.StopRule(max_time_s=max(MIN_TIME_S, min(1.0, ctx.time_left() / 2)))
        ctx.progress(f"  hbm cache: {k.name} {size_text(size)} (L2)")
        row = measure_row(w, ctx.device, ctx.spec, rule, None, dram=False,
                          cache_note=f"hot: one set reused within the L2 ({lvl.usable_bytes >> 10} KiB for "
                                     f"{len(cpus)} core(s)), the L2 serves it")
    finally:
        w.close()
    row.name = "L2: read"
    row.config["cache"] = "hot: within the L2"
    row.config["level"] = "L2"
    return row
