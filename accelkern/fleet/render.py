"""What rank 0 prints: one table per measured quantity with a row per rank (grouped by node), the
collectives as one line per (collective, size) with the fleet's median bandwidths, the p2p matrix, and
the verdict lines. The same text goes into DIR/fleet.md."""
from __future__ import annotations

import statistics
from collections import defaultdict

from accelkern import tables
from accelkern.fleet import outliers
from accelkern.fleet.collectives import size_label
from accelkern.tables import Column
from accelkern.units import format_value

_cfg = lambda key: (lambda r: (r.config or {}).get(key))


def _flag(r):
    cfg = r.config or {}
    if r.status == "skipped":
        return f"skipped: {r.note or ''}"
    return f"FLAGGED: {cfg.get('flag_reason')}" if cfg.get("flagged") else "ok"


RANK_COLUMNS = (
    Column("node", _cfg("node")),
    Column("host", _cfg("host")),
    Column("rank", _cfg("rank")),
    Column("local", _cfg("local_rank")),
    Column("device id", _cfg("device_id")),
    Column("shape", lambda r: r.shape),
    Column("measured", lambda r: None if r.value is None else format_value(r.value, r.metric)),
    Column("x median", _cfg("ratio_to_median"), "{:.3f}"),
    Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
    Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
    Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
    Column("throttle", lambda r: r.throttle),
    Column("verdict", _flag),
)


def _by_node(rows):
    return sorted(rows, key=lambda r: (r.config.get("node", 0), r.config.get("rank", 0)))


def _title(key, rows) -> str:
    r = rows[0]
    via = r.kernel or r.backend
    what = " ".join(str(x) for x in (r.dtype, r.name if r.name not in (r.dtype, via) else None) if x)
    med = r.config.get("fleet_median")
    shape = f" {r.shape}" if r.shape and r.suite not in ("fleet-mamf", "fleet-peak") else ""
    return (f"{r.suite}: {what}{shape}" + (f" via {via}" if via else "")
            + (f" | fleet median {format_value(med, r.metric)}" if med else ""))


def rank_tables(rows) -> list[str]:
    """One table per quantity of the per-device suites, rows sorted by node then rank."""
    groups = defaultdict(list)
    for r in rows:
        if r.suite in outliers.RANK_SUITES:
            groups[outliers.quantity_key(r) if r.status != "skipped" else (r.suite, "skipped")].append(r)
    out = []
    for key, group in groups.items():
        out.append(_title(key, group))
        out.append(tables.text_table(_by_node(group), RANK_COLUMNS))
        out.append("")
    return out


def _skipped(rows, suite) -> list[str]:
    notes = sorted({r.note or "" for r in rows if r.suite == suite and r.status == "skipped"})
    return [f"{suite}: skipped: {n}" for n in notes]


def collectives_table(rows) -> list[str]:
    """Per (collective, size): median over ranks of algbw and busbw, the slowest rank, all results correct."""
    groups = defaultdict(list)
    for r in rows:
        if r.suite == "fleet-collectives" and "collective" in r.config:
            groups[(r.config["collective"], r.config["bytes"])].append(r)
    if not groups:
        return _skipped(rows, "fleet-collectives")
    lines = []
    for (coll, nbytes), g in groups.items():
        ok = [r for r in g if r.value is not None]
        slow = min(ok, key=lambda r: r.value) if ok else None
        lines.append({
            "collective": coll, "size": size_label(nbytes), "ranks": len(g),
            "algbw": statistics.median(r.config["algbw_gbps"] for r in ok) if ok else None,
            "busbw": statistics.median(r.value for r in ok) if ok else None,
            "factor": g[0].config["busbw_factor"],
            "slowest": f"{format_value(slow.value, 'GB/s')} (rank {slow.config['rank']})" if slow else None,
            "time": statistics.median(r.median_ms for r in ok) if ok else None,
            "correct": all(r.correct for r in g)})
    cols = (Column("collective", lambda d: d["collective"]), Column("size", lambda d: d["size"]),
            Column("ranks", lambda d: d["ranks"]), Column("time ms", lambda d: d["time"], "{:.4g}"),
            Column("algbw", lambda d: None if d["algbw"] is None else format_value(d["algbw"], "GB/s")),
            Column("busbw", lambda d: None if d["busbw"] is None else format_value(d["busbw"], "GB/s")),
            Column("factor", lambda d: d["factor"], "{:.4g}"), Column("slowest rank busbw", lambda d: d["slowest"]),
            Column("correct", lambda d: d["correct"]))
    sample = next(iter(groups.values()))[0]
    title = (f"fleet-collectives via {sample.backend}: time = median over ranks of each rank's median time per "
             f"call (samples of back-to-back calls, each after a barrier); busbw = algbw x factor (nccl-tests)")
    return [title, tables.text_table(lines, cols), ""]


def p2p_matrix(rows) -> list[str]:
    """GB/s one direction, row = sender, column = receiver; '*' marks a flagged pair."""
    cells = {(r.config["src"], r.config["dst"]): r for r in rows if r.suite == "fleet-p2p" and "src" in r.config}
    if not cells:
        return _skipped(rows, "fleet-p2p")
    ranks = sorted({s for s, _ in cells} | {d for _, d in cells})
    size = next(iter(cells.values())).shape

    def cell(s, d):
        if s == d:
            return "-"
        r = cells.get((s, d))
        if r is None:
            return "missing"
        if r.value is None:
            return r.status
        return f"{r.value:.4g}" + ("*" if r.config.get("flagged") else "")
    width = max(8, *(len(cell(s, d)) for s in ranks for d in ranks))
    out = [f"fleet-p2p: send/recv {size}, GB/s one direction (row: sender, column: receiver; * flagged)",
           "src\\dst".ljust(8) + "".join(str(d).rjust(width + 2) for d in ranks)]
    out += [str(s).ljust(8) + "".join(cell(s, d).rjust(width + 2) for d in ranks) for s in ranks]
    medians = {}
    for r in cells.values():
        if r.config.get("fleet_median"):
            medians[r.config["link"]] = r.config["fleet_median"]
    out += [f"median {link} pair: {format_value(m, 'GB/s')}" for link, m in sorted(medians.items())]
    out += [f"pair {r.config['src']} -> {r.config['dst']} ({r.config['link']}): {r.config['flag_reason']}"
            for r in cells.values() if r.config.get("flagged")]
    return out + [""]


def verdict_lines(v, floors=outliers.FLOORS_PCT) -> list[str]:
    nodes = "; ".join(f"node {n} {e['host']}: ranks {','.join(str(r) for r in e['ranks'])}" for n, e in v.nodes.items())
    floor_text = ", ".join(f"{s.split('-')[1]} {p:g}%" for s, p in floors.items())
    flags = (f"flags: more than {v.tolerance_pct:g}% (or what the measured spread explains) below the fleet median, "
             f"or below a datasheet floor ({floor_text}; GPUs only)")
    on = f"on {len(v.nodes)} node(s) ({nodes})" if v.nodes else "(nodes unknown: no rank said where it ran)"
    out = [f"fleet: {v.world_size} rank(s) {on}", flags]
    for r, why in v.missing_why.items():
        out.append(f"MISSING rank {r}: {why}")
    for r, why in v.lost.items():
        out.append(f"rank {r} stopped its fleet suites early: {why}")
    if v.self_test:
        st = v.self_test
        got = ", ".join(str(r) for r in st["flagged"]) or "none"
        out.append(f"self-test: rank {st['rank']} slowed {st['factor']}x; flagged in the per-device suites: {got} -> "
                   + ("PASSED (exactly the slowed rank)" if st["passed"] else "FAILED"))
    if v.flagged_ranks:
        out.append("flagged rank(s): " + ", ".join(str(r) for r in v.flagged_ranks))
    if v.flagged_pairs:
        out.append("flagged pair(s): " + ", ".join(f"{s}->{d}" for s, d in v.flagged_pairs))
    if v.failed_rows:
        out.append(f"{v.failed_rows} row(s) failed or gave a wrong result")
    out.append("verdict: " + ("PASS" if v.passed else "FAIL") + f" (exit code {v.exit_code}"
               + ("; a results file could not be written, see the Error line" if v.unwritten else "") + ")")
    return out


def report(rows, verdict, header_line: str) -> str:
    parts = [header_line, ""] + rank_tables(rows) + collectives_table(rows) + p2p_matrix(rows) + verdict_lines(verdict)
    return "\n".join(parts)
