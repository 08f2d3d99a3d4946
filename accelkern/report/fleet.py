"""Section 8, the fleet: every rank's figure beside the fleet median with the flagged ranks marked, the collective
bus-bandwidth curves, and the p2p bandwidth matrix. Rows: suites 'fleet-*', per-rank fields in config."""
from __future__ import annotations

import statistics

from accelkern.report import facts, plots
from accelkern.report.model import Block, Figure, Table
from accelkern.results import Row
from accelkern.units import format_bytes, format_value

COLLECTIVES, P2P = "fleet-collectives", "fleet-p2p"


def _rank_label(c: dict) -> str:
    return f"r{c.get('rank', '?')}"


def _num(v, fmt="{:.3f}"):
    return "-" if not isinstance(v, (int, float)) or isinstance(v, bool) else fmt.format(v)


def block(rows: list[Row], header: dict) -> Block | None:
    frows = [r for r in rows if r.suite.startswith(facts.FLEET_PREFIX)]
    if not frows:
        return None
    b = Block()
    per_rank = [r for r in frows if r.suite not in (COLLECTIVES, P2P)]
    body, flagged, labels, ratios, flags = [], [], [], [], []
    for r in sorted(per_rank, key=lambda r: (r.suite, r.dtype or r.name, (r.config or {}).get("rank", 0))):
        c = r.config or {}
        what = " ".join(x for x in (r.dtype or r.name, r.shape) if x)
        body.append([r.suite[len(facts.FLEET_PREFIX):], what, str(c.get("rank", "-")), str(c.get("host", "-")),
                     str(c.get("device_id", c.get("local_rank", "-"))),
                     format_value(r.value, r.metric) if r.value is not None else r.status,
                     format_value(c.get("fleet_median"), r.metric) if isinstance(c.get("fleet_median"), (int, float))
                     else "-", _num(c.get("ratio_to_median")), "FLAGGED" if c.get("flagged") else "",
                     c.get("flag_reason") or (r.note if r.status != "ok" else "") or ""])
        flagged.append(bool(c.get("flagged")) or r.status == "failed")
        if isinstance(c.get("ratio_to_median"), (int, float)):
            labels.append(f"{r.suite[len(facts.FLEET_PREFIX):]} {r.dtype or r.name} {_rank_label(c)}")
            ratios.append(c["ratio_to_median"])
            flags.append(bool(c.get("flagged")))
    world = {(r.config or {}).get("world_size") for r in frows} - {None}
    hosts = sorted({str((r.config or {}).get("host")) for r in frows if (r.config or {}).get("host")})
    b.paragraphs.append(f"{max(world) if world else '?'} rank(s) on {len(hosts) or '?'} host(s)"
                        + (f" ({', '.join(hosts[:8])}{', ...' if len(hosts) > 8 else ''})" if hosts else "") + ".")
    bad = [row for row, f in zip(body, flagged) if f]
    if bad:
        b.paragraphs.append("Flagged: " + "; ".join(f"rank {x[2]} on {x[3]} (device {x[4]}): {x[0]} {x[1]} {x[5]}, "
                                                    f"{x[7]}x the fleet median" + (f" - {x[9]}" if x[9] else "")
                                                    for x in bad[:12]) + ".")
    elif body:
        b.paragraphs.append("No rank flagged.")
    if ratios:
        b.figures.append(Figure("fleet_ranks", "Each rank's figure over the fleet median; flagged ranks in red.",
                                plots.rank_ratio_chart(labels, ratios, flags, "per-rank figure / fleet median")))
    if body:
        b.tables.append(Table(["suite", "what", "rank", "host", "device", "value", "fleet median", "ratio", "flag",
                               "reason"], body, title="Per rank", flagged=flagged))
    coll = [r for r in frows if r.suite == COLLECTIVES and facts.ok(r)]
    if coll:
        by: dict = {}
        for r in coll:
            c = r.config or {}
            if isinstance(c.get("bytes"), (int, float)):
                by.setdefault(str(c.get("collective") or r.name), {}).setdefault(int(c["bytes"]), []).append(r.value)
        series = {name: [(n, statistics.median(v)) for n, v in sizes.items()] for name, sizes in by.items()}
        if series:
            b.figures.append(Figure("fleet_collectives", "Bus bandwidth per collective and message size (median over "
                                                         "the ranks reporting it).",
                                    plots.busbw_chart(series, "collectives: bus bandwidth")))
            peak = [[name, format_bytes(max(pts, key=lambda p: p[1])[0]), format_value(max(p[1] for p in pts), "GB/s")]
                    for name, pts in sorted(series.items())]
            b.tables.append(Table(["collective", "best at", "best bus bandwidth"], peak))
    p2p = [r for r in frows if r.suite == P2P and facts.ok(r)]
    if p2p:
        ends = sorted({str((r.config or {}).get(k)) for r in p2p for k in ("src", "dst")},
                      key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
        m = [[None] * len(ends) for _ in ends]
        size = [[-1] * len(ends) for _ in ends]
        for r in p2p:   # per pair: the largest message measured (the best rate there if it ran twice)
            c = r.config or {}
            i, j = ends.index(str(c.get("src"))), ends.index(str(c.get("dst")))
            n = c.get("bytes") if isinstance(c.get("bytes"), (int, float)) else 0
            if n > size[i][j] or (n == size[i][j] and r.value > m[i][j]):
                m[i][j], size[i][j] = r.value, n
        b.figures.append(Figure("fleet_p2p", "Peer-to-peer bandwidth, source row to destination column (GB/s), at "
                                             "the largest message measured for the pair.",
                                plots.matrix_chart(ends, m, "p2p bandwidth", "GB/s")))
        vals = [v for row in m for v in row if v is not None]
        if vals:
            med = format_value(statistics.median(vals), "GB/s")
            b.paragraphs.append(f"p2p: {len(vals)} pair(s), {format_value(min(vals), 'GB/s')} .. "
                                f"{format_value(max(vals), 'GB/s')} (median {med}).")
    return b
