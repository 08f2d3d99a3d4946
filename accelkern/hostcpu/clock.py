"""The core clock a CPU really runs at under load, measured without privileges.

Two methods, best first:
  perf cycles   core cycles counted by Linux's perf events over a kernel's own run, divided by its time
                (the clock during that very kernel; many VMs have no virtual PMU);
  add chain     every core at once runs a chain of dependent register-register adds, one cycle each on
                every core accelkern knows (accelkern._cpu, common/clock_chain.h): adds / seconds = Hz,
                the seconds being the thread's time on its core (CLOCK_THREAD_CPUTIME_ID), so a thread that
                another process preempted still reads its core's clock.
The chain gives the clock of a core busy with scalar work; right after a vector kernel (as the peak sweep
runs it) it shows a clock the kernel lowered, since cores keep a lowered clock for a few milliseconds.
Also the nominal clock the system reports, to set beside it. Clocks in MHz.
"""
from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass

CHAIN_RUN_S = 0.01       # one chain run lasts about this long per core
CHAIN_RUNS = 7           # the reading is the median of this many runs


@dataclass(frozen=True)
class ClockReading:
    mhz: float | None                 # mean over the cores of each core's median
    per_cpu_mhz: tuple = ()           # (cpu, MHz) per core
    method: str = ""                  # how it was measured, in words
    spread: float | None = None       # relative (max - min) / median over the runs, all cores
    on_cpu: float | None = None       # fraction of the wall time the chains were on their cores

    def describe(self) -> str:
        if self.mhz is None:
            return f"unknown ({self.method})"
        return f"{self.mhz:.0f} MHz ({self.method})"


def mhz_from_chain(adds: float, seconds: float) -> float | None:
    """MHz of a core that ran `adds` one-cycle dependent adds in `seconds`."""
    if not adds or not seconds or seconds <= 0:
        return None
    return adds / seconds / 1e6


def mhz_from_cycles(cycles: float, seconds: float) -> float | None:
    """MHz from counted core cycles over a span."""
    if not cycles or not seconds or seconds <= 0:
        return None
    return cycles / seconds / 1e6


def aggregate(cpus, runs) -> ClockReading:
    """runs: per run, per CPU (in `cpus` order) MHz (None when unreadable). Median per CPU over runs, mean over
    CPUs; spread = (max - min) / median of all readings."""
    per = []
    allv = []
    for i, cpu in enumerate(cpus):
        vals = [r[i] for r in runs if r[i]]
        if vals:
            per.append((cpu, statistics.median(vals)))
            allv += vals
    if not per:
        return ClockReading(None, (), "no reading")
    mid = statistics.median(allv)
    spread = (max(allv) - min(allv)) / mid if mid else None
    return ClockReading(sum(v for _, v in per) / len(per), tuple(per), "", spread)


def measure_clock(cpus, cpu_module=None, run_s: float = CHAIN_RUN_S, runs: int = CHAIN_RUNS) -> ClockReading:
    """The add-chain clock of every CPU in `cpus` at once (all loaded together, as a multi-core kernel loads
    them). ClockReading(None, ...) with the reason when accelkern._cpu is not built or has no chain here."""
    if cpu_module is None:
        from accelkern import _cpu_ext
        cpu_module = _cpu_ext.load()
        if cpu_module is None:
            return ClockReading(None, (), f"no add chain: {_cpu_ext.error()}")
    cpus = list(cpus)
    adds_per_pass = cpu_module.CHAIN_ADDS_PER_PASS
    probe = cpu_module.chain_clock(cpus, 1000)          # size the runs from a short one
    secs = max(probe["cpu_seconds"]) or 1e-6
    passes = max(1000, int(1000 * run_s / secs))
    out, wall, cpu = [], 0.0, 0.0
    for _ in range(runs):
        r = cpu_module.chain_clock(cpus, passes)
        out.append([mhz_from_chain(r["adds"], s) for s in r["cpu_seconds"]])
        wall += sum(r["seconds"])
        cpu += sum(r["cpu_seconds"])
    reading = aggregate(cpus, out)
    if reading.mhz is None:
        return ClockReading(None, (), "the add chain is not built for this machine")
    on_cpu = min(1.0, cpu / wall) if wall > 0 else None
    method = (f"add chain: {adds_per_pass * passes:,} dependent 1-cycle adds per core on {len(cpus)} core(s) at "
              f"once, over each thread's time on its core, median of {runs} runs")
    if on_cpu is not None and on_cpu < 0.95:
        method += f"; the chains were on their cores {100 * on_cpu:.0f}% of the time (another process competed)"
    return ClockReading(reading.mhz, reading.per_cpu_mhz, method, reading.spread, on_cpu)


def nominal_mhz(cpuinfo_text: str | None = None, sysfs_root: str = "/sys/devices/system/cpu") -> tuple[float | None, str]:
    """(MHz, where from) the system states as this CPU's nominal clock: cpufreq's base_frequency, the
    '@ 2.20GHz' of an Intel brand string, or /proc/cpuinfo's 'cpu MHz' (in a VM often the host's TSC rate)."""
    for name in ("base_frequency", "cpuinfo_max_freq"):
        try:
            with open(os.path.join(sysfs_root, "cpu0", "cpufreq", name)) as f:
                khz = int(f.read().strip())
            if khz > 0:
                return khz / 1000.0, f"cpufreq {name}"
        except (OSError, ValueError):
            continue
    if cpuinfo_text is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo_text = f.read()
        except OSError:
            return None, "no /proc/cpuinfo"
    m = re.search(r"^model name\s*:.*@\s*([0-9.]+)\s*GHz", cpuinfo_text, re.M)
    if m:
        return float(m.group(1)) * 1000.0, "brand string"
    m = re.search(r"^cpu MHz\s*:\s*([0-9.]+)", cpuinfo_text, re.M)
    if m:
        return float(m.group(1)), "/proc/cpuinfo 'cpu MHz' (a VM often reports its host's TSC rate here)"
    return None, "no cpufreq, brand-string or 'cpu MHz' clock"
