"""CPU topology from sysfs (/sys/devices/system/cpu/cpu*/topology, /sys/devices/system/node): physical
cores, threads per core, sockets and NUMA nodes of the CPUs this process may use, and one CPU per physical
core to pin worker threads to (two threads on one core would share its execution units).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from accelkern.hostcpu.caches import SYSFS_CPU, parse_cpu_list

SYSFS_NODE = "/sys/devices/system/node"


@dataclass(frozen=True)
class Topology:
    cpus: tuple              # CPU numbers this process may use
    cores: tuple             # (package, core) of each physical core among them, sorted
    core_of: dict            # cpu -> (package, core)
    numa_nodes: int | None   # NUMA nodes with CPUs (None: unknown)
    source: str              # where it came from, or why it is a guess

    @property
    def physical_cores(self) -> int:
        return len(self.cores)

    @property
    def sockets(self) -> int:
        return len({p for p, _ in self.cores})

    @property
    def threads_per_core(self) -> int:
        counts = {}
        for key in self.core_of.values():
            counts[key] = counts.get(key, 0) + 1
        return max(counts.values()) if counts else 1

    def one_cpu_per_core(self, max_threads: int | None = None) -> list[int]:
        """The lowest-numbered usable CPU of each physical core, cores in (package, core) order, spread over
        sockets first when fewer than all are asked for."""
        first = {}
        for cpu in sorted(self.cpus):
            first.setdefault(self.core_of[cpu], cpu)
        by_pkg = {}
        for key in self.cores:
            by_pkg.setdefault(key[0], []).append(first[key])
        order = []
        for i in range(max((len(v) for v in by_pkg.values()), default=0)):
            order += [v[i] for v in by_pkg.values() if i < len(v)]
        return order if max_threads is None else order[:max_threads]


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _usable_cpus(root: str) -> list[int]:
    try:
        present = {int(d[3:]) for d in os.listdir(root) if d.startswith("cpu") and d[3:].isdigit()}
    except OSError:
        present = set()
    try:
        mine = set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        mine = present or set(range(os.cpu_count() or 1))
    return sorted(mine & present) if present & mine else sorted(mine)


def read_topology(root: str = SYSFS_CPU, node_root: str = SYSFS_NODE, cpus=None) -> Topology:
    """Topology of `cpus` (default: this process's affinity) from sysfs trees rooted at root/node_root."""
    cpus = sorted(cpus) if cpus is not None else _usable_cpus(root)
    core_of, guessed = {}, []
    for cpu in cpus:
        base = os.path.join(root, f"cpu{cpu}", "topology")
        pkg = _read_int(os.path.join(base, "physical_package_id"))
        core = _read_int(os.path.join(base, "core_id"))
        if pkg is None or core is None:
            guessed.append(cpu)
            pkg, core = 0, 1_000_000 + cpu    # unknown: count it as its own core
        core_of[cpu] = (pkg, core)
    nodes = None
    try:
        with_cpus = 0
        for d in os.listdir(node_root):
            if d.startswith("node") and d[4:].isdigit():
                try:
                    with open(os.path.join(node_root, d, "cpulist")) as f:
                        if parse_cpu_list(f.read()) & set(cpus):
                            with_cpus += 1
                except (OSError, ValueError):
                    continue
        nodes = with_cpus or None
    except OSError:
        pass
    source = root if not guessed else (f"{root}; no topology for CPU(s) {', '.join(map(str, guessed))}: "
                                       "each counted as its own core")
    return Topology(cpus=tuple(cpus), cores=tuple(sorted(set(core_of.values()))), core_of=core_of,
                    numa_nodes=nodes, source=source)


def one_cpu_per_core(max_threads: int | None = None) -> list[int]:
    """CPU numbers, one per physical core of this process's CPUs (at most max_threads of them)."""
    return read_topology().one_cpu_per_core(max_threads)
