"""`accelkern compare`: two runs' rows paired by what was measured, side by side."""
from __future__ import annotations

from dataclasses import dataclass

from accelkern.results import Row


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


def _keyed(rows: list[Row]) -> dict:
    """ok rows by (row_key, occurrence): a key measured several times (a re-measure phase, repeats)
    stays several entries, paired in order, never collapsed to the last one."""
    seen: dict = {}
    out = {}
    for r in rows:
        if r.status != "ok":
            continue
        k = row_key(r)
        n = seen.get(k, 0)
        seen[k] = n + 1
        out[k + (n,)] = r
    return out


def compare_runs(rows_a: list[Row], rows_b: list[Row]) -> list[Comparison]:
    """Pairs the ok rows of two runs by row_key and occurrence, in A's order, then rows only B has."""
    a, b = _keyed(rows_a), _keyed(rows_b)
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
