import math

import pytest

from accelkern import specs
from accelkern.errors import AccelkernError

# names as devices report them (torch.cuda.get_device_name / nvidia-smi / rocm-smi) -> spec key
REPORTED = {
    "NVIDIA A100-SXM4-40GB": "a100-sxm4-40gb",
    "NVIDIA A100-SXM4-80GB": "a100-sxm4-80gb",
    "NVIDIA A100-PCIE-40GB": "a100-pcie-40gb",
    "NVIDIA A100 80GB PCIe": "a100-pcie-80gb",
    "NVIDIA H100 80GB HBM3": "h100-sxm",
    "NVIDIA H100 PCIe": "h100-pcie",
    "NVIDIA H100 NVL": "h100-nvl",
    "NVIDIA GH200 480GB": "gh200",
    "NVIDIA GH200 144G HBM3e": "gh200-144gb",
    "NVIDIA H200": "h200-sxm",
    "NVIDIA H200 NVL": "h200-nvl",
    "AMD Instinct MI250": "mi250",
    "AMD Instinct MI250X": "mi250x",
    "AMD Instinct MI300X": "mi300x",
    "AMD Instinct MI300X OAM": "mi300x",
    "GAUDI2": "gaudi2",
    "HL-225": "gaudi2",
}


@pytest.mark.parametrize("reported,key", sorted(REPORTED.items()))
def test_lookup_every_seed_name(reported, key):
    spec, how = specs.lookup(reported)
    assert spec is not None, how
    assert spec.key == key


def test_every_spec_is_reachable_by_some_reported_name():
    assert {s.key for s in specs.all_specs()} == set(REPORTED.values())


def test_h200_nvl_is_not_taken_for_the_sxm_part():
    assert specs.lookup("NVIDIA H200 NVL")[0].key == "h200-nvl"
    assert specs.lookup("NVIDIA H200")[0].tdp_w == 700


def test_unknown_device_says_so_and_how_to_override():
    spec, how = specs.lookup("NVIDIA GeForce RTX 4090")
    assert spec is None
    assert "unknown device" in how and "--spec" in how


def test_override_wins_and_unknown_override_lists_keys():
    spec, how = specs.lookup("NVIDIA H200", override="h100-sxm")
    assert spec.key == "h100-sxm" and "--spec" in how
    with pytest.raises(AccelkernError, match="known: .*h200-sxm"):
        specs.lookup("NVIDIA H200", override="no-such-gpu")


def test_seed_figures():
    h200 = specs.by_key("h200-sxm")
    assert h200.peak("bf16") == 989.5 and h200.peak("fp8") == 1978.9 and h200.peak("fp32") == 67
    assert h200.memory_bw_gbps == 4800 and h200.memory_gb == 141
    assert specs.by_key("a100-sxm4-80gb").peak("tf32") == 156
    assert specs.by_key("a100-sxm4-40gb").memory_bw_gbps == 1555  # the seed's "1.6TBps"
    assert specs.by_key("h100-sxm").memory_bw_gbps == 3350
    assert specs.by_key("mi300x").peak("bf16") == 1307.4
    assert specs.by_key("a100-sxm4-80gb").peak("fp8") is None  # Ampere has no fp8


def test_gaudi2_unpublished_is_explained():
    g = specs.by_key("gaudi2")
    assert all(g.peak(d) is None for d in specs.DTYPES)
    assert "not published" in g.why_no_peak("bf16")


def test_int8_is_2x_bf16_is_2x_tf32_on_hopper():
    # the seed's rule of thumb, as the datasheet states it for dense math
    h = specs.by_key("h100-sxm")
    assert h.peak("int8") == pytest.approx(2 * h.peak("bf16"), rel=1e-3)
    assert h.peak("bf16") == pytest.approx(2 * h.peak("tf32"), rel=1e-3)


def test_per_clock_peaks_reproduce_datasheets():
    # sm_80: 108 SMs x 1410 MHz x 2048 = 312 TFLOPS bf16; sm_90: 132 x 1830 MHz x 4096 = 989 TFLOPS
    assert specs.peak_at_clock_tflops("sm_80", "bf16", 108, 1410) == pytest.approx(311.9, abs=0.1)
    assert specs.peak_at_clock_tflops("sm_90", "bf16", 132, 1830) == pytest.approx(989.5, abs=0.5)
    assert specs.peak_at_clock_tflops("sm_90", "fp32", 132, 1980) == pytest.approx(66.9, abs=0.1)
    assert specs.per_clock_per_sm("sm_90", "fp8") == 8192
    assert specs.per_clock_per_sm("sm_80", "fp8") is None
    assert specs.per_clock_per_sm("sm_90a", "bf16") == 4096


def test_spec_clock_and_per_clock_restatement():
    h = specs.by_key("h200-sxm")
    assert specs.spec_clock_mhz(h, "bf16") == pytest.approx(1830, abs=1)
    # 657 TFLOPS mma.sync at 1980 MHz on 132 SMs -> ~2514 FLOP/clk/SM (the baseline)
    assert specs.flop_per_clk_per_sm(657, 132, 1980) == pytest.approx(2514, abs=1)


def test_theoretical_bandwidth_clock_times_bus_times_two():
    # H100 SXM: 2619 MHz x 5120 bit x 2 = 3.35 TB/s
    assert specs.theoretical_bandwidth_bytes_s(2619, 5120) == pytest.approx(3.352e12, rel=1e-3)
    # H200: 3201 MHz x 6144 bit x 2 = 4.92 TB/s
    assert specs.theoretical_bandwidth_bytes_s(3201, 6144) / 1e12 == pytest.approx(4.917, abs=0.001)
    with pytest.raises(ValueError):
        specs.theoretical_bandwidth_bytes_s(0, 5120)


def test_normalize_name():
    assert specs.normalize_name("  NVIDIA  H100 80GB HBM3 ") == "h100 80gb hbm3"
    assert not math.isnan(len(specs.all_specs()))
