"""The footer of `accelkern hbm`: byte convention, cache policies used, the caches a CPU run sized past,
copy vs Tensor.copy_."""
from __future__ import annotations

from accelkern.device import DeviceInfo
from accelkern.hostcpu import caches as cpu_caches
from accelkern.results import Row
from accelkern.units import format_value


def summary_lines(rows: list[Row], info: DeviceInfo) -> list[str]:
    """Footer lines for these rows (every figure with its unit)."""
    ok = [r for r in rows if r.status == "ok" and r.value]
    lines = ["bytes: rd+wr counts bytes read + written per call (copy/ce/torch/h2d/d2h N+N, read N, write N, "
             "triad 2N+N; N = size per buffer); 1-dir = the larger of the two over the same time"]
    lines += [f"cache: {m}" for m in sorted({(r.config or {}).get("cache") for r in ok} - {None})]
    if info.kind == "cpu":
        lines.append(f"cpu caches: {cpu_caches.this_machine().describe()}")
    unsettled = [r for r in ok if (r.config or {}).get("timing_settled") is False]
    if unsettled:
        lines.append(f"{len(unsettled)} row(s) with too few samples or not converged: their note says so")
    copies = [r for r in ok if r.name == "copy"]
    ref = [r for r in ok if r.name == "torch"]
    if copies and ref:
        best = max(copies, key=lambda r: r.value)
        lines.append(f"copy {format_value(best.value, 'TB/s')} (hint {best.config.get('hint')}) vs Tensor.copy_ "
                     f"{format_value(ref[0].value, 'TB/s')}: {100 * (best.value / ref[0].value - 1):+.1f}%")
    return lines
