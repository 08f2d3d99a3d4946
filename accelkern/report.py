"""Tables (terminal and markdown) for result rows; later: plots and run comparison."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from accelkern.results import Row, RunHeader


@dataclass(frozen=True)
class Column:
    title: str
    get: Callable[[Row], object]
    fmt: str = "{}"


def _num(v, fmt):
    if v is None or v == "":
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def _what(r: Row) -> str:
    return r.dtype or r.kernel or r.name


def _measured(r: Row):
    return None if r.value is None else f"{r.value:.4g} {r.metric or ''}".strip()


def _clock(r: Row):
    return None if r.sm_clock_mean_mhz is None else f"{r.sm_clock_mean_mhz:.0f}"


def _status(r: Row):
    if r.status != "ok":
        return f"{r.status}: {r.note or ''}".strip()
    if r.correct is False:
        return "WRONG RESULT"
    return r.note or ""


# measured vs spec, the columns of `validate` and most capability tables
SUMMARY_COLUMNS = (
    Column("suite", lambda r: r.suite),
    Column("what", _what),
    Column("shape", lambda r: r.shape),
    Column("backend", lambda r: r.backend or r.name),
    Column("measured", _measured),
    Column("spec", lambda r: r.spec_value, "{:.4g}"),
    Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
    Column("% clk peak", lambda r: r.pct_of_clock_peak, "{:.1f}"),
    Column("spread", lambda r: r.rel_stddev, "{:.1%}"),
    Column("SM MHz", _clock),
    Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
    Column("throttle", lambda r: r.throttle),
    Column("ok", lambda r: r.correct),
    Column("note", _status),
)


def _cells(rows, columns):
    return [[_num(c.get(r), c.fmt) for c in columns] for r in rows]


def _drop_empty(columns, cells):
    keep = [i for i, c in enumerate(columns) if any(row[i] != "-" and row[i] != "" for row in cells)]
    return [columns[i] for i in keep], [[row[i] for i in keep] for row in cells]


def text_table(rows: list[Row], columns=SUMMARY_COLUMNS) -> str:
    """Aligned plain-text table; columns empty in every row are left out."""
    if not rows:
        return "(no results)"
    cols, cells = _drop_empty(list(columns), _cells(rows, columns))
    widths = [max(len(c.title), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    out = [line([c.title for c in cols]), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def markdown_table(rows: list[Row], columns=SUMMARY_COLUMNS) -> str:
    if not rows:
        return "(no results)"
    cols, cells = _drop_empty(list(columns), _cells(rows, columns))
    esc = lambda s: s.replace("|", "\\|")
    out = ["| " + " | ".join(c.title for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(esc(v) for v in row) + " |" for row in cells]
    return "\n".join(out)


def header_line(h: RunHeader) -> str:
    parts = [h.device]
    if h.sms:
        parts.append(f"{h.sms} {'SMs' if h.device_kind == 'cuda' else 'cores'}")
    for label, v in (("driver", h.driver), ("CUDA", h.cuda), ("torch", h.torch), ("cuBLASLt", h.cublaslt),
                     ("accelkern", h.accelkern)):
        if v:
            parts.append(f"{label} {v}")
    spec = f"spec: {h.spec} ({h.spec_source})" if h.spec else f"spec: none - {h.spec_source}"
    return " | ".join(parts) + f"\n{spec}"


def markdown_report(h: RunHeader, rows: list[Row], columns=None) -> str:
    return (f"# accelkern {h.command}\n\n{header_line(h)}\n\n{h.time_utc}\n\n"
            f"{markdown_table(rows, columns or SUMMARY_COLUMNS)}\n")


def row_key(r: Row) -> tuple:
    """What makes two rows the same measurement: suite, what ran, dtype, shape, layout, backend, kernel."""
    return (r.suite, r.name, r.dtype, r.shape, r.layout, r.backend, r.kernel)


@dataclass
class Comparison:
    key: tuple
    a: Row | None
    b: Row | None

    @property
    def ratio(self) -> float | None:
        if self.a is None or self.b is None or not self.a.value or self.b.value is None:
            return None
        return self.b.value / self.a.value


def compare_runs(rows_a: list[Row], rows_b: list[Row]) -> list[Comparison]:
    """Pairs the ok rows of two runs by row_key, in A's order, then rows only B has."""
    a = {row_key(r): r for r in rows_a if r.status == "ok"}
    b = {row_key(r): r for r in rows_b if r.status == "ok"}
    keys = list(a) + [k for k in b if k not in a]
    return [Comparison(k, a.get(k), b.get(k)) for k in keys]


def compare_table(pairs: list[Comparison]) -> str:
    def f(v, fmt="{:.4g}"):
        return "-" if v is None else fmt.format(v)

    head = ["suite", "what", "shape", "backend", "A", "B", "B/A", "A MHz", "B MHz", "A W", "B W"]
    body = []
    for p in pairs:
        r = p.a or p.b
        body.append([r.suite, r.dtype or r.kernel or r.name, r.shape or "-", r.backend or r.name,
                     f(p.a and p.a.value), f(p.b and p.b.value), f(p.ratio, "{:.3f}"),
                     f(p.a and p.a.sm_clock_mean_mhz, "{:.0f}"), f(p.b and p.b.sm_clock_mean_mhz, "{:.0f}"),
                     f(p.a and p.a.power_mean_w, "{:.0f}"), f(p.b and p.b.power_mean_w, "{:.0f}")])
    if not body:
        return "(no rows in common)"
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(head)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in body])
