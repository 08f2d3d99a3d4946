"""Tables (terminal and markdown) for result rows: the columns, the alignment, the markdown file."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Callable

from accelkern.results import Row, RunHeader
from accelkern.units import format_value


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
    return None if r.value is None else format_value(r.value, r.metric)


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


TABLE_WIDTH = 120      # terminal tables fit this many columns
FOOTNOTE_MIN = 24      # cells longer than this may move to a numbered footnote


def wrap(text: str, width: int = TABLE_WIDTH, indent: str = "  ") -> str:
    """A long footnote or footer line folded at word boundaries to `width` columns."""
    if len(text) <= width:
        return text
    return "\n".join(textwrap.wrap(text, width, subsequent_indent=indent, break_long_words=False,
                                   break_on_hyphens=False))


def text_table(rows: list[Row], columns=SUMMARY_COLUMNS, width: int = TABLE_WIDTH) -> str:
    """Aligned plain-text table within `width` columns; columns empty in every row are left out.

    When the table is too wide, the longest text cells (notes, throttle reasons, ...) become numbered
    footnotes under the table ('[1]'; the same text keeps its number); if it is still too wide, the
    rightmost columns that remain are listed as not shown (the files and --json/--csv keep every field)."""
    if not rows:
        return "(no results)"
    cols, cells = _drop_empty(list(columns), _cells(rows, columns))
    notes: list[str] = []

    def total(cs, cl):
        ws = [max(len(c.title), *(len(row[i]) for row in cl)) for i, c in enumerate(cs)]
        return sum(ws) + 2 * (len(ws) - 1), ws

    size, widths = total(cols, cells)
    while size > width:
        # the column whose widest cell is longest and long enough to be worth a footnote
        cand = [(widths[i], i) for i in range(len(cols)) if widths[i] > max(FOOTNOTE_MIN, len(cols[i].title))
                and any(len(row[i]) > FOOTNOTE_MIN for row in cells)]
        if not cand:
            break
        _, i = max(cand)
        for row in cells:
            if len(row[i]) > FOOTNOTE_MIN:
                if row[i] not in notes:
                    notes.append(row[i])
                row[i] = f"[{notes.index(row[i]) + 1}]"
        size, widths = total(cols, cells)
    hidden = []
    while size > width and len(cols) > 2:
        hidden.insert(0, cols[-1].title)
        cols, cells = cols[:-1], [row[:-1] for row in cells]
        size, widths = total(cols, cells)
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()
    out = [line([c.title for c in cols]), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    for n, text in enumerate(notes, 1):
        out.append(wrap(f"[{n}] {text}", width, indent=" " * (len(str(n)) + 3)))
    if hidden:
        out.append(f"(not shown to fit {width} columns: {', '.join(hidden)}; --csv, --json and --out keep them)")
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
    cpu = f"\n{wrap('cpu: ' + h.cpu)}" if getattr(h, "cpu", None) else ""
    return " | ".join(parts) + cpu + f"\n{wrap(spec)}"


def markdown_report(h: RunHeader, rows: list[Row], columns=None) -> str:
    return (f"# accelkern {h.command}\n\n{header_line(h)}\n\n{h.time_utc}\n\n"
            f"{markdown_table(rows, columns or SUMMARY_COLUMNS)}\n")
