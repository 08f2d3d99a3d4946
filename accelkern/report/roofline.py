"""Section 3, the roofline: every measured GEMM (and triad) at its arithmetic intensity, against the datasheet's
compute roofs per dtype and its memory roof, the compute roofs at the observed SM clock, and the measured
memory kernels as bandwidth roofs. Intensity = FLOPs / minimum bytes (GEMM: A and B read once, D written once)."""
from __future__ import annotations

from accelkern import specs
from accelkern.report import facts, plots
from accelkern.report.model import Block, Figure, Table
from accelkern.results import Row
from accelkern.units import format_value


def points(rows: list[Row], header: dict) -> list[dict]:
    pts = []
    for r in rows:
        if not facts.ok(r):
            continue
        if facts.is_gemm(r):
            nbytes = facts.gemm_min_bytes(r)
            if nbytes and r.flops:
                pts.append({"x": r.flops / nbytes, "y": r.value, "group": facts.spec_dtype(r, header) or r.dtype,
                            "label": f"{r.suite} {r.dtype} {r.shape}", "row": r})
        elif facts.memory_kernel(r) == "triad" and r.suite == "hbm":
            f = facts.triad_flops(r)
            moved = (r.bytes_read or 0) + (r.bytes_written or 0)
            if f and moved:
                pts.append({"x": f / moved, "y": r.value * f / moved, "group": "triad (fp32, CUDA cores)",
                            "label": f"triad {r.shape}", "row": r})
    return pts


def block(rows: list[Row], header: dict) -> Block | None:
    pts = points(rows, header)
    mem = [r for r in rows if r.suite == "hbm" and facts.ok(r) and facts.memory_kernel(r) in ("copy", "read", "write")]
    if not pts:
        return None
    spec = facts.spec_of(header)
    arch = facts.arch_of(header) or (spec.arch if spec else None)
    cuda = header.get("device_kind") == "cuda"
    roofs, roof_rows = [], []
    dtypes = sorted({p["group"] for p in pts if p["group"] in specs.DTYPES}, key=specs.DTYPES.index)
    for dt in dtypes:
        sheet = spec.peak(dt) if spec else None
        if sheet:
            roofs.append({"kind": "compute", "value": sheet, "label": f"{dt} datasheet {sheet:.4g}", "style": "spec",
                          "group": dt})
        clock = facts.mean(p["row"].sm_clock_mean_mhz for p in pts if p["group"] == dt)
        at = specs.peak_at_clock_tflops(arch, dt, header.get("sms") or 0, clock or 0, header.get("device")) \
            if cuda else None
        if at:
            roofs.append({"kind": "compute", "value": at, "label": f"{dt} at {clock:.0f} MHz {at:.4g}",
                          "style": "clock", "group": dt})
        best = max((p for p in pts if p["group"] == dt), key=lambda p: p["y"])
        roof_rows.append([dt, format_value(sheet, best["row"].metric) if sheet else "-",
                          f"{format_value(at, best['row'].metric)} @ {clock:.0f} MHz" if at else "-",
                          f"{format_value(best['y'], best['row'].metric)} ({best['label']})",
                          f"{best['x']:.4g}"])
    bw = spec.memory_bw_bytes_s / 1e12 if (spec and cuda) else None
    if bw:
        roofs.append({"kind": "memory", "value": bw, "label": f"memory datasheet {bw:.3g} TB/s", "style": "spec"})
    lines = []
    for k in ("copy", "read", "write"):
        cand = [r for r in mem if facts.memory_kernel(r) == k]
        if cand:
            r = max(cand, key=lambda r: r.value)
            lines.append({"value": r.value, "label": f"{k} measured {format_value(r.value, 'TB/s')}"})
    title = f"{header.get('device') or 'device'}: roofline"
    b = Block()
    b.figures.append(Figure("roofline", "Measured GEMMs at their arithmetic intensity (FLOPs over A and B read once "
                                        "and D written once); solid: datasheet roofs, dotted: compute roofs at the "
                                        "observed mean SM clock, dashed: measured memory bandwidth.",
                            plots.roofline_chart(pts, roofs, lines, title)))
    if roof_rows:
        b.tables.append(Table(["dtype", "datasheet roof", "roof at observed clock", "best point", "its FLOP/byte"],
                              roof_rows))
    if bw:
        ridge = [f"{dt}: {spec.peak(dt) / bw:.0f} FLOP/byte" for dt in dtypes if spec.peak(dt)]
        if ridge:
            b.paragraphs.append("Datasheet ridge points (compute roof / memory roof): " + ", ".join(ridge) + ".")
    return b
