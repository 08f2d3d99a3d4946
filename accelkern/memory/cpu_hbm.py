"""`accelkern hbm --device cpu`: options checked before anything runs, then accelkern's CPU kernels (DRAM rows
with % of the theoretical, the DRAM latency) and torch's ops as cross-check rows; or --sweep (cpu_sweep). The
command module (accelkern/commands/hbm.py) keeps the output; this module the logic. Sizes are bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from accelkern import timing
from accelkern.errors import AccelkernError, NoDevice
from accelkern.memory import cpu_kernels as ck
from accelkern.memory.cpu_run import make_workload, measure_row, require_fits
from accelkern.memory.measure import join, size_text
from accelkern.units import format_bytes, format_value, split_list

CPU_OPS = ck.OPS
DEFAULT_OPS = ("read", "write", "copy", "triad")
TORCH_OPS = ("read", "write", "copy", "triad")     # the torch ops kept as cross-check rows (accelkern.memory.workloads)
CPU_DEFAULT_TIME_S = 0.75                         # most seconds of timing per row when --time is not given
STORE_HINTS = {"default": False, "stream": True}  # --hint on a CPU: normal or streaming (non-temporal) stores


@dataclass
class CpuPlan:
    ops: list                      # kernel ops, in order
    streaming: list                # store kinds to run for ops that store: False normal, True streaming
    path: str                      # avx512 | avx2 | scalar
    cpus: list                     # one per physical core in use
    torch: bool                    # add the torch cross-check rows
    nbytes: int | None = None      # bytes per array, all threads together (None: the default)
    sweep_sizes: list = field(default_factory=list)   # per thread
    notes: list = field(default_factory=list)


def parse_ops(text: str | None, sweep: bool) -> tuple[list, bool]:
    """(ops, torch cross-check) from --kernel on a CPU: read, write, copy, scale, add, triad, and 'torch' for
    the cross-check rows. Default: read, write, copy, triad with the torch rows (--sweep: read)."""
    names = split_list(text)
    if not names:
        return (["read"], False) if sweep else (list(DEFAULT_OPS), True)
    allowed = CPU_OPS + ("torch",)
    bad = [n for n in names if n not in allowed]
    if bad:
        raise AccelkernError(f"--kernel {bad[0]}: not a CPU memory kernel; allowed on a CPU: {', '.join(allowed)}")
    if sweep and "torch" in names:
        raise AccelkernError("--sweep on a CPU runs accelkern's kernels; 'torch' cannot be swept")
    ops = [n for n in dict.fromkeys(names) if n != "torch"]
    return ops, "torch" in names


def parse_stores(text: str | None) -> list:
    """--hint on a CPU: default (normal stores) and/or stream (streaming stores); both by default."""
    names = split_list(text)
    if not names:
        return [False, True]
    bad = [n for n in names if n not in STORE_HINTS]
    if bad:
        raise AccelkernError(f"--hint {bad[0]}: on a CPU use default (normal stores) or stream (streaming, "
                             "non-temporal stores)")
    return list(dict.fromkeys(STORE_HINTS[n] for n in names))


def pick_cpus(threads: int | None) -> list[int]:
    """One CPU per physical core this process may use, the first `threads` of them (default all)."""
    from accelkern.hostcpu import topology
    cores = topology.one_cpu_per_core()
    if threads is not None and threads < 1:
        raise AccelkernError(f"--threads {threads}: at least 1 (on a CPU: pinned threads, one per physical core)")
    if threads is not None and threads > len(cores):
        raise AccelkernError(f"--threads {threads}: more than the {len(cores)} physical core(s) this process may use "
                             f"(CPUs {', '.join(map(str, cores))}); at most {len(cores)}")
    return cores[:threads] if threads else cores


def pick_path(isa: str | None, features: frozenset) -> str:
    """--isa, or the widest path this CPU has."""
    if not isa:
        return ck.best_path(features)
    if isa not in ck.PATHS:
        raise AccelkernError(f"--isa {isa}: use {', '.join(ck.PATHS)}")
    why = ck.path_missing(isa, features)
    if why:
        raise NoDevice(f"--isa {isa}: {why}")
    return isa


def plan(kernels, hints, threads, isa, sweep: bool) -> CpuPlan:
    """Everything checked that can be before any memory is allocated."""
    ops, torch_rows = parse_ops(kernels, sweep)
    streaming = parse_stores(hints)
    cpus = pick_cpus(threads)
    why = ck.available()
    if why:
        raise NoDevice(why)
    path = pick_path(isa, ck.cpu_features())
    return CpuPlan(ops=ops, streaming=streaming, path=path, cpus=cpus, torch=torch_rows)


def kernels_of(p: CpuPlan) -> list[ck.CpuMemKernel]:
    """The kernels a plan runs, op by op (ops that store: each asked store kind)."""
    all_k = ck.all_kernels()
    out = []
    for op in p.ops:
        first = ck.find(op, p.path, False, all_k)
        if not first.stores:
            out.append(first)
            continue
        out += [ck.find(op, p.path, nt, all_k) for nt in p.streaming]
    return out


def sized_ops(p: CpuPlan) -> list:
    """The ops whose arrays size the run: the own ones, or torch's four when only the cross-checks run."""
    return list(p.ops) or list(TORCH_OPS)


def working_set_of(ops, nbytes: int) -> int:
    """Bytes of the largest op's arrays at nbytes per array."""
    arrays = {"read": 1, "write": 1, "copy": 2, "scale": 2, "add": 3, "triad": 3}
    return max(arrays[o] for o in ops) * nbytes if ops else 0


def default_nbytes(p: CpuPlan) -> int:
    """Bytes per array of a default run: the memory package's CPU default (8x the caches the CPUs reach, within
    2 GiB per working set and a quarter of free memory)."""
    from accelkern.hostcpu import caches
    from accelkern.memory.plan import cpu_default_size, host_available_bytes
    ops = [o if o in ("read", "write", "copy", "triad") else ("copy" if o == "scale" else "triad")
           for o in sized_ops(p)]
    return cpu_default_size(ops, caches.read_caches(cpus=p.cpus), host_available_bytes())


def check_size(p: CpuPlan, nbytes: int):
    """Refuses (one line, before allocating) a working set beyond free memory, with the size that fits."""
    ws = working_set_of(sized_ops(p), nbytes)
    arrays = max(1, ws // max(1, nbytes))
    try:
        require_fits(ws, f"--size {format_bytes(nbytes)} per array ({arrays} array(s))")
    except AccelkernError as exc:
        from accelkern.memory.plan import host_available_bytes
        free = host_available_bytes() or 0
        fits = int(0.9 * free) // arrays
        raise AccelkernError(f"{exc}: --size {format_bytes(fits)} per array or less") from None


def run_default(s, p: CpuPlan, rule: timing.StopRule, facts, iterate=lambda xs: xs) -> list[str]:
    """The rows of a default CPU run (emitted through the session); returns the footer lines."""
    from accelkern.memory import cpu_latency, cpu_theoretical
    from accelkern.memory.measure import run_kernel
    info = s.info
    nbytes = p.nbytes
    theo = cpu_theoretical.resolve(s.spec, s.spec_how, sockets=facts.sockets, cores_used=len(p.cpus))
    footer = []
    by_op = {}
    for k in kernels_of(p):
        by_op.setdefault(k.op, []).append(k)
    # the cross-checks are torch's figures beside ours, not the row the run is for: half the timing each
    cross_rule = timing.StopRule(max_time_s=max(0.05, rule.max_time_s / 2))
    # --kernel torch alone: torch's four ops; with own kernels: the torch ops among them
    torch_ops = ([op for op in TORCH_OPS if op in p.ops] or ([] if p.ops else list(TORCH_OPS))) if p.torch else []
    jobs = [("own", op) for op in by_op] + ([("latency", None)] if by_op else []) + [("torch", op) for op in torch_ops]
    for kind, op in iterate(jobs):
        if kind == "own":
            ks = by_op[op]
            w = make_workload(ks[0], nbytes, p.cpus)
            try:
                for k in ks:
                    if k is not ks[0]:
                        w.set_kernel(k)
                    s.emit(measure_row(w, info, s.spec, rule, theo))
            finally:
                w.close()
        elif kind == "latency":
            s.emit(_dram_latency(p, rule, cpu_latency))
        else:
            row = run_kernel(op, nbytes, info, s.spec, cross_rule)
            row.name = f"{op} (torch cross-check)"
            row.note = join(row.note, "cross-check: torch's own op on the same size (torch threads, not pinned)")
            if row.value and theo.known:
                row.theoretical_value = theo.bytes_s / 1e12
                row.pct_of_theoretical = 100.0 * row.value / row.theoretical_value
                row.config["theoretical_source"] = theo.source
            s.emit(row)
    footer.append(f"bytes: {ck.BYTE_CONVENTION}; rd+wr = credited loads + stores / time, 1-dir = the larger of "
                  "the two; mem = what the memory moved (adds the write-allocate reads of normal stores)")
    footer.append(f"threads: {len(p.cpus)} pinned (CPUs {', '.join(map(str, p.cpus))}), one per physical core; "
                  f"arrays allocated and first touched by the thread that uses them; ISA path {p.path}")
    footer.append(theo.describe() + (f"; {theo.note}" if theo.note else ""))
    footer += compare_lines(s.writer.rows)
    return footer


DRAM_CHASE_LLC_MULTIPLE = 8   # the DRAM latency chases this many times one CPU's last-level cache


def dram_chase_bytes(cpu: int) -> int:
    """Bytes the DRAM latency row chases: DRAM_CHASE_LLC_MULTIPLE x the last-level cache one CPU reaches (so
    about one load in eight could still hit it), 256 MiB when the caches are unknown."""
    from accelkern.hostcpu import caches
    c = caches.read_caches(cpus=[cpu])
    return DRAM_CHASE_LLC_MULTIPLE * c.levels[-1].usable_bytes if c.known else 256 << 20


def _dram_latency(p: CpuPlan, rule, cpu_latency):
    size = dram_chase_bytes(p.cpus[0])
    require_fits(size, "pointer chase")
    ch = cpu_latency.Chaser(p.cpus[0], size)
    lrule = timing.StopRule(min_samples=5, min_time_s=0.02, max_time_s=min(0.5, rule.max_time_s),
                            target_noise=0.01)
    try:
        from accelkern.hostcpu import clock as cpu_clock
        reading = cpu_clock.measure_clock([p.cpus[0]], run_s=0.005, runs=3)
        pt, meas = cpu_latency.measure_point(ch, size, lrule, reading.mhz, reading.method)
        row = cpu_latency.latency_row(pt, meas, ch, lrule, level="DRAM", suite="hbm")
        row.note = join(row.note, f"one thread on CPU {p.cpus[0]}, {size_text(size)} chased "
                                  f"({DRAM_CHASE_LLC_MULTIPLE}x its last-level cache)")
        return row
    finally:
        ch.close()


def compare_lines(rows) -> list[str]:
    """copy/triad/write with streaming vs normal stores, and accelkern's copy vs Tensor.copy_."""
    ok = {r.name: r for r in rows if r.status == "ok" and r.value and r.metric == "TB/s"}
    out = []
    for op in ("copy", "triad", "write"):
        a, b = ok.get(f"{op} nt"), ok.get(op)
        if a and b:
            out.append(f"{op}: streaming stores {format_value(a.value, 'TB/s')} vs normal "
                       f"{format_value(b.value, 'TB/s')} "
                       f"({100 * (a.value / b.value - 1):+.0f}%; normal stores also read "
                       f"{format_value(b.config.get('memory_traffic_tbps', 0) - b.value, 'TB/s')} for write-allocate)")
    best = max((r for n, r in ok.items() if n.startswith("copy") and "torch" not in n), key=lambda r: r.value,
               default=None)
    ref = ok.get("copy (torch cross-check)")
    if best and ref:
        out.append(f"{best.name} {format_value(best.value, 'TB/s')} vs Tensor.copy_ {format_value(ref.value, 'TB/s')}: "
                   f"{100 * (best.value / ref.value - 1):+.1f}%")
    return out
