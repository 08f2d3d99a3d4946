"""The gemm table: its columns (dtype, shape, algorithm config, measured vs spec, spread, busy fraction,
clocks, power) and the row order (cuBLASLt explorer rows fastest first within each dtype and shape)."""
from __future__ import annotations

import math

from accelkern.results import Row


def _cfg(key):
    return lambda r: (r.config or {}).get(key)


def _workspace(r: Row):
    from accelkern.units import format_bytes
    ws = (r.config or {}).get("workspace_bytes")
    return None if ws is None else format_bytes(ws)


def _note(r: Row) -> str:
    if r.status != "ok":
        return f"{r.status}: {r.note}"
    if r.correct is False:
        return "WRONG RESULT" + (f"; {r.note}" if r.note else "")
    return r.note or ""


def _shape(r: Row):
    """'8192^3' for a square problem (batch kept), else the row's MxNxK."""
    if not r.shape:
        return None
    parts = r.shape.split("x")
    if len(parts) >= 3 and parts[0] == parts[1] == parts[2]:
        return f"{parts[0]}^3" + (f"x{parts[3]}" if len(parts) > 3 else "")
    return r.shape


def throttle_summary(rows: list[Row]) -> str | None:
    """The throttle reasons seen, once each with how many measured rows saw them (the files keep each row's)."""
    seen: dict[str, int] = {}
    for r in rows:
        if r.status == "ok" and r.throttle:
            seen[r.throttle] = seen.get(r.throttle, 0) + 1
    if not seen:
        return None
    return "throttle reasons seen: " + "; ".join(f"{k} ({v} row{'s' if v > 1 else ''})" for k, v in seen.items())


def _kernel_config(r: Row):
    """'#1 256x128 64x4 c2x1x1 sk4 inplace': the heuristic's index (--algo-index), tile (M x N of D per CTA),
    stages (K per stage x count), cluster, split-K; cuBLASLt rows only (the algorithm id is in the files)."""
    if r.backend != "cublaslt":
        return None
    c = r.config or {}
    idx = c.get("algo_index")
    bits = [f"#{idx}" if idx is not None else r.kernel, c.get("tile"), c.get("stages_str"),
            f"c{c['cluster']}" if c.get("cluster") else None]
    if (c.get("splitk") or 1) > 1:
        bits.append(f"sk{c['splitk']} {c.get('reduction')}")
    text = " ".join(b for b in bits if b)
    return text or None


def _columns():
    from accelkern import tables
    from accelkern.units import format_value
    C = tables.Column
    # what a reader compares first on the left; throttle reasons (summarised under the table) and the
    # algorithm's finer config on the right, where the 120-column table drops columns first (--csv,
    # --json and --out keep all of them)
    return (
        C("dtype", lambda r: r.dtype),
        C("shape", _shape),
        C("backend", lambda r: r.backend),
        C("algorithm", _kernel_config),
        C("measured", lambda r: None if r.value is None else format_value(r.value, r.metric)),
        C("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
        C("% clk", lambda r: r.pct_of_clock_peak, "{:.1f}"),
        C("spread", lambda r: r.rel_stddev, "{:.1%}"),
        C("busy", lambda r: r.busy_fraction, "{:.0%}"),
        C("MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
        C("W", lambda r: r.power_mean_w, "{:.0f}"),
        C("ok", lambda r: r.correct),
        C("note", _note),
        C("throttle", lambda r: r.throttle),
        C("layout", lambda r: r.layout),
        C("waves", _cfg("waves_count"), "{:.2f}"),
        C("workspace", _workspace),
        C("swizzle", _cfg("swizzle")),
        C("custom", _cfg("custom_option")),
        C("spec", lambda r: r.spec_value, "{:.4g}"),
    )


GEMM_COLUMNS = None  # built on first use (tables imports results)


def columns():
    global GEMM_COLUMNS
    if GEMM_COLUMNS is None:
        GEMM_COLUMNS = _columns()
    return GEMM_COLUMNS


def order_rows(rows: list[Row]) -> list[Row]:
    """Keeps (dtype, shape) groups in run order; within a group the cuBLASLt explorer rows by measured
    throughput (fastest first), then the other backends."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault((r.dtype, r.shape), []).append(r)
    out = []
    for g in groups.values():
        lt = [r for r in g if r.backend == "cublaslt"]
        rest = [r for r in g if r.backend != "cublaslt"]
        lt.sort(key=lambda r: -(r.value if r.value is not None else -math.inf))
        out += lt + rest
    return out
