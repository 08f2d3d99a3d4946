"""CpuFacts: what this CPU is and can do, for `accelkern info --device cpu` and the header of every CPU run.
Every field that cannot be read says why in `notes`."""
from __future__ import annotations

import functools
import platform
import re
from dataclasses import dataclass, field

from accelkern.hostcpu import caches as caches_mod
from accelkern.hostcpu import clock as clock_mod
from accelkern.hostcpu import cpuid as cpuid_mod
from accelkern.hostcpu import microarch, topology

# the ISA features that set compute throughput, in the order a reader scans them
THROUGHPUT_FEATURES = ("fma", "avx2", "avx512f", "avx512bw", "avx512vl", "avx512_bf16", "avx512_fp16",
                       "avx512_vnni", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16",
                       "asimd", "sve", "sve2", "bf16", "i8mm", "asimddp", "fphp")


@dataclass
class CpuFacts:
    arch: str                                  # 'x86_64', 'aarch64', ...
    vendor: str | None = None
    model_name: str | None = None              # /proc/cpuinfo 'model name' (a VM may shorten it)
    brand: str | None = None                   # CPUID brand string
    family: int | None = None
    model: int | None = None
    stepping: int | None = None
    uarch: str | None = None                   # rate-table key, None when unknown
    uarch_name: str | None = None
    uarch_note: str | None = None
    features: frozenset = frozenset()          # usable ISA features (CPUID and OS agree), Linux spelling
    hypervisor: bool = False
    physical_cores: int | None = None
    threads_per_core: int | None = None
    sockets: int | None = None
    numa_nodes: int | None = None
    cpus: tuple = ()                           # CPU numbers this process may use
    caches: caches_mod.CpuCaches | None = None
    nominal_mhz: float | None = None
    nominal_source: str | None = None
    clock: clock_mod.ClockReading | None = None    # measured under load (measured_clock())
    notes: list = field(default_factory=list)

    @property
    def throughput_features(self) -> list[str]:
        return [f for f in THROUGHPUT_FEATURES if f in self.features]

    def has(self, *names: str) -> bool:
        return all(n in self.features for n in names)

    def to_dict(self) -> dict:
        return {
            "arch": self.arch, "vendor": self.vendor, "model_name": self.model_name, "brand": self.brand,
            "family": self.family, "model": self.model, "stepping": self.stepping, "uarch": self.uarch,
            "uarch_name": self.uarch_name, "uarch_note": self.uarch_note, "features": sorted(self.features),
            "throughput_features": self.throughput_features, "hypervisor": self.hypervisor,
            "physical_cores": self.physical_cores, "threads_per_core": self.threads_per_core,
            "sockets": self.sockets, "numa_nodes": self.numa_nodes, "cpus": list(self.cpus),
            "caches": None if self.caches is None else [
                {"level": c.level, "instances": c.instances, "sharing": c.sharing,
                 "reported_bytes": c.reported_bytes, "usable_bytes": c.usable_bytes} for c in self.caches.levels],
            "nominal_mhz": self.nominal_mhz, "nominal_source": self.nominal_source,
            "clock_mhz": None if self.clock is None else self.clock.mhz,
            "clock_method": None if self.clock is None else self.clock.method,
            "clock_per_cpu_mhz": None if self.clock is None else dict(self.clock.per_cpu_mhz),
            "notes": list(self.notes),
        }


def _cpuinfo_fields(text: str) -> dict:
    """First value of each /proc/cpuinfo key (lower-case keys)."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() not in out:
            out[k.strip().lower()] = v.strip()
    return out


def _read_cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def _x86_facts(f: CpuFacts, info: dict, cpu_module) -> None:
    regs = cpuid_mod.read_registers(cpu_module) if cpu_module is not None else None
    if regs is None:
        # without the extension: /proc/cpuinfo's flags and family/model (Linux decoded the same CPUID)
        flags = frozenset(info.get("flags", "").split())
        f.features = frozenset(n for n in cpuid_mod.FEATURE_BITS.values() if n in flags)
        f.vendor = info.get("vendor_id")
        try:
            f.family, f.model, f.stepping = (int(info[k]) for k in ("cpu family", "model", "stepping"))
        except (KeyError, ValueError):
            f.notes.append("family/model unknown: no CPUID (accelkern._cpu not built) and /proc/cpuinfo lacks them")
        f.hypervisor = "hypervisor" in flags
        f.notes.append("ISA features from /proc/cpuinfo flags (accelkern._cpu, which reads CPUID, is not built)")
    else:
        d = cpuid_mod.decode(*regs)
        f.vendor, f.family, f.model, f.stepping = d.vendor, d.family, d.model, d.stepping
        f.brand, f.features, f.hypervisor = d.brand, d.features, d.hypervisor
        f.notes += list(d.notes)
    if f.family is not None:
        m = microarch.x86(f.vendor or "", f.family, f.model, f.stepping or 0)
        f.uarch, f.uarch_name, f.uarch_note = m.key, m.name, m.note


def _arm_facts(f: CpuFacts, info: dict) -> None:
    f.features = frozenset(info.get("features", "").split())
    try:
        impl, part = int(info["cpu implementer"], 16), int(info["cpu part"], 16)
    except (KeyError, ValueError):
        f.notes.append("microarchitecture unknown: /proc/cpuinfo has no 'CPU implementer'/'CPU part'")
        return
    m = microarch.arm(impl, part)
    f.vendor = {0x41: "Arm", 0x61: "Apple", 0xC0: "Ampere"}.get(impl, f"implementer {impl:#x}")
    f.uarch, f.uarch_name, f.uarch_note = m.key, m.name, m.note


def read_facts(cpu_module=None, cpuinfo_text: str | None = None) -> CpuFacts:
    """Facts of this machine (the clock not measured: see measured_clock)."""
    if cpu_module is None:
        from accelkern import _cpu_ext
        cpu_module = _cpu_ext.load()
    text = _read_cpuinfo() if cpuinfo_text is None else cpuinfo_text
    info = _cpuinfo_fields(text)
    f = CpuFacts(arch=platform.machine() or "unknown")
    f.model_name = info.get("model name") or None
    if f.arch in ("x86_64", "AMD64", "amd64"):
        _x86_facts(f, info, cpu_module)
    elif f.arch in ("aarch64", "arm64"):
        _arm_facts(f, info)
        f.notes.append("aarch64: accelkern's CPU compute and memory kernels are x86-64 only so far; the torch "
                       "backend still measures this CPU")
    else:
        f.notes.append(f"{f.arch}: no CPUID decoding or CPU kernels for this architecture")
    if f.model_name is None:
        f.model_name = f.brand or f.uarch_name
        if f.model_name is None:
            f.notes.append("model name unknown: neither /proc/cpuinfo nor CPUID gives one")
    topo = topology.read_topology()
    f.cpus = topo.cpus
    f.physical_cores, f.threads_per_core, f.sockets = topo.physical_cores, topo.threads_per_core, topo.sockets
    f.numa_nodes = topo.numa_nodes
    if f.numa_nodes is None:
        f.notes.append("NUMA nodes unknown: /sys/devices/system/node unreadable")
    f.caches = caches_mod.this_machine()
    if not f.caches.known:
        f.notes.append(f"caches unknown: {f.caches.source}")
    f.nominal_mhz, f.nominal_source = clock_mod.nominal_mhz(text)
    if f.nominal_mhz is None:
        f.notes.append(f"nominal clock unknown: {f.nominal_source}")
    if f.uarch is None:
        f.notes.append(f"no per-clock rate table for {f.uarch_name or 'this CPU'}"
                       + (f" ({f.uarch_note})" if f.uarch_note else "")
                       + ": peaks at the clock are left empty; every measurement still runs")
    return f


@functools.lru_cache(maxsize=1)
def cpu_facts() -> CpuFacts:
    """This machine's facts, read once per process (the clock is measured separately)."""
    return read_facts()


def measured_clock(facts: CpuFacts | None = None, cpus=None) -> clock_mod.ClockReading:
    """The clock of every physical core loaded at once (see accelkern.hostcpu.clock)."""
    facts = facts or cpu_facts()
    if cpus is None:
        cpus = topology.read_topology(cpus=facts.cpus).one_cpu_per_core()
    return clock_mod.measure_clock(cpus)


def short_model(facts: CpuFacts) -> str:
    """A compact name for headers: 'AMD EPYC 9654 96-Core Processor' stays; a hidden VM name gets the uarch."""
    name = facts.model_name or "CPU"
    if facts.uarch_name and not re.search(r"\d{3,}", name):
        name = f"{name} ({facts.uarch_name})"
    return name
