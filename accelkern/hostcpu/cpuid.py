"""CPUID decoding: the one place the registers are read into facts. Input is raw registers (from
accelkern._cpu.cpuid on this machine, or a fixture), so every decoding rule is testable on any machine.

Bits from the Intel SDM vol. 2A (CPUID) and AMD APM vol. 3 (CPUID Fn0000_0007 and Fn0000_0001).
"""
from __future__ import annotations

from dataclasses import dataclass, field

# (leaf, subleaf, register, bit) -> feature name, spelled as Linux spells its /proc/cpuinfo flag
FEATURE_BITS = {
    (1, 0, "ecx", 12): "fma",
    (1, 0, "ecx", 28): "avx",
    (1, 0, "ecx", 29): "f16c",
    (7, 0, "ebx", 5): "avx2",
    (7, 0, "ebx", 16): "avx512f",
    (7, 0, "ebx", 17): "avx512dq",
    (7, 0, "ebx", 21): "avx512ifma",
    (7, 0, "ebx", 28): "avx512cd",
    (7, 0, "ebx", 30): "avx512bw",
    (7, 0, "ebx", 31): "avx512vl",
    (7, 0, "ecx", 1): "avx512vbmi",
    (7, 0, "ecx", 11): "avx512_vnni",
    (7, 0, "ecx", 12): "avx512_bitalg",
    (7, 0, "ecx", 14): "avx512_vpopcntdq",
    (7, 0, "edx", 8): "avx512_vp2intersect",
    (7, 0, "edx", 22): "amx_bf16",
    (7, 0, "edx", 23): "avx512_fp16",
    (7, 0, "edx", 24): "amx_tile",
    (7, 0, "edx", 25): "amx_int8",
    (7, 1, "eax", 4): "avx_vnni",
    (7, 1, "eax", 5): "avx512_bf16",
    (7, 1, "eax", 21): "amx_fp16",
    (7, 1, "edx", 4): "avx_vnni_int8",
    (7, 1, "edx", 5): "avx_ne_convert",
}

# XCR0 state components the OS must save before a register file may be used
XCR0_YMM = (1 << 1) | (1 << 2)                  # SSE + AVX state
XCR0_ZMM = (1 << 5) | (1 << 6) | (1 << 7)       # opmask, upper ZMM0-15, ZMM16-31
XCR0_TILE = (1 << 17) | (1 << 18)               # XTILECFG, XTILEDATA


def _needs_state(name: str) -> int:
    if name.startswith("amx"):
        return XCR0_TILE
    if name.startswith("avx512"):
        return XCR0_ZMM | XCR0_YMM
    if name in ("avx", "avx2", "fma", "f16c", "avx_vnni", "avx_vnni_int8", "avx_ne_convert"):
        return XCR0_YMM
    return 0


@dataclass(frozen=True)
class CpuidInfo:
    vendor: str                       # 'GenuineIntel', 'AuthenticAMD', ...
    family: int                       # display family (base + extended where the SDM/APM say so)
    model: int                        # display model
    stepping: int
    brand: str | None                 # the brand string, when the CPU (or VM) gives one
    features: frozenset = frozenset()          # usable: in CPUID and saved by the OS (XCR0)
    disabled_by_os: frozenset = frozenset()    # in CPUID but the OS does not save their registers
    hypervisor: bool = False
    notes: tuple = field(default=())

    @property
    def vendor_name(self) -> str:
        return {"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon"}.get(self.vendor, self.vendor)


def _reg(regs: dict, leaf: int, sub: int, name: str) -> int:
    r = regs.get((leaf, sub))
    if r is None:
        return 0
    return r[("eax", "ebx", "ecx", "edx").index(name)]


def _text(*words: int) -> str:
    return b"".join(int(w).to_bytes(4, "little") for w in words).decode("ascii", "replace")


def display_family_model(eax1: int) -> tuple[int, int, int]:
    """(family, model, stepping) from leaf 1 EAX: the extended fields are added for family 0xF (and the
    extended model for families 6 and 0xF), as both vendors define it."""
    stepping = eax1 & 0xF
    model = (eax1 >> 4) & 0xF
    family = (eax1 >> 8) & 0xF
    ext_model = (eax1 >> 16) & 0xF
    ext_family = (eax1 >> 20) & 0xFF
    if family == 0xF:
        family += ext_family
    if family in (0x6, 0xF) or family > 0xF:
        model += ext_model << 4
    return family, model, stepping


def decode(regs: dict, xcr0: int) -> CpuidInfo:
    """Decode raw registers: `regs` maps (leaf, subleaf) -> (eax, ebx, ecx, edx) for leaves 0, 1, 7/0, 7/1
    and 0x80000000..0x80000004 (missing leaves read as zeros); `xcr0` is XGETBV(0)."""
    r0 = regs.get((0, 0), (0, 0, 0, 0))
    vendor = _text(r0[1], r0[3], r0[2]).strip("\x00")
    max_leaf = r0[0]
    family, model, stepping = display_family_model(_reg(regs, 1, 0, "eax"))
    notes = []
    cpuid_has = set()
    for (leaf, sub, reg, bit), name in FEATURE_BITS.items():
        if leaf > max_leaf:
            continue
        if leaf == 7 and sub == 1 and _reg(regs, 7, 0, "eax") < 1:
            continue  # subleaf 1 exists only when leaf 7/0 EAX says so
        if _reg(regs, leaf, sub, reg) >> bit & 1:
            cpuid_has.add(name)
    osxsave = bool(_reg(regs, 1, 0, "ecx") >> 27 & 1)
    usable, disabled = set(), set()
    for name in cpuid_has:
        need = _needs_state(name)
        if need and (not osxsave or (xcr0 & need) != need):
            disabled.add(name)
        else:
            usable.add(name)
    if disabled:
        notes.append("in CPUID but not enabled by the OS (XCR0): " + ", ".join(sorted(disabled)))
    brand = None
    if regs.get((0x80000000, 0), (0,))[0] >= 0x80000004:
        words = []
        for leaf in (0x80000002, 0x80000003, 0x80000004):
            words += list(regs.get((leaf, 0), (0, 0, 0, 0)))
        brand = " ".join(_text(*words).replace("\x00", " ").split()) or None
    hypervisor = bool(_reg(regs, 1, 0, "ecx") >> 31 & 1)
    return CpuidInfo(vendor=vendor, family=family, model=model, stepping=stepping, brand=brand,
                     features=frozenset(usable), disabled_by_os=frozenset(disabled), hypervisor=hypervisor,
                     notes=tuple(notes))


LEAVES = ((0, 0), (1, 0), (7, 0), (7, 1), (0x80000000, 0), (0x80000002, 0), (0x80000003, 0), (0x80000004, 0))


def read_registers(cpu_module) -> tuple[dict, int] | None:
    """The raw leaves decode() needs, read through accelkern._cpu on this machine; None off x86."""
    if cpu_module.cpuid(0, 0) is None:
        return None
    regs = {leaf: tuple(cpu_module.cpuid(*leaf)) for leaf in LEAVES}
    return regs, int(cpu_module.xgetbv0())
