"""The data caches the CPUs of this process can use, from sysfs (/sys/devices/system/cpu/cpu*/cache/index*/:
level, type, size, shared_cpu_list), so a CPU working set can be sized past them.

Virtual machines often report the host's whole last-level cache to a guest of two vCPUs (480 MiB on two
cores was seen): each cache instance is therefore bounded by what is plausible per CPU sharing it
(PER_CPU_BOUND), and the rows say when the reported figure, if real, would not be exceeded.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass

from accelkern.units import format_bytes

SYSFS_CPU = "/sys/devices/system/cpu"
# bytes of one cache level per CPU sharing an instance beyond which a report is not believed (about twice
# the largest per-thread share shipped: 48 KiB L1d, 2 MiB L2 per thread, 6 MiB of 3D-stacked L3 per thread)
PER_CPU_BOUND = {1: 128 << 10, 2: 4 << 20}
PER_CPU_BOUND_LLC = 16 << 20        # level 3 and beyond


@dataclass(frozen=True)
class CacheLevel:
    level: int
    instances: int          # distinct caches of this level that the CPUs in use reach
    sharing: int            # CPUs sharing one instance (the largest count listed)
    reported_bytes: int     # their sizes summed, as sysfs reports them
    usable_bytes: int       # the same after the per-CPU bound

    @property
    def bounded(self) -> bool:
        return self.usable_bytes < self.reported_bytes


@dataclass(frozen=True)
class CpuCaches:
    cpus: tuple             # CPU numbers in use
    levels: tuple = ()      # CacheLevel per level, ascending
    source: str = ""        # where the figures came from, or why there are none

    @property
    def known(self) -> bool:
        return bool(self.levels)

    @property
    def reported_bytes(self) -> int:
        """Data/unified cache the CPUs reach, every level summed (a set larger than this cannot fit)."""
        return sum(c.reported_bytes for c in self.levels)

    @property
    def usable_bytes(self) -> int:
        """The same within the per-CPU plausibility bound: what sizing uses."""
        return sum(c.usable_bytes for c in self.levels)

    @property
    def bounded(self) -> bool:
        return any(c.bounded for c in self.levels)

    def describe(self) -> str:
        """'L1 64 KiB + L2 2 MiB + L3 32 MiB = 34.06 MiB for 2 CPUs' (bounded levels say so)."""
        if not self.known:
            return f"cache sizes unknown ({self.source})"
        parts = []
        for c in self.levels:
            txt = f"L{c.level} {format_bytes(c.usable_bytes)}"
            if c.bounded:
                txt += f" (reported {format_bytes(c.reported_bytes)} for {c.sharing} CPU(s): not plausible)"
            parts.append(txt)
        return f"{' + '.join(parts)} = {format_bytes(self.usable_bytes)} for {len(self.cpus)} CPU(s)"


def parse_size(text: str) -> int:
    """sysfs cache size: '32K', '1024K', '480M', '2G' or plain bytes."""
    t = text.strip().upper()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(t[-1:], 1)
    return int(t.rstrip("KMGB") or 0) * mult


def parse_cpu_list(text: str) -> frozenset:
    """'0-3,8,10-11' -> {0, 1, 2, 3, 8, 10, 11}."""
    out = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _cpus_in(root: str) -> list[int]:
    try:
        return sorted(int(d[3:]) for d in os.listdir(root) if d.startswith("cpu") and d[3:].isdigit())
    except OSError:
        return []


def _cpus_in_use(root: str) -> list[int]:
    present = _cpus_in(root)
    try:
        mine = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = present
    both = [c for c in mine if c in present]
    return both or present


def read_caches(root: str = SYSFS_CPU, cpus=None) -> CpuCaches:
    """The data and unified caches that `cpus` (default: this process's affinity) reach, per level."""
    cpus = sorted(cpus) if cpus is not None else _cpus_in_use(root)
    seen: dict[tuple, tuple[int, int]] = {}   # (level, instance) -> (size, sharing)
    for cpu in cpus:
        base = os.path.join(root, f"cpu{cpu}", "cache")
        try:
            entries = sorted(e for e in os.listdir(base) if e.startswith("index"))
        except OSError:
            continue
        for e in entries:
            d = os.path.join(base, e)
            kind, level, size = (_read(os.path.join(d, name)) for name in ("type", "level", "size"))
            if kind is None or level is None or size is None or kind.lower() == "instruction":
                continue
            try:
                lvl, nbytes = int(level), parse_size(size)
            except ValueError:
                continue
            if nbytes <= 0:
                continue
            shared_text = _read(os.path.join(d, "shared_cpu_list"))
            try:
                shared = parse_cpu_list(shared_text) if shared_text else frozenset({cpu})
            except ValueError:
                shared = frozenset({cpu})
            seen[(lvl, shared or frozenset({cpu}))] = (nbytes, max(1, len(shared)))
    if not seen:
        return CpuCaches(tuple(cpus), (), f"no cache entries under {root}")
    levels = []
    for lvl in sorted({k[0] for k in seen}):
        inst = [v for k, v in seen.items() if k[0] == lvl]
        bound = PER_CPU_BOUND.get(lvl, PER_CPU_BOUND_LLC)
        levels.append(CacheLevel(level=lvl, instances=len(inst), sharing=max(s for _, s in inst),
                                 reported_bytes=sum(n for n, _ in inst),
                                 usable_bytes=sum(min(n, bound * s) for n, s in inst)))
    return CpuCaches(tuple(cpus), tuple(levels), root)


@functools.lru_cache(maxsize=1)
def this_machine() -> CpuCaches:
    """read_caches() of this process, read once."""
    return read_caches()


def cache_note(set_bytes: int, caches: CpuCaches) -> str | None:
    """What a row must say when a CPU working set (all buffers and rotated sets of a call series, bytes)
    may not exceed the caches; None when it clearly does (>= 3x what the CPUs can use, 8x a bounded report)."""
    if not caches.known:
        return f"{caches.describe()}: the working set {format_bytes(set_bytes)} may not exceed the caches"
    usable, reported = caches.usable_bytes, caches.reported_bytes
    if set_bytes < 3 * usable:
        return (f"working set {format_bytes(set_bytes)} is less than 3x the {format_bytes(usable)} of cache these "
                "CPUs can use: part of it may be served from cache")
    if caches.bounded and set_bytes < 8 * reported:
        return (f"sysfs reports {format_bytes(reported)} of cache for {len(caches.cpus)} CPU(s), more than plausible, "
                f"and sizing used {format_bytes(usable)}: if the report is real, the {format_bytes(set_bytes)} "
                "working set may not exceed the caches")
    return None
