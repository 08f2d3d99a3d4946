"""Bandwidth vs size in hot mode (one buffer set reused call after call, so sizes within a cache show its
plateau) and the cache -> memory transition derived from the settled points. Sizes are bytes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable

from accelkern import timing
from accelkern.device import DeviceInfo
from accelkern.errors import AccelkernError
from accelkern.memory.kernels import HOT_HINT, traffic
from accelkern.memory.measure import join, measure_workload, settled
from accelkern.memory.plan import CachePlan, hot_passes, require_memory
from accelkern.memory.workloads import KernelWorkload, make_workload
from accelkern.results import Row

MIN_TRANSITION_POINTS = 4


def sweep_sizes(lo: int, hi: int, per_octave: int = 2, align: int = 256) -> list[int]:
    """Sizes from lo to hi (both included) in steps of 2^(1/per_octave), rounded to `align` bytes."""
    if lo < 1 or hi < lo:
        raise AccelkernError(f"sweep range {lo}..{hi} B: need 1 <= min <= max")
    if per_octave < 1:
        raise AccelkernError("--steps: at least 1 size per doubling")
    n = int(math.floor(per_octave * math.log2(hi / lo) + 1e-9))
    sizes = []
    for i in range(n + 1):
        s = lo * 2 ** (i / per_octave)
        s = max(align, int(round(s / align)) * align) if lo >= align else int(round(s))
        sizes.append(s)
    sizes.append(hi)
    return sorted(set(sizes))


@dataclass
class SweepPoint:
    size: int              # bytes per buffer
    working_set: int       # bytes one pass touches
    tbps: float            # read + write counted
    settled: bool = True   # enough samples and converged: only settled points feed cache_transition


def _on_tiles(sizes: list[int], tile: int, capacity: int | None = None) -> list[int]:
    """Sizes of at least one tile rounded to whole tiles (down where rounding up would pass `capacity`), so
    the hot calls run no scalar tail code."""
    out = set()
    for s in sizes:
        if s >= tile:
            s = max(tile, round(s / tile) * tile)
            if capacity is not None and s > capacity:
                s = max(tile, capacity // tile * tile)
        out.add(s)
    return sorted(out)


def run_sweep(kernel: str, sizes: list[int], info: DeviceInfo, spec, rule: timing.StopRule, *, vec=16,
              hint=HOT_HINT, threads=None, blocks_per_sm=None, unroll=None,
              emit: Callable[[Row], Row] = lambda r: r,
              iterate: Callable[[list], Iterable] = lambda xs: xs) -> list[SweepPoint]:
    """Hot-mode sweep (see the package doc): buffers allocated once at the largest size, each size run on
    their prefix (own kernels: rounded to whole tiles), `passes` per call so a call moves
    HOT_TARGET_BYTES. Every row goes to emit(); the points of measured rows are returned."""
    hi = max(sizes)
    t = traffic(kernel, hi)
    require_memory(kernel, t, info.torch_device)
    w = make_workload(kernel, hi, info, vec=vec, hint=hint, threads=threads, blocks_per_sm=blocks_per_sm,
                      unroll=unroll)
    if isinstance(w, KernelWorkload):
        sizes = _on_tiles(sizes, w.shape.tile_bytes, w.capacity.buffer_bytes)
    plan = CachePlan(1, False, "hot: one set reused; sizes within the cache are served from it")
    l1_note = None
    if isinstance(w, KernelWorkload) and w.shape.hint != HOT_HINT:
        l1_note = (f"hint {w.shape.hint} in hot mode: repeated loads may be served from the SM's L1 "
                   f"(hint {HOT_HINT} = ld.global.cg reads through L2 only)")
    points = []
    try:
        for size in iterate(sizes):
            w.resize(size, 1)
            w.resize(size, hot_passes(w.traffic, info.kind))
            row = measure_workload(w, info, spec, rule, plan)
            row.suite = "hbm-sweep"
            row.config["working_set_bytes"] = w.traffic.working_set
            row.note = join(row.note, l1_note)
            emit(row)
            if row.status == "ok" and row.value:
                points.append(SweepPoint(w.nbytes, w.traffic.working_set, row.value, settled(row)))
    finally:
        w.close()
    return points


def cache_transition(points: list[SweepPoint]) -> float | None:
    """Working-set size (bytes) where bandwidth falls halfway from the cache plateau (the best point) to
    the memory plateau (median of the 3 largest sizes), interpolated in log size, over the settled points
    only; None with fewer than MIN_TRANSITION_POINTS of them or without two plateaus (the best point not at
    least 1.3x the memory plateau)."""
    pts = sorted((p for p in points if p.settled), key=lambda p: p.working_set)
    if len(pts) < MIN_TRANSITION_POINTS:
        return None
    hi_i = max(range(len(pts)), key=lambda i: pts[i].tbps)
    hi = pts[hi_i].tbps
    tail = sorted(p.tbps for p in pts[-3:])
    lo = tail[1]
    if hi < 1.3 * lo:
        return None
    mid = (hi + lo) / 2
    for i in range(hi_i, len(pts) - 1):
        a, b = pts[i], pts[i + 1]
        if a.tbps >= mid > b.tbps:
            f = (a.tbps - mid) / (a.tbps - b.tbps)
            return 2 ** (math.log2(a.working_set) + f * (math.log2(b.working_set) - math.log2(a.working_set)))
    return None


def transition_line(label: str, points: list[SweepPoint], cache_bytes: int | None, cache_name: str) -> str:
    """The footer line of one swept kernel: the transition, or why none is given."""
    from accelkern.units import format_bytes
    good = [p for p in points if p.settled]
    left_out = len(points) - len(good)
    cache = f" ({cache_name} {format_bytes(cache_bytes)})" if cache_bytes else ""
    if len(good) < MIN_TRANSITION_POINTS:
        return (f"{label}: no cache -> memory transition derived: only {len(good)} of {len(points)} sizes have "
                f"enough samples and converged (need {MIN_TRANSITION_POINTS}; raise --time){cache}")
    tr = cache_transition(points)
    base = f" (from {len(good)} of {len(points)} sizes; {left_out} unsettled left out)" if left_out else ""
    if tr is None:
        return f"{label}: no clear cache plateau found in this range{base}{cache}"
    return f"{label}: cache -> memory transition at {format_bytes(tr)} working set{base}{cache}"

