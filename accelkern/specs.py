"""Vendor spec DB (data/specs.json), lookup by reported device name, and derived peaks.

Units: peaks in TFLOPS (TOPS for int8, dense, no sparsity), bandwidth in bytes/s unless a name
says GB/s, clocks in MHz.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from accelkern.errors import AccelkernError

DTYPES = ("fp64", "fp64_tensor", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")

# Dense FLOP (or int op) per clock per SM, as the architecture defines it. An FMA counts 2.
# Tensor-core paths use the dtype name (fp16, bf16, tf32, fp8: with fp32 accumulate; fp16_acc16: fp16 with
# fp16 accumulate); SIMT (non-tensor) paths carry a _simt suffix. sm_86 and sm_89 hold only what every
# product of the architecture shares (the SIMT rates): their tensor rates differ by product (below).
_GA10X_AD10X_SIMT = {"fp64": 4, "fp32": 256, "fp16_simt": 256, "bf16_simt": 256, "int32_simt": 128}
PER_CLOCK_PER_SM = {
    "sm_80": {
        "fp64": 64, "fp64_tensor": 128, "fp32": 128, "tf32": 1024, "fp16": 2048, "fp16_acc16": 2048, "bf16": 2048,
        "int8": 4096, "fp16_simt": 512, "bf16_simt": 256, "int32_simt": 128,
    },
    "sm_86": dict(_GA10X_AD10X_SIMT),
    "sm_89": dict(_GA10X_AD10X_SIMT),
    "sm_90": {
        "fp64": 128, "fp64_tensor": 256, "fp32": 256, "tf32": 2048, "fp16": 4096, "fp16_acc16": 4096, "bf16": 4096,
        "fp8": 8192, "int8": 8192, "fp16_simt": 512, "bf16_simt": 512, "int32_simt": 128,
    },
}


@dataclass(frozen=True)
class ProductRates:
    """Tensor-core FLOP/clk/SM of the products of one architecture whose device names match `pattern`
    (on the normalized name), derived from the vendor's dense figures over SMs x boost clock."""
    family: str
    pattern: str
    rates: dict
    source: str


# GA10x/AD10x tensor rates per product: GeForce runs fp32-accumulate tensor math (fp16, bf16, tf32, fp8) at
# half the rate of fp16-accumulate, the professional and data-center parts at full rate -- except the L40,
# whose datasheet gives the halved rates for every dtype. No fp64 tensor path on either architecture.
TENSOR_RATES_BY_PRODUCT = {
    "sm_86": (
        ProductRates("GeForce", r"geforce", {"fp16": 512, "bf16": 512, "tf32": 256, "fp16_acc16": 1024, "int8": 2048},
                     "GA102 whitepaper, RTX 3090 (82 SMs, 1695 MHz): fp16/bf16 with fp32 accumulate 71 TFLOPS, "
                     "fp16 accumulate 142, tf32 35.6, int8 284 TOPS"),
        ProductRates("professional/data center", r"^(a10|a40|rtx a4000|rtx a6000)$",
                     {"fp16": 1024, "bf16": 1024, "tf32": 512, "fp16_acc16": 1024, "int8": 2048},
                     "A40 datasheet (84 SMs, 1740 MHz): fp16/bf16 149.7 TFLOPS, tf32 74.8, int8 299.3 TOPS; "
                     "GA102 whitepaper, RTX A6000"),
    ),
    "sm_89": (
        ProductRates("GeForce", r"geforce",
                     {"fp16": 512, "bf16": 512, "tf32": 256, "fp16_acc16": 1024, "fp8": 1024, "int8": 2048},
                     "Ada whitepaper, RTX 4090 (128 SMs, 2520 MHz): fp16/bf16 with fp32 accumulate 165.2 TFLOPS, "
                     "fp16 accumulate 330.3, fp8 with fp32 accumulate 330.3, tf32 82.6, int8 660.6 TOPS"),
        ProductRates("L40", r"^l40$", {"fp16": 512, "bf16": 512, "tf32": 256, "fp8": 1024, "int8": 1024},
                     "L40 datasheet (142 SMs, 2490 MHz): fp16/bf16 181.05 TFLOPS, tf32 90.5, fp8 362, int8 362 TOPS"),
        ProductRates("data center/professional", r"^(l4|l40s|rtx 6000 ada generation)$",
                     {"fp16": 1024, "bf16": 1024, "tf32": 512, "fp16_acc16": 1024, "fp8": 2048, "int8": 2048},
                     "L40S datasheet (142 SMs): fp16/bf16 362.05 TFLOPS, tf32 183, fp8 733; L4 (58 SMs, 2040 MHz): "
                     "fp16 121, fp8 242.5, int8 242.5 TOPS"),
    ),
}


def _table_arch(arch: str | None) -> str | None:
    """'sm_90a' -> 'sm_90' (the arch-specific target is the same SM); archs without a table -> None."""
    if not arch:
        return None
    if arch in PER_CLOCK_PER_SM:
        return arch
    base = arch.rstrip("af")
    return base if base in PER_CLOCK_PER_SM else None


def _product_rates(arch: str, product: str | None) -> ProductRates | None:
    if not product:
        return None
    name = normalize_name(product)
    for p in TENSOR_RATES_BY_PRODUCT.get(arch, ()):
        if re.search(p.pattern, name):
            return p
    return None


@dataclass(frozen=True)
class Spec:
    key: str
    name: str
    vendor: str
    arch: str
    sms: int | None
    boost_clock_mhz: float | None
    peaks_tflops: dict
    memory_gb: float
    memory_type: str
    memory_bw_gbps: float
    tdp_w: float | None
    source: str
    match: tuple = field(default=(), repr=False)
    unpublished: str | None = None
    # CPU entries only (kind "cpu"); a GPU entry leaves them at their defaults
    kind: str = "gpu"
    cores: int | None = None
    sockets: int | None = None
    base_clock_mhz: float | None = None
    all_core_boost_mhz: float | None = None
    memory_channels: int | None = None
    memory_mts: float | None = None
    fma_units: int | None = None

    def peak(self, dtype: str) -> float | None:
        """Dense datasheet peak in TFLOPS for a dtype, or None when the vendor gives none."""
        return self.peaks_tflops.get(dtype)

    @property
    def memory_bw_bytes_s(self) -> float:
        return self.memory_bw_gbps * 1e9

    def why_no_peak(self, dtype: str) -> str:
        if self.unpublished:
            return self.unpublished
        return f"{self.name} has no {dtype} rate in its datasheet"


def normalize_name(name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'h100 80gb hbm3' (vendor prefix and spacing removed)."""
    n = " ".join(name.strip().lower().replace("_", " ").split())
    for prefix in ("nvidia ", "tesla "):
        if n.startswith(prefix):
            n = n[len(prefix):]
    return n


def normalize_cpu_name(name: str) -> str:
    """/proc/cpuinfo model name -> matching form: 'Intel(R) Xeon(R) Platinum 8180 CPU @ 2.50GHz' ->
    'intel xeon platinum 8180'; 'AMD EPYC 9654 96-Core Processor' -> 'amd epyc 9654 96-core processor'."""
    n = name.lower().replace("(r)", " ").replace("(tm)", " ").replace("_", " ")
    n = re.sub(r"\s*(cpu\s*)?@\s*[\d.]+\s*[gm]hz\s*$", "", n)
    n = " ".join(n.split())
    return n[:-4] if n.endswith(" cpu") else n


@lru_cache(maxsize=1)
def _every_spec() -> tuple[Spec, ...]:
    text = resources.files("accelkern").joinpath("data/specs.json").read_text()
    specs = []
    for d in json.loads(text)["devices"]:
        d = dict(d)
        d["match"] = tuple(re.compile(p) for p in d["match"])
        if d.get("kind") == "cpu":
            # a CPU has cores, not SMs; its memory capacity belongs to the machine, not the part
            d.setdefault("sms", None)
            d.setdefault("memory_gb", None)
        specs.append(Spec(**d))
    return tuple(specs)


def all_specs(kind: str | None = "gpu") -> tuple[Spec, ...]:
    """Datasheet entries of one kind: 'gpu' (the accelerator cards; the default, as before CPU entries existed),
    'cpu', or None for every entry."""
    return tuple(s for s in _every_spec() if kind is None or s.kind == kind)


def cpu_specs() -> tuple[Spec, ...]:
    """The CPU datasheet entries (kind 'cpu')."""
    return all_specs("cpu")


def _names(s: Spec) -> tuple[str, ...]:
    return (s.key, normalize_name(s.name)) + ((normalize_cpu_name(s.name),) if s.kind == "cpu" else ())


def by_key(key: str) -> Spec:
    """Spec (GPU or CPU) by key or by (normalized) display name; AccelkernError lists the valid keys."""
    want = normalize_name(key)
    for s in _every_spec():
        if want in _names(s) or (s.kind == "cpu" and normalize_cpu_name(key) in _names(s)):
            return s
    matched = match_device_name(key)
    if matched:
        return matched
    keys = ", ".join(s.key for s in _every_spec())
    raise AccelkernError(f"unknown spec '{key}'; known: {keys}")


def match_device_name(reported: str) -> Spec | None:
    """The spec whose patterns match the name a device reports (a GPU's name, or a CPU's /proc/cpuinfo model
    name), or None."""
    n, c = normalize_name(reported), normalize_cpu_name(reported)
    for s in _every_spec():
        if any(p.search(c if s.kind == "cpu" else n) for p in s.match):
            return s
    return None


def lookup(reported_name: str | None, override: str | None = None) -> tuple[Spec | None, str]:
    """(spec, how it was found) for a device; an override (`--spec NAME`) wins over the name."""
    if override:
        return by_key(override), f"--spec {override}"
    if not reported_name:
        return None, "no device name"
    s = match_device_name(reported_name)
    if s is None:
        return None, (f"unknown device '{reported_name}': no spec matched; pass --spec NAME "
                      f"(see `accelkern info --list-specs`) to compare against a datasheet")
    return s, f"matched '{reported_name}'"


def per_clock_per_sm(arch: str | None, dtype: str, product: str | None = None) -> float | None:
    """Architectural dense FLOP/clk/SM for a dtype on an arch ('sm_80', 'sm_86', 'sm_89', 'sm_90'/'sm_90a'),
    or None when there is no per-clock table for it (per_clock_note says why). `product`: the device name,
    which picks the tensor rates on sm_86/sm_89, where they differ between products."""
    key = _table_arch(arch)
    if key is None:
        return None
    rate = PER_CLOCK_PER_SM[key].get(dtype)
    if rate is None and key in TENSOR_RATES_BY_PRODUCT:
        p = _product_rates(key, product)
        rate = p.rates.get(dtype) if p else None
    return rate


def per_clock_note(arch: str | None, dtype: str, product: str | None = None) -> str | None:
    """Why per_clock_per_sm has no figure (None when it has one)."""
    if per_clock_per_sm(arch, dtype, product) is not None:
        return None
    key = _table_arch(arch)
    if key is None:
        return f"no per-clock table for {arch or 'this device'}"
    if key in TENSOR_RATES_BY_PRODUCT and dtype not in PER_CLOCK_PER_SM[key]:
        p = _product_rates(key, product)
        if p is None:
            known = "; ".join(f"{r.family} ({r.pattern})" for r in TENSOR_RATES_BY_PRODUCT[key])
            return (f"no per-clock table for {dtype} on {key} {product or ''}".rstrip()
                    + f": its tensor rate differs between products (known: {known})")
        return f"no per-clock table: {key} ({p.family}) has no {dtype} tensor-core rate"
    return f"no per-clock table: {key} has no {dtype} rate"


def peak_at_clock_tflops(arch: str | None, dtype: str, sms: int, clock_mhz: float,
                         product: str | None = None) -> float | None:
    """Peak TFLOPS the architecture allows at a given SM clock: FLOP/clk/SM x SMs x clock."""
    per = per_clock_per_sm(arch, dtype, product)
    if per is None or not sms or not clock_mhz:
        return None
    return per * sms * clock_mhz * 1e6 / 1e12


def flop_per_clk_per_sm(tflops: float, sms: int, clock_mhz: float) -> float | None:
    """Measured TFLOPS restated per SM per clock (at the observed clock)."""
    if not tflops or not sms or not clock_mhz:
        return None
    return tflops * 1e12 / (sms * clock_mhz * 1e6)


def spec_clock_mhz(spec: Spec, dtype: str) -> float | None:
    """The SM clock the vendor's figure implies for a dtype (spec / (FLOP/clk/SM x SMs))."""
    per = per_clock_per_sm(spec.arch, dtype, spec.name)
    peak = spec.peak(dtype)
    if per is None or peak is None or not spec.sms:
        return None
    return peak * 1e12 / (per * spec.sms) / 1e6


def theoretical_bandwidth_bytes_s(mem_clock_mhz: float, bus_width_bits: int) -> float:
    """DRAM peak from the reported memory clock: clock x bus width x 2 (double data rate)."""
    if mem_clock_mhz <= 0 or bus_width_bits <= 0:
        raise ValueError("memory clock and bus width must be positive")
    return mem_clock_mhz * 1e6 * (bus_width_bits / 8) * 2


def cuda_arch(cc: tuple[int, int] | None) -> str | None:
    return None if cc is None else f"sm_{cc[0]}{cc[1]}"


# ---- CPUs: per-core, per-cycle rates by microarchitecture (data/cpu_rates.json) ----------------------------------
# The keys the CPUID decoder and the CPU kernels use; the data file may hold only these.
CPU_DTYPES = ("fp64", "fp32", "bf16", "fp16", "int8")
CPU_UARCHS = ("zen2", "zen3", "zen4", "zen5", "zen5-mobile", "skylake-sp", "cascadelake-sp", "icelake-sp",
              "sapphirerapids", "emeraldrapids", "graniterapids", "neoverse-n1", "neoverse-v1", "neoverse-v2",
              "haswell", "skylake", "alderlake-p")
CPU_PATHS = {   # path -> the dtypes it computes
    "avx2_fma": ("fp64", "fp32"), "avx512_fma": ("fp64", "fp32"), "avx2_fma_add": ("fp64", "fp32"),
    "avx512_fma_add": ("fp64", "fp32"), "neon_fma": ("fp64", "fp32"), "sve_fma": ("fp64", "fp32"),
    "avx512_bf16": ("bf16",), "amx_bf16": ("bf16",), "neon_bfmmla": ("bf16",),
    "avx512_fp16": ("fp16",), "amx_fp16": ("fp16",), "neon_fp16_fma": ("fp16",),
    "avx2_int8": ("int8",), "avx_vnni": ("int8",), "avx512_vnni": ("int8",), "amx_int8": ("int8",),
    "neon_smmla": ("int8",),
}


@dataclass(frozen=True)
class CpuRate:
    """Dense FLOP (int8: ops, multiply and add counted apart) per clock per core of one instruction path on one
    microarchitecture; None when no source gives it (note says why)."""
    uarch: str
    dtype: str
    path: str
    instruction: str
    flop_per_clk_per_core: float | None
    source: str
    note: str


@lru_cache(maxsize=1)
def _cpu_table() -> dict:
    doc = json.loads(resources.files("accelkern").joinpath("data/cpu_rates.json").read_text())
    rates = tuple(CpuRate(**r) for r in doc["rates"])
    for r in rates:   # a data error must fail loudly, not become a silent "unknown"
        if r.uarch not in doc["uarchs"] or r.uarch not in CPU_UARCHS:
            raise ValueError(f"cpu_rates.json: unknown uarch '{r.uarch}'")
        if r.dtype not in CPU_PATHS.get(r.path, ()):
            raise ValueError(f"cpu_rates.json: path '{r.path}' does not compute {r.dtype}")
    return {"paths": doc["paths"], "uarchs": doc["uarchs"], "rates": rates}


def cpu_rates(uarch: str | None) -> tuple[CpuRate, ...]:
    """Every table entry of a microarchitecture, sourced or not (empty for an unknown one)."""
    return tuple(r for r in _cpu_table()["rates"] if r.uarch == uarch)


def _gemm_paths(dtype: str) -> list[str]:
    """Paths a dense kernel can use for a dtype, in table order (the FMA+FADD mixes feed pipes a GEMM cannot)."""
    paths = _cpu_table()["paths"]
    return [p for p, dts in CPU_PATHS.items() if dtype in dts and not paths[p].get("mixed")]


def _best(candidates: list[CpuRate]) -> CpuRate | None:
    order = list(CPU_PATHS)
    sourced = [r for r in candidates if r.flop_per_clk_per_core is not None]
    return max(sourced, key=lambda r: (r.flop_per_clk_per_core, -order.index(r.path)), default=None)


def cpu_rate(uarch: str | None, dtype: str, path: str | None = None) -> CpuRate | None:
    """The sourced rate of one path, or with path None the best sourced rate for the dtype among the paths a dense
    kernel can use (the FMA+FADD mixes excluded); None when there is none (cpu_rate_note says why)."""
    rows = [r for r in cpu_rates(uarch) if r.dtype == dtype]
    if path is not None:
        return _best([r for r in rows if r.path == path])
    return _best([r for r in rows if r.path in _gemm_paths(dtype)])


def _path_note(uarch: str, dtype: str, path: str) -> str:
    info, pinfo = _cpu_table()["uarchs"][uarch], _cpu_table()["paths"][path]
    if pinfo["family"] != info["family"]:
        return f"{path} is an {pinfo['family']} path; {uarch} is an {info['family']} core"
    if pinfo["requires"] not in info["isa"]:
        return f"{path} is not supported by that core: {info['name']} lacks {pinfo['requires']}"
    entry = next((r for r in cpu_rates(uarch) if r.dtype == dtype and r.path == path), None)
    if entry is None:
        return f"unsourced: the table has no {dtype} rate for {path} on {uarch}"
    return entry.note if entry.note.startswith("unsourced") else f"unsourced: {entry.note}"


def cpu_rate_note(uarch: str | None, dtype: str, path: str | None = None) -> str | None:
    """Why cpu_rate has no figure, in words (None when it has one): unknown microarchitecture, a dtype or path the
    table does not have, a path the core does not support, or a rate no source gives."""
    if cpu_rate(uarch, dtype, path) is not None:
        return None
    table = _cpu_table()
    if uarch not in table["uarchs"]:
        if not uarch:
            return "no per-core rate: the CPU's microarchitecture was not identified"
        return f"no per-core rate table for '{uarch}' (the table has: {', '.join(table['uarchs'])})"
    if dtype not in CPU_DTYPES:
        return f"no CPU rate for dtype '{dtype}' (the table has: {', '.join(CPU_DTYPES)})"
    if path is not None:
        if path not in CPU_PATHS:
            return f"unknown instruction path '{path}' (known: {', '.join(CPU_PATHS)})"
        if dtype not in CPU_PATHS[path]:
            return f"path {path} computes {', '.join(CPU_PATHS[path])}, not {dtype}"
        return _path_note(uarch, dtype, path)
    family = table["uarchs"][uarch]["family"]
    notes = [f"{p}: {_path_note(uarch, dtype, p)}" for p in _gemm_paths(dtype) if table["paths"][p]["family"] == family]
    return f"no sourced {dtype} rate on {uarch}: " + "; ".join(notes)


def _for_spec(r: CpuRate, spec: Spec | None) -> CpuRate:
    """A table rate adjusted to a SKU that differs from its uarch's table (fma_units on the AVX-512 paths)."""
    units = _cpu_table()["uarchs"].get(r.uarch, {}).get("avx512_fma_units")
    if (spec is None or not spec.fma_units or not units or spec.fma_units == units or r.flop_per_clk_per_core is None
            or not r.path.startswith("avx512_")):
        return r
    return CpuRate(r.uarch, r.dtype, r.path, r.instruction, r.flop_per_clk_per_core * spec.fma_units / units,
                   f"{r.source}; {spec.name} datasheet entry", f"{spec.name} has {spec.fma_units} AVX-512 FMA unit(s) "
                   f"against the table's {units}: rate scaled to match; table note: {r.note}")


def effective_cpu_rate(uarch: str | None, dtype: str, path: str | None = None,
                       spec: Spec | None = None) -> CpuRate | None:
    """cpu_rate with a datasheet entry's per-SKU override applied (e.g. fma_units: 1 halves the avx512_* rates of a
    Skylake-SP/Cascade Lake SKU); uarch None takes the entry's arch."""
    if uarch is None and spec is not None and spec.kind == "cpu":
        uarch = spec.arch
    rows = [_for_spec(r, spec) for r in cpu_rates(uarch) if r.dtype == dtype]
    if path is not None:
        return _best([r for r in rows if r.path == path])
    return _best([r for r in rows if r.path in _gemm_paths(dtype)])


def cpu_peak_tflops(uarch: str | None, dtype: str, cores: int, clock_mhz: float, path: str | None = None,
                    spec: Spec | None = None) -> float | None:
    """Architectural peak in TFLOPS (TOPS for int8) = cores x FLOP/clk/core x clock (MHz), with the spec's per-SKU
    override applied; None when the rate is unknown (cpu_rate_note says why) or cores/clock are missing."""
    r = effective_cpu_rate(uarch, dtype, path, spec)
    if r is None or not cores or not clock_mhz:
        return None
    return cores * r.flop_per_clk_per_core * clock_mhz * 1e6 / 1e12


def cpu_theoretical_dram_bytes_s(spec: Spec | None, sockets: int | None = None) -> float | None:
    """DRAM peak of a CPU entry in bytes/s = channels x MT/s x 8 B x sockets (sockets: the machine's, default the
    entry's); where the vendor gives bandwidth but no channel count (Grace's LPDDR5X) its per-socket figure x sockets."""
    if spec is None or spec.kind != "cpu":
        return None
    n = sockets or spec.sockets or 1
    if spec.memory_channels and spec.memory_mts:
        return spec.memory_channels * spec.memory_mts * 1e6 * 8 * n
    return spec.memory_bw_gbps * 1e9 * n if spec.memory_bw_gbps else None
