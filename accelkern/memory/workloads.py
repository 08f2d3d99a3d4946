"""Workloads: a callable w(slot) per kernel and backend over `slots` buffer sets, with its byte accounting,
a correctness check (poisoned output, one call, exact or toleranced comparison against
accelkern.memory.references) and resize() to run on a prefix of the buffers (sweeps). Sizes are bytes."""
from __future__ import annotations

import math

from accelkern import _ext, checks
from accelkern.device import DeviceInfo
from accelkern.errors import Unavailable
from accelkern.memory.kernels import (CUDA_ONLY, HINTS, KERNEL_HELP, OWN_KERNELS, TRIAD_SCALAR, WRITE_PATTERN,
                                      LaunchShape, Traffic, device_launch, traffic)
from accelkern.memory.references import (MASK32, as_int32, bytes_equal, checksum, filled_with, partials_sum,
                                         pattern_bytes, poison_fill_, triad_error)

GUARD_BYTES = 4096                 # bytes past the end of a checked output that must stay untouched


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
        if str(self.device) != "cpu":
            return torch.randint(0, 256, (n,), dtype=torch.uint8, device=self.device, generator=self.gen)
        # on a CPU 64 random bits at a time: 3-4x faster than byte by byte, which the set-up time shows
        out = torch.empty(n, dtype=torch.uint8)
        words = n // 8
        if words:
            out[:8 * words].view(torch.int64).random_(-2**63, None, generator=self.gen)
        if n % 8:
            out[8 * words:] = torch.randint(0, 256, (n % 8,), dtype=torch.uint8, generator=self.gen)
        return out

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
            got, want = read_result(), (self.passes * checksum(self.src[0], n)) & MASK32
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
            self._views = [(self.dst[i][:4 * w].view(torch.int32), self.dst[i][4 * w:n], tail)
                           for i in range(self.slots)]
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
                v[0].fill_(as_int32(WRITE_PATTERN))
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
