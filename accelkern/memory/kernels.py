"""The memory kernels by name, their byte accounting (Traffic) and their launch shape (LaunchShape).
Sizes are bytes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from accelkern import _ext
from accelkern.device import DeviceInfo
from accelkern.errors import AccelkernError
from accelkern.units import split_list

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
# the csrc/memory MemHint values: default = plain ld/st (loads L1-cached as LDG.E.*.CONSTANT), stream =
# ld/st.global.cs (evict-first), l2 = ld/st.global.cg (L2 only, never L1: what the hot sweep uses)
HINTS = {"default": 0, "stream": 1, "l2": 2}
COLD_HINTS = ("default", "stream")     # what a plain run and validate compare
HOT_HINT = "l2"                        # the sweep's hint: a small buffer re-read is an L2 figure, not L1
VECS = (4, 8, 16)
UNROLLS = (1, 2, 4, 8)
THREADS_CHOICES = (128, 256, 512, 1024)
DEFAULT_SIZE = 2 << 30
DEFAULT_THREADS = 512
IN_FLIGHT_TARGET = 128 << 10       # bytes of loads in flight per SM the default unroll aims for
WRITE_PATTERN = 0xA5C3_F00D        # non-zero, every byte distinct
TRIAD_SCALAR = 3.0


def parse_kernels(text: str | None, device_kind: str, sweep: bool = False) -> list[str]:
    """'copy,read' -> ['copy', 'read']; None -> the defaults for the device (and mode)."""
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
    raw = split_list(text)
    if not raw:
        return list(default)
    out = []
    for r in raw:
        v = int(r) if isinstance(allowed[0], int) and r.isascii() and r.isdigit() else r
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


def max_buffers(kernels) -> int:
    """The most device buffers one set of any of these kernels has (triad 3, copy 2, read/write 1)."""
    return max((traffic(k, 4096).device_buffers for k in kernels), default=1)


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

    @property
    def tile_bytes(self) -> int:
        """Bytes of one input a block handles per tile (threads x unroll x vec): the kernels' work unit."""
        return self.threads * self.unroll * self.vec

    def in_flight_per_sm(self, kernel: str) -> int:
        """Bytes of loads (stores for write) in flight per SM when every resident thread waits on its unroll."""
        return min(self.blocks_per_sm, self.resident) * self.threads * self.unroll * self.vec * LOADS_PER_ITEM[kernel]

    def label(self) -> str:
        return f"v{self.vec} {self.blocks}x{self.threads} u{self.unroll}"

    def key(self) -> tuple:
        """What tells two launches of one kernel apart."""
        return (self.vec, self.threads, self.blocks_per_sm, self.unroll, self.hint)

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
