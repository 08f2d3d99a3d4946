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
        cpu_ends = _cpu_memory_boundaries(rows) if header.get("device_kind") == "cpu" else {}
        for k, pts in series.items():
            # a CPU has several levels: its cache -> memory step is the sweep's last level boundary (cpu_levels)
            tr = cpu_ends.get(k) or _transition(by_kernel[k])
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
        levels = cpu_levels_table(rows)
        if levels is not None:
            b.tables.append(levels)
    else:
        b.paragraphs.append("No size sweep in these results: `accelkern hbm --sweep --out DIR` draws bandwidth vs "
                            "working set with the cache levels.")
    if fixed:
        body, flagged = [], []
        for r in fixed:
            c = r.config or {}
            body.append([facts.memory_kernel(r) or r.name, r.kernel or "-", r.shape or "-",
                         c.get("stores") or c.get("hint") or "-",
                         format_value(r.value, r.metric or "TB/s") if r.value is not None else r.status,
                         format_value(r.one_direction, "TB/s") if r.one_direction else "-",
                         _pct(r.pct_of_spec), _pct(r.pct_of_theoretical), c.get("cache") or "-",
                         (r.note or "") if r.status == "ok" else f"{r.status}: {r.note or ''}"])
            flagged.append(r.status == "failed" or r.correct is False)
        cpu = header.get("device_kind") == "cpu"
        b.tables.append(Table(["kernel", "implementation", "size", "stores" if cpu else "hint", "rd+wr", "1-dir",
                               "% datasheet", "% theoretical (channels x MT/s x 8 B)" if cpu else "% clock x bus",
                               "cache", "note"], body, title="Fixed-size kernels", flagged=flagged))
    return b


def _cpu_memory_boundaries(rows: list[Row]) -> dict:
    """kernel -> where its last bandwidth level ends (bytes), from a CPU sweep's 'hbm-levels' rows."""
    out = {}
    for r in rows:
        c = r.config or {}
        if r.suite == "hbm-levels" and r.metric == "TB/s" and c.get("boundary_bytes") and c.get("kernel"):
            out[c["kernel"]] = max(out.get(c["kernel"], 0), c["boundary_bytes"])
    return out


def cpu_levels_table(rows: list[Row]) -> Table | None:
    """A CPU sweep's cache levels (accelkern.memory.cpu_levels, 'hbm-levels' rows): each plateau of the bandwidth
    curve (all threads) and of the pointer-chase latency (one thread), where it ends and the sysfs size beside it."""
    levels = [r for r in rows if r.suite == "hbm-levels" and r.value is not None]
    if not levels:
        return None
    body = []
    for r in levels:
        c = r.config or {}
        x = c.get("boundary_vs_sysfs")
        body.append([r.name, r.kernel or "-", r.shape or "-",
                     f"{r.value:.3g} ns" if r.metric == "ns" else format_value(r.value, "TB/s"),
                     format_bytes(c["boundary_bytes"]) if c.get("boundary_bytes") else "-",
                     format_bytes(c["sysfs_bytes"]) if c.get("sysfs_bytes") else "-",
                     "-" if x is None else f"x{x:.2f}" + ("" if 0.5 <= x <= 2.0 else " (beyond 2x)")])
    return Table(["level", "from", "range", "value", "ends at", "sysfs size", "vs sysfs"], body,
                 title="Cache levels found in the sweep (CPU)")
