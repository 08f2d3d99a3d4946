"""Every plot of the report, drawn with matplotlib (Agg, no display) and returned as PNG bytes.

The functions take plain numbers that the section modules computed from rows; nothing here reads a Row.
"""
from __future__ import annotations

import io
import math

from accelkern.errors import AccelkernError
from accelkern.units import format_bytes

DPI = 100
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")
BAR_COLORS = {"datasheet": "#4d4d4d", "clock": "#9e9e9e", "peak": "#1f77b4", "gemm": "#ff7f0e", "memory": "#2ca02c",
              "link": "#9467bd"}


def pyplot():
    """matplotlib.pyplot on the Agg backend; AccelkernError naming the extra when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AccelkernError("the report draws its plots with matplotlib, which is not installed: "
                             "pip install 'accelkern[report]'") from None
    return plt


def _png(fig, **margins) -> bytes:
    """PNG bytes of a figure; fixed margins (in figure fractions) instead of tight_layout, which draws the
    figure once more just to measure it."""
    buf = io.BytesIO()
    fig.subplots_adjust(**{"left": 0.08, "right": 0.98, "bottom": 0.14, "top": 0.91, **margins})
    fig.savefig(buf, format="png", dpi=DPI)
    pyplot().close(fig)
    return buf.getvalue()


def _short(v: float) -> str:
    return f"{v:.4g}"


def claims_chart(groups: list[dict]) -> bytes:
    """Small multiples, one per dtype (and memory): bars {label, value, pct, kind}, each labelled with its
    value and % of the datasheet. groups: [{title, unit, bars}]."""
    plt = pyplot()
    n = len(groups)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.1 * cols, 3.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, g in zip(axes.flat, groups):
        bars = g["bars"]
        xs = range(len(bars))
        vals = [b["value"] for b in bars]
        ax.bar(xs, vals, color=[BAR_COLORS.get(b["kind"], "#777777") for b in bars], width=0.7)
        top = max(vals) if vals else 1
        for x, b in zip(xs, bars):
            text = _short(b["value"]) + (f"\n{b['pct']:.0f}%" if b.get("pct") is not None else "")
            ax.text(x, b["value"] + 0.02 * top, text, ha="center", va="bottom", fontsize=7)
        ax.set_ylim(0, top * 1.28 if top > 0 else 1)
        ax.set_xlim(-0.75, max(len(bars), 3) - 0.25)   # a lone bar stays a bar, not a block
        ax.set_xticks(list(xs))
        ax.set_xticklabels([b["label"] for b in bars], rotation=35, ha="right", fontsize=7)
        ax.set_title(g["title"], fontsize=9)
        ax.set_ylabel(g["unit"], fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    height = 3.0 * rows + 0.4
    return _png(fig, left=0.07, right=0.99, bottom=0.9 / height, top=1 - 0.3 / height, wspace=0.42,
                hspace=0.9)


def roofline_chart(points: list[dict], roofs: list[dict], lines: list[dict], title: str) -> bytes:
    """Log-log TFLOPS vs FLOP/byte. points: {x, y, label, group}; roofs: {kind 'compute'|'memory', value
    (TFLOPS or TB/s), label, style 'spec'|'clock'|'measured', group}; lines: measured memory kernels as
    bandwidth roofs {value TB/s, label}."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    groups = sorted({p["group"] for p in points} | {r["group"] for r in roofs if r.get("group")})
    color = {g: COLORS[i % len(COLORS)] for i, g in enumerate(groups)}
    xs = [p["x"] for p in points] or [1.0]
    lo, hi = min(xs + [0.1]) / 3, max(xs + [100.0]) * 3
    grid = [lo * (hi / lo) ** (i / 100) for i in range(101)]
    style = {"spec": "-", "clock": ":", "measured": "--"}
    for r in roofs:
        c = color.get(r.get("group"), "black")
        if r["kind"] == "compute":
            ax.plot([lo, hi], [r["value"], r["value"]], ls=style[r["style"]], color=c, lw=1.2, label=r["label"])
        else:
            ax.plot(grid, [r["value"] * x for x in grid], ls=style[r["style"]], color="black", lw=1.2, label=r["label"])
    for i, ln in enumerate(lines):
        ax.plot(grid, [ln["value"] * x for x in grid], ls="--", color=COLORS[(i + 3) % len(COLORS)], lw=1,
                label=ln["label"])
    for g in groups:
        pts = [p for p in points if p["group"] == g]
        if pts:
            ax.scatter([p["x"] for p in pts], [p["y"] for p in pts], s=18, color=color[g], label=f"{g} measured",
                       zorder=3)
    ys = [p["y"] for p in points] + [r["value"] for r in roofs if r["kind"] == "compute"]
    if ys:
        ax.set_ylim(min(ys) / 5, max(ys) * 3)
    ax.set_xlim(lo, hi)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of minimum traffic)")
    ax.set_ylabel("TFLOPS (TOPS for int8)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    return _png(fig, left=0.09, bottom=0.1, top=0.94)


def search_scatter(labels: list[str], values: list[float], winner: int | None, title: str, unit: str) -> bytes:
    """Throughput of every shape tried, in the order tried; the winner marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 3.8))
    xs = list(range(len(values)))
    ax.plot(xs, values, marker="o", ms=4, lw=0.8, color=COLORS[0], label="shape tried")
    if winner is not None:
        ax.scatter([winner], [values[winner]], s=140, marker="*", color=COLORS[3], zorder=3,
                   label=f"winner {labels[winner]}")
    step = max(1, len(labels) // 14)
    ax.set_xticks(xs[::step])
    ax.set_xticklabels(labels[::step], rotation=40, ha="right", fontsize=7)
    ax.set_ylabel(unit)
    ax.set_xlabel("shape (M x N x K), in the order measured")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig, left=0.09, bottom=0.3, top=0.92)


def heatmap(xs: list[int], ys: list[int], grid: list[list[float | None]], xlabel: str, ylabel: str, title: str,
            unit: str, mark: tuple[int, int] | None = None) -> bytes:
    """grid[i][j] at (xs[j], ys[i]); empty cells blank; `mark` = (i, j) of the winner."""
    plt = pyplot()
    import numpy as np
    data = np.array([[np.nan if v is None else v for v in row] for row in grid], dtype=float)
    fig, ax = plt.subplots(figsize=(min(10, max(6.5, 1.6 + 0.5 * len(xs))), min(7, max(4.0, 1.6 + 0.45 * len(ys)))))
    im = ax.imshow(data, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels([str(x) for x in xs], rotation=45, fontsize=7)
    ax.set_yticks(range(len(ys)))
    ax.set_yticklabels([str(y) for y in ys], fontsize=7)
    if len(xs) * len(ys) <= 120:
        for i in range(len(ys)):
            for j in range(len(xs)):
                if not np.isnan(data[i, j]):
                    ax.text(j, i, _short(data[i, j]), ha="center", va="center", fontsize=6,
                            color="black" if im.norm(data[i, j]) > 0.6 else "white")
    if mark is not None:
        ax.scatter([mark[1]], [mark[0]], s=260, marker="o", facecolors="none", edgecolors="red", linewidths=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=unit)
    return _png(fig, left=0.12, right=0.97, bottom=0.17, top=0.9)


def sweep_chart(x: list[int], measured: list[float], predicted: list[float | None], at_peak: list[float | None],
                marks: list[dict], xlabel: str, title: str, unit: str) -> bytes:
    """Measured vs predicted throughput along one dimension; marks {x, y, text} annotate dips and switches."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    ax.plot(x, measured, marker="o", ms=3, lw=1, color=COLORS[0], label="measured")
    if any(v is not None for v in predicted):
        ax.plot(x, [math.nan if v is None else v for v in predicted], lw=1, ls="--", color=COLORS[1],
                label="model (per-wave time fitted over the sweep)")
    if any(v is not None for v in at_peak):
        ax.plot(x, [math.nan if v is None else v for v in at_peak], lw=0.8, ls=":", color="grey",
                label="model at the peak (quantization ceiling)")
    for i, mk in enumerate(marks[:12]):
        ax.annotate(mk["text"], (mk["x"], mk["y"]), xytext=(0, -28 - 10 * (i % 3)), textcoords="offset points",
                    ha="center", fontsize=6.5, color=COLORS[3], arrowprops={"arrowstyle": "->", "color": COLORS[3],
                                                                            "lw": 0.6})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(unit)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig, left=0.09, bottom=0.12, top=0.92)


def staircase_chart(series: list[dict], title: str) -> bytes:
    """Time vs CTA count per CTAs-per-SM setting: {label, ctas, us, predicted_us, resident}."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    for i, s in enumerate(series):
        c = COLORS[i % len(COLORS)]
        ax.plot(s["ctas"], s["us"], marker="o", ms=3, lw=0.8, color=c, label=f"{s['label']} measured")
        if any(v is not None for v in s["predicted_us"]):
            ax.step(s["ctas"], [math.nan if v is None else v for v in s["predicted_us"]], where="mid", ls="--",
                    color=c, lw=0.8, label=f"{s['label']} model")
        if s.get("resident"):
            top = max(s["ctas"])
            for w in range(1, int(top // s["resident"]) + 1):
                ax.axvline(w * s["resident"], color=c, alpha=0.15, lw=0.8)
    ax.set_xlabel("CTAs launched")
    ax.set_ylabel("time per launch (us)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig, left=0.09, bottom=0.12, top=0.92)


def memory_sweep_chart(series: dict, cache: int | None, transitions: dict, spec_tbps: float | None,
                       title: str) -> bytes:
    """TB/s vs working set per kernel {kernel: [(bytes, TB/s)]}; the cache size, the measured cache-to-memory
    transition per kernel and the datasheet bandwidth marked."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    xs_all = []
    for i, (kernel, pts) in enumerate(series.items()):
        pts = sorted(pts)
        xs_all += [p[0] for p in pts]
        c = COLORS[i % len(COLORS)]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, color=c, label=kernel)
        tr = transitions.get(kernel)
        if tr:
            ax.axvline(tr, color=c, ls=":", lw=0.9, label=f"{kernel}: cache -> memory at {format_bytes(tr)}")
    if cache:
        ax.axvline(cache, color=COLORS[3], ls="--", lw=1, label=f"cache {format_bytes(cache)}")
    if spec_tbps:
        ax.axhline(spec_tbps, color="black", ls="--", lw=1, label=f"datasheet {spec_tbps:.3g} TB/s")
    ax.set_xscale("log", base=2)
    if xs_all:
        ticks = [1 << e for e in range(6, 44, 2) if min(xs_all) / 2 <= (1 << e) <= max(xs_all) * 2]
        ax.set_xticks(ticks)
        ax.set_xticklabels([format_bytes(t) for t in ticks], rotation=30, fontsize=7)
    ax.set_xlabel("working set (bytes one pass touches, all buffers)")
    ax.set_ylabel("TB/s (read + write counted)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _png(fig, left=0.08, bottom=0.17, top=0.93)


def telemetry_chart(labels: list[str], clk: list, clk_lo: list, clk_hi: list, power: list, power_hi: list,
                    limit: list, throttled: list[str], title: str) -> bytes:
    """Per measurement (x, in run order): SM clock mean with its min..max, power mean and max with the limit;
    measurements with throttle reasons shaded."""
    plt = pyplot()
    has_power = any(v is not None for v in power)
    fig, axes = plt.subplots(2 if has_power else 1, 1, figsize=(8.5, 5.4 if has_power else 3.2), sharex=True,
                             squeeze=False)
    xs = list(range(len(labels)))
    nan = lambda vs: [math.nan if v is None else v for v in vs]
    ax = axes[0][0]
    lo = [0 if (m is None or a is None) else m - a for m, a in zip(clk, clk_lo)]
    hi = [0 if (m is None or b is None) else b - m for m, b in zip(clk, clk_hi)]
    ax.errorbar(xs, nan(clk), yerr=[lo, hi], fmt="o", ms=3, lw=0.8, color=COLORS[0], label="SM clock mean (min..max)")
    ax.set_ylabel("SM clock (MHz)")
    plots = [ax]
    if has_power:
        ax2 = axes[1][0]
        ax2.plot(xs, nan(power), marker="o", ms=3, lw=0.8, color=COLORS[1], label="power mean")
        ax2.plot(xs, nan(power_hi), ls="none", marker="^", ms=3, color=COLORS[3], label="power max")
        if any(v is not None for v in limit):
            ax2.plot(xs, nan(limit), ls="--", lw=1, color="black", label="power limit")
        ax2.set_ylabel("power (W)")
        plots.append(ax2)
    shaded = False
    for x, why in zip(xs, throttled):
        if why:
            for a in plots:
                a.axvspan(x - 0.5, x + 0.5, color=COLORS[3], alpha=0.12, lw=0,
                          label=None if shaded or a is not plots[0] else "throttle reasons seen")
            shaded = True
    for a in plots:
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="lower left")
    step = max(1, len(labels) // 20)
    last = plots[-1]
    last.set_xticks(xs[::step])
    last.set_xticklabels(labels[::step], rotation=45, ha="right", fontsize=6.5)
    last.set_xlabel("measurement, in run order")
    plots[0].set_title(title, fontsize=10)
    return _png(fig, left=0.12, bottom=0.24 if has_power else 0.38, top=0.94, hspace=0.08)


def rank_ratio_chart(labels: list[str], ratios: list[float], flagged: list[bool], title: str) -> bytes:
    """Each rank's value / fleet median; flagged ranks red."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 3.2))
    xs = list(range(len(labels)))
    ax.bar(xs, ratios, color=[COLORS[3] if f else COLORS[0] for f in flagged])
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("value / fleet median")
    if ratios:
        ax.set_ylim(min(0.8, min(ratios) - 0.05), max(1.1, max(ratios) + 0.05))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig, left=0.09, bottom=0.38, top=0.9)


def busbw_chart(series: dict, title: str) -> bytes:
    """Bus bandwidth (GB/s) vs message size per collective {name: [(bytes, GB/s)]}."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    sizes = []
    for i, (name, pts) in enumerate(sorted(series.items())):
        pts = sorted(pts)
        sizes += [p[0] for p in pts]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, color=COLORS[i % len(COLORS)], label=name)
    ax.set_xscale("log", base=2)
    if sizes:
        ticks = [1 << e for e in range(0, 44, 2) if min(sizes) / 2 <= (1 << e) <= max(sizes) * 2]
        ax.set_xticks(ticks)
        ax.set_xticklabels([format_bytes(t) for t in ticks], rotation=30, fontsize=7)
    ax.set_xlabel("message size")
    ax.set_ylabel("bus bandwidth (GB/s)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig, left=0.09, bottom=0.17, top=0.92)


def matrix_chart(labels: list[str], matrix: list[list[float | None]], title: str, unit: str) -> bytes:
    """Square heat map (p2p: row = source, column = destination) with the values written in."""
    plt = pyplot()
    import numpy as np
    data = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(min(9, 2.2 + 0.55 * n), min(8, 1.8 + 0.5 * n)))
    im = ax.imshow(data, cmap="viridis")
    ax.set_xticks(range(n))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n))
    ax.set_yticklabels(labels, fontsize=7)
    if n <= 16:
        for i in range(n):
            for j in range(n):
                if not np.isnan(data[i, j]):
                    ax.text(j, i, f"{data[i, j]:.0f}", ha="center", va="center", fontsize=6,
                            color="black" if im.norm(data[i, j]) > 0.6 else "white")
    ax.set_xlabel("destination")
    ax.set_ylabel("source")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label=unit)
    return _png(fig, left=0.12, right=0.97, bottom=0.16, top=0.92)


def paired_bars(groups: list[dict], labels: tuple[str, str], title: str) -> bytes:
    """Run A beside run B per measurement, one panel per unit: [{unit, items: [(what, a, b)]}]."""
    plt = pyplot()
    n = len(groups)
    fig, axes = plt.subplots(n, 1, figsize=(8.5, 2.2 + 0.28 * max(len(g["items"]) for g in groups) * n / max(1, n)
                                            + 1.6 * (n - 1)), squeeze=False)
    for ax, g in zip(axes[:, 0], groups):
        items = g["items"]
        ys = list(range(len(items)))
        a = [v[1] or 0 for v in items]
        b = [v[2] or 0 for v in items]
        ax.barh([y - 0.2 for y in ys], a, height=0.4, color=COLORS[0], label=labels[0])
        ax.barh([y + 0.2 for y in ys], b, height=0.4, color=COLORS[1], label=labels[1])
        ax.set_yticks(ys)
        ax.set_yticklabels([v[0] for v in items], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel(g["unit"])
        ax.grid(axis="x", alpha=0.3)
        ax.legend(fontsize=7)
    axes[0][0].set_title(title, fontsize=10)
    return _png(fig, left=0.34, right=0.98, bottom=0.08, top=0.94, hspace=0.35)
