"""How big the buffers are and how calls are kept from being served from a cache (see the package doc);
whether the buffers fit in what is free. Sizes are bytes."""
from __future__ import annotations

import math
from dataclasses import dataclass

from accelkern import timing
from accelkern.device import DeviceInfo
from accelkern.errors import AccelkernError
from accelkern.hostcpu import caches as cpu_caches
from accelkern.memory.kernels import DEFAULT_SIZE, LINK_KERNELS, OWN_KERNELS, Traffic, max_buffers, traffic
from accelkern.units import format_bytes

HOT_TARGET_BYTES = {"cuda": 1 << 30, "cpu": 64 << 20}   # bytes moved per call in the sweep (sets passes)
CPU_SET_CAP = 2 << 30          # most bytes a default CPU working set holds (all buffers, every rotated set)
CPU_MIN_BUFFER = 64 << 20      # smallest default CPU buffer
CACHE_MULTIPLE = 8             # a default buffer is this many times the cache the CPUs can use
CPU_CACHE_UNKNOWN = 64 << 20   # cache assumed when sysfs says nothing
_MiB = 1 << 20


@dataclass(frozen=True)
class CachePlan:
    slots: int
    l2_flush: bool
    mode: str


def cache_plan(set_bytes: int, cache_bytes: int | None, budget_bytes: int | None, hot: bool = False,
               can_flush: bool = True) -> CachePlan:
    """How to keep calls from being served from the cache (see the package doc); hot: on purpose not."""
    if hot:
        return CachePlan(1, False, "hot: one set reused, sizes within the cache are served from it")
    if not cache_bytes:
        return CachePlan(1, False, "cold: cache size unknown, one set")
    if set_bytes >= 8 * cache_bytes:
        return CachePlan(1, False, f"cold: one set >= 8x the {format_bytes(cache_bytes)} cache")
    slots = timing.rotation_slots(set_bytes, cache_bytes, budget_bytes)
    if slots * set_bytes >= 3 * cache_bytes:
        return CachePlan(slots, False, f"cold: {slots} sets rotated (> 3x the {format_bytes(cache_bytes)} cache)")
    if can_flush:
        return CachePlan(1, True, "cold: cache flushed before each call (launch overhead included)")
    return CachePlan(slots, False, f"partly cache-resident: {slots} sets rotated, < 3x the cache")


def hot_passes(t: Traffic, device_kind: str) -> int:
    """Passes per call so one sweep call moves about HOT_TARGET_BYTES (launch overhead stays small)."""
    per_pass = max(1, t.bytes_read + t.bytes_written)
    return max(1, math.ceil(HOT_TARGET_BYTES.get(device_kind, 64 << 20) / per_pass))


# ---- free memory ------------------------------------------------------------------------------

def host_available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (host memory that can be allocated now), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def available_bytes(device: str) -> int | None:
    """Bytes that can be allocated now: free device memory plus what torch's allocator caches unused."""
    if str(device).startswith("cuda"):
        import torch
        dev = torch.device(device)
        cached = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        return int(torch.cuda.mem_get_info(dev)[0]) + int(cached)
    return host_available_bytes()


def require_memory(kernel: str, t: Traffic, device: str, slots: int = 1):
    """AccelkernError in one line when the buffers do not fit in what is free now."""
    need = t.buffer_bytes * t.device_buffers * slots
    free = available_bytes(device)
    if free is not None and need > 0.9 * free:
        sets = f" x {slots} sets" if slots > 1 else ""
        raise AccelkernError(f"size {format_bytes(t.buffer_bytes)}: {kernel} needs {format_bytes(need)} on {device} "
                             f"({t.device_buffers} buffer(s) of {format_bytes(t.buffer_bytes)}{sets}), "
                             f"only {format_bytes(free)} free")
    if t.host_buffers:
        host = host_available_bytes()
        if host is not None and t.buffer_bytes * t.host_buffers > 0.5 * host:
            raise AccelkernError(f"size {format_bytes(t.buffer_bytes)}: {kernel} needs a pinned host buffer of "
                                 f"{format_bytes(t.buffer_bytes)}, only {format_bytes(host)} of host memory "
                                 f"available (pinned buffers are kept to half of it)")


# ---- sizes ------------------------------------------------------------------------------------

def cpu_set_cap(free: int | None) -> int:
    """Most bytes a default CPU working set holds: CPU_SET_CAP, at most a quarter of the free memory."""
    return CPU_SET_CAP if not free else min(CPU_SET_CAP, free // 4)


def cpu_default_size(kernels, caches: cpu_caches.CpuCaches, free: int | None) -> int:
    """Bytes per buffer of a default CPU run: CACHE_MULTIPLE x the cache the CPUs can use (>= CPU_MIN_BUFFER),
    rounded up to a MiB, so that even a one-buffer kernel's set exceeds the caches; within cpu_set_cap for
    the kernel with the most buffers (triad's three)."""
    cache = caches.usable_bytes if caches.known else CPU_CACHE_UNKNOWN
    want = max(CPU_MIN_BUFFER, -(-CACHE_MULTIPLE * cache // _MiB) * _MiB)
    cap = cpu_set_cap(free) // max_buffers([k for k in kernels if k in OWN_KERNELS] or OWN_KERNELS)
    cap = cap // _MiB * _MiB if cap >= _MiB else cap // 4096 * 4096
    return max(4096, min(want, cap))


def default_size(info: DeviceInfo, kernels=OWN_KERNELS) -> int:
    """Bytes per buffer when --size is not given: DEFAULT_SIZE on a GPU, cpu_default_size elsewhere."""
    if info.kind == "cuda":
        return DEFAULT_SIZE
    return cpu_default_size(kernels, cpu_caches.this_machine(), host_available_bytes())


def validate_size(info: DeviceInfo, kernels=("read", "write", "copy")) -> int:
    """Bytes per buffer of the validate suite: 2 GiB on a GPU; on a CPU the default run's size."""
    return default_size(info, kernels)


def cache_bytes(info: DeviceInfo) -> int | None:
    """The cache a cold measurement must defeat: the L2 on a GPU, the caches the CPUs can use elsewhere."""
    if info.kind == "cuda":
        return info.l2_bytes
    if info.kind == "cpu":
        c = cpu_caches.this_machine()
        return c.usable_bytes if c.known else info.l2_bytes
    return info.l2_bytes


def rotation_budget(info: DeviceInfo) -> int | None:
    """Bytes all rotated sets may take: 80% of what is free (on a CPU also within cpu_set_cap)."""
    free = available_bytes(info.torch_device)
    if free is None:
        return None
    budget = int(0.8 * free)
    return min(budget, cpu_set_cap(free)) if info.kind == "cpu" else budget


def plan_for(kernel: str, nbytes: int, info: DeviceInfo, hot: bool = False) -> tuple[Traffic, CachePlan]:
    """Traffic and cache plan for one kernel at one size; raises when the buffers do not fit."""
    t = traffic(kernel, nbytes)
    require_memory(kernel, t, info.torch_device)
    if kernel in LINK_KERNELS:
        return t, CachePlan(1, False, "link: host buffer pinned, device buffer one set")
    plan = cache_plan(t.working_set, cache_bytes(info), rotation_budget(info), hot=hot,
                      can_flush=info.kind == "cuda")
    require_memory(kernel, t, info.torch_device, plan.slots)
    return t, plan


def set_note(t: Traffic, plan: CachePlan, info: DeviceInfo) -> str | None:
    """On a CPU, what the row must say when its working set may not exceed the caches (None otherwise)."""
    if info.kind != "cpu" or plan.mode.startswith("hot"):
        return None
    return cpu_caches.cache_note(t.working_set * plan.slots, cpu_caches.this_machine())
