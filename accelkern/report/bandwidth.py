"""Section 6, memory: the size sweep (bandwidth vs working set per kernel) with the cache size, the measured
cache-to-memory transition (accelkern.memory.cache_transition) and the datasheet bandwidth marked, and the
fixed-size kernels as a table."""
from __future__ import annotations

from accelkern.report import facts, plots
from accelkern.report.model import Block, Figure, Table
from accelkern.results import Row
from accelkern.units import format_bytes, format_value


def _sweep_rows(rows):
    return [r for r in rows if facts.ok(r) and r.suite in facts.MEMORY_SUITES
            and (r.suite == "hbm-sweep" or "working_set_bytes" in (r.config or {}))]


def _pct(v):
    return "-" if v is None else f"{v:.1f}%"


def _transition(rows: list[Row]) -> int | None:
    """accelkern.memory's cache-to-memory transition of one kernel's sweep rows (bytes), over the points it
    uses itself (memory.settled: enough samples and converged); None without two plateaus."""
    from accelkern import memory
    ws = [int(r.config["working_set_bytes"]) for r in rows]
    return memory.cache_transition([memory.SweepPoint(w, w, r.value, memory.settled(r)) for w, r in zip(ws, rows)])


def block(rows: list[Row], header: dict) -> Block | None:
    sweep = _sweep_rows(rows)
    fixed = [r for r in rows if r.suite == "hbm" and r not in sweep]
    if not sweep and not any(facts.ok(r) for r in fixed):
        return None
    spec = facts.spec_of(header)
    spec_tbps = spec.memory_bw_bytes_s / 1e12 if (spec and header.get("device_kind") == "cuda") else None
    cache = facts.cache_bytes(rows, header)
    b = Block()
    if sweep:
        series: dict = {}
        by_kernel: dict = {}
        for r in sweep:
            ws = (r.config or {}).get("working_set_bytes")
            if ws:
                k = facts.memory_kernel(r) or r.name
                series.setdefault(k, []).append((int(ws), r.value))
                by_kernel.setdefault(k, []).append(r)
        transitions, body = {}, []
        for k, pts in series.items():
            tr = _transition(by_kernel[k])
            transitions[k] = tr
            best = max(pts, key=lambda p: p[1])
            tail = sorted(pts)[-3:]
            mem_plateau = sorted(v for _, v in tail)[len(tail) // 2]
            body.append([k, str(len(pts)), f"{format_value(best[1], 'TB/s')} at {format_bytes(best[0])}",
                         format_value(mem_plateau, "TB/s") + f" (largest {len(tail)} sizes)",
                         format_bytes(tr) if tr else "no two plateaus",
                         _pct(facts.pct(mem_plateau, spec_tbps))])
        title = f"{header.get('device') or ''} memory bandwidth vs working set (one buffer set reused)"
        b.figures.append(Figure("memory_sweep", "Bandwidth vs working set (read + write counted): sizes within the "
                                                "cache show its plateau, larger ones the memory's; dotted: where each "
                                                "kernel falls halfway between the two plateaus; dashed: the cache size "
                                                "the run planned against and the datasheet bandwidth.",
                                plots.memory_sweep_chart(series, cache, transitions, spec_tbps, title)))
        b.tables.append(Table(["kernel", "sizes", "best (cache plateau)", "memory plateau", "cache -> memory at",
                               "memory plateau % of datasheet"], body, title="Size sweep"))
    else:
        b.paragraphs.append("No size sweep in these results: `accelkern hbm --sweep --out DIR` draws bandwidth vs "
                            "working set with the cache levels.")
    if fixed:
        body, flagged = [], []
        for r in fixed:
            c = r.config or {}
            body.append([facts.memory_kernel(r) or r.name, r.kernel or "-", r.shape or "-", c.get("hint") or "-",
                         format_value(r.value, "TB/s") if r.value is not None else r.status,
                         format_value(r.one_direction, "TB/s") if r.one_direction else "-",
                         _pct(r.pct_of_spec), _pct(r.pct_of_theoretical), c.get("cache") or "-",
                         (r.note or "") if r.status == "ok" else f"{r.status}: {r.note or ''}"])
            flagged.append(r.status == "failed" or r.correct is False)
        b.tables.append(Table(["kernel", "implementation", "size", "hint", "rd+wr", "1-dir", "% datasheet",
                               "% clock x bus", "cache", "note"], body, title="Fixed-size kernels", flagged=flagged))
    return b
