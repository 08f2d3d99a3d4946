"""CPU side of the spec DB: per-core per-cycle rates (data/cpu_rates.json), CPU datasheet entries, name matching."""
import json
from importlib import resources

import pytest

from accelkern import specs
from accelkern.errors import AccelkernError


def rate(uarch, dtype, path=None):
    r = specs.cpu_rate(uarch, dtype, path)
    return None if r is None else r.flop_per_clk_per_core


def table():
    return json.loads(resources.files("accelkern").joinpath("data/cpu_rates.json").read_text())


# ---- the table, for given microarchitectures ----------------------------------------------------------------------

def test_zen3_two_256bit_fma_pipes_and_no_bf16():
    assert (rate("zen3", "fp64", "avx2_fma"), rate("zen3", "fp32", "avx2_fma")) == (16, 32)
    # without a path: the best rate a dense kernel can reach, not the FMA+FADD mix likwid can
    assert rate("zen3", "fp64", "avx2_fma_add") == 24 and rate("zen3", "fp64") == 16
    assert specs.cpu_rate("zen3", "fp64").path == "avx2_fma"
    assert rate("zen3", "bf16") is None
    why = specs.cpu_rate_note("zen3", "bf16")
    assert "avx512_bf16 is not supported by that core" in why and "amx_bf16 is not supported" in why


def test_zen4_avx512_is_double_pumped_and_bf16_vnni_scale_from_fp32():
    assert rate("zen4", "fp32", "avx512_fma") == rate("zen4", "fp32", "avx2_fma") == 32
    assert rate("zen4", "fp64", "avx512_fma") == 16
    assert rate("zen4", "bf16", "avx512_bf16") == 64 and rate("zen4", "bf16") == 64
    assert rate("zen4", "int8", "avx512_vnni") == 128
    assert rate("zen4", "fp16") is None and "avx512_fp16" in specs.cpu_rate_note("zen4", "fp16")
    assert rate("zen4", "int8", "avx_vnni") is None
    assert "not supported by that core" in specs.cpu_rate_note("zen4", "int8", "avx_vnni")


def test_zen5_native_512bit_doubles_zen4_and_mobile_does_not():
    assert (rate("zen5", "fp64", "avx512_fma"), rate("zen5", "fp32", "avx512_fma")) == (32, 64)
    assert (rate("zen5", "bf16", "avx512_bf16"), rate("zen5", "int8", "avx512_vnni")) == (128, 256)
    assert rate("zen5", "int8", "avx_vnni") == 128          # half the zmm rate (cpufp, Ryzen 7 9700X)
    assert rate("zen5", "fp32", "avx2_fma") == 32           # ymm uses half of each 512-bit pipe
    for dtype, path in (("fp64", "avx512_fma"), ("fp32", "avx512_fma"), ("bf16", "avx512_bf16"),
                        ("int8", "avx512_vnni")):
        assert rate("zen5", dtype, path) == 2 * rate("zen4", dtype, path) == 2 * rate("zen5-mobile", dtype, path)
    assert specs.cpu_rate("zen5", "int8").path == "avx512_vnni"


def test_sapphire_rapids_bf16_without_amx_is_half_fp32_and_amx_is_the_fast_path():
    fp32 = rate("sapphirerapids", "fp32", "avx512_fma")
    assert fp32 == 64 and rate("sapphirerapids", "fp64", "avx512_fma") == 32
    assert rate("sapphirerapids", "bf16", "avx512_bf16") == 32 == fp32 / 2
    assert rate("sapphirerapids", "bf16", "amx_bf16") == 1024
    assert rate("sapphirerapids", "int8", "amx_int8") == 2048
    assert rate("sapphirerapids", "int8", "avx512_vnni") == 256 and rate("sapphirerapids", "int8", "avx_vnni") == 128
    assert rate("sapphirerapids", "fp16", "avx512_fp16") == 128
    assert specs.cpu_rate("sapphirerapids", "bf16").path == "amx_bf16"
    assert specs.cpu_rate("sapphirerapids", "int8").path == "amx_int8"
    # AMX-FP16 came with Granite Rapids
    assert "not supported by that core" in specs.cpu_rate_note("sapphirerapids", "fp16", "amx_fp16")


def test_amx_rates_mean_one_tile_instruction_every_16_cycles():
    paths = table()["paths"]
    assert paths["amx_bf16"]["flop_per_instruction"]["bf16"] / rate("sapphirerapids", "bf16", "amx_bf16") == 16
    assert paths["amx_int8"]["flop_per_instruction"]["int8"] / rate("sapphirerapids", "int8", "amx_int8") == 16
    assert (paths["avx512_bf16"]["flop_per_instruction"]["bf16"], paths["avx512_vnni"]["flop_per_instruction"]["int8"],
            paths["avx_vnni"]["flop_per_instruction"]["int8"]) == (64, 128, 64)


def test_neoverse_v2_and_its_unsourced_matrix_rates():
    assert (rate("neoverse-v2", "fp64", "sve_fma"), rate("neoverse-v2", "fp32", "neon_fma")) == (16, 32)
    assert rate("neoverse-v2", "fp64") == 16
    assert rate("neoverse-v2", "bf16") is None
    assert specs.cpu_rate_note("neoverse-v2", "bf16", "neon_bfmmla").startswith("unsourced")
    assert rate("neoverse-n1", "fp32", "neon_fma") == 16
    assert "not supported by that core" in specs.cpu_rate_note("neoverse-n1", "fp64", "sve_fma")
    assert specs.cpu_rate_note("neoverse-v2", "fp32", "avx2_fma") == "avx2_fma is an x86 path; neoverse-v2 is an arm core"


def test_notes_for_what_the_table_cannot_answer():
    assert specs.cpu_rate_note("zen4", "fp32") is None
    assert specs.cpu_rate_note(None, "fp32") == "no per-core rate: the CPU's microarchitecture was not identified"
    assert specs.cpu_rate_note("bulldozer", "fp32").startswith("no per-core rate table for 'bulldozer'")
    assert "no CPU rate for dtype 'tf32'" in specs.cpu_rate_note("zen4", "tf32")
    assert specs.cpu_rate_note("zen4", "fp32", "avx512_bf16") == "path avx512_bf16 computes bf16, not fp32"
    assert specs.cpu_rate_note("zen4", "fp32", "avx1024_fma").startswith("unknown instruction path 'avx1024_fma'")
    assert specs.cpu_rate_note("graniterapids", "fp32", "avx512_fma").startswith("unsourced")
    assert specs.cpu_rates("bulldozer") == () and len(specs.cpu_rates("sapphirerapids")) >= 10


# ---- peaks: cores x rate x clock ------------------------------------------------------------------------------------

def test_peak_is_cores_times_rate_times_clock():
    # EPYC 9654 at its 2.4 GHz base: 96 x 32 fp32 FLOP/clk x 2.4e9
    assert specs.cpu_peak_tflops("zen4", "fp32", 96, 2400) == pytest.approx(7.3728)
    # Xeon 8480+ AMX bf16 at its 2.0 GHz base: 56 x 1024 x 2.0e9 = 114.7 TFLOPS
    assert specs.cpu_peak_tflops("sapphirerapids", "bf16", 56, 2000) == pytest.approx(114.688)
    assert specs.cpu_peak_tflops("sapphirerapids", "bf16", 56, 2000, path="avx512_bf16") == pytest.approx(3.584)
    assert specs.cpu_peak_tflops("zen3", "bf16", 64, 2450) is None
    assert specs.cpu_peak_tflops("zen4", "fp32", 0, 2400) is None and specs.cpu_peak_tflops("zen4", "fp32", 96, 0) is None


def test_peak_reproduces_the_issue_likwid_run_on_zen3():
    # issue #18: likwid-bench peakflops_sp_avx_fma, 2 threads on a Zen 3 VM at about 3.09 GHz: 197.9 GFLOPS
    assert specs.cpu_peak_tflops("zen3", "fp32", 2, 3090) * 1e3 == pytest.approx(197.9, rel=0.002)
    assert specs.cpu_peak_tflops("zen3", "fp64", 2, 3090) * 1e3 == pytest.approx(96.0, rel=0.03)


def test_table_ratios_match_cpufp_measurements():
    # single-core cpufp runs (same run, so the clock mostly cancels)
    assert rate("zen5", "bf16", "avx512_bf16") / rate("zen5", "fp32", "avx512_fma") == pytest.approx(708.19 / 354.29, rel=0.01)
    assert rate("zen4", "int8", "avx512_vnni") / rate("zen4", "fp32", "avx512_fma") == pytest.approx(647.97 / 163.58, rel=0.02)
    assert rate("sapphirerapids", "int8", "avx512_vnni") / rate("sapphirerapids", "bf16", "amx_bf16") == \
        pytest.approx(711.46 / 2844.8, rel=0.01)   # W9-3495X


def test_grace_superchip_published_fp64_peak_implies_a_plausible_clock():
    g = specs.by_key("grace-superchip")
    implied_mhz = g.peak("fp64") * 1e12 / (g.cores * rate("neoverse-v2", "fp64")) / 1e6
    assert 3000 < implied_mhz < 3200    # 7.1 TFLOPS / (144 x 16) = 3.08 GHz
    assert specs.cpu_peak_tflops(None, "fp64", g.cores, implied_mhz, spec=g) == pytest.approx(7.1)


def test_one_fma_unit_sku_halves_the_avx512_rate_only():
    gold, plat = specs.by_key("xeon-gold-5120"), specs.by_key("xeon-platinum-8180")
    assert (gold.fma_units, plat.fma_units) == (1, 2)
    assert specs.effective_cpu_rate(None, "fp64", "avx512_fma", spec=gold).flop_per_clk_per_core == 16
    assert specs.effective_cpu_rate(None, "fp64", "avx512_fma", spec=plat).flop_per_clk_per_core == 32
    assert specs.effective_cpu_rate(None, "fp64", "avx2_fma", spec=gold).flop_per_clk_per_core == 16
    assert specs.cpu_peak_tflops(None, "fp32", gold.cores, 2200, spec=gold) == pytest.approx(14 * 32 * 2.2e9 / 1e12)
    assert specs.cpu_peak_tflops("skylake-sp", "fp32", 28, 2500, spec=plat) == pytest.approx(28 * 64 * 2.5e9 / 1e12)
    # the oneDNN maintainer's figure for one 8180 core: 160 GFLOPS fp32 at 2.5 GHz
    assert specs.cpu_peak_tflops("skylake-sp", "fp32", 1, 2500, spec=plat) * 1e3 == pytest.approx(160)


# ---- theoretical DRAM --------------------------------------------------------------------------------------------

def test_theoretical_dram_is_channels_times_mts_times_8_bytes_per_socket():
    genoa = specs.by_key("epyc-9654")
    assert specs.cpu_theoretical_dram_bytes_s(genoa) == pytest.approx(460.8e9)
    assert specs.cpu_theoretical_dram_bytes_s(genoa, sockets=2) == pytest.approx(921.6e9)
    assert specs.cpu_theoretical_dram_bytes_s(specs.by_key("xeon-platinum-8480plus")) == pytest.approx(307.2e9)
    assert specs.cpu_theoretical_dram_bytes_s(specs.by_key("epyc-7763")) == pytest.approx(204.8e9)
    # Grace: LPDDR5X with no channel count; NVIDIA's 512 GB/s per CPU, "up to 1 TB/s" per superchip
    assert specs.cpu_theoretical_dram_bytes_s(specs.by_key("grace-superchip")) == pytest.approx(1.024e12)
    assert specs.cpu_theoretical_dram_bytes_s(specs.by_key("h200-sxm")) is None
    assert specs.cpu_theoretical_dram_bytes_s(None) is None


def test_every_cpu_entry_bandwidth_is_its_channels_times_mts():
    for s in specs.cpu_specs():
        if s.memory_channels:
            assert s.memory_bw_gbps == pytest.approx(s.memory_channels * s.memory_mts * 8 / 1000, abs=0.05), s.key


# ---- name matching -------------------------------------------------------------------------------------------------

CPUINFO = {   # /proc/cpuinfo model names -> key (None: another SKU or a hidden brand, must not match)
    "AMD EPYC 7742 64-Core Processor": "epyc-7742",
    "AMD EPYC 7763 64-Core Processor": "epyc-7763",
    "AMD EPYC 7V13 64-Core Processor": "epyc-7v13",
    "AMD EPYC 7V73X 64-Core Processor": "epyc-7v73x",
    "AMD EPYC 9654 96-Core Processor": "epyc-9654",
    "AMD EPYC 9554 64-Core Processor": "epyc-9554",
    "AMD EPYC 9474F 48-Core Processor": "epyc-9474f",
    "AMD EPYC 9755 128-Core Processor": "epyc-9755",
    "AMD EPYC 9655 96-Core Processor": "epyc-9655",
    "AMD EPYC 9575F 64-Core Processor": "epyc-9575f",
    "Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz": "xeon-platinum-8180",
    "Intel(R) Xeon(R) Gold 5120 CPU @ 2.20GHz": "xeon-gold-5120",
    "Intel(R) Xeon(R) Platinum 8280 CPU @ 2.70GHz": "xeon-platinum-8280",
    "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz": "xeon-platinum-8380",
    "Intel(R) Xeon(R) Platinum 8480+": "xeon-platinum-8480plus",
    "Intel(R) Xeon(R) Platinum 8592+": "xeon-platinum-8592plus",
    "Intel(R) Xeon(R) 6980P": "xeon-6980p",
    "AMD EPYC 9654P 96-Core Processor": None,
    "AMD EPYC 9R14": None,
    "AMD EPYC": None,
    "Intel(R) Xeon(R) Platinum 8480C": None,
    "Intel(R) Xeon(R) Gold 5120T CPU @ 2.20GHz": None,
    "Intel(R) Xeon(R) Platinum 8380HL CPU @ 2.90GHz": None,
}


@pytest.mark.parametrize("model,key", sorted(CPUINFO.items()))
def test_lookup_by_proc_cpuinfo_model_name(model, key):
    spec, how = specs.lookup(model)
    assert (spec.key if spec else None) == key, how
    if key is None:
        assert f"unknown device '{model}'" in how and "--spec" in how


def test_every_cpu_entry_with_patterns_is_reachable_and_the_rest_say_why_not():
    matched = {k for k in CPUINFO.values() if k}
    with_patterns = {s.key for s in specs.cpu_specs() if s.match}
    assert matched == with_patterns
    for s in specs.cpu_specs():
        if not s.match:   # aarch64: no model name in /proc/cpuinfo
            assert s.arch.startswith("neoverse") and "no match pattern" in s.source


def test_normalize_cpu_name():
    assert specs.normalize_cpu_name("Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz") == "intel xeon platinum 8180"
    assert specs.normalize_cpu_name("  AMD EPYC 9654 96-Core Processor ") == "amd epyc 9654 96-core processor"
    assert specs.normalize_cpu_name("Intel(R) Xeon(R) Platinum 8480+") == "intel xeon platinum 8480+"


def test_spec_option_finds_cpu_entries_by_key_and_name_and_rejects_unknown():
    assert specs.by_key("epyc-9654").cores == 96
    assert specs.by_key("AMD EPYC 9654").key == "epyc-9654"
    assert specs.by_key("Intel Xeon Platinum 8480+").key == "xeon-platinum-8480plus"
    spec, how = specs.lookup("AMD EPYC", override="epyc-9575f")
    assert spec.key == "epyc-9575f" and how == "--spec epyc-9575f"
    with pytest.raises(AccelkernError, match=r"unknown spec 'epyc-9999'; known: .*h200-sxm.*epyc-9654"):
        specs.lookup("AMD EPYC", override="epyc-9999")


# ---- the data files themselves -------------------------------------------------------------------------------------

def test_rate_entries_use_only_the_allowed_keys():
    doc = table()
    assert set(doc["paths"]) == set(specs.CPU_PATHS)
    for p, info in doc["paths"].items():
        assert tuple(info["dtypes"]) == specs.CPU_PATHS[p]
    assert set(doc["uarchs"]) <= set(specs.CPU_UARCHS)
    features = {info["requires"] for info in doc["paths"].values()}
    for u, info in doc["uarchs"].items():
        assert set(info["isa"]) <= features and info["family"] in ("x86", "arm") and info["isa_source"], u
    for r in doc["rates"]:
        assert r["uarch"] in specs.CPU_UARCHS and r["path"] in specs.CPU_PATHS, r
        assert r["dtype"] in specs.CPU_PATHS[r["path"]], r
    keys = [(r["uarch"], r["dtype"], r["path"]) for r in doc["rates"]]
    assert len(keys) == len(set(keys))


def test_every_rate_has_a_source_and_unsourced_ones_are_null_with_a_note():
    doc = table()
    for r in doc["rates"]:
        if r["flop_per_clk_per_core"] is None:
            assert "unsourced" in r["note"], r
        else:
            assert r["source"] and r["source"] != "none found", r
            assert r["flop_per_clk_per_core"] > 0
            # no rate for a path the core does not have
            info = doc["uarchs"][r["uarch"]]
            assert doc["paths"][r["path"]]["requires"] in info["isa"], r
            assert doc["paths"][r["path"]]["family"] == info["family"], r


def test_cpu_datasheet_entries_are_complete_and_name_their_uarch():
    uarchs = set(table()["uarchs"])
    cpus = specs.cpu_specs()
    assert len(cpus) >= 20
    for s in cpus:
        assert s.kind == "cpu" and s.arch in uarchs and s.cores and s.sockets and s.source, s.key
        assert s.sms is None and s.memory_gb is None
        assert s.peaks_tflops or s.unpublished, s.key
        assert s.boost_clock_mhz is None or s.base_clock_mhz is None or s.boost_clock_mhz >= s.base_clock_mhz
    assert {s.vendor for s in cpus} == {"AMD", "Intel", "NVIDIA", "AWS"}


# ---- GPU entries are untouched -------------------------------------------------------------------------------------

def test_gpu_entries_still_load_and_keep_their_figures():
    gpus = specs.all_specs()
    assert len(gpus) == 15 and all(s.kind == "gpu" for s in gpus)
    assert len(specs.all_specs(None)) == len(gpus) + len(specs.cpu_specs())
    h = specs.by_key("h200-sxm")
    assert (h.peak("bf16"), h.memory_bw_gbps, h.sms, h.cores) == (989.5, 4800, 132, None)
    assert specs.lookup("NVIDIA H100 80GB HBM3")[0].key == "h100-sxm"
    assert specs.cpu_theoretical_dram_bytes_s(h) is None and specs.cpu_peak_tflops("sm_90", "bf16", 132, 1980) is None
