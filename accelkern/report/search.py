"""Sections 4 and 5: the MAMF search (every shape tried, a heat map when two dimensions vary, the winner and its
re-measures) and tile/wave quantization (a sweep's measured vs predicted curve with its dips and algorithm
switches, re-fitted with accelkern.waves_sweep's own summary; the staircase)."""
from __future__ import annotations

import copy
from types import SimpleNamespace

from accelkern.report import facts, plots
from accelkern.report.model import Block, Figure, Table
from accelkern.results import Row
from accelkern.units import format_value

DIMS = ("M", "N", "K")


def _f(v, fmt="{:.0f}", unit=""):
    return "-" if v is None else fmt.format(v) + unit


def _grid(shapes_vals: list[tuple[tuple, float]]):
    """(xs, ys, grid, fixed) for a heat map of the two dimensions with most values at the most common value of
    the third, or None when fewer than two dimensions vary there."""
    best = None
    for fixed_dim in (2, 0, 1):
        counts: dict = {}
        for s, _v in shapes_vals:
            counts[s[fixed_dim]] = counts.get(s[fixed_dim], 0) + 1
        at = max(counts, key=counts.get)
        sel = [(s, v) for s, v in shapes_vals if s[fixed_dim] == at]
        dx, dy = [d for d in range(3) if d != fixed_dim][::-1]   # x: N (or the later dim), y: M
        xs = sorted({s[dx] for s, _ in sel})
        ys = sorted({s[dy] for s, _ in sel})
        if len(xs) < 2 or len(ys) < 2:
            continue
        if best is None or len(sel) > best[-1]:
            grid = [[None] * len(xs) for _ in ys]
            for s, v in sel:
                i, j = ys.index(s[dy]), xs.index(s[dx])
                grid[i][j] = v if grid[i][j] is None else max(grid[i][j], v)
            best = (xs, ys, grid, (dx, dy, fixed_dim, at), len(sel))
    return None if best is None else best[:4]


def mamf_block(rows: list[Row], header: dict) -> Block | None:
    mrows = [r for r in rows if r.suite == "mamf"]
    if not any(facts.ok(r) for r in mrows):
        return None
    b = Block()
    for dtype in sorted({r.dtype for r in mrows if r.dtype}):
        tried = [r for r in mrows if r.dtype == dtype and r.name != "MAMF" and facts.ok(r)]
        winner = max((r for r in mrows if r.dtype == dtype and r.name == "MAMF" and facts.ok(r)),
                     key=lambda r: r.value, default=None)
        if not tried and winner is None:
            continue
        metric = (winner or tried[0]).metric or "TFLOPS"
        search = [r for r in tried if r.name != "re-measure"]
        remeasures = [r for r in tried if r.name == "re-measure" and (winner is None or r.shape == winner.shape)]
        title = f"{header.get('device') or ''} MAMF search, {dtype}: {len(search)} shape(s) measured"
        if search:
            sv = [(facts.gemm_shape(r)[:3], r.value) for r in search if facts.gemm_shape(r)]
            grid = _grid(sv)
            if grid:
                xs, ys, g, (dx, dy, fd, at) = grid
                mark = None
                ws = facts.gemm_shape(winner) if winner else None
                if ws and ws[fd] == at and ws[dx] in xs and ws[dy] in ys:
                    mark = (ys.index(ws[dy]), xs.index(ws[dx]))
                png = plots.heatmap(xs, ys, g, DIMS[dx], DIMS[dy], f"{title} ({DIMS[fd]} = {at}; best per cell)",
                                    metric, mark)
                cap = f"{metric} of every {DIMS[dy]} x {DIMS[dx]} tried at {DIMS[fd]} = {at}; the winner circled."
            else:
                labels = [r.shape for r in search]
                vals = [r.value for r in search]
                wi = labels.index(winner.shape) if winner and winner.shape in labels else None
                png = plots.search_scatter(labels, vals, wi, title, metric)
                cap = f"{metric} of every shape the search measured, in the order measured; the winner starred."
            b.figures.append(Figure(f"mamf_{dtype}", cap, png))
        if winner is not None:
            cfg = winner.config or {}
            other = cfg.get("other_mode") or {}
            warm = cfg.get("warmup") or {}
            items = [
                ("MAMF", f"{format_value(winner.value, metric)}" + (f" ({winner.pct_of_spec:.1f}% of the datasheet "
                                                                    f"{format_value(winner.spec_value, metric)})"
                                                                    if winner.pct_of_spec else "")),
                ("shape", winner.shape), ("backend / kernel", f"{winner.backend} / {winner.kernel or '-'}"),
                ("mode", cfg.get("mode") or "-"),
                ("tile / cluster", f"{cfg.get('tile') or '-'} / {cfg.get('cluster') or '-'}"),
                ("waves", _f(cfg.get("waves"), "{:.2f}") + (f" (wave efficiency {cfg['wave_eff']:.0%})"
                                                            if cfg.get("wave_eff") is not None else "")),
                ("SM clock / power", f"{_f(winner.sm_clock_mean_mhz, unit=' MHz')} / "
                                     f"{_f(winner.power_mean_w, unit=' W')}"
                                     + (f" of {winner.power_limit_w:.0f} W" if winner.power_limit_w else "")),
                ("throttle", winner.throttle or "-"),
                ("re-measures", ", ".join(format_value(r.value, metric) for r in remeasures) or "-"),
                ("spread (max - min) / median", _f(winner.rel_stddev, "{:.1%}")),
                ("search", (f"{cfg.get('search') or '-'}: {cfg.get('shapes_tried', len(search))} shapes in "
                            f"{_f(cfg.get('measuring_s'), '{:.0f}', ' s')} of measuring")),
            ]
            if other:
                items.append((f"other mode ({other.get('mode')})",
                              f"{format_value(other.get('tflops'), metric)} at "
                              f"{_f(other.get('sm_clock_mhz'), unit=' MHz')}"
                              f", {_f(other.get('power_w'), unit=' W')}" + (f", throttle {other['throttle']}"
                                                                            if other.get("throttle") else "")))
            if warm:
                items.append(("warm-up", ", ".join(f"{k} {v}" for k, v in warm.items())))
            b.tables.append(Table(["winner " + dtype, ""], [list(i) for i in items]))
    return b if (b.figures or b.tables) else None


# ---- waves ---------------------------------------------------------------------------------------

def _sweep_points(group: list[Row]):
    """waves_sweep.SweepPoint-alikes rebuilt from rows: the model numbers each row recorded in its config."""
    from accelkern import waves_sweep as ws
    pts = []
    for r in group:
        s = facts.gemm_shape(r)
        c = r.config or {}
        if not s or not facts.ok(r) or r.median_ms is None or c.get("quantized_flops") is None:
            continue
        a = SimpleNamespace(tiles=c.get("tiles"), waves=c.get("waves"), last_wave_fill=c.get("last_wave_fill"),
                            quantized_flops=c["quantized_flops"], useful_flops=r.flops or 2.0 * s[0] * s[1] * s[2])
        pts.append(ws.SweepPoint(s[0], s[1], s[2], copy.deepcopy(r), a, r.kernel))
    return pts


def _sweep_figure(group: list[Row], key, header: dict, b: Block, n: int):
    from accelkern import waves_sweep as ws
    pts = _sweep_points(group)
    if len(pts) < 2:
        return
    varying = [d for i, d in enumerate(DIMS) if len({(p.m, p.n, p.k)[i] for p in pts}) > 1]
    if not varying or len(varying) > 2:
        return
    peak = next((p.row.config.get("peak_tflops") for p in pts if p.row.config.get("peak_tflops")), None)
    if len(varying) == 1:
        pts.sort(key=lambda p: (p.m, p.n, p.k)[DIMS.index(varying[0])])
    summary = ws.summarize(pts, varying, peak)
    dtype, backend, fixed = key
    metric = pts[0].row.metric or "TFLOPS"
    title = (f"{header.get('device') or ''} {dtype} GEMM sweep along {' and '.join(varying)}, {backend}"
             + (", one algorithm held" if fixed else ", per-shape algorithm"))
    if len(varying) == 1:
        d = DIMS.index(varying[0])
        x = [(p.m, p.n, p.k)[d] for p in pts]
        meas = [p.row.value for p in pts]
        pred = [p.row.config.get("predicted_tflops_fitted") for p in pts]
        at_peak = [p.analysis.useful_flops / (p.row.config["predicted_ms_at_peak"] * 1e-3) / 1e12
                   if p.row.config.get("predicted_ms_at_peak") else None for p in pts]
        marks = [{"x": x[dp["index"]], "y": meas[dp["index"]],
                  "text": f"dip: {dp['tiles']} tiles, {dp['waves']:.2f} waves ({dp['last_wave_fill']:.0%} last)"}
                 for dp in summary.dips]
        for sw in summary.algo_switches:
            at = int(sw["at"].split("=")[1])
            if at in x:
                marks.append({"x": at, "y": meas[x.index(at)], "text": "algorithm switch"})
        png = plots.sweep_chart(x, meas, pred, at_peak, marks, varying[0], title, metric)
        cap = (f"Measured {metric} along {varying[0]} beside the tile/wave model (time = a per-wave time fitted over "
               "the sweep x ceil(waves) + a fixed cost); dips and algorithm switches annotated.")
    else:
        sv = [((p.m, p.n, p.k), p.row.value) for p in pts]
        xs, ys, g, (dx, dy, fd, at) = _grid(sv)
        png = plots.heatmap(xs, ys, g, DIMS[dx], DIMS[dy], title, metric)
        cap = f"Measured {metric} over {DIMS[dy]} x {DIMS[dx]} ({DIMS[fd]} = {at})."
    b.figures.append(Figure(f"waves_sweep_{n}", cap, png))
    src = pts[0].row.config.get("model_source")
    lines = ([f"model tile: {src}"] if src else []) + summary.lines()
    b.bullets += lines


def waves_block(rows: list[Row], header: dict) -> Block | None:
    wrows = [r for r in rows if r.suite == "waves"]
    sweep = [r for r in wrows if r.name != "staircase"]
    stair = [r for r in wrows if r.name == "staircase" and facts.ok(r)]
    b = Block()
    groups: dict = {}
    for r in sweep:
        key = (r.dtype, r.backend, bool((r.config or {}).get("fixed_algo")))
        groups.setdefault(key, []).append(r)
    for n, (key, group) in enumerate(groups.items()):
        _sweep_figure(group, key, header, b, n)
    if stair:
        series = []
        for cps in sorted({(r.config or {}).get("ctas_per_sm") for r in stair}, key=lambda v: (v is None, v)):
            sel = sorted((r for r in stair if (r.config or {}).get("ctas_per_sm") == cps),
                         key=lambda r: (r.config or {}).get("ctas", 0))
            series.append({"label": f"{cps} CTA/SM", "ctas": [r.config.get("ctas") for r in sel],
                           "us": [r.value for r in sel], "predicted_us": [r.config.get("predicted_us") for r in sel],
                           "resident": sel[0].config.get("resident")})
            c0 = sel[0].config
            b.bullets.append(f"{cps} CTA/SM: model {c0.get('model_ctas_per_sm')} vs runtime "
                             f"{c0.get('runtime_ctas_per_sm')} CTAs per SM; steps predicted every "
                             f"{c0.get('resident')} CTAs")
        b.figures.append(Figure("waves_staircase", "Fixed-work kernel: time per launch vs CTAs; the model's steps "
                                                   "(dashed) at multiples of SMs x CTAs per SM (faint lines).",
                                plots.staircase_chart(series, f"{header.get('device') or ''} wave staircase")))
    return b if b.figures else None
