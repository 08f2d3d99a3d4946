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


@lru_cache(maxsize=1)
def all_specs() -> tuple[Spec, ...]:
    text = resources.files("accelkern").joinpath("data/specs.json").read_text()
    specs = []
    for d in json.loads(text)["devices"]:
        d = dict(d)
        d["match"] = tuple(re.compile(p) for p in d["match"])
        specs.append(Spec(**d))
    return tuple(specs)


def by_key(key: str) -> Spec:
    """Spec by key or by (normalized) display name; AccelkernError lists the valid keys."""
    want = normalize_name(key)
    for s in all_specs():
        if want in (s.key, normalize_name(s.name)):
            return s
    matched = match_device_name(key)
    if matched:
        return matched
    keys = ", ".join(s.key for s in all_specs())
    raise AccelkernError(f"unknown spec '{key}'; known: {keys}")


def match_device_name(reported: str) -> Spec | None:
    """The spec whose patterns match the name a device reports, or None."""
    n = normalize_name(reported)
    for s in all_specs():
        if any(p.search(n) for p in s.match):
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
