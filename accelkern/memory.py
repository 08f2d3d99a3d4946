"""Memory bandwidth: copy / read / write / triad kernels (accelkern._C on CUDA, torch elsewhere), the
copy engine (cudaMemcpyAsync device-to-device), host<->device over pinned memory, size sweeps and a short
launch-shape auto-tune. Sizes are bytes, bandwidths TB/s (1e12 B/s), times seconds.

Byte conventions (every row carries bytes_read and bytes_written per call):
  copy, ce, torch (Tensor.copy_), h2d, d2h   read N, write N            (N = bytes per buffer)
  read    read N, write 4 B per block (the stored partial checksums)
  write   write N
  triad   a = b + s*c over N/4 fp32 elements: read 2N, write N
`value` (TB/s) counts read + written bytes (STREAM / BabelStream style); `one_direction` is the larger of
the two over the same time (nvbandwidth style: the copy rate). A call with passes > 1 moves passes times
as much. Host links (h2d, d2h) get no % of the HBM spec.

Cache policy: the HBM figure must not be served from L2. A buffer set (all buffers of one call) of at
least 8x the L2 is used alone (whatever the previous call left in L2 is at the far end of the buffers,
which the next call reaches last); smaller sets are rotated until the rotation exceeds 3x the L2, or, when
that does not fit, the L2 is flushed before each call. The size sweep is different on purpose ("hot"): one
set is reused call after call, so sizes that fit in the L2 show the L2 plateau and larger ones HBM.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable, Iterator

from accelkern import _ext, checks, figures, timing
from accelkern.device import DeviceInfo
from accelkern.errors import AccelkernError, Unavailable
from accelkern.results import Row
from accelkern.units import format_bytes

KERNELS = ("copy", "read", "write", "triad", "ce", "torch", "h2d", "d2h")
OWN_KERNELS = ("copy", "read", "write", "triad")       # accelkern._C kernels on CUDA, torch ops elsewhere
LINK_KERNELS = ("h2d", "d2h")                          # host <-> device over pinned memory
CUDA_ONLY = ("ce", "torch", "h2d", "d2h")
KERNEL_HELP = {
    "copy": "dst = src (own kernel)",
    "read": "checksum of src stored per block (own kernel)",
    "write": "fill with a 32-bit pattern (own kernel)",
    "triad": "a = b + s*c, fp32 (own kernel)",
    "ce": "cudaMemcpyAsync device-to-device",
    "torch": "Tensor.copy_ device-to-device (reference)",
    "h2d": "pinned host -> device, cudaMemcpyAsync",
    "d2h": "device -> pinned host, cudaMemcpyAsync",
}
HINTS = {"default": 0, "stream": 1}  # stream: ld/st.global.cs (evict-first)
VECS = (4, 8, 16)
UNROLLS = (1, 2, 4, 8)
THREADS_CHOICES = (128, 256, 512, 1024)
DEFAULT_SIZE = 2 << 30
DEFAULT_THREADS = 512
IN_FLIGHT_TARGET = 128 << 10       # bytes of loads in flight per SM the default unroll aims for
WRITE_PATTERN = 0xA5C3_F00D        # non-zero, every byte distinct
TRIAD_SCALAR = 3.0
HOT_TARGET_BYTES = {"cuda": 1 << 30, "cpu": 64 << 20}   # bytes moved per call in the sweep (sets passes)
_MASK32 = 0xFFFF_FFFF
GUARD_BYTES = 4096                 # bytes past the end of a checked output that must stay untouched
_CHUNK = 1 << 26                   # elements per chunk of a device-side check (float64 temporaries: 512 MiB)


def parse_kernels(text: str | None, device_kind: str, sweep: bool = False) -> list[str]:
    """'copy,read' -> ['copy', 'read']; None -> the defaults for the device (and mode)."""
    from accelkern.units import split_list
    names = split_list(text)
    if not names:
        if sweep:
            return ["read"]
        return list(KERNELS) if device_kind == "cuda" else list(OWN_KERNELS)
    unknown = [n for n in names if n not in KERNELS]
    if unknown:
        raise AccelkernError(f"unknown kernel '{unknown[0]}'; valid: {', '.join(KERNELS)}")
    if sweep:
        bad = [n for n in names if n not in OWN_KERNELS]
        if bad:
            raise AccelkernError(f"--sweep runs {', '.join(OWN_KERNELS)}; '{bad[0]}' cannot be swept")
    return list(dict.fromkeys(names))


def parse_choices(text: str | None, allowed: tuple, what: str, default: list) -> list:
    """'4,16' -> [4, 16] checked against `allowed` (ints or strings)."""
    from accelkern.units import split_list
    raw = split_list(text)
    if not raw:
        return list(default)
    out = []
    for r in raw:
        v = int(r) if isinstance(allowed[0], int) and r.isdigit() else r
        if v not in allowed:
            raise AccelkernError(f"{what} '{r}' not allowed; use {', '.join(str(a) for a in allowed)}")
        out.append(v)
    return list(dict.fromkeys(out))


# ---- byte accounting --------------------------------------------------------------------------

@dataclass(frozen=True)
class Traffic:
    """What one call of a kernel touches and moves, in bytes."""
    kernel: str
    buffer_bytes: int        # bytes per buffer processed (triad: whole fp32 elements)
    device_buffers: int      # buffers per set on the device
    host_buffers: int        # pinned host buffers (h2d, d2h)
    bytes_read: int          # per call
    bytes_written: int       # per call
    dtype: str | None        # 'fp32' for triad; None for the byte-granular kernels (any byte count)
    elements: int            # elements per buffer (bytes, or fp32 elements for triad)
    passes: int = 1
    note: str | None = None

    @property
    def working_set(self) -> int:
        """Bytes one pass touches on the device (all device buffers)."""
        return self.buffer_bytes * self.device_buffers

    @property
    def moved(self) -> int:
        return self.bytes_read + self.bytes_written


def traffic(kernel: str, nbytes: int, passes: int = 1, blocks: int = 0) -> Traffic:
    """Byte accounting of `kernel` over `nbytes` per buffer, `passes` times, with `blocks` blocks (read
    stores one 4-byte partial per block)."""
    if kernel not in KERNELS:
        raise AccelkernError(f"unknown kernel '{kernel}'; valid: {', '.join(KERNELS)}")
    if nbytes < 1:
        raise AccelkernError(f"size {nbytes} B: must be at least 1 byte")
    if passes < 1:
        raise ValueError("passes must be >= 1")
    p = passes
    if kernel == "triad":
        n = nbytes // 4
        if n == 0:
            raise AccelkernError(f"triad works on fp32 elements: size {nbytes} B is less than one (4 B)")
        b = 4 * n
        note = None if b == nbytes else f"triad: {nbytes} B rounded down to {n} whole fp32 elements ({b} B) per array"
        return Traffic(kernel, b, 3, 0, 2 * b * p, b * p, "fp32", n, p, note)
    if kernel == "read":
        return Traffic(kernel, nbytes, 1, 0, nbytes * p, 4 * blocks, None, nbytes, p)
    if kernel == "write":
        return Traffic(kernel, nbytes, 1, 0, 0, nbytes * p, None, nbytes, p)
    if kernel in LINK_KERNELS:
        return Traffic(kernel, nbytes, 1, 1, nbytes * p, nbytes * p, None, nbytes, p)
    return Traffic(kernel, nbytes, 2, 0, nbytes * p, nbytes * p, None, nbytes, p)  # copy, ce, torch


# ---- launch shape -----------------------------------------------------------------------------

LOADS_PER_ITEM = {"copy": 1, "read": 1, "write": 1, "triad": 2}  # write: stores in flight instead


@dataclass(frozen=True)
class LaunchShape:
    """Grid = sms x blocks_per_sm persistent blocks of `threads`; each thread keeps `unroll` accesses of
    `vec` bytes per input in flight. `resident` = blocks per SM that fit at once (registers, limits)."""
    vec: int
    threads: int
    blocks_per_sm: int
    unroll: int
    hint: str
    sms: int
    resident: int
    regs: int | None = None

    @property
    def blocks(self) -> int:
        return self.sms * self.blocks_per_sm

    def in_flight_per_sm(self, kernel: str) -> int:
        """Bytes of loads (stores for write) in flight per SM when every resident thread waits on its unroll."""
        return min(self.blocks_per_sm, self.resident) * self.threads * self.unroll * self.vec * LOADS_PER_ITEM[kernel]

    def label(self) -> str:
        return f"v{self.vec} {self.blocks}x{self.threads} u{self.unroll}"

    def config(self, kernel: str) -> dict:
        return {"vec": self.vec, "hint": self.hint, "threads": self.threads, "blocks": self.blocks,
                "blocks_per_sm": self.blocks_per_sm, "unroll": self.unroll, "resident_blocks_per_sm": self.resident,
                "in_flight_per_sm_bytes": self.in_flight_per_sm(kernel), "regs": self.regs}


def default_unroll(kernel: str, vec: int, max_threads_per_sm: int) -> int:
    """Smallest unroll (>= 2) that puts IN_FLIGHT_TARGET bytes in flight per SM at full occupancy; 8 at most."""
    for u in UNROLLS:
        if u >= 2 and max_threads_per_sm * u * vec * LOADS_PER_ITEM[kernel] >= IN_FLIGHT_TARGET:
            return u
    return UNROLLS[-1]


def choose_launch(kernel: str, *, sms: int, max_threads_per_sm: int, max_blocks_per_sm: int, vec: int = 16,
                  hint: str = "stream", threads: int | None = None, blocks_per_sm: int | None = None,
                  unroll: int | None = None, occupancy: Callable[[int, int], int] | None = None,
                  regs: Callable[[int], int] | None = None) -> LaunchShape:
    """The launch shape for a kernel on a device with these attributes. Overrides are checked and kept.

    occupancy(threads, unroll) -> resident blocks per SM for the kernel (from the CUDA occupancy API);
    without it the thread and block limits alone decide.
    """
    if kernel not in LOADS_PER_ITEM:
        raise AccelkernError(f"no launch shape for '{kernel}': only {', '.join(OWN_KERNELS)} are own kernels")
    if vec not in VECS:
        raise AccelkernError(f"--vec {vec}: allowed {', '.join(map(str, VECS))} bytes per access")
    if hint not in HINTS:
        raise AccelkernError(f"--hint {hint}: allowed {', '.join(HINTS)}")
    if threads is not None and not (32 <= threads <= 1024 and threads % 32 == 0):
        raise AccelkernError(f"--threads {threads}: a multiple of 32 in [32, 1024]")
    if unroll is not None and unroll not in UNROLLS:
        raise AccelkernError(f"--unroll {unroll}: allowed {', '.join(map(str, UNROLLS))}")
    if blocks_per_sm is not None and blocks_per_sm < 1:
        raise AccelkernError(f"--blocks-per-sm {blocks_per_sm}: must be >= 1")
    if sms < 1 or max_threads_per_sm < 32:
        raise AccelkernError("device attributes missing (SM count, threads per SM); is accelkern._C built?")
    t = threads or min(DEFAULT_THREADS, max_threads_per_sm)
    u = unroll or default_unroll(kernel, vec, max_threads_per_sm)
    limit = max(0, min(max_threads_per_sm // t, max_blocks_per_sm or 1 << 30))
    if occupancy is not None:
        limit = min(limit, int(occupancy(t, u)))
    if limit < 1:
        raise AccelkernError(f"{kernel}: {t} threads per block at unroll {u} do not fit on an SM (registers); "
                             f"use fewer --threads or a smaller --unroll")
    b = blocks_per_sm or limit
    return LaunchShape(vec=vec, threads=t, blocks_per_sm=b, unroll=u, hint=hint, sms=sms, resident=limit,
                       regs=regs(u) if regs else None)


def device_launch(kernel: str, info: DeviceInfo, vec: int, hint: str, threads=None, blocks_per_sm=None,
                  unroll=None) -> LaunchShape:
    """choose_launch with this device's attributes and the kernel's real occupancy (accelkern._C)."""
    C = _ext.require()
    h = HINTS[hint] if hint in HINTS else -1

    def occ(t, u):
        return C.mem_kernel_info(kernel, vec, u, h, t)["max_blocks_per_sm"]

    def regs(u):
        return C.mem_kernel_info(kernel, vec, u, h, 32)["num_regs"]

    return choose_launch(kernel, sms=info.sm_count or 0, max_threads_per_sm=info.max_threads_per_sm or 0,
                         max_blocks_per_sm=info.max_blocks_per_sm or 0, vec=vec, hint=hint, threads=threads,
                         blocks_per_sm=blocks_per_sm, unroll=unroll, occupancy=occ, regs=regs)


# ---- cache policy -----------------------------------------------------------------------------

@dataclass(frozen=True)
class CachePlan:
    slots: int
    l2_flush: bool
    mode: str


def cache_plan(set_bytes: int, cache_bytes: int | None, budget_bytes: int | None, hot: bool = False,
               can_flush: bool = True) -> CachePlan:
    """How to keep calls from being served from the cache (see the module doc); hot: on purpose not."""
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
        raise AccelkernError(f"size {format_bytes(t.buffer_bytes)}: {kernel} needs {need / 2**30:.2f} GiB on {device} "
                             f"({t.device_buffers} buffer(s) of {format_bytes(t.buffer_bytes)}{sets}), "
                             f"only {free / 2**30:.2f} GiB free")
    if t.host_buffers:
        host = host_available_bytes()
        if host is not None and t.buffer_bytes * t.host_buffers > 0.5 * host:
            raise AccelkernError(f"size {format_bytes(t.buffer_bytes)}: {kernel} needs a pinned host buffer of "
                                 f"{t.buffer_bytes / 2**30:.2f} GiB, only {host / 2**30:.2f} GiB of host memory "
                                 f"available (pinned buffers are kept to half of it)")


# ---- references -------------------------------------------------------------------------------

def checksum(buf, nbytes: int) -> int:
    """The read kernel's checksum of buf[:nbytes] (uint8): sum of the little-endian 32-bit words plus the
    trailing nbytes % 4 bytes, mod 2^32; computed by torch reductions in chunks."""
    import torch
    n_words = nbytes // 4
    total = 0
    words = buf[: 4 * n_words].view(torch.int32)
    for i in range(0, n_words, _CHUNK):  # a signed sum is congruent to the unsigned one mod 2^32
        total += int(words[i:i + _CHUNK].sum(dtype=torch.int64))
    total += int(buf[4 * n_words:nbytes].sum(dtype=torch.int64))
    return total & _MASK32


def partials_sum(partials, blocks: int) -> int:
    import torch
    return int(partials[:blocks].sum(dtype=torch.int64)) & _MASK32


def pattern_bytes(pattern: int, start: int, count: int):
    """Bytes start..start+count of a buffer filled with `pattern` as little-endian 32-bit words."""
    return [(pattern >> (8 * ((start + i) % 4))) & 0xFF for i in range(count)]


def _as_int32(pattern: int) -> int:
    return pattern - (1 << 32) if pattern & 0x8000_0000 else pattern


def filled_with(buf, nbytes: int, pattern: int) -> bool:
    """buf[:nbytes] holds `pattern` repeated as little-endian words (the trailing bytes its low bytes)."""
    import torch
    n_words = nbytes // 4
    words = buf[: 4 * n_words].view(torch.int32)
    want = _as_int32(pattern)
    for i in range(0, n_words, _CHUNK):
        if not bool((words[i:i + _CHUNK] == want).all()):
            return False
    tail = buf[4 * n_words:nbytes]
    ref = torch.tensor(pattern_bytes(pattern, 4 * n_words, nbytes - 4 * n_words), dtype=torch.uint8, device=buf.device)
    return bool(torch.equal(tail, ref))


def poison_fill_(buf, nbytes: int, pattern: int):
    """Fills buf[:nbytes] with the complement of the pattern, so every byte a write misses differs."""
    import torch
    n_words = nbytes // 4
    buf[: 4 * n_words].view(torch.int32).fill_(_as_int32(~pattern & _MASK32))
    for i, b in enumerate(pattern_bytes(~pattern & _MASK32, 4 * n_words, nbytes - 4 * n_words)):
        buf[4 * n_words + i] = b


def bytes_equal(a, b, nbytes: int) -> bool:
    import torch
    for i in range(0, nbytes, 4 * _CHUNK):
        j = min(nbytes, i + 4 * _CHUNK)
        if not torch.equal(a[i:j], b[i:j]):
            return False
    return True


def triad_error(a, b, c, s: float, n: int) -> float:
    """max|a - (b + s*c)| / rms(b + s*c) over n elements, reference in float64 (inf when a has NaN/inf)."""
    import torch
    worst, sq = 0.0, 0.0
    for i in range(0, n, _CHUNK):
        j = min(n, i + _CHUNK)
        ref = b[i:j].double() + s * c[i:j].double()
        out = a[i:j].double()
        if not bool(torch.isfinite(out).all()):
            return math.inf
        worst = max(worst, float((out - ref).abs().max()))
        sq += float(ref.pow(2).sum())
    rms = math.sqrt(sq / n) if n else 1.0
    return worst / (rms or 1.0)


# ---- workloads --------------------------------------------------------------------------------

class Workload:
    """A callable w(slot) for timing.measure over `slots` buffer sets, with its byte accounting, a
    correctness check (poisoned output, one call, exact or toleranced comparison) and resize() to run on
    a prefix of the buffers (sweeps)."""
    kernel: str
    backend: str
    kernel_id: str
    device: str
    slots: int

    def __init__(self, kernel: str, nbytes: int, device: str, slots: int = 1, seed: int = 0):
        import torch
        self.kernel, self.device, self.slots = kernel, device, slots
        self.capacity = traffic(kernel, nbytes)
        self.gen = torch.Generator(device=device if str(device).startswith("cuda") else "cpu").manual_seed(seed)
        self.nbytes = self.capacity.buffer_bytes
        self.requested = nbytes  # as asked (triad rounds down to whole elements)
        self.passes = 1

    # sizes
    @property
    def traffic(self) -> Traffic:
        return traffic(self.kernel, self.nbytes, self.passes, self._blocks())

    def _blocks(self) -> int:
        return 0

    def resize(self, nbytes: int, passes: int = 1):
        """Run on the first `nbytes` of each buffer, `passes` times per call."""
        t = traffic(self.kernel, nbytes)
        if t.buffer_bytes > self.capacity.buffer_bytes:
            raise ValueError(f"{nbytes} B exceeds the {self.capacity.buffer_bytes} B allocated")
        self.nbytes, self.requested, self.passes = t.buffer_bytes, nbytes, passes
        self._on_resize()

    def _on_resize(self):
        pass

    def config(self) -> dict:
        return {"bytes_per_buffer": self.nbytes, "buffers": self.capacity.device_buffers, "passes": self.passes,
                "sets": self.slots}

    def close(self):
        """Drops the buffers (the caching allocator keeps the memory for the next workload)."""
        for k in ("src", "dst", "a", "b", "c", "partials", "result", "_views"):
            if hasattr(self, k):
                setattr(self, k, None)

    # helpers
    def _random_bytes(self, n):
        import torch
        return torch.randint(0, 256, (n,), dtype=torch.uint8, device=self.device, generator=self.gen)

    def _random_floats(self, n):
        import torch
        return torch.randn(n, dtype=torch.float32, device=self.device, generator=self.gen)

    def _empty(self, n, dtype=None, pin=False):
        import torch
        return torch.empty(n, dtype=dtype or torch.uint8, device="cpu" if pin else self.device, pin_memory=pin)

    def _sync(self):
        import torch
        if str(self.device).startswith("cuda"):
            torch.cuda.synchronize(torch.device(self.device))

    def check(self) -> tuple[bool, float | None, float | None]:
        raise NotImplementedError


class _Buffers:
    """Per-slot buffers for copy / read / write / triad, shared by the CUDA kernels and the torch ops."""

    def _alloc(self):
        k, n = self.kernel, self.capacity.buffer_bytes
        if k in ("copy", "ce", "torch"):
            self.src = [self._random_bytes(n) for _ in range(self.slots)]
            self.dst = [self._empty(n) for _ in range(self.slots)]
        elif k == "read":
            self.src = [self._random_bytes(n) for _ in range(self.slots)]
        elif k == "write":
            self.dst = [self._empty(n) for _ in range(self.slots)]
        elif k == "triad":
            e = self.capacity.elements
            self.b = [self._random_floats(e) for _ in range(self.slots)]
            self.c = [self._random_floats(e) for _ in range(self.slots)]
            self.a = [self._empty(e, dtype=self.b[0].dtype) for _ in range(self.slots)]

    def _check_buffers(self, run_once, read_result=None) -> tuple[bool, float | None, float | None]:
        """Poisons slot 0's output (and up to GUARD bytes past it), runs one call, compares with the
        reference; the bytes past the end must still hold the poison (no write beyond the tail)."""
        import torch
        k, n = self.kernel, self.nbytes
        g = min(GUARD_BYTES, self.capacity.buffer_bytes - n)
        if k in ("copy", "ce", "torch"):
            torch.bitwise_not(self.src[0], out=self.dst[0])  # every byte the copy misses differs
            run_once()
            self._sync()
            ok = bytes_equal(self.dst[0], self.src[0], n) and \
                bool(torch.equal(self.dst[0][n:n + g], torch.bitwise_not(self.src[0][n:n + g])))
            return ok, 0.0 if ok else None, 0.0
        if k == "write":
            poison_fill_(self.dst[0], n + g, WRITE_PATTERN)
            guard = self.dst[0][n:n + g].clone()
            run_once()
            self._sync()
            ok = filled_with(self.dst[0], n, WRITE_PATTERN) and bool(torch.equal(self.dst[0][n:n + g], guard))
            return ok, None, 0.0
        if k == "read":
            run_once()
            self._sync()
            got, want = read_result(), (self.passes * checksum(self.src[0], n)) & _MASK32
            return got == want, float(abs(got - want)), 0.0
        if k == "triad":
            checks.poison_(self.a[0])
            e = self.traffic.elements
            run_once()
            self._sync()
            err = triad_error(self.a[0], self.b[0], self.c[0], TRIAD_SCALAR, e)
            tol = checks.tolerance("fp32")
            if not bool(torch.isnan(self.a[0][e:e + g // 4]).all()):
                err = math.inf  # an element past the end was written
            return err <= tol, err, tol
        raise ValueError(k)


class KernelWorkload(_Buffers, Workload):
    """An accelkern._C kernel (copy / read / write / triad) with a LaunchShape."""
    backend = "accelkern"

    def __init__(self, kernel: str, nbytes: int, device: str, shape: LaunchShape, slots: int = 1, seed: int = 0):
        if kernel not in OWN_KERNELS:
            raise ValueError(kernel)
        super().__init__(kernel, nbytes, device, slots, seed)
        self.C = _ext.require()
        self.shape = shape
        self._alloc()
        self.partials = None
        self.set_shape(shape)

    @property
    def kernel_id(self) -> str:
        return f"{self.kernel}_v{self.shape.vec}_{self.shape.hint}"

    def set_shape(self, shape: LaunchShape):
        import torch
        self.shape = shape
        if self.kernel == "read" and (self.partials is None or self.partials.numel() < shape.blocks):
            self.partials = torch.empty(shape.blocks, dtype=torch.int32, device=self.device)

    def _blocks(self) -> int:
        return self.shape.blocks if self.kernel == "read" else 0

    def config(self) -> dict:
        return {**self.shape.config(self.kernel), **super().config()}

    def __call__(self, slot: int):
        s, C, n = self.shape, self.C, self.nbytes
        launch = (s.vec, s.unroll, HINTS[s.hint], s.threads, s.blocks, self.passes)
        k = self.kernel
        if k == "copy":
            C.mem_copy(self.src[slot], self.dst[slot], n, *launch)
        elif k == "read":
            C.mem_read(self.src[slot], n, self.partials, *launch)
        elif k == "write":
            C.mem_write(self.dst[slot], n, WRITE_PATTERN, *launch)
        else:
            C.mem_triad(self.a[slot], self.b[slot], self.c[slot], TRIAD_SCALAR, n // 4, *launch)

    def check(self):
        if self.kernel == "read":
            from accelkern.checks import poison_
            poison_(self.partials)
        return self._check_buffers(lambda: self(0), lambda: partials_sum(self.partials, self.shape.blocks))


class TorchWorkload(_Buffers, Workload):
    """The same four operations through torch (any device; the CPU path), and Tensor.copy_ ('torch')."""
    backend = "torch"

    def __init__(self, kernel: str, nbytes: int, device: str, slots: int = 1, seed: int = 0):
        if kernel not in OWN_KERNELS + ("torch",):
            raise ValueError(kernel)
        super().__init__(kernel, nbytes, device, slots, seed)
        self._alloc()
        self._on_resize()

    @property
    def kernel_id(self) -> str:
        return {"copy": "Tensor.copy_", "torch": "Tensor.copy_", "read": "Tensor.amax(int32 words)",
                "write": "Tensor.fill_", "triad": "torch.add(b, c, alpha=s)"}[self.kernel]

    def _on_resize(self):
        import torch
        n, k = self.nbytes, self.kernel
        w = n // 4
        if k in ("copy", "torch"):
            self._views = [(self.src[i][:n], self.dst[i][:n]) for i in range(self.slots)]
        elif k == "read":
            self._views = [(self.src[i][:4 * w].view(torch.int32), self.src[i][4 * w:n]) for i in range(self.slots)]
            self.result = [[None, None] for _ in range(self.slots)]  # per slot: max word, max tail byte
        elif k == "write":
            tail = torch.tensor(pattern_bytes(WRITE_PATTERN, 4 * w, n - 4 * w), dtype=torch.uint8, device=self.device)
            self._views = [(self.dst[i][:4 * w].view(torch.int32), self.dst[i][4 * w:n], tail) for i in range(self.slots)]
        else:
            e = n // 4
            self._views = [(self.a[i][:e], self.b[i][:e], self.c[i][:e]) for i in range(self.slots)]

    def __call__(self, slot: int):
        import torch
        v, k = self._views[slot], self.kernel
        for _ in range(self.passes):
            if k in ("copy", "torch"):
                v[1].copy_(v[0])
            elif k == "read":  # torch's int32 sum widens to int64 at a fraction of the read rate; amax does not
                if v[0].numel():
                    self.result[slot][0] = v[0].amax()
                if v[1].numel():
                    self.result[slot][1] = v[1].amax()
            elif k == "write":
                v[0].fill_(_as_int32(WRITE_PATTERN))
                if v[2].numel():
                    v[1].copy_(v[2])
            else:
                torch.add(v[1], v[2], alpha=TRIAD_SCALAR, out=v[0])

    def check(self):
        if self.kernel != "read":
            return self._check_buffers(lambda: self(0))
        words, tail = (x.cpu().numpy() for x in self._views[0][:2])  # reference: numpy's max of the same bytes
        want = [int(words.max()) if words.size else None, int(tail.max()) if tail.size else None]
        self.result[0] = [None, None]  # poisoned: a part that should run and does not stays None
        self(0)
        self._sync()
        got = [None if x is None else int(x) for x in self.result[0]]
        return got == want, 0.0 if got == want else None, 0.0


class MemcpyWorkload(Workload):
    """cudaMemcpyAsync: 'ce' device-to-device, 'h2d' pinned host -> device, 'd2h' device -> pinned host."""
    backend = "cudaMemcpyAsync"

    def __init__(self, kernel: str, nbytes: int, device: str, slots: int = 1, seed: int = 0):
        if kernel not in ("ce", "h2d", "d2h"):
            raise ValueError(kernel)
        super().__init__(kernel, nbytes, device, slots, seed)
        self.C = _ext.require()
        n = self.capacity.buffer_bytes
        if kernel == "ce":
            self.src = [self._random_bytes(n) for _ in range(slots)]
            self.dst = [self._empty(n) for _ in range(slots)]
        elif kernel == "h2d":
            self.src = [self._empty(n, pin=True).copy_(self._random_bytes(n)) for _ in range(slots)]
            self.dst = [self._empty(n) for _ in range(slots)]
        else:
            self.src = [self._random_bytes(n) for _ in range(slots)]
            self.dst = [self._empty(n, pin=True) for _ in range(slots)]

    @property
    def kernel_id(self) -> str:
        return {"ce": "cudaMemcpyAsync D2D", "h2d": "cudaMemcpyAsync H2D pinned",
                "d2h": "cudaMemcpyAsync D2H pinned"}[self.kernel]

    def __call__(self, slot: int):
        for _ in range(self.passes):
            self.C.mem_memcpy(self.dst[slot], self.src[slot], self.nbytes)

    def check(self):
        n = self.nbytes
        self.dst[0][:n].copy_(self.src[0][:n])
        self.dst[0][:n].bitwise_not_()  # poisoned: every byte the transfer misses differs
        self._sync()
        self(0)
        self._sync()
        on_dev = [x[:n] if x.is_cuda or not str(self.device).startswith("cuda") else x[:n].to(self.device)
                  for x in (self.dst[0], self.src[0])]
        ok = bytes_equal(on_dev[0], on_dev[1], n)
        return ok, 0.0 if ok else None, 0.0


def make_workload(kernel: str, nbytes: int, info: DeviceInfo, *, vec: int = 16, hint: str = "stream",
                  shape: LaunchShape | None = None, slots: int = 1, threads=None, blocks_per_sm=None,
                  unroll=None) -> Workload:
    """The workload for a kernel on a device: own kernels on CUDA (when accelkern._C is built), torch on the
    CPU; ce, torch, h2d and d2h need CUDA (Unavailable otherwise)."""
    dev = info.torch_device
    if info.kind != "cuda":
        if kernel in CUDA_ONLY:
            raise Unavailable(f"{kernel} ({KERNEL_HELP[kernel]}) needs a CUDA device (this run is on {info.kind})")
        return TorchWorkload(kernel, nbytes, dev, slots)
    if kernel == "torch":
        return TorchWorkload(kernel, nbytes, dev, slots)
    if _ext.load() is None:
        raise Unavailable(f"{kernel}: {_ext.error()}")
    if kernel in OWN_KERNELS:
        shape = shape or device_launch(kernel, info, vec, hint, threads, blocks_per_sm, unroll)
        return KernelWorkload(kernel, nbytes, dev, shape, slots)
    return MemcpyWorkload(kernel, nbytes, dev, slots)


# ---- measuring --------------------------------------------------------------------------------

def size_label(n: int) -> str:
    """Exact size in the largest binary unit that divides it: 2GiB, 1536KiB, 1000003B."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale}{unit}"
    return f"{n}B"


def _row(w: Workload, size_label: str, plan: CachePlan, info: DeviceInfo) -> Row:
    t = w.traffic
    cfg = {**w.config(), "cache": plan.mode}
    return Row(suite="hbm", name=w.kernel, dtype=t.dtype, shape=size_label, backend=w.backend, kernel=w.kernel_id,
               config=cfg, bytes_read=t.bytes_read, bytes_written=t.bytes_written,
               note=traffic(w.kernel, w.requested).note)


def measure_workload(w: Workload, info: DeviceInfo, spec, rule: timing.StopRule, plan: CachePlan,
                     check: bool = True, flusher=None) -> Row:
    """Checks the output (unless check=False), times the calls through the harness, fills the row via
    figures.memory_row. A wrong output gives a 'failed' row and is not timed."""
    row = _row(w, size_label(w.nbytes), plan, info)
    if check:
        ok, err, tol = w.check()
        row.correct, row.max_error, row.tolerance = ok, err, tol
        if not ok:
            row.status = "failed"
            row.note = _join(row.note, f"output differs from the reference (error {err}); not timed")
            return row
    meas = timing.measure(w, info.torch_device, slots=w.slots, rule=rule, l2_flush=plan.l2_flush, flusher=flusher)
    figures.memory_row(row, meas, info, spec)
    if w.kernel in LINK_KERNELS:  # a host link is not HBM: no HBM spec or clock x bus figure applies
        row.spec_value = row.pct_of_spec = row.theoretical_value = row.pct_of_theoretical = None
        row.note = _join(row.note, "host link: one_direction is the transfer rate")
    return row


def _join(a, b):
    return "; ".join(x for x in (a, b) if x) or None


def plan_for(kernel: str, nbytes: int, info: DeviceInfo, hot: bool = False) -> tuple[Traffic, CachePlan]:
    """Traffic and cache plan for one kernel at one size; raises when the buffers do not fit."""
    t = traffic(kernel, nbytes)
    require_memory(kernel, t, info.torch_device)
    if kernel in LINK_KERNELS:
        return t, CachePlan(1, False, "link: host buffer pinned, device buffer one set")
    free = available_bytes(info.torch_device)
    budget = None if free is None else int(0.8 * free)
    plan = cache_plan(t.working_set, info.l2_bytes, budget, hot=hot, can_flush=info.kind == "cuda")
    require_memory(kernel, t, info.torch_device, plan.slots)
    return t, plan


def run_kernel(kernel: str, nbytes: int, info: DeviceInfo, spec, rule: timing.StopRule, *, vec: int = 16,
               hint: str = "stream", shape: LaunchShape | None = None, threads=None, blocks_per_sm=None,
               unroll=None, extra_config: dict | None = None) -> Row:
    """One measured (and checked) row for a kernel at a size; a capability missing here -> 'skipped' row."""
    try:
        _t, plan = plan_for(kernel, nbytes, info)
        w = make_workload(kernel, nbytes, info, vec=vec, hint=hint, shape=shape, slots=plan.slots, threads=threads,
                          blocks_per_sm=blocks_per_sm, unroll=unroll)
    except Unavailable as exc:
        return Row(suite="hbm", name=kernel, status="skipped", shape=size_label(nbytes), note=str(exc))
    try:
        row = measure_workload(w, info, spec, rule, plan)
        if extra_config:
            row.config.update(extra_config)
        return row
    finally:
        w.close()


# ---- tune -------------------------------------------------------------------------------------

TUNE_RULE = timing.StopRule(min_samples=5, max_samples=200, min_time_s=0.02, max_time_s=0.25, target_noise=0.01)


@dataclass
class TuneResult:
    kernel: str
    best: LaunchShape
    best_tbps: float
    default: LaunchShape
    default_tbps: float
    tried: list = field(default_factory=list)   # (label, hint, TB/s)

    def summary(self) -> str:
        b = self.best
        gain = 100.0 * (self.best_tbps / self.default_tbps - 1) if self.default_tbps else 0.0
        return (f"tune {self.kernel}: picked vec {b.vec}, {b.threads} threads x {b.blocks_per_sm} blocks/SM "
                f"({b.blocks} blocks), unroll {b.unroll}, hint {b.hint}: {self.best_tbps:.3f} TB/s "
                f"(default {self.default.label()} {self.default.hint}: {self.default_tbps:.3f} TB/s, {gain:+.1f}%; "
                f"{len(self.tried)} shapes tried)")


def tune_kernel(kernel: str, nbytes: int, info: DeviceInfo, spec, *, vec: int = 16, hints=("default", "stream"),
                rule: timing.StopRule = TUNE_RULE, progress=lambda m: None) -> TuneResult:
    """Coordinate search over unroll, threads per block, blocks per SM and hint (each stage keeps the best
    so far), on one buffer set of `nbytes`; every candidate timed through the harness."""
    _t, plan = plan_for(kernel, nbytes, info)
    start = device_launch(kernel, info, vec, hints[0])
    w = make_workload(kernel, nbytes, info, shape=start, slots=plan.slots)
    tried: dict[tuple, float] = {}
    flusher = timing.L2Flusher(info.torch_device, info.l2_bytes) if plan.l2_flush else None

    def score(shape: LaunchShape) -> float:
        key = (shape.threads, shape.blocks_per_sm, shape.unroll, shape.hint)
        if key not in tried:
            w.set_shape(shape)
            row = measure_workload(w, info, spec, rule, plan, check=False, flusher=flusher)
            tried[key] = row.value or 0.0
            progress(f"  tune {kernel}: {shape.label()} {shape.hint}: {tried[key]:.3f} TB/s")
        return tried[key]

    def candidate(base: LaunchShape, **kw) -> LaunchShape | None:
        args = dict(threads=base.threads, unroll=base.unroll, blocks_per_sm=None)
        hint = kw.pop("hint", base.hint)
        args.update(kw)
        try:
            return device_launch(kernel, info, vec, hint, **args)
        except AccelkernError:
            return None  # does not fit (registers)

    try:
        default_tbps = score(start)
        best, best_v = start, default_tbps
        stages = [
            [dict(unroll=u) for u in UNROLLS],
            [dict(threads=t) for t in THREADS_CHOICES],
            None,  # blocks per SM: up to the resident limit of the best so far
            [dict(hint=h) for h in hints],
        ]
        for stage in stages:
            if stage is None:
                stage = [dict(blocks_per_sm=b) for b in sorted({1, 2, max(1, best.resident // 2), best.resident})]
            for kw in stage:
                if "blocks_per_sm" not in kw:
                    kw = {**kw, "blocks_per_sm": None}
                cand = candidate(best, **kw)
                if cand is None:
                    continue
                v = score(cand)
                if v > best_v:
                    best, best_v = cand, v
        return TuneResult(kernel, best, best_v, start, default_tbps,
                          [(f"{k[0]}x{k[1]}/SM u{k[2]}", k[3], v) for k, v in tried.items()])
    finally:
        w.close()


# ---- sweep ------------------------------------------------------------------------------------

def sweep_sizes(lo: int, hi: int, per_octave: int = 2, align: int = 256) -> list[int]:
    """Sizes from lo to hi (both included) in steps of 2^(1/per_octave), rounded to `align` bytes."""
    if lo < 1 or hi < lo:
        raise AccelkernError(f"sweep range {lo}..{hi} B: need 1 <= min <= max")
    if per_octave < 1:
        raise AccelkernError("--steps: at least 1 size per doubling")
    n = int(math.floor(per_octave * math.log2(hi / lo) + 1e-9))
    sizes = []
    for i in range(n + 1):
        s = lo * 2 ** (i / per_octave)
        s = max(align, int(round(s / align)) * align) if lo >= align else int(round(s))
        sizes.append(s)
    sizes.append(hi)
    return sorted(set(sizes))


@dataclass
class SweepPoint:
    size: int            # bytes per buffer
    working_set: int     # bytes one pass touches
    tbps: float          # read + write counted


def run_sweep(kernel: str, sizes: list[int], info: DeviceInfo, spec, rule: timing.StopRule, *, vec=16,
              hint="stream", threads=None, blocks_per_sm=None, unroll=None,
              emit: Callable[[Row], Row] = lambda r: r) -> list[SweepPoint]:
    """Hot-mode sweep (see the module doc): buffers allocated once at the largest size, each size run on
    their prefix, `passes` per call so a call moves ~1 GiB (64 MiB on a CPU). Rows go to emit()."""
    hi = max(sizes)
    t = traffic(kernel, hi)
    require_memory(kernel, t, info.torch_device)
    w = make_workload(kernel, hi, info, vec=vec, hint=hint, threads=threads, blocks_per_sm=blocks_per_sm,
                      unroll=unroll)
    plan = CachePlan(1, False, "hot: one set reused; sizes within the cache are served from it")
    points = []
    try:
        for size in sizes:
            w.resize(size, 1)
            w.resize(size, hot_passes(w.traffic, info.kind))
            row = measure_workload(w, info, spec, rule, plan)
            row.suite = "hbm-sweep"
            row.config["working_set_bytes"] = w.traffic.working_set
            emit(row)
            if row.status == "ok" and row.value:
                points.append(SweepPoint(w.nbytes, w.traffic.working_set, row.value))
    finally:
        w.close()
    return points


def cache_transition(points: list[SweepPoint]) -> float | None:
    """Working-set size (bytes) where bandwidth falls halfway from the cache plateau (the best point) to
    the memory plateau (median of the 3 largest sizes), interpolated in log size; None without two
    plateaus (the best point not at least 1.3x the memory plateau)."""
    pts = sorted(points, key=lambda p: p.working_set)
    if len(pts) < 4:
        return None
    hi_i = max(range(len(pts)), key=lambda i: pts[i].tbps)
    hi = pts[hi_i].tbps
    tail = sorted(p.tbps for p in pts[-3:])
    lo = tail[1]
    if hi < 1.3 * lo:
        return None
    mid = (hi + lo) / 2
    for i in range(hi_i, len(pts) - 1):
        a, b = pts[i], pts[i + 1]
        if a.tbps >= mid > b.tbps:
            f = (a.tbps - mid) / (a.tbps - b.tbps)
            return 2 ** (math.log2(a.working_set) + f * (math.log2(b.working_set) - math.log2(a.working_set)))
    return None


def plot_sweep(series: dict, cache_bytes: int | None, spec_tbps: float | None, path: str, title: str,
               cache_label: str = "L2") -> str | None:
    """PNG of bandwidth (TB/s, read+write counted) vs working set, one line per kernel, the cache size and
    the spec marked. Returns the path, or None when matplotlib is missing (the reason goes to stderr)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from accelkern.results import progress
        progress("plot skipped: matplotlib is not installed (pip install matplotlib, or accelkern[plot])")
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for kernel, pts in series.items():
        pts = sorted(pts, key=lambda p: p.working_set)
        if pts:
            ax.plot([p.working_set for p in pts], [p.tbps for p in pts], marker="o", ms=3, label=kernel)
            tr = cache_transition(pts)
            if tr:
                ax.axvline(tr, color="grey", ls=":", lw=0.8)
    if cache_bytes:
        ax.axvline(cache_bytes, color="tab:red", ls="--", lw=1, label=f"{cache_label} {format_bytes(cache_bytes)}")
    if spec_tbps:
        ax.axhline(spec_tbps, color="black", ls="--", lw=1, label=f"spec {spec_tbps:.3g} TB/s")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("working set (bytes one pass touches, all buffers)")
    ax.set_ylabel("TB/s (read + write counted)")
    ax.set_title(title, fontsize=10)
    ticks = [1 << e for e in range(10, 44, 2)]
    xs = [p.working_set for pts in series.values() for p in pts]
    if xs:
        ticks = [t for t in ticks if min(xs) / 2 <= t <= max(xs) * 2]
        ax.set_xticks(ticks)
        ax.set_xticklabels([format_bytes(t) for t in ticks], rotation=30, fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def summary_lines(rows: list[Row], info: DeviceInfo) -> list[str]:
    """Footer of `accelkern hbm`: the byte convention, the cache modes used, copy vs Tensor.copy_."""
    ok = [r for r in rows if r.status == "ok" and r.value]
    lines = ["bytes: rd+wr TB/s counts bytes read + written per call (copy/ce/torch/h2d/d2h N+N, read N, write N, "
             "triad 2N+N; N = size per buffer); 1-dir TB/s = the larger of the two over the same time"]
    lines += [f"cache: {m}" for m in sorted({(r.config or {}).get("cache") for r in ok} - {None})]
    copies = [r for r in ok if r.name == "copy"]
    ref = [r for r in ok if r.name == "torch"]
    if copies and ref:
        best = max(copies, key=lambda r: r.value)
        lines.append(f"copy {best.value:.3f} TB/s (hint {best.config.get('hint')}) vs Tensor.copy_ {ref[0].value:.3f} "
                     f"TB/s: {100 * (best.value / ref[0].value - 1):+.1f}%")
    return lines


# ---- validate suite: best kernel per direction vs spec ------------------------------------------

DIRECTIONS = (
    ("read", ["read"]),
    ("write", ["write"]),
    ("copy", ["copy", "ce"]),
)


def validate_size(info: DeviceInfo) -> int:
    """2 GiB per buffer on a GPU; on a CPU 8x the last-level cache (>= 256 MiB), within 1/8 of RAM."""
    if info.kind == "cuda":
        return 2 << 30
    size = max(256 << 20, 8 * (info.l2_bytes or 0))
    if info.memory_bytes:
        size = min(size, info.memory_bytes // 8)
    return size // 4096 * 4096


def suite_rows(ctx) -> Iterator[Row]:
    """Per direction (read, write, copy) every candidate (own kernel with both hints, the copy engine; torch
    on a CPU) is measured and the best one emitted, the others named in its note."""
    info = ctx.device
    nbytes = validate_size(info)
    candidates = []
    for direction, kernels in DIRECTIONS:
        for k in kernels:
            if info.kind != "cuda" or _ext.load() is None:
                if k in OWN_KERNELS:
                    candidates.append((direction, k, None))
            elif k in OWN_KERNELS:
                candidates += [(direction, k, h) for h in HINTS]
            else:
                candidates.append((direction, k, None))
    results: dict[str, list[Row]] = {}
    for i, (direction, k, hint) in enumerate(candidates):
        ctx.progress(f"  hbm {direction}: {k}{' ' + hint if hint else ''} {format_bytes(nbytes)}")
        if info.kind == "cuda" and _ext.load() is None:
            row = _torch_row(k, nbytes, info, ctx.spec, ctx.rule(len(candidates) - i))
        else:
            row = run_kernel(k, nbytes, info, ctx.spec, ctx.rule(len(candidates) - i), hint=hint or "stream")
        results.setdefault(direction, []).append(row)
    for direction, _ in DIRECTIONS:
        rows = results.get(direction, [])
        ok = [r for r in rows if r.status == "ok" and r.value]
        if not ok:
            yield from rows
            continue
        best = max(ok, key=lambda r: r.value)
        others = [f"{_label(r)} {r.value:.3f}" for r in ok if r is not best]
        best.name = f"{direction}: {_label(best)}"
        what = f"{direction} direction" + (", best of " + ", ".join([f"{_label(best)} {best.value:.3f}"] + others)
                                            + " TB/s" if others else "")
        best.note = _join(what, best.note)
        yield best
    if info.kind == "cuda" and _ext.load() is not None:
        # the independent cross-check: what torch's own copy reaches on the same buffers
        _t, plan = plan_for("copy", nbytes, info)
        w = TorchWorkload("copy", nbytes, info.torch_device, plan.slots)
        try:
            row = measure_workload(w, info, ctx.spec, ctx.rule(1), plan)
        finally:
            w.close()
        row.name = f"copy: {row.name} (torch cross-check)"
        yield row


def _label(r: Row) -> str:
    h = (r.config or {}).get("hint")
    base = r.name.split(": ")[-1]
    return f"{base}/{h}" if h else base


def _torch_row(kernel, nbytes, info, spec, rule) -> Row:
    _t, plan = plan_for(kernel, nbytes, info)
    w = TorchWorkload(kernel, nbytes, info.torch_device, plan.slots)
    try:
        row = measure_workload(w, info, spec, rule, plan)
        row.note = _join(row.note, f"torch path: {_ext.error()}")
        return row
    finally:
        w.close()


def _register():
    from accelkern import validate
    validate.register(validate.Suite("hbm", "memory bandwidth per direction (read, write, copy) vs spec",
                                     suite_rows, weight=1.0))


_register()
