"""figures: every derived number of a row (throughput, % of spec, peak at the observed clock and % of it,
FLOP/clk/SM, bandwidth both ways, % of the theoretical bandwidth) from synthetic measurements, against
values worked out by hand below."""
import pytest

from accelkern import figures, monitor, timing
from accelkern.device import DeviceInfo
from accelkern.results import Row
from accelkern.specs import Spec

# a made-up Hopper board: 132 SMs, HBM at 2619 MHz on a 6144-bit bus
GPU = DeviceInfo(kind="cuda", index=0, name="test GPU", torch_device="cuda:0", compute_capability=(9, 0),
                 sm_count=132, max_sm_clock_mhz=1980, mem_clock_mhz=2619, mem_bus_width_bits=6144)
CPU = DeviceInfo(kind="cpu", index=0, name="test CPU", torch_device="cpu", sm_count=2)
SPEC = Spec(key="test", name="Test GPU", vendor="x", arch="sm_90", sms=132, boost_clock_mhz=1980,
            peaks_tflops={"bf16": 989.5, "int8": 1978.9}, memory_gb=141, memory_type="HBM3e", memory_bw_gbps=4800,
            tdp_w=700, source="test")


def _meas(samples, telemetry=None, busy=0.985, reason="converged"):
    stats = timing.TimingStats.from_samples(samples, reason, 1.0, criterion="nvbench", busy_fraction=busy)
    return timing.Measurement(stats, telemetry, {"timer": "cuda_events"})


def _tel(**kw):
    t = monitor.Telemetry(nvml=True, samples=3, sm_clock_mean_mhz=1755.0, sm_clock_min_mhz=1700.0,
                          sm_clock_max_mhz=1800.0, mem_clock_mean_mhz=2619.0, power_mean_w=698.0, power_max_w=701.0,
                          power_limit_w=700.0, temp_max_c=71.0, throttle_reasons=["power cap"],
                          power_source=monitor.POWER_INSTANT)
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def test_gemm_row_figures_by_hand():
    flops = 2 * 8192 ** 3                                  # 1,099,511,627,776 FLOP
    row = Row(suite="gemm", name="x", dtype="bf16", flops=flops)
    figures.compute_row(row, _meas([1.6e-3, 1.5e-3, 1.4e-3], _tel()), GPU, SPEC, "bf16")
    # median 1.5 ms: 1.0995116e12 / 1.5e-3 = 733.0078 TFLOPS; the fastest (1.4 ms) 785.3655
    assert row.metric == "TFLOPS"
    assert row.value == pytest.approx(733.00775, rel=1e-6)
    assert row.value_best == pytest.approx(785.36545, rel=1e-6)
    assert row.spec_value == 989.5
    assert row.pct_of_spec == pytest.approx(74.0786, rel=1e-5)            # 733.0078 / 989.5
    # at the observed 1755 MHz: 4096 FLOP/clk/SM x 132 SMs x 1.755e9 = 948.8794 TFLOPS
    assert row.clock_peak == pytest.approx(948.87936, rel=1e-7)
    assert row.pct_of_clock_peak == pytest.approx(77.2499, rel=1e-5)      # 733.0078 / 948.8794
    # 733.0078e12 / (132 x 1.755e9) = 3164.153 FLOP per clock per SM (of 4096)
    assert row.flop_per_clk_per_sm == pytest.approx(3164.153, rel=1e-6)
    # timing and telemetry fields carried over
    assert (row.median_ms, row.samples, row.stop_reason, row.criterion) == (pytest.approx(1.5), 3, "converged",
                                                                            "nvbench")
    assert row.busy_fraction == 0.985 and row.timer == "cuda_events"
    assert (row.power_mean_w, row.sm_clock_mean_mhz, row.throttle, row.note) == (698.0, 1755.0, "power cap", None)


def test_int8_is_tops_and_unknown_peak_says_why():
    row = Row(suite="gemm", name="x", dtype="int8", flops=2e12)
    figures.compute_row(row, _meas([1e-3, 1e-3]), GPU, SPEC, "int8")
    assert row.metric == "TOPS" and row.value == pytest.approx(2000.0) and row.pct_of_spec == pytest.approx(
        2000.0 / 1978.9 * 100)
    assert row.clock_peak is None and row.sm_clock_mean_mhz is None     # no telemetry: no clock, no clock peak
    row = Row(suite="gemm", name="x", dtype="fp8", flops=2e12)
    figures.compute_row(row, _meas([1e-3]), GPU, SPEC, "fp8")
    assert row.spec_value is None and row.pct_of_spec is None and "no fp8 rate" in row.note


def test_averaged_power_is_named_and_missing_nvml_leaves_throttle_empty():
    row = Row(suite="gemm", name="x", dtype="bf16", flops=1e12, note="best of 4")
    tel = _tel(power_source=monitor.POWER_AVERAGE, note=monitor.AVERAGE_NOTE)
    figures.compute_row(row, _meas([1e-3], tel), GPU, SPEC, "bf16")
    assert row.note == "best of 4; " + monitor.AVERAGE_NOTE
    row = Row(suite="gemm", name="x", dtype="bf16", flops=1e12)
    figures.compute_row(row, _meas([1e-3], monitor.Telemetry(nvml=False, note="NVML not available")), GPU, SPEC,
                        "bf16")
    assert row.throttle is None and row.power_mean_w is None and row.note is None


def test_cpu_rows_have_throughput_but_no_gpu_figures():
    row = Row(suite="gemm", name="x", dtype="fp32", flops=2 * 256 ** 3)
    figures.compute_row(row, _meas([2e-3, 3e-3, 4e-3], busy=None), CPU, None, "fp32")
    assert row.value == pytest.approx(2 * 256 ** 3 / 3e-3 / 1e12)
    assert row.spec_value is None and row.clock_peak is None and row.flop_per_clk_per_sm is None
    assert row.busy_fraction is None


def test_memory_row_both_conventions_and_percent_of_theoretical():
    row = Row(suite="hbm", name="copy", bytes_read=2 ** 30, bytes_written=2 ** 30)
    figures.memory_row(row, _meas([1.1e-3, 1.0e-3, 0.9e-3], _tel()), GPU, SPEC)
    # read + written: 2^31 B / 1 ms = 2.147484 TB/s; one direction 1.073742 TB/s; fastest 2.386093 TB/s
    assert row.metric == "TB/s"
    assert row.value == pytest.approx(2.147483648, rel=1e-9)
    assert row.one_direction == pytest.approx(1.073741824, rel=1e-9)
    assert row.value_best == pytest.approx(2.386092942, rel=1e-8)
    assert row.spec_value == 4.8 and row.pct_of_spec == pytest.approx(44.73924, rel=1e-6)
    # theoretical: 2619e6 Hz x 768 B x 2 (DDR) = 4.022784 TB/s
    assert row.theoretical_value == pytest.approx(4.022784, rel=1e-9)
    assert row.pct_of_theoretical == pytest.approx(53.38302, rel=1e-6)
    cpu = Row(suite="hbm", name="copy", bytes_read=1e9, bytes_written=0)
    figures.memory_row(cpu, _meas([1.0]), CPU, SPEC)
    assert cpu.spec_value is None and cpu.theoretical_value is None and cpu.value == pytest.approx(1e-3)


@pytest.mark.parametrize("read,written,both,one", [(None, 2 ** 30, 1.073741824, 1.073741824),
                                                   (2 ** 30, None, 1.073741824, 1.073741824),
                                                   (3 * 2 ** 29, 2 ** 29, 2.147483648, 1.610612736),
                                                   (None, None, 0.0, 0.0)])
def test_memory_row_counts_a_missing_direction_as_nothing(read, written, both, one):
    """A read-only or write-only kernel leaves the other direction unset: it moves 0 bytes that way, and the
    one-direction figure is the larger of the two."""
    row = Row(suite="hbm", name="k", bytes_read=read, bytes_written=written)
    figures.memory_row(row, _meas([1e-3]), GPU, SPEC)
    assert row.value == pytest.approx(both, rel=1e-12) and row.one_direction == pytest.approx(one, rel=1e-12)


def test_memory_row_on_a_cpu_takes_no_gpu_datasheet():
    row = Row(suite="hbm", name="copy", bytes_read=10 ** 9, bytes_written=10 ** 9)
    figures.memory_row(row, _meas([1.0]), CPU, SPEC)
    assert row.spec_value is None and row.pct_of_spec is None and row.value == pytest.approx(2e-3)


# ---- CPU rows: the peak at the measured core clock (zen4 fp32: 32 FLOP/clk/core, AVX2 FMA) ----------------

ZEN4 = DeviceInfo(kind="cpu", index=0, name="test Zen 4", torch_device="cpu", sm_count=8, threads=6,
                  max_sm_clock_mhz=3700.0, attrs={"uarch": "zen4"})


def _cpu_meas(mhz=3000.0, mode=None):
    tel = monitor.Telemetry(nvml=False, samples=3, sm_clock_mean_mhz=mhz, sm_clock_min_mhz=mhz, sm_clock_max_mhz=mhz)
    stats = timing.TimingStats.from_samples([1e-3], "converged", 1.0)
    return timing.Measurement(stats, tel, {"timer": "host", **(mode or {})})


def test_cpu_row_peak_at_the_measured_clock_on_the_cores_torch_used():
    row = Row(suite="gemm", name="x", dtype="fp32", flops=1.2e9)          # 1.2 TFLOPS at 1 ms
    figures.compute_row(row, _cpu_meas(mode={"clock_method": "perf cycles"}), ZEN4, None, "fp32")
    # min(8 cores, 6 threads) x 32 FLOP/clk x 3000 MHz = 0.576 TFLOPS; at the nominal 3700 MHz 0.7104
    assert row.clock_peak == pytest.approx(0.576) and row.pct_of_clock_peak == pytest.approx(1.2 / 0.576 * 100)
    assert row.flop_per_clk_per_sm == pytest.approx(1.2e12 / (6 * 3000e6))
    assert row.config == {"clock_method": "perf cycles", "nominal_mhz": 3700.0, "peak_at_nominal": pytest.approx(0.7104)}
    assert row.note is None and row.spec_value is None


def test_cpu_row_takes_its_own_threads_and_path_and_says_why_when_no_rate():
    row = Row(suite="peak", name="x", dtype="fp32", flops=1e9, config={"threads": 2, "path": "avx2_fma"})
    figures.compute_row(row, _cpu_meas(2000.0), ZEN4, None, "fp32")
    assert row.clock_peak == pytest.approx(2 * 32 * 2000e6 / 1e12)
    assert row.flop_per_clk_per_sm == pytest.approx(1e12 / (2 * 2000e6))
    assert row.config["peak_at_nominal"] == pytest.approx(2 * 32 * 3700e6 / 1e12)
    unknown = DeviceInfo(kind="cpu", index=0, name="?", torch_device="cpu", sm_count=4, attrs={"uarch": "nosuch"})
    row = Row(suite="gemm", name="x", dtype="fp32", flops=1e9, note="first")
    figures.compute_row(row, _cpu_meas(), unknown, None, "fp32")
    assert row.clock_peak is None and row.pct_of_clock_peak is None and "nominal_mhz" not in (row.config or {})
    assert row.note.startswith("first; no per-core rate table for 'nosuch'")
    assert row.flop_per_clk_per_sm == pytest.approx(1e12 / (4 * 3000e6))     # 4 cores: threads unknown
    row = Row(suite="gemm", name="x", dtype="fp32", flops=1e9)
    figures.compute_row(row, _cpu_meas(mhz=None), ZEN4, None, "fp32")
    assert row.clock_peak is None and row.flop_per_clk_per_sm is None        # no clock measured: no clock figures


def test_label_cpu_torch_path_only_on_a_cpu(monkeypatch):
    from types import SimpleNamespace
    gpu_row = Row(suite="gemm", name="x", dtype="fp32")
    assert figures.label_cpu_torch_path(gpu_row, GPU, "fp32") is gpu_row and gpu_row.config in (None, {})
    from accelkern.hostcpu import torch_path
    fake = SimpleNamespace(label=lambda: "loop", why="no BLAS", fallback=True, path="aten loop")
    monkeypatch.setattr(torch_path, "torch_gemm_path", lambda dtype: fake)
    row = figures.label_cpu_torch_path(Row(suite="gemm", name="x", dtype="fp32", note="n"), CPU, "fp32")
    assert row.config == {"torch_path": "loop", "torch_path_why": "no BLAS"}
    assert row.note == ("n; torch's fallback (aten loop: no BLAS), not the CPU's ability; `accelkern peak --device "
                        "cpu` measures the ceiling")
    fake.fallback = False
    row = figures.label_cpu_torch_path(Row(suite="gemm", name="x", dtype="fp32"), CPU, "fp32")
    assert row.note is None and row.config["torch_path"] == "loop"


def test_cpu_row_path_and_core_count_fall_backs():
    # the FMA+ADD mix is no GEMM path: named in the row's config, it is the rate used (48, not the best FMA's 32)
    row = Row(suite="peak", name="x", dtype="fp32", flops=1e9, config={"threads": 1, "path": "avx2_fma_add"})
    figures.compute_row(row, _cpu_meas(1000.0), ZEN4, None, "fp32")
    assert row.clock_peak == pytest.approx(48 * 1000e6 / 1e12)
    lone = DeviceInfo(kind="cpu", index=0, name="?", torch_device="cpu", attrs={"uarch": "zen4"})   # no core count
    row = Row(suite="gemm", name="x", dtype="fp32", flops=1e9, config={"note": "kept"})
    figures.compute_row(row, _cpu_meas(1000.0), lone, None, "fp32")
    assert row.clock_peak == pytest.approx(32 * 1000e6 / 1e12) and row.config["note"] == "kept"
    nominal_unknown = DeviceInfo(kind="cpu", index=0, name="?", torch_device="cpu", sm_count=2, attrs={"uarch": "zen4"})
    row = Row(suite="gemm", name="x", dtype="fp32", flops=1e9)
    figures.compute_row(row, _cpu_meas(1000.0), nominal_unknown, None, "fp32")
    assert row.clock_peak is not None and "nominal_mhz" not in (row.config or {})
    kept = Row(suite="gemm", name="x", dtype="fp32", flops=1e9, config={"threads": 2})
    figures.apply_measurement(kept, _cpu_meas(mode={"clock_method": "chain"}))
    assert kept.config == {"threads": 2, "clock_method": "chain"}
    gpu_row = Row(suite="gemm", name="x", dtype="fp32", flops=1e9, config={"k": 1})
    figures.label_cpu_torch_path(gpu_row, GPU, "fp32")
    assert gpu_row.config == {"k": 1}


def test_label_cpu_torch_path_keeps_the_row_s_config(monkeypatch):
    from types import SimpleNamespace
    from accelkern.hostcpu import torch_path
    monkeypatch.setattr(torch_path, "torch_gemm_path",
                        lambda dtype: SimpleNamespace(label=lambda: "oneDNN brgemm", why="", fallback=False, path="x"))
    row = figures.label_cpu_torch_path(Row(suite="gemm", name="x", dtype="fp32", config={"a": 1}), CPU, "fp32")
    assert row.config == {"a": 1, "torch_path": "oneDNN brgemm", "torch_path_why": ""}
