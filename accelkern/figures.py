"""Turns a Measurement plus the work it did into a Row's figures: throughput from the median (and the
fastest) sample, % of the datasheet, the architectural peak at the observed SM clock, FLOP/clk/SM,
and the clocks, power and throttle reasons seen. The one place these numbers are computed.
"""
from __future__ import annotations

from accelkern import specs
from accelkern.device import DeviceInfo
from accelkern.results import Row
from accelkern.timing import Measurement


def _pct(v, ref):
    return None if v is None or not ref else 100.0 * v / ref


def apply_measurement(row: Row, meas: Measurement) -> Row:
    """Timing statistics (ms), the criterion that stopped it, the busy fraction, the timer, and the
    telemetry of the timed span; a telemetry caveat (power from the 1 s average) joins the note."""
    s = meas.stats
    for k, v in s.summary().items():
        setattr(row, k, v)
    row.timer = meas.mode.get("timer")
    if meas.mode.get("clock_method"):
        row.config = {**(row.config or {}), "clock_method": meas.mode["clock_method"]}
    tel = meas.telemetry
    if tel is not None:
        for k, v in tel.row_fields().items():
            setattr(row, k, v)
        if not tel.nvml:
            row.throttle = None
        elif getattr(tel, "note", None):
            row.note = _join(row.note, tel.note)
    return row


def compute_row(row: Row, meas: Measurement, device: DeviceInfo, spec: specs.Spec | None, spec_dtype: str) -> Row:
    """Row for `row.flops` FLOPs done per call: TFLOPS, % of spec[spec_dtype], % of the clock peak."""
    apply_measurement(row, meas)
    s = meas.stats
    row.metric = "TFLOPS" if spec_dtype != "int8" else "TOPS"
    row.value = row.flops / s.median_s / 1e12
    row.value_best = row.flops / s.min_s / 1e12
    if spec is not None:
        row.spec_value = spec.peak(spec_dtype)
        row.pct_of_spec = _pct(row.value, row.spec_value)
        if row.spec_value is None:
            row.note = _join(row.note, spec.why_no_peak(spec_dtype))
    clock = row.sm_clock_mean_mhz
    if device.kind == "cuda" and clock:
        row.clock_peak = device.peak_at_clock_tflops(spec_dtype, clock)
        row.pct_of_clock_peak = _pct(row.value, row.clock_peak)
        row.flop_per_clk_per_sm = specs.flop_per_clk_per_sm(row.value, device.sm_count, clock)
    elif device.kind == "cpu" and clock:
        _cpu_clock_peak(row, device, spec, spec_dtype, clock)
    return row


def _cpu_clock_peak(row: Row, device: DeviceInfo, spec, spec_dtype: str, clock: float) -> None:
    """CPU rows: the cores that did the work (config 'threads', else the cores torch computes on) x the rate
    table's FLOP/clk/core for the instruction path (config 'path', else the best the core has for the dtype)
    x the measured core clock; FLOP/clk/core in flop_per_clk_per_sm."""
    cfg = row.config or {}
    physical = device.sm_count or 1
    cores = cfg.get("threads") or min(physical, device.threads or physical)
    uarch = (device.attrs or {}).get("uarch")
    cpu_spec = spec if spec is not None and getattr(spec, "kind", None) == "cpu" else None
    path = cfg.get("path")
    row.clock_peak = specs.cpu_peak_tflops(uarch, spec_dtype, cores, clock, path=path, spec=cpu_spec)
    row.pct_of_clock_peak = _pct(row.value, row.clock_peak)
    row.flop_per_clk_per_sm = specs.flop_per_clk_per_sm(row.value, cores, clock)
    nominal = device.max_sm_clock_mhz
    if nominal and row.clock_peak is not None:
        row.config = {**cfg, "nominal_mhz": nominal,
                      "peak_at_nominal": specs.cpu_peak_tflops(uarch, spec_dtype, cores, nominal, path=path,
                                                               spec=cpu_spec)}
    if row.clock_peak is None:
        row.note = _join(row.note, specs.cpu_rate_note(uarch, spec_dtype, path))


def memory_row(row: Row, meas: Measurement, device: DeviceInfo, spec: specs.Spec | None) -> Row:
    """Row for `row.bytes_read` + `row.bytes_written` per call: TB/s counting both (STREAM style), the
    one-direction rate (nvbandwidth style: the larger of read and written), % of spec and of clock x bus."""
    apply_measurement(row, meas)
    s = meas.stats
    moved = (row.bytes_read or 0) + (row.bytes_written or 0)
    row.metric = "TB/s"
    row.value = moved / s.median_s / 1e12
    row.value_best = moved / s.min_s / 1e12
    row.one_direction = max(row.bytes_read or 0, row.bytes_written or 0) / s.median_s / 1e12
    if spec is not None and device.kind == "cuda":
        row.spec_value = spec.memory_bw_bytes_s / 1e12
        row.pct_of_spec = _pct(row.value, row.spec_value)
    theo = device.theoretical_bandwidth_bytes_s()
    if theo:
        row.theoretical_value = theo / 1e12
        row.pct_of_theoretical = _pct(row.value, row.theoretical_value)
    return row


def _join(a, b):
    return b if not a else f"{a}; {b}"


def label_cpu_torch_path(row: Row, device: DeviceInfo, dtype: str) -> Row:
    """A torch GEMM row on a CPU names the code torch ran (oneDNN and its kernel, the BLAS, or torch's own
    loop); a fallback is labelled as torch's, not the CPU's ability, with the compute-only peak as the ceiling."""
    if device.kind != "cpu":
        return row
    from accelkern.hostcpu.torch_path import torch_gemm_path
    p = torch_gemm_path(dtype)
    row.config = {**(row.config or {}), "torch_path": p.label(), "torch_path_why": p.why}
    if p.fallback:
        row.note = _join(row.note, f"torch's fallback ({p.path}: {p.why}), not the CPU's ability; "
                                   "`accelkern peak --device cpu` measures the ceiling")
    return row

