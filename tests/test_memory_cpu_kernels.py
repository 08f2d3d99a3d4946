"""accelkern's CPU memory kernels (accelkern._cpu, csrc/cpu/memory/): their byte declarations, that each one
really computes its formula on every element and nothing past the end (checked bit for bit), that a
corrupted output fails the check, that each worker's arrays were first touched by that worker, and that the
pointer chase is one whole cycle. A kernel for an ISA this CPU lacks is skipped with the reason. No timing."""

import pytest

from accelkern import _cpu_ext
from accelkern.memory import cpu_kernels as ck
from accelkern.memory.cpu_run import CpuMemoryWorkload, judge, placement_note

MOD = _cpu_ext.load()
pytestmark = pytest.mark.skipif(MOD is None or not hasattr(MOD, "memory_kernels"),
                                reason=f"accelkern._cpu with memory kernels not built: {_cpu_ext.error()}")

# STREAM's and likwid-bench's credited bytes per element (8-byte doubles) and the write-allocate reads
EXPECTED = {"read": (8, 0), "write": (0, 8), "copy": (8, 8), "scale": (8, 8), "add": (16, 8), "triad": (16, 8)}
ARRAYS = {"read": 1, "write": 1, "copy": 2, "scale": 2, "add": 3, "triad": 3}


def kernels():
    return ck.all_kernels() if MOD is not None and hasattr(MOD, "memory_kernels") else []


def runnable(k):
    """Skips (with the reason) a kernel this machine cannot run."""
    why = ck.unavailable(k, ck.cpu_features())
    if why:
        pytest.skip(why)


def cpus(n=2):
    from accelkern.hostcpu import topology
    return topology.one_cpu_per_core(n)


def floats(buf):
    return memoryview(buf).cast("B").cast("d")


@pytest.mark.parametrize("k", kernels(), ids=lambda k: k.name)
def test_declared_traffic_per_element(k):
    loads, stores = EXPECTED[k.op]
    assert (k.loads_per_elem * k.elem_bytes, k.stores_per_elem * k.elem_bytes) == (loads, stores)
    assert k.n_arrays == ARRAYS[k.op] == k.outputs + k.inputs
    assert k.write_allocate_per_elem == (0 if k.streaming else k.stores_per_elem)
    assert k.block_elems == k.unroll * k.vector_bytes // k.elem_bytes
    if k.streaming:
        assert "nt" in k.store_instr or "movnt" in k.store_instr


def test_every_op_has_both_store_kinds_on_every_path():
    names = {k.name for k in kernels()}
    for path in ck.PATHS:
        assert f"read_{path}" in names and f"read_{path}_nt" not in names   # read stores nothing
        for op in ("write", "copy", "scale", "add", "triad"):
            assert {f"{op}_{path}", f"{op}_{path}_nt"} <= names


def test_traffic_of_a_call():
    triad = ck.find("triad", "scalar", False)
    t = ck.traffic(triad, elems=1024, threads=2, passes=3)
    assert t.loaded == 3 * 2 * 1024 * 16 and t.stored == 3 * 2 * 1024 * 8
    assert t.write_allocate == t.stored and t.moved == t.credited + t.stored
    assert t.working_set == 2 * 1024 * 3 * 8
    nt = ck.find("triad", "scalar", True)
    assert ck.traffic(nt, 1024, 2).write_allocate == 0
    assert ck.elems_for(ck.find("copy", "avx512", False), 1 << 20, 2) == (1 << 20) // (2 * 2 * 8)
    assert ck.elems_for(ck.find("copy", "avx512", False), 100, 2) == 32   # at least one block


@pytest.mark.parametrize("k", kernels(), ids=lambda k: k.name)
def test_kernel_output_is_its_formula_on_every_element(k):
    runnable(k)
    w = CpuMemoryWorkload(k, 4 * k.block_elems * 8, cpus())
    try:
        w.passes = 3
        w()                       # a timed-style call first: the check must refill and re-poison
        ok, why = w.check()
        assert ok, why
        checks = w.run.verify()
        assert all(c["elements"] == w.elems for c in checks)
        if k.op == "read":
            sums = w.run.sums()
            # the sum of the 64-bit words, as Python computes it from the same bytes
            for wk, s in enumerate(sums):
                words = memoryview(w.run.array(wk, 0)).cast("B").cast("Q")[:w.elems]
                assert s == sum(words) % (1 << 64)
        else:
            out = floats(w.run.array(0, 0))
            ins = [floats(w.run.array(0, j)) for j in range(1, k.n_arrays)]
            s = k.scalar
            want = {"write": lambda i: s, "copy": lambda i: ins[0][i], "scale": lambda i: s * ins[0][i],
                    "add": lambda i: ins[0][i] + ins[1][i], "triad": lambda i: ins[0][i] + s * ins[1][i]}[k.op]
            assert all(out[i] == want(i) for i in range(w.elems))
            assert all(out[i] != 0 for i in range(0, w.elems, 7))   # the inputs are never all zero
    finally:
        w.close()


@pytest.mark.parametrize("op", ck.OPS)
def test_a_corrupted_output_fails_the_check(op):
    k = ck.find(op, ck.best_path(ck.cpu_features()), False)
    runnable(k)
    w = CpuMemoryWorkload(k, 16 * k.block_elems, cpus())
    try:
        w.run.prepare_check(7)
        w()
        assert judge(w.run.verify(), k)[0]
        # one element changed after the kernel ran: its input for read (the sum no longer matches), its output else
        victim = floats(w.run.array(len(cpus()) - 1, 0))
        victim[5] = victim[5] + 1.0
        ok, why = judge(w.run.verify(), k)
        assert not ok
        assert ("sum" in why) if op == "read" else ("first at element 5" in why)
    finally:
        w.close()


def test_a_write_past_the_end_fails_the_check():
    k = ck.find("copy", "scalar", True)
    w = CpuMemoryWorkload(k, 64, cpus(1))
    try:
        w.run.prepare_check(3)
        w()
        floats(w.run.array(0, 0))[w.elems + 3] = 1.0     # in the guard past the last element
        ok, why = judge(w.run.verify(), k)
        assert not ok and "past the end" in why
    finally:
        w.close()


def test_a_prefix_run_touches_only_the_prefix():
    k = ck.find("triad", ck.best_path(ck.cpu_features()), True)
    runnable(k)
    w = CpuMemoryWorkload(k, 8 * k.block_elems, cpus())
    try:
        w.resize(2 * k.block_elems, passes=2)
        ok, why = w.check()
        assert ok, why
        out = memoryview(w.run.array(0, 0)).cast("B").cast("Q")
        poison = 0x7FF8DEAD0BADBEEF
        assert all(out[i] == poison for i in range(2 * k.block_elems, 8 * k.block_elems))
    finally:
        w.close()


def test_each_worker_first_touches_its_own_arrays():
    cs = cpus()
    k = ck.find("copy", "scalar", False)
    w = CpuMemoryWorkload(k, 1 << 16, cs)
    try:
        pl = w.placement()
        assert [p["cpu_pinned"] for p in pl] == cs
        # the worker ran on its own CPU while it wrote its arrays first
        assert [p["cpu_touched"] for p in pl] == cs
        for p in pl:
            if p["page_nodes"]:
                assert set(p["page_nodes"]) == {p["node_touched"]}, p
            else:
                assert p["note"]
        assert placement_note(pl) is None
        assert placement_note([{**pl[0], "cpu_touched": pl[0]["cpu_pinned"] + 1}]) is not None
    finally:
        w.close()


def test_pointer_chase_is_one_cycle_through_every_line():
    run = MOD.LatencyRun(cpus(1)[0], 1 << 20)
    for size in (128, 64 * 1000, 1 << 20):
        run.build(size, 3)
        assert run.lines == size // 64 and run.cycle_length() == run.lines
    t = run.chase(800)
    assert t["wall_s"] > 0
    with pytest.raises(ValueError):
        run.chase(7)          # the walk is unrolled by 8


def test_a_kernel_the_cpu_lacks_is_refused_not_run():
    feats = ck.cpu_features()
    missing = [p for p in ck.PATHS if ck.path_missing(p, feats)]
    if not missing:
        pytest.skip("this CPU has every path (avx512, avx2, scalar): nothing to refuse")
    k = ck.find("copy", missing[0], False)
    with pytest.raises(RuntimeError, match="does not offer"):
        MOD.MemoryRun(k.name, 64, cpus(1))


def test_elements_must_be_whole_blocks():
    k = ck.find("copy", "scalar", False)
    with pytest.raises(ValueError, match="multiple of"):
        MOD.MemoryRun(k.name, k.block_elems + 1, cpus(1))


def test_latency_per_level_chases_inside_each_level_and_past_the_last():
    from accelkern.hostcpu.caches import CacheLevel, CpuCaches
    from accelkern.memory import cpu_latency
    caches = CpuCaches(cpus=(cpus(1)[0],), levels=(CacheLevel(1, 1, 1, 32 << 10, 32 << 10),
                                                   CacheLevel(2, 1, 1, 256 << 10, 256 << 10)), source="test")
    got = cpu_latency.per_level(cpus(1)[0], caches, clock_mhz=1000.0, clock_method="given")
    assert [(name, size) for name, size, _ in got] == [("L1", 16 << 10), ("L2", 128 << 10), ("DRAM", 2 << 20)]
    for _name, size, p in got:
        assert p.size == size and p.ns > 0
        if p.clock_method == "given":       # no perf cycles here: cycles = ns x the given 1 GHz
            assert p.cycles == pytest.approx(p.ns)
        else:
            assert p.cycles > 0 and "perf" in p.clock_method
