"""Microarchitecture from what the CPU says of itself: CPUID family/model/stepping on x86-64, the MIDR
implementer and part number (/proc/cpuinfo 'CPU implementer', 'CPU part') on Arm. The keys are those of
the per-clock rate table (accelkern/data/cpu_rates.json). The brand string is not used: VMs often hide it.

Model numbers: Intel SDM vol. 4 table 2-1 and Linux arch/x86/include/asm/intel-family.h; AMD family
17h/19h/1Ah model ranges from AMD's revision guides and Linux's per-family notes; Arm part numbers from each
core's technical reference manual (MIDR_EL1).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Microarch:
    key: str | None          # rate-table key ('zen4', 'sapphirerapids', 'neoverse-v2', ...) or None
    name: str                # in words ('AMD Zen 4', 'unknown Intel family 6 model 0xbe')
    note: str | None = None  # what the key cannot tell (e.g. a 1-FMA Skylake-SP SKU)


def _in(model: int, *ranges) -> bool:
    return any(lo <= model <= hi for lo, hi in ranges)


def _amd(family: int, model: int) -> Microarch:
    if family == 0x17:
        if _in(model, (0x00, 0x2F)):
            return Microarch(None, "AMD Zen/Zen+", "no rate table for Zen 1 (its 256-bit ops are split in two)")
        return Microarch("zen2", "AMD Zen 2")
    if family == 0x19:
        if _in(model, (0x10, 0x1F), (0x60, 0x7F), (0xA0, 0xAF)):
            return Microarch("zen4", "AMD Zen 4")
        return Microarch("zen3", "AMD Zen 3")
    if family == 0x1A:
        # Strix Point and Krackan Point keep a 256-bit datapath; server and desktop Zen 5 run 512-bit natively
        if _in(model, (0x20, 0x2F), (0x60, 0x6F)):
            return Microarch("zen5-mobile", "AMD Zen 5 (mobile, 256-bit datapath)")
        return Microarch("zen5", "AMD Zen 5")
    return Microarch(None, f"AMD family {family:#x} model {model:#x}", "not in accelkern's microarchitecture table")


_INTEL_FAMILY6 = (
    ((0x3C, 0x3C), (0x3F, 0x3F), (0x45, 0x46)), "haswell", "Intel Haswell",
    ((0x4E, 0x4E), (0x5E, 0x5E), (0x8E, 0x8E), (0x9E, 0x9E), (0xA5, 0xA6)), "skylake", "Intel Skylake (client)",
    ((0x6A, 0x6A), (0x6C, 0x6C)), "icelake-sp", "Intel Ice Lake-SP",
    ((0x8F, 0x8F),), "sapphirerapids", "Intel Sapphire Rapids",
    ((0xCF, 0xCF),), "emeraldrapids", "Intel Emerald Rapids",
    ((0xAD, 0xAE),), "graniterapids", "Intel Granite Rapids",
    ((0x97, 0x97), (0x9A, 0x9A), (0xB7, 0xB7), (0xBA, 0xBA), (0xBF, 0xBF)), "alderlake-p",
    "Intel Alder/Raptor Lake (hybrid; rates of the P-cores)",
)


def _intel(family: int, model: int, stepping: int) -> Microarch:
    if family == 6 and model == 0x55:
        # one model number, three generations told apart by stepping (SDM vol. 4)
        one_fma = "Skylake-SP and Cascade Lake SKUs have one or two 512-bit FMA units; CPUID cannot tell"
        if stepping <= 4:
            return Microarch("skylake-sp", "Intel Skylake-SP", one_fma)
        if stepping <= 7:
            return Microarch("cascadelake-sp", "Intel Cascade Lake", one_fma)
        return Microarch(None, "Intel Cooper Lake", "not in accelkern's rate table (Cascade Lake plus AVX512_BF16)")
    if family == 6:
        table = _INTEL_FAMILY6
        for i in range(0, len(table), 3):
            if _in(model, *table[i]):
                return Microarch(table[i + 1], table[i + 2])
    return Microarch(None, f"Intel family {family:#x} model {model:#x}", "not in accelkern's microarchitecture table")


def x86(vendor: str, family: int, model: int, stepping: int) -> Microarch:
    if vendor in ("AuthenticAMD", "HygonGenuine"):
        return _amd(family, model)
    if vendor == "GenuineIntel":
        return _intel(family, model, stepping)
    return Microarch(None, f"{vendor or 'unknown vendor'} family {family:#x} model {model:#x}",
                     "not in accelkern's microarchitecture table")


_ARM_PARTS = {
    (0x41, 0xD0C): ("neoverse-n1", "Arm Neoverse N1"),
    (0x41, 0xD40): ("neoverse-v1", "Arm Neoverse V1"),
    (0x41, 0xD4F): ("neoverse-v2", "Arm Neoverse V2"),
    (0x41, 0xD49): (None, "Arm Neoverse N2"),
    (0x41, 0xD84): (None, "Arm Neoverse V3"),
    (0x41, 0xD8E): (None, "Arm Neoverse N3"),
}


def arm(implementer: int, part: int) -> Microarch:
    key, name = _ARM_PARTS.get((implementer, part), (None, f"Arm implementer {implementer:#x} part {part:#x}"))
    return Microarch(key, name, None if key else "not in accelkern's microarchitecture table")
