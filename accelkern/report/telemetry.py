"""Section 7, telemetry: the SM clock (mean, min..max) and power (mean, max, limit) of every measurement in run
order, measurements with throttle reasons shaded, and a summary of the reasons seen."""
from __future__ import annotations

from accelkern.report import facts, plots
from accelkern.report.model import Block, Figure, Table
from accelkern.results import Row


def _label(r: Row) -> str:
    what = r.dtype or facts.memory_kernel(r) or r.kernel or r.name
    return f"{r.suite} {what} {r.shape or ''}".strip()[:40]


def block(rows: list[Row], header: dict) -> Block | None:
    sel = [r for r in rows if r.status == "ok" and (r.sm_clock_mean_mhz is not None or r.power_mean_w is not None)]
    if not sel:
        return None
    reasons = [", ".join(facts.throttle_reasons(r)) for r in sel]
    png = plots.telemetry_chart([_label(r) for r in sel], [r.sm_clock_mean_mhz for r in sel],
                                [r.sm_clock_min_mhz for r in sel], [r.sm_clock_max_mhz for r in sel],
                                [r.power_mean_w for r in sel], [r.power_max_w for r in sel],
                                [r.power_limit_w for r in sel], reasons,
                                f"{header.get('device') or ''}: clock and power per measurement")
    b = Block()
    cpu = header.get("device_kind") == "cpu"
    unit = "core clock" if cpu else "SM clock"
    if cpu:
        b.figures.append(Figure("telemetry", "The core clock of each CPU measurement, in run order: measured right "
                                             "after its timed calls on the cores it used (dependent add chains, or "
                                             "perf cycles), mean with its min..max. A CPU run has no power or "
                                             "throttle telemetry.", png))
    else:
        b.figures.append(Figure("telemetry", "NVML samples during each measurement (every 20 ms), in run order: SM "
                                             "clock mean with its min..max, power mean and max beside the limit; "
                                             "shaded: measurements during which NVML reported a throttle reason.", png))
    clocks = [r.sm_clock_mean_mhz for r in sel if r.sm_clock_mean_mhz is not None]
    lows = [r.sm_clock_min_mhz for r in sel if r.sm_clock_min_mhz is not None]
    highs = [r.sm_clock_max_mhz for r in sel if r.sm_clock_max_mhz is not None]
    power = [r.power_mean_w for r in sel if r.power_mean_w is not None]
    limits = sorted({r.power_limit_w for r in sel if r.power_limit_w})
    temps = [r.temp_max_c for r in sel if r.temp_max_c is not None]
    items = [["measurements with telemetry", str(len(sel))]]
    if clocks:
        items.append([f"{unit} (mean of means; lowest min, highest max)",
                      f"{facts.mean(clocks):.0f} MHz; {min(lows or clocks):.0f} .. {max(highs or clocks):.0f} MHz"])
    if power:
        items.append(["power (mean of means; highest mean)", f"{facts.mean(power):.0f} W; {max(power):.0f} W"
                      + (f" (limit {', '.join(f'{v:.0f}' for v in limits)} W)" if limits else "")])
    if temps:
        items.append(["hottest", f"{max(temps):.0f} C"])
    seen: dict = {}                     # reason -> rows during which NVML reported it
    for r in sel:
        for w in facts.throttle_reasons(r):
            seen.setdefault(w, []).append(r)
    for w, hit in seen.items():
        suites = ", ".join(sorted({r.suite for r in hit}))
        items.append([f"throttle: {w}", f"{len(hit)} of {len(sel)} measurements ({suites})"])
    if not seen and not cpu:
        items.append(["throttle", "no throttle reason reported during any measurement"])
    b.tables.append(Table(["", ""], items))
    return b
