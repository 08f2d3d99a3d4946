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
# Tensor-core paths use the dtype name; SIMT (non-tensor) paths carry a _simt suffix.
PER_CLOCK_PER_SM = {
    "sm_80": {
        "fp64": 64, "fp64_tensor": 128, "fp32": 128, "tf32": 1024, "fp16": 2048, "bf16": 2048,
        "int8": 4096, "fp16_simt": 512, "bf16_simt": 256, "int32_simt": 128,
    },
    "sm_90": {
        "fp64": 128, "fp64_tensor": 256, "fp32": 256, "tf32": 2048, "fp16": 4096, "bf16": 4096,
        "fp8": 8192, "int8": 8192, "fp16_simt": 512, "bf16_simt": 512, "int32_simt": 128,
    },
}


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


def per_clock_per_sm(arch: str | None, dtype: str) -> float | None:
    """Architectural dense FLOP/clk/SM for a dtype on 'sm_80'/'sm_90' (sm_9x -> sm_90), else None."""
    if not arch:
        return None
    table = PER_CLOCK_PER_SM.get(arch) or PER_CLOCK_PER_SM.get(arch[:4] + "0")
    return None if table is None else table.get(dtype)


def peak_at_clock_tflops(arch: str | None, dtype: str, sms: int, clock_mhz: float) -> float | None:
    """Peak TFLOPS the architecture allows at a given SM clock: FLOP/clk/SM x SMs x clock."""
    per = per_clock_per_sm(arch, dtype)
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
    per = per_clock_per_sm(spec.arch, dtype)
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
