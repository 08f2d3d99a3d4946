"""The whole MAMF job on a device: warm up, search, re-measure the top shapes, measure the winner in the
other mode, and the headline row. Seconds of measuring, TFLOPS (TOPS for int8); the headline (`value`) is
the median over re-measures of the median-based figure; the mean-based figure (mamf-finder's headline)
rides beside it as config.mean_tflops.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

from accelkern.errors import AccelkernError
from accelkern.mamf import wall
from accelkern.mamf.budget import Budget, Measured
from accelkern.mamf.candidates import Candidates, Shape, lattice_candidates, wave_candidates
from accelkern.mamf.runner import Runner, default_backend, search_space, warm_up
from accelkern.mamf.search import Search
from accelkern.mamf.wall import WallPlan
from accelkern.results import Row

DEFAULT_BUDGET_S = 60.0
CONTENDER_BAND = 0.05      # re-measured: shapes within 5% (or twice the noise) of the best search figure
CPU_KS = (512, 1024, 2048)
GPU_KS = (4096, 8192, 16384)
COLD_CACHE_FALLBACK = ("cold-cache needs an L2 flush between calls, which only a CUDA device has here: "
                       "measured in sustained mode (inputs rotate over sets larger than the caches)")


@dataclass
class SearchResult:
    dtype: str
    search: str
    mode: str
    tried: int
    measuring_s: float
    best: Measured | None
    winner_tflops: float | None = None          # median of the re-measures (median-based figure)
    winner_mean_tflops: float | None = None     # median of the re-measures' mean-based figure
    winner_spread: float | None = None          # (max - min) / median over re-measures
    winner_rows: list = field(default_factory=list)
    other_mode: dict | None = None              # the winner in the other mode: tflops, spread, clock, power
    warmup: dict | None = None
    checked: Row | None = None                  # the re-measure that ran the correctness check
    stop_reason: str = ""
    candidates: int = 0
    mode_note: str = ""                         # why the mode differs from the one asked for
    replay: dict | None = None                  # replay: costs and the lattice's best
    repeats: int = 0                            # re-measures per shape made (fewer than asked to fit --budget)
    budget_note: str = ""                       # what --budget shortened
    doubt: dict | None = None                   # guided: the chances left at the search's last full look


def remeasure(runner, shapes: list, repeats: int, mode: str | None = None, rule=None) -> dict:
    """Re-measures each shape `repeats` times: {shape: [Measured]} (the headline is their median)."""
    out: dict = {}
    for s in shapes:
        for i in range(repeats):
            m = runner.measure(s, f"re-measure {i + 1}/{repeats}", mode=mode, phase="re-measure", rule=rule,
                               check=(i == 0))
            if m is not None:
                out.setdefault(s, []).append(m)
    return out


def summarize(ms: list) -> tuple[float, float]:
    """(median TFLOPS, relative spread (max-min)/median) of repeated measurements."""
    vals = [m.tflops for m in ms]
    med = statistics.median(vals)
    return med, (max(vals) - min(vals)) / med if med else math.inf


def check_ranges(search: str, ms, ns, ks, available_only: bool = False):
    if search not in ("guided", "grid"):
        raise AccelkernError(f"--search '{search}': allowed are guided, grid")
    if search == "grid" and not (ms and ns and ks):
        raise AccelkernError("--search grid needs --m, --n and --k (lists or START:STOP:STEP ranges, STOP excluded)")
    if bool(ms) != bool(ns):
        raise AccelkernError("--m and --n go together (the lattice is M x N x K); --k alone sets the K values")
    if ms and ns:
        from accelkern.mamf.candidates import MAX_LATTICE
        total = len(ms) * len(ns) * len(ks or GPU_KS)
        if total > MAX_LATTICE and not available_only:
            raise AccelkernError(f"--m/--n/--k span {total:,} shapes; at most {MAX_LATTICE:,} (use a coarser STEP)")


def candidates_for(space, ms, ns, ks, available=None) -> Candidates:
    """The lattice of the ranges when given (K: --k or the defaults), else the wave-aware set."""
    if ms and ns:
        return lattice_candidates(space, ms, ns, ks or (CPU_KS if space.sms <= 1 else GPU_KS), available)
    return wave_candidates(space)


def search_and_pick(runner, cands: Candidates, budget: Budget, search: str, top: int, repeats: int,
                    res: SearchResult, progress, plan: WallPlan | None = None, others: float = 0.0):
    """The search, then the top shapes re-measured; returns the winner (None: nothing measured). With a
    `plan`, everything stays inside its budget, keeping room for `others` measurements of the winner per
    repeat afterwards (the other mode; a fraction when one takes longer than a search measurement)."""
    def reserve(best):
        per = best.seconds if best is not None and best.seconds else 0.0
        return plan.reserve(per, top * repeats + int(math.ceil(others * repeats))) if plan else 0.0

    finder = Search(runner, budget, progress, reserve_s=reserve)
    try:
        if search == "guided":
            finder.guided(cands)
        else:
            finder.grid(cands)
    finally:
        res.tried, res.measuring_s, res.best = finder.tried, budget.spent, finder.best
        res.stop_reason = finder.stop_reason
        d = finder.doubt
        res.doubt = None if d is None else {
            "chance": round(d.chance, 6), "region_chance": round(d.region, 6), "unmeasured_shapes": d.open_,
            "next_settle": round(d.settled, 6), "next_price_s": round(d.price_s, 6), "left_s": round(d.left_s, 3)}
    if res.best is None:
        return None
    progress(f"  search stopped: {res.stop_reason}")
    ranked = sorted((m for (s, md), m in runner.measured.items() if md == runner.mode), key=lambda m: -m.tflops)
    # a shape further below the best than the noise allows cannot win the re-measures: not worth their cost
    floor = ranked[0].tflops * (1.0 - max(CONTENDER_BAND, 2.0 * finder.noise()))
    shapes = [m.shape for m in ranked[:top] if m.tflops >= floor]
    rule = full = getattr(runner, "rule", None)        # replay: no rule, the cost model is fixed
    if plan is not None:
        least = runner.least_s(ranked[0])
        check = wall.CHECK_CALLS * ranked[0].shape.flops / (ranked[0].tflops * 1e12) if full is not None else 0.0
        n, r = wall.counts(plan.left(), least, len(shapes), repeats, others, check)
        if full is not None:
            rule = wall.rule(full, (plan.left() - n * check) / max(n * r + others * r, 1e-9), least)
        if (n, r) != (len(shapes), repeats) or rule is not full:
            res.budget_note = (f"--budget: {n} shape(s) re-measured {r} time(s)"
                               + (f", each timed for at most {rule.max_time_s:.2g} s" if rule is not full
                                  else "") + f" (asked: the top {len(shapes)}, {repeats} times)")
            progress(f"  {res.budget_note}")
        shapes, repeats = shapes[:n], r
    progress(f"  re-measuring the top {len(shapes)} shape(s) {repeats} times each"
             + (f" (the others of the top {top} are more than {1 - floor / ranked[0].tflops:.0%} below the best)"
                if len(shapes) < min(top, len(ranked)) else ""))
    searched = {m.shape: m.tflops for m in ranked}
    again = remeasure(runner, shapes, repeats, rule=None if rule is full else rule)
    if not again:
        return None
    # the winner by all its measurements in this mode (one more sample against noise); its figure: the
    # median of its re-measures
    winner = max(again, key=lambda s: statistics.median([searched[s]] + [m.tflops for m in again[s]]))
    res.winner_tflops, res.winner_spread = summarize(again[winner])
    means = [m.tflops_mean for m in again[winner] if m.tflops_mean]
    res.winner_mean_tflops = statistics.median(means) if means else None
    res.winner_rows = [m.row for m in again[winner]]
    res.checked = next((r for r in res.winner_rows if r.correct is not None), None)
    res.best = max(again[winner], key=lambda m: m.tflops)
    res.repeats = repeats
    return winner


def run(device, spec, dtype: str, emit: Callable[[Row], Row], *, search: str = "guided", backend: str | None = None,
        mode: str = "cold-cache", budget_s: float = DEFAULT_BUDGET_S, ms=None, ns=None, ks=None,
        max_dim: int | None = None, tiles=None, algos: int = 1, top: int = 3, repeats: int = 3,
        warmup_s: float = 15.0, progress: Callable[[str], None] = lambda m: None,
        clock: Callable[[], float] = time.monotonic, deadline: float | None = None) -> SearchResult:
    """Warm up, search, re-measure the top shapes, measure the winner in the other mode; rows to `emit`.
    All of it within `budget_s` seconds of wall time (accelkern.mamf.wall), and before `deadline` (a
    `clock()` value) when given."""
    backend = backend or default_backend(device)
    check_ranges(search, ms, ns, ks)
    plan = WallPlan(budget_s, clock)
    if deadline is not None:
        plan.budget_s = max(1e-3, min(budget_s, deadline - plan.t0))
    asked = mode
    cuda = device.kind == "cuda"
    mode = mode if cuda else "sustained"
    runner = Runner(device, spec, dtype, backend, mode, emit, algos=algos)
    space, how = search_space(device, dtype, max_dim, ks if not (ms and ns) else None, tiles)
    cands = candidates_for(space, ms, ns, ks)
    if len(cands) == 0:
        smallest = Shape(min(ms or [space.max_dim]), min(ns or [space.max_dim]), min(ks or [space.max_dim]))
        raise AccelkernError(f"no shape fits: the smallest, {smallest}, needs "
                             f"{space.operand_bytes(smallest) / 2**30:.2f} GiB for rotating operands and output; "
                             f"{space.max_operand_bytes / 2**30:.2f} GiB may be used on this device (max size "
                             f"{space.max_dim})")
    res = SearchResult(dtype=dtype, search=search, mode=mode, tried=0, measuring_s=0.0, best=None,
                       candidates=len(cands), mode_note=COLD_CACHE_FALLBACK if asked != mode else "")
    progress(f"mamf {dtype} via {backend}, {search} search over {len(cands)} shapes, {mode} mode, budget "
             f"{plan.budget_s:.3g} s of wall time (warm-up and re-measures included); {how}")
    if res.mode_note:
        progress(f"  {res.mode_note}")
    warm = plan.warmup_s(warmup_s)
    if warm > 0:
        big = max(cands.shapes, key=lambda s: s.flops)
        res.warmup = warm_up(runner, big, max_s=warm, min_s=min(2.0, warm))
        progress(f"  warm-up {res.warmup['seconds']:.1f} s on {big}"
                 + (f": SM clock {res.warmup['sm_clock_mhz']:.0f} MHz" if res.warmup.get("sm_clock_mhz") else ""))
    other = "sustained" if mode == "cold-cache" else "cold-cache"
    # the other mode's measurements, in search measurements: a sustained headline also runs untimed first
    others = (1.0 + sum(runner.sustained_s)) if cuda and other == "sustained" else (1.0 if cuda else 0.0)
    budget = Budget(max(1e-3, plan.left()), clock, deadline=plan.t0 + plan.budget_s)
    winner = search_and_pick(runner, cands, budget, search, top, repeats, res, progress, plan=plan,
                             others=others)
    if winner is None:
        return res
    if cuda:
        res.other_mode = other_mode(runner, winner, other, res.repeats, plan, res)
    emit(winner_row(res))
    return res


def other_mode(runner, winner, other: str, repeats: int, plan: WallPlan, res: SearchResult) -> dict | None:
    """The winner re-measured in the other mode, within what is left of the plan (CUDA)."""
    per = plan.left() / max(repeats, 1)
    least = runner.least_s(res.best)
    if other == "sustained":
        warm, timed = runner.sustained_s
        room = max(0.0, per - least)
        if warm + timed > room:      # shorten both in proportion, so the untimed part still precedes the timed
            scale = room / (warm + timed)
            runner.sustained_s = (warm * scale, max(wall.MIN_TIMED_S, timed * scale))
            res.budget_note = (res.budget_note + "; " if res.budget_note else "--budget: ") + (
                f"{other} figure after {runner.sustained_s[0]:.2g} s untimed, {runner.sustained_s[1]:.2g} s timed")
    rule = wall.rule(runner.rule, per, least)
    ms = remeasure(runner, [winner], repeats, mode=other, rule=rule).get(winner, [])
    if not ms:
        return None
    med, spread = summarize(ms)
    r = ms[0].row
    return {"mode": other, "tflops": med, "spread": spread, "sm_clock_mhz": r.sm_clock_mean_mhz,
            "power_w": r.power_mean_w, "throttle": r.throttle,
            "mean_tflops": statistics.median([m.tflops_mean for m in ms if m.tflops_mean] or [med])}


def winner_row(res: SearchResult) -> Row:
    """The headline row: the winner's median over re-measures (value), its spread, the mean-based figure,
    the other mode."""
    base = res.winner_rows[len(res.winner_rows) // 2]
    row = Row(**{**base.to_dict(), "config": dict(base.config)})
    row.name = "MAMF"
    row.value = res.winner_tflops
    row.rel_stddev = res.winner_spread
    row.pct_of_spec = None if not row.spec_value else 100.0 * res.winner_tflops / row.spec_value
    if res.checked is not None:
        row.correct, row.max_error, row.tolerance = res.checked.correct, res.checked.max_error, res.checked.tolerance
    row.config["why"] = ("winner: the best median over its search measurement and re-measures; the figure: "
                         "the median of its re-measures")
    row.config.update({"search": res.search, "shapes_tried": res.tried, "measuring_s": round(res.measuring_s, 3),
                       "repeats": len(res.winner_rows), "mean_tflops": res.winner_mean_tflops,
                       "median_tflops": res.winner_tflops, "headline": "median",
                       "stop_reason": res.stop_reason, "candidates": res.candidates})
    if res.doubt is not None:      # the chance that an unmeasured shape beats the winner by more than the noise
        row.config["stop_doubt"] = res.doubt
    if res.mode_note:
        row.config["mode_note"] = res.mode_note
    if res.budget_note:
        row.config["budget_note"] = res.budget_note
    if res.other_mode:
        row.config["other_mode"] = res.other_mode
    if res.warmup:
        row.config["warmup"] = res.warmup
    if res.replay:
        row.config.update(res.replay)
    row.note = headline(res)
    return row


def headline(res: SearchResult) -> str:
    if res.best is None or res.winner_tflops is None:
        return f"mamf {res.dtype}: nothing measured" + (f" ({res.stop_reason})" if res.stop_reason else "")
    r = res.best.row
    cfg = r.config
    unit = r.metric or "TFLOPS"
    where = f"{res.best.shape}"
    if cfg.get("tile"):
        where += f", tile {cfg['tile']}" + (f" cluster {cfg['cluster']}" if cfg.get("cluster") else "")
        if cfg.get("waves") is not None:
            where += f", {cfg['waves']:.2f} waves"
    state = ", ".join(x for x in (
        f"{'core' if 'core clock' in str(cfg.get('clock_method')) else 'SM'} {r.sm_clock_mean_mhz:.0f} MHz"
        if r.sm_clock_mean_mhz else "",
        f"{r.power_mean_w:.0f} W" if r.power_mean_w else "",
        f"throttle: {r.throttle}" if r.throttle else "") if x)
    if res.replay:
        text = (f"MAMF {res.dtype or '?'} (replay) = {res.winner_tflops:.4g} {unit} (recorded mean) at {where}")
    else:
        mean = f"; mean-based {res.winner_mean_tflops:.4g}" if res.winner_mean_tflops else ""
        n = len(res.winner_rows)
        text = (f"MAMF {res.dtype} = {res.winner_tflops:.4g} {unit} (headline: median-based, {res.mode}, median of "
                f"{n} re-measure{'s' if n != 1 else ''}, spread {res.winner_spread:.1%}{mean} as mamf-finder "
                f"reports) at {where}" + (f"; {state}" if state else ""))
    if res.other_mode:
        o = res.other_mode
        clock = f" at {o['sm_clock_mhz']:.0f} MHz" if o.get("sm_clock_mhz") else ""
        power = f", {o['power_w']:.0f} W" if o.get("power_w") else ""
        text += f"; {o['mode']}: {o['tflops']:.4g}{clock}{power}"
    if res.mode_note:
        text += f"; {res.mode_note}"
    if res.budget_note:
        text += f"; {res.budget_note}"
    cost = "replayed cost" if res.replay else "of measuring"
    return text + f" [{res.search} search: {res.tried} shapes in {res.measuring_s:.3g} s {cost}; {res.stop_reason}]"
