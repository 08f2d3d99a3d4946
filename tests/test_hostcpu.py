"""accelkern.hostcpu: CPUID decoding and microarchitecture for given registers (a real Zen 5 dump and
Zen 3, Zen 4, Sapphire Rapids built from their documented signatures), Arm MIDR parts, sysfs topology,
the clock from synthetic chain timings, and the torch path rules. No timed test."""
import json
import os

import pytest

from accelkern.hostcpu import clock, cpuid, microarch, topology
from accelkern.hostcpu.torch_path import blas_name, decide, onednn_impls

DATA = os.path.join(os.path.dirname(__file__), "data")
XCR0_ALL = cpuid.XCR0_YMM | cpuid.XCR0_ZMM | cpuid.XCR0_TILE | 1


def _vendor_regs(vendor: str):
    b = vendor.encode()
    w = [int.from_bytes(b[i:i + 4], "little") for i in (0, 4, 8)]
    return (0x20, w[0], w[2], w[1])      # EBX, EDX, ECX spell the vendor


def _regs(vendor: str, eax1: int, features, osxsave=True, brand=None, hypervisor=False):
    """Registers of a CPU with leaf-1 EAX `eax1` and the named features (bits from the SDM/APM table)."""
    regs = {(0, 0): _vendor_regs(vendor), (1, 0): [eax1, 0, 0, 0], (7, 0): [1, 0, 0, 0], (7, 1): [0, 0, 0, 0]}
    regs[(1, 0)][2] |= (1 << 27) if osxsave else 0
    regs[(1, 0)][2] |= (1 << 31) if hypervisor else 0
    inverse = {name: key for key, name in cpuid.FEATURE_BITS.items()}
    for f in features:
        leaf, sub, reg, bit = inverse[f]
        regs[(leaf, sub)][("eax", "ebx", "ecx", "edx").index(reg)] |= 1 << bit
    if brand:
        raw = brand.encode().ljust(48, b"\0")
        regs[(0x80000000, 0)] = (0x80000004, 0, 0, 0)
        for i, leaf in enumerate((0x80000002, 0x80000003, 0x80000004)):
            chunk = raw[16 * i:16 * i + 16]
            regs[(leaf, 0)] = tuple(int.from_bytes(chunk[j:j + 4], "little") for j in (0, 4, 8, 12))
    return {k: tuple(v) for k, v in regs.items()}


ZEN3 = ("AuthenticAMD", 0x00A00F11, ["fma", "avx", "avx2", "f16c"])            # EPYC 7763 (Milan)
ZEN4 = ("AuthenticAMD", 0x00A10F11, ["fma", "avx", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                                     "avx512_vnni", "avx512_bf16"])              # EPYC 9654 (Genoa)
SPR = ("GenuineIntel", 0x000806F8, ["fma", "avx", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                                    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile",
                                    "amx_bf16", "amx_int8"])                     # Xeon 8480+ (Sapphire Rapids)


def test_real_zen5_dump_decodes_to_what_linux_said():
    doc = json.load(open(os.path.join(DATA, "cpuid_epyc_zen5_vm.json")))
    regs = {}
    for key, vals in doc["leaves"].items():
        leaf, sub = key.split("/")
        regs[(int(leaf, 16), int(sub))] = tuple(int(v, 16) for v in vals)
    d = cpuid.decode(regs, doc["xcr0"])
    assert (d.vendor, d.family, d.model, d.stepping) == ("AuthenticAMD", 26, 2, 1)
    assert d.brand == "AMD EPYC" and d.hypervisor
    # the flags Linux printed on that VM for the same bits
    assert {"fma", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_vnni", "avx_vnni",
            "avx512_vp2intersect"} <= d.features
    assert not d.features & {"avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16"}
    assert microarch.x86(d.vendor, d.family, d.model, d.stepping).key == "zen5"


@pytest.mark.parametrize("sig,key,family,model", [(ZEN3, "zen3", 0x19, 0x01), (ZEN4, "zen4", 0x19, 0x11),
                                                  (SPR, "sapphirerapids", 6, 0x8F)])
def test_signatures_decode_to_family_model_and_uarch(sig, key, family, model):
    vendor, eax1, feats = sig
    d = cpuid.decode(_regs(vendor, eax1, feats), XCR0_ALL)
    assert (d.family, d.model) == (family, model)
    assert d.features == frozenset(feats)
    assert microarch.x86(d.vendor, d.family, d.model, d.stepping).key == key


def test_os_that_does_not_save_zmm_or_tiles_disables_those_features():
    vendor, eax1, feats = SPR
    d = cpuid.decode(_regs(vendor, eax1, feats), cpuid.XCR0_YMM | 1)       # AVX state only
    assert "avx2" in d.features and "avx512f" not in d.features and "amx_tile" not in d.features
    assert {"avx512f", "amx_bf16"} <= d.disabled_by_os and "XCR0" in d.notes[0]
    d = cpuid.decode(_regs(vendor, eax1, feats, osxsave=False), XCR0_ALL)   # OS uses no XSAVE: no VEX at all
    assert not d.features and {"avx2", "fma", "avx512f"} <= d.disabled_by_os


def test_leaf7_subleaf1_is_read_only_when_leaf7_says_it_exists():
    regs = dict(_regs(*ZEN4))
    regs[(7, 0)] = (0,) + regs[(7, 0)][1:]        # EAX = max subleaf 0
    assert "avx512_bf16" not in cpuid.decode(regs, XCR0_ALL).features


def test_brand_string_and_extended_family():
    d = cpuid.decode(_regs("AuthenticAMD", 0x00B00F21, [], brand="AMD EPYC 9655 96-Core Processor"), XCR0_ALL)
    assert d.brand == "AMD EPYC 9655 96-Core Processor" and (d.family, d.model) == (0x1A, 0x02)
    assert cpuid.display_family_model(0x000806F8) == (6, 0x8F, 8)
    assert cpuid.display_family_model(0x00000F41) == (0xF, 0x4, 1)    # family 0xF: extended family 0 added


@pytest.mark.parametrize("vendor,family,model,stepping,key", [
    ("AuthenticAMD", 0x17, 0x31, 0, "zen2"), ("AuthenticAMD", 0x19, 0x01, 1, "zen3"),
    ("AuthenticAMD", 0x19, 0x21, 0, "zen3"), ("AuthenticAMD", 0x19, 0x61, 2, "zen4"),
    ("AuthenticAMD", 0x19, 0xA0, 1, "zen4"), ("AuthenticAMD", 0x1A, 0x44, 0, "zen5"),
    ("AuthenticAMD", 0x1A, 0x24, 0, "zen5-mobile"), ("GenuineIntel", 6, 0x55, 4, "skylake-sp"),
    ("GenuineIntel", 6, 0x55, 7, "cascadelake-sp"), ("GenuineIntel", 6, 0x6A, 6, "icelake-sp"),
    ("GenuineIntel", 6, 0xCF, 2, "emeraldrapids"), ("GenuineIntel", 6, 0xAD, 1, "graniterapids"),
    ("AuthenticAMD", 0x17, 0x01, 2, None), ("GenuineIntel", 6, 0x55, 11, None), ("GenuineIntel", 6, 0xAF, 3, None),
    ("CentaurHauls", 6, 0x0F, 0, None)])
def test_microarchitecture_table(vendor, family, model, stepping, key):
    m = microarch.x86(vendor, family, model, stepping)
    assert m.key == key
    if key is None:
        assert m.note and m.name


def test_skylake_sp_says_the_fma_unit_count_is_unknown():
    assert "one or two 512-bit FMA units" in microarch.x86("GenuineIntel", 6, 0x55, 4).note


def test_arm_parts():
    assert microarch.arm(0x41, 0xD4F).key == "neoverse-v2"          # Grace
    assert microarch.arm(0x41, 0xD40).key == "neoverse-v1"          # Graviton3
    assert microarch.arm(0x41, 0xD0C).key == "neoverse-n1"
    m = microarch.arm(0x41, 0xD84)
    assert m.key is None and "V3" in m.name and "not in" in m.note


def test_neoverse_v2_facts_from_its_cpuinfo(monkeypatch):
    from accelkern.hostcpu import facts
    text = ("processor\t: 0\nBogoMIPS\t: 2000.00\nFeatures\t: fp asimd evtstrm aes sve sve2 bf16 i8mm asimddp\n"
            "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd4f\n")
    monkeypatch.setattr(facts.platform, "machine", lambda: "aarch64")
    f = facts.read_facts(cpu_module=None, cpuinfo_text=text)
    assert f.uarch == "neoverse-v2" and f.vendor == "Arm"
    assert {"sve2", "bf16", "i8mm"} <= set(f.throughput_features)
    assert any("x86-64 only" in n for n in f.notes)


def _sysfs(tmp_path, cpus):
    """cpu -> (package, core) topology tree, and one NUMA node holding them all."""
    root = tmp_path / "cpu"
    for cpu, (pkg, core) in cpus.items():
        t = root / f"cpu{cpu}" / "topology"
        t.mkdir(parents=True)
        (t / "physical_package_id").write_text(f"{pkg}\n")
        (t / "core_id").write_text(f"{core}\n")
    node = tmp_path / "node" / "node0"
    node.mkdir(parents=True)
    (node / "cpulist").write_text(",".join(map(str, cpus)) + "\n")
    return str(root), str(tmp_path / "node")


def test_topology_two_sockets_with_smt(tmp_path):
    # 2 sockets x 2 cores x 2 threads; Linux numbers the siblings after all first threads
    cpus = {0: (0, 0), 1: (0, 1), 2: (1, 0), 3: (1, 1), 4: (0, 0), 5: (0, 1), 6: (1, 0), 7: (1, 1)}
    root, nodes = _sysfs(tmp_path, cpus)
    t = topology.read_topology(root, nodes, cpus=cpus)
    assert (t.physical_cores, t.threads_per_core, t.sockets, t.numa_nodes) == (4, 2, 2, 1)
    assert t.one_cpu_per_core() == [0, 2, 1, 3]          # one thread per core, sockets alternated
    assert t.one_cpu_per_core(2) == [0, 2]                # fewer threads: one per socket first


def test_topology_without_sysfs_counts_each_cpu_as_a_core(tmp_path):
    t = topology.read_topology(str(tmp_path / "none"), str(tmp_path / "none"), cpus=[0, 1, 2])
    assert t.physical_cores == 3 and "each counted as its own core" in t.source and t.numa_nodes is None


def test_clock_from_synthetic_chain_timings():
    assert clock.mhz_from_chain(4e9, 1.0) == pytest.approx(4000)
    assert clock.mhz_from_chain(2e8, 0.05) == pytest.approx(4000)
    assert clock.mhz_from_chain(0, 1.0) is None and clock.mhz_from_chain(1e6, 0) is None
    assert clock.mhz_from_cycles(3.1e9, 1.0) == pytest.approx(3100)
    # three runs on two cores: a preempted outlier on core 1 does not move its median
    r = clock.aggregate([0, 1], [[3000, 3100], [3010, 1500], [2990, 3090]])
    assert dict(r.per_cpu_mhz) == {0: 3000, 1: 3090}
    assert r.mhz == pytest.approx(3045) and r.spread == pytest.approx((3100 - 1500) / 3005)
    assert clock.aggregate([0], [[None], [None]]).mhz is None


class _FakeChain:
    """accelkern._cpu's chain_clock stand-in: a core at `mhz` that was on its core half the time."""
    CHAIN_ADDS_PER_PASS = 200

    def __init__(self, mhz):
        self.mhz = mhz

    def chain_clock(self, cpus, passes):
        cpu_s = passes * 200 / (self.mhz * 1e6)
        return {"seconds": [2 * cpu_s] * len(cpus), "cpu_seconds": [cpu_s] * len(cpus), "adds": passes * 200.0}


def test_measure_clock_reads_the_clock_over_time_on_core_and_says_it_was_preempted():
    r = clock.measure_clock([0, 1], cpu_module=_FakeChain(3500), runs=3)
    assert r.mhz == pytest.approx(3500) and r.on_cpu == pytest.approx(0.5)
    assert "50% of the time" in r.method and "add chain" in r.method


def test_nominal_clock_sources(tmp_path):
    assert clock.nominal_mhz("model name\t: Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz\ncpu MHz : 1000.0\n",
                             str(tmp_path)) == (2500.0, "brand string")
    mhz, src = clock.nominal_mhz("model name\t: AMD EPYC\ncpu MHz\t\t: 2596.122\n", str(tmp_path))
    assert mhz == pytest.approx(2596.122) and "cpu MHz" in src
    f = tmp_path / "cpu0" / "cpufreq"
    f.mkdir(parents=True)
    (f / "base_frequency").write_text("2100000\n")
    assert clock.nominal_mhz("", str(tmp_path)) == (2100.0, "cpufreq base_frequency")


def test_torch_path_rules():
    log = ("onednn_verbose,v1,primitive,info,template:operation,engine,primitive,implementation\n"
           "onednn_verbose,v1,primitive,exec,cpu,matmul,brg_matmul:avx512_core_amx,undef,src:bf16,,64x64:64x64,1.2\n")
    assert onednn_impls(log) == ["matmul brg_matmul:avx512_core_amx"]
    assert blas_name("BLAS_INFO=mkl, BUILD_TYPE=Release") == "MKL"
    assert blas_name("BLAS_INFO=open, X") == "OpenBLAS" and blas_name("nothing") is None
    zen3 = frozenset({"fma", "avx2"})
    p = decide("int8", [], "MKL", zen3)
    assert p.fallback and "AVX512_VNNI" in p.why and "fallback" in p.label()
    assert decide("fp32", [], "MKL", zen3).path == "MKL sgemm" and not decide("fp64", [], "MKL", zen3).fallback
    assert decide("fp8", ["matmul x"], "MKL", zen3).fallback           # software on every x86 CPU
    assert decide("bf16", ["matmul brg_matmul:avx512_core_bf16"], "MKL", zen3).path.endswith("avx512_core_bf16")
    assert decide("fp16", [], "MKL", zen3).fallback
