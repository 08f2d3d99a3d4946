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
    # H100 SXM fp64 tensor: 67 TFLOPS at 1980 MHz on 132 SMs = 256 FLOP/clk/SM (what DMMA.16x8x16 can reach)
    assert specs.peak_at_clock_tflops("sm_90", "fp64_tensor", 132, 1980) == pytest.approx(66.9, abs=0.1)
    assert specs.per_clock_per_sm("sm_90", "fp8") == 8192
    assert specs.per_clock_per_sm("sm_80", "fp8") is None
    assert specs.per_clock_per_sm("sm_90a", "bf16") == 4096
    assert specs.per_clock_per_sm("sm_90", "fp16_acc16") == 4096
    assert specs.per_clock_per_sm("sm_80", "fp16_acc16") == 2048


# Each case: a vendor figure (dense TFLOPS) and its SMs and boost clock, against the per-clock table of the
# product's architecture: peak = FLOP/clk/SM x SMs x clock.
GA10X_AD10X_CASES = [
    # (arch, device name, dtype, SMs, boost MHz, vendor TFLOPS, source)
    ("sm_86", "NVIDIA GeForce RTX 3090", "bf16", 82, 1695, 71.0, "GA102 whitepaper: fp32 accumulate, half rate"),
    ("sm_86", "NVIDIA GeForce RTX 3090", "fp16_acc16", 82, 1695, 142.0, "GA102 whitepaper: fp16 accumulate"),
    ("sm_86", "NVIDIA GeForce RTX 3090", "tf32", 82, 1695, 35.6, "GA102 whitepaper"),
    ("sm_86", "NVIDIA GeForce RTX 3090", "int8", 82, 1695, 284.0, "GA102 whitepaper (TOPS)"),
    ("sm_86", "NVIDIA GeForce RTX 3090", "fp32", 82, 1695, 35.6, "GA102 whitepaper: non-tensor"),
    ("sm_86", "NVIDIA A40", "bf16", 84, 1740, 149.7, "A40 datasheet: full rate"),
    ("sm_86", "NVIDIA A40", "tf32", 84, 1740, 74.8, "A40 datasheet"),
    ("sm_86", "NVIDIA A40", "int8", 84, 1740, 299.3, "A40 datasheet (TOPS)"),
    ("sm_89", "NVIDIA GeForce RTX 4090", "fp8", 128, 2520, 330.3, "Ada whitepaper: fp8, fp32 accumulate"),
    ("sm_89", "NVIDIA GeForce RTX 4090", "bf16", 128, 2520, 165.2, "Ada whitepaper"),
    ("sm_89", "NVIDIA GeForce RTX 4090", "fp16_acc16", 128, 2520, 330.3, "Ada whitepaper"),
    ("sm_89", "NVIDIA GeForce RTX 4090", "int8", 128, 2520, 660.6, "Ada whitepaper (TOPS)"),
    ("sm_89", "NVIDIA GeForce RTX 4090", "fp32", 128, 2520, 82.6, "Ada whitepaper: non-tensor"),
    ("sm_89", "NVIDIA L4", "fp8", 58, 2040, 242.5, "L4 datasheet"),
    ("sm_89", "NVIDIA L4", "bf16", 58, 2040, 121.0, "L4 datasheet"),
    ("sm_89", "NVIDIA L40S", "fp8", 142, 2520, 733.0, "L40S datasheet"),
    ("sm_89", "NVIDIA L40", "bf16", 142, 2490, 181.05, "L40 datasheet: half rate"),
    ("sm_89", "NVIDIA L40", "int8", 142, 2490, 362.0, "L40 datasheet (TOPS)"),
]


@pytest.mark.parametrize("arch,name,dtype,sms,mhz,vendor,source", GA10X_AD10X_CASES,
                         ids=[f"{c[1].split()[-1]}-{c[2]}" for c in GA10X_AD10X_CASES])
def test_per_clock_tables_of_sm86_and_sm89_reproduce_vendor_figures(arch, name, dtype, sms, mhz, vendor, source):
    got = specs.peak_at_clock_tflops(arch, dtype, sms, mhz, product=name)
    assert got == pytest.approx(vendor, rel=0.01), source


def test_sm86_and_sm89_hand_values_and_no_borrowed_sm80_table():
    # GeForce halves fp32-accumulate tensor math: RTX 4090 fp8 (fp32 accumulate) 1024, bf16 512; L4 full rate
    assert specs.per_clock_per_sm("sm_89", "fp8", "NVIDIA GeForce RTX 4090") == 1024
    assert specs.per_clock_per_sm("sm_89", "bf16", "NVIDIA GeForce RTX 4090") == 512
    assert specs.per_clock_per_sm("sm_89", "fp16_acc16", "NVIDIA GeForce RTX 4090") == 1024
    assert specs.per_clock_per_sm("sm_89", "fp8", "NVIDIA L4") == 2048
    assert specs.per_clock_per_sm("sm_86", "bf16", "NVIDIA GeForce RTX 3080") == 512
    assert specs.per_clock_per_sm("sm_86", "bf16", "NVIDIA A10") == 1024
    # SIMT rates are the architecture's: 128 FP32 lanes (256 FLOP), 2 FP64 units (4), 64 IMAD (128 ops)
    for arch in ("sm_86", "sm_89"):
        assert (specs.per_clock_per_sm(arch, "fp32"), specs.per_clock_per_sm(arch, "fp64"),
                specs.per_clock_per_sm(arch, "int32_simt"), specs.per_clock_per_sm(arch, "fp16_simt")) == \
            (256, 4, 128, 256)
        # no fp64 tensor path on GA10x/AD10x; sm_80's 128 must not be borrowed
        assert specs.per_clock_per_sm(arch, "fp64_tensor", "NVIDIA GeForce RTX 4090") is None
    assert specs.per_clock_per_sm("sm_86", "fp8", "NVIDIA A40") is None       # Ampere has no fp8
    # a product without a known table: no figure, and a reason saying why
    assert specs.per_clock_per_sm("sm_89", "bf16", "NVIDIA RTX 4000 SFF Ada Generation") is None
    assert specs.per_clock_per_sm("sm_89", "bf16") is None
    why = specs.per_clock_note("sm_89", "bf16", "NVIDIA RTX 4000 SFF Ada Generation")
    assert why.startswith("no per-clock table for bf16 on sm_89") and "differs between products" in why
    assert specs.per_clock_note("sm_87", "bf16") == "no per-clock table for sm_87"
    assert specs.per_clock_note("sm_89", "fp8", "NVIDIA L4") is None
    assert specs.per_clock_per_sm("sm_87", "bf16") is None and specs.per_clock_per_sm(None, "bf16") is None


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
    assert specs.normalize_name("Tesla V100-SXM2-16GB") == "v100-sxm2-16gb"
    assert specs.normalize_name("NVIDIA_GeForce_RTX_4090") == "geforce rtx 4090"
    assert specs.normalize_name("AMD Instinct MI300X") == "amd instinct mi300x"   # only NVIDIA/Tesla prefixes go
    # the seed table: 11 NVIDIA, 3 AMD, 1 Intel entries, keys unique
    keys = [s.key for s in specs.all_specs()]
    assert len(keys) == len(set(keys)) == 15
    assert sorted({s.vendor for s in specs.all_specs()}) == ["AMD", "Intel", "NVIDIA"]
