"""accelkern's CPU memory kernels (accelkern._cpu, csrc/cpu/memory/) as Python sees them: their declarations,
the instruction path a CPU runs by default, and their byte accounting. Sizes are bytes, elements 8-byte doubles.

Byte convention (STREAM and likwid-bench): a kernel is credited the explicit loads and stores of its formula,
8 B each per element (copy 16, scale 16, add 24, triad 24, read 8, write 8). A normal store first reads the
line it writes into the cache (write-allocate), one more 8 B read per stored element that the memory moves
but the convention does not credit; a streaming (non-temporal) store writes the line whole and skips it.
Every row carries both, and the one-direction figure (the larger of loads and stores over the same time).
"""
from __future__ import annotations

from dataclasses import dataclass

from accelkern import _cpu_ext
from accelkern.errors import AccelkernError, Unavailable

OPS = ("read", "write", "copy", "scale", "add", "triad")
PATHS = ("avx512", "avx2", "scalar")             # widest first
PATH_FEATURE = {"avx512": "avx512f", "avx2": "avx2", "scalar": None}
BYTE_CONVENTION = "explicit loads + stores, 8 B per element each (STREAM, likwid-bench)"


@dataclass(frozen=True)
class CpuMemKernel:
    """One kernel's declaration, read from accelkern._cpu (csrc/cpu/memory/ops.cpp and stream_*.cpp)."""
    name: str
    op: str
    path: str
    isa: str
    features: str
    formula: str
    arrays: str                   # array names, outputs first
    streaming: bool
    outputs: int
    inputs: int
    elem_bytes: int
    loads_per_elem: int
    stores_per_elem: int
    write_allocate_per_elem: int
    vector_bytes: int
    unroll: int
    block_elems: int
    load_instr: str
    store_instr: str
    scalar: float
    built: bool
    why_not_built: str

    @property
    def n_arrays(self) -> int:
        return len(self.arrays)

    @property
    def stores(self) -> bool:
        return self.stores_per_elem > 0

    @property
    def store_kind(self) -> str:
        """'streaming', 'normal', or 'none' (read)."""
        return "none" if not self.stores else ("streaming" if self.streaming else "normal")

    @property
    def label(self) -> str:
        """'triad nt' / 'triad' / 'read': the op and its store kind as the tables show it."""
        return f"{self.op} nt" if self.streaming else self.op


@dataclass(frozen=True)
class CpuTraffic:
    """Bytes of one call: `passes` passes of every worker over its `elems` elements per array."""
    elems: int                # per worker and array
    threads: int
    passes: int
    loaded: int               # explicit loads (credited)
    stored: int               # explicit stores (credited)
    write_allocate: int       # reads normal stores add (not credited)
    working_set: int          # bytes of all arrays of all workers (what one pass touches)

    @property
    def credited(self) -> int:
        return self.loaded + self.stored

    @property
    def moved(self) -> int:
        """What the memory system moves: credited bytes plus the write-allocate reads."""
        return self.credited + self.write_allocate


def _module():
    mod = _cpu_ext.load()
    if mod is None:
        raise Unavailable(f"accelkern's CPU memory kernels need accelkern._cpu: {_cpu_ext.error()}")
    if not hasattr(mod, "memory_kernels"):
        raise Unavailable("this accelkern._cpu has no memory kernels (an older build): rebuild it with "
                          "`pip install --no-build-isolation -e .`")
    return mod


def available() -> str | None:
    """None when the CPU memory kernels can run here, else why not."""
    try:
        _module()
    except Unavailable as exc:
        return str(exc)
    return None


def all_kernels() -> list[CpuMemKernel]:
    """Every declared kernel (built or not), as accelkern._cpu lists them."""
    return [CpuMemKernel(**d) for d in _module().memory_kernels()]


def cpu_features() -> frozenset:
    """The usable ISA features of this CPU (accelkern.hostcpu), Linux spelling ('avx2', 'avx512f')."""
    from accelkern.hostcpu import facts
    return frozenset(facts.cpu_facts().features)


def path_missing(path: str, features: frozenset) -> str | None:
    """Why this CPU cannot run a path (None: it can)."""
    need = PATH_FEATURE[path]
    if need and need not in features:
        return f"{path} needs {need}, which this CPU (or its OS) does not offer"
    return None


def best_path(features: frozenset) -> str:
    """The widest path this CPU has: avx512, avx2, else scalar."""
    for p in PATHS:
        if path_missing(p, features) is None:
            return p
    return "scalar"


def find(op: str, path: str, streaming: bool = False, kernels: list[CpuMemKernel] | None = None) -> CpuMemKernel:
    """The kernel for an op on a path; streaming is ignored for read (it stores nothing)."""
    for k in kernels if kernels is not None else all_kernels():
        if k.op == op and k.path == path and (k.streaming == streaming or not k.stores):
            return k
    raise AccelkernError(f"no CPU memory kernel for {op} on {path}{' with streaming stores' if streaming else ''}")


def unavailable(k: CpuMemKernel, features: frozenset) -> str | None:
    """Why kernel k cannot run here (not built, or an ISA this CPU lacks); None when it can."""
    if not k.built:
        return f"{k.name} is not built: {k.why_not_built}"
    return path_missing(k.path, features)


def traffic(k: CpuMemKernel, elems: int, threads: int, passes: int = 1) -> CpuTraffic:
    """Bytes one call moves: every worker `passes` times over `elems` elements of each of its arrays."""
    per = elems * threads * passes * k.elem_bytes
    return CpuTraffic(elems=elems, threads=threads, passes=passes, loaded=per * k.loads_per_elem,
                      stored=per * k.stores_per_elem, write_allocate=per * k.write_allocate_per_elem,
                      working_set=elems * threads * k.elem_bytes * k.n_arrays)


def elems_for(k: CpuMemKernel, working_set: int, threads: int) -> int:
    """Elements per worker and array so that all arrays of all workers take at most `working_set` bytes,
    a multiple of the kernel's block (at least one block)."""
    per = working_set // (threads * k.n_arrays * k.elem_bytes)
    return max(k.block_elems, per // k.block_elems * k.block_elems)


def byte_note(k: CpuMemKernel, t: CpuTraffic, seconds: float | None = None) -> str:
    """What the row's byte figures count, and what they leave out (write-allocate), in one clause."""
    ld, st = k.loads_per_elem * k.elem_bytes, k.stores_per_elem * k.elem_bytes
    base = f"{k.formula}: {ld} B loaded + {st} B stored per element credited"
    if not k.stores:
        return base
    if k.streaming:
        return base + "; streaming stores: no write-allocate read"
    wa = k.write_allocate_per_elem * k.elem_bytes
    extra = ""
    if seconds:
        extra = f" (with it the memory moved {t.moved / seconds / 1e9:.4g} GB/s)"
    return (base + f"; normal stores also read each line before writing it (write-allocate, {wa} B per element, "
            f"not credited){extra}")
