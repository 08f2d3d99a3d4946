"""Two runs side by side: the rows paired by accelkern.compare (the `accelkern compare` table) and paired bars."""
from __future__ import annotations

from accelkern import compare
from accelkern.report import plots
from accelkern.report.inputs import Run
from accelkern.report.model import Block, Figure, Table
from accelkern.units import format_value

MAX_BARS = 24


def _what(r) -> str:
    return " ".join(x for x in (r.suite, r.dtype or r.kernel or r.name, r.shape) if x)


def _f(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)


def block(a: Run, b: Run) -> Block:
    pairs = compare.compare_runs(a.rows, b.rows)
    out = Block()
    both = [p for p in pairs if p.a is not None and p.b is not None]
    out.paragraphs.append(f"A = {a.label}; B = {b.label}. {len(both)} measurement(s) in both runs, "
                          f"{sum(p.b is None for p in pairs)} only in A, {sum(p.a is None for p in pairs)} only in B "
                          "(paired by suite, kernel, dtype, shape, layout and backend).")
    body = []
    for p in pairs:
        r = p.a or p.b
        body.append([r.suite, r.dtype or r.kernel or r.name, r.shape or "-", r.backend or r.name,
                     format_value(p.a.value, p.a.metric) if p.a else "-",
                     format_value(p.b.value, p.b.metric) if p.b else "-", _f(p.ratio, "{:.3f}"),
                     _f(p.a and p.a.sm_clock_mean_mhz), _f(p.b and p.b.sm_clock_mean_mhz),
                     _f(p.a and p.a.power_mean_w), _f(p.b and p.b.power_mean_w)])
    if body:
        out.tables.append(Table(["suite", "what", "shape", "backend", "A", "B", "B/A", "A MHz", "B MHz", "A W", "B W"],
                                body))
    out.pre = compare.compare_table(pairs)
    groups: dict = {}
    for p in both:
        unit = p.a.metric or "value"
        groups.setdefault(unit, []).append((_what(p.a)[:48], p.a.value, p.b.value))
    panels = [{"unit": unit, "items": items[:MAX_BARS]} for unit, items in groups.items()]
    if panels:
        out.figures.append(Figure("compare", "Run A beside run B for every measurement both made (first "
                                             f"{MAX_BARS} per unit).",
                                  plots.paired_bars(panels, ("A", "B"), "A vs B")))
    return out
