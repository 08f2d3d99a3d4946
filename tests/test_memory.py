"""Memory bandwidth suite: byte accounting, sizes, launch shapes, the kernels' tile schedule (a model of the
CUDA arithmetic), cache policy, CPU cache sizing from fake sysfs trees, references and the torch path on the
CPU, the CLI (bad input, dry run, Ctrl-C, plot failures), the bench scripts, the built SASS; on a GPU every
kernel against its reference on aligned and odd sizes, the tune and the sweep's structure."""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from accelkern import memory as mem
from accelkern.cli import cli
from accelkern.errors import AccelkernError, Unavailable
from accelkern.hostcpu import caches as cpu_caches
from accelkern.memory import plan, schedule, tune as tune_mod
from accelkern.results import Row, read_jsonl
from accelkern.units import parse_size

H100 = dict(sms=132, max_threads_per_sm=2048, max_blocks_per_sm=32)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20


# ---- byte accounting ----------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,read,written,buffers", [
    ("copy", 1000, 1000, 2), ("ce", 1000, 1000, 2), ("torch", 1000, 1000, 2),
    ("read", 1000, 0, 1), ("write", 0, 1000, 1), ("triad", 2000, 1000, 3),
    ("h2d", 1000, 1000, 1), ("d2h", 1000, 1000, 1),
])
def test_traffic_counts_bytes_read_and_written(kernel, read, written, buffers):
    t = mem.traffic(kernel, 1000)
    assert (t.bytes_read, t.bytes_written, t.device_buffers) == (read, written, buffers)
    assert t.moved == read + written
    t3 = mem.traffic(kernel, 1000, passes=3)
    assert (t3.bytes_read, t3.bytes_written) == (3 * read, 3 * written)


def test_traffic_read_counts_the_stored_partials():
    assert mem.traffic("read", 1 << 20, blocks=528).bytes_written == 4 * 528


def test_traffic_triad_rounds_down_to_whole_fp32_elements_and_says_so():
    t = mem.traffic("triad", 1000003)
    assert t.elements == 250000 and t.buffer_bytes == 1000000 and t.dtype == "fp32"
    assert "rounded down" in t.note and "1000003" in t.note
    assert mem.traffic("triad", 1 << 20).note is None
    with pytest.raises(AccelkernError, match="less than one"):
        mem.traffic("triad", 3)


def test_traffic_odd_byte_counts_are_kept_exactly():
    for n in (1, 3, 15, (1 << 20) + 3):
        t = mem.traffic("copy", n)
        assert t.buffer_bytes == n and t.bytes_read == n and t.note is None


def test_traffic_rejects_bad_input():
    with pytest.raises(AccelkernError, match="valid: copy, read"):
        mem.traffic("cpy", 100)
    with pytest.raises(AccelkernError, match="at least 1 byte"):
        mem.traffic("copy", 0)


def test_working_set_is_all_device_buffers():
    assert mem.traffic("copy", 1 << 20).working_set == 2 << 20
    assert mem.traffic("triad", 1 << 20).working_set == 3 << 20
    assert mem.traffic("h2d", 1 << 20).working_set == 1 << 20
    assert mem.max_buffers(["read", "copy"]) == 2 and mem.max_buffers(mem.OWN_KERNELS) == 3


# ---- sizes and names ------------------------------------------------------------------------------

def test_size_parsing():
    assert parse_size("2GiB") == 2 << 30
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("1000003") == 1000003
    assert parse_size("1.5GB") == 1_500_000_000
    with pytest.raises(AccelkernError):
        parse_size("2 GiBs")


def test_size_text_is_binary_with_a_space_and_exact_bytes_when_it_rounds():
    assert mem.size_text(2 << 30) == "2 GiB"
    assert mem.size_text(1536 << 10) == "1.5 MiB"
    assert mem.size_text(273 << 20) == "273 MiB"
    assert mem.size_text(1000003) == "976.6 KiB (1000003 B)"
    assert mem.size_text(17) == "17 B"


def test_parse_kernels_defaults_and_unknown_names():
    assert mem.parse_kernels(None, "cuda") == list(mem.KERNELS)
    assert mem.parse_kernels(None, "cpu") == list(mem.OWN_KERNELS)
    assert mem.parse_kernels(None, "cpu", sweep=True) == ["read"]
    assert mem.parse_kernels("read, copy,read", "cuda") == ["read", "copy"]
    with pytest.raises(AccelkernError) as e:
        mem.parse_kernels("copy,memset", "cuda")
    assert "memset" in str(e.value) and "copy, read, write, triad, ce, torch, h2d, d2h" in str(e.value)
    with pytest.raises(AccelkernError, match="cannot be swept"):
        mem.parse_kernels("ce", "cuda", sweep=True)


def test_parse_choices():
    assert mem.parse_choices("4,16", mem.VECS, "--vec", [16]) == [4, 16]
    assert mem.parse_choices(None, mem.VECS, "--vec", [16]) == [16]
    with pytest.raises(AccelkernError, match="--vec '3' not allowed; use 4, 8, 16"):
        mem.parse_choices("3", mem.VECS, "--vec", [16])
    with pytest.raises(AccelkernError, match="default, stream, l2"):
        mem.parse_choices("nt", tuple(mem.HINTS), "--hint", ["stream"])


def test_hint_values_match_the_csrc_enum():
    text = open(os.path.join(ROOT, "csrc", "memory", "memory.h")).read()
    enum = dict((k, int(v)) for k, v in re.findall(r"kHint(\w+) = (\d)", text))
    assert enum == {"Default": 0, "Stream": 1, "L2": 2}
    assert mem.HINTS == {"default": 0, "stream": 1, "l2": 2} and mem.HOT_HINT == "l2"


# ---- launch shape -------------------------------------------------------------------------------

def test_launch_shape_from_device_attributes():
    s = mem.choose_launch("copy", **H100, vec=16)
    assert (s.threads, s.blocks_per_sm, s.blocks, s.unroll) == (512, 4, 528, 4)
    assert s.tile_bytes == 512 * 4 * 16
    assert s.in_flight_per_sm("copy") == 2048 * 4 * 16 >= mem.IN_FLIGHT_TARGET
    # narrower accesses need more of them in flight, up to the largest unroll built
    assert mem.choose_launch("copy", **H100, vec=8).unroll == 8
    assert mem.choose_launch("copy", **H100, vec=4).unroll == 8
    # triad has two loads per item: half the unroll gives the same bytes in flight
    assert mem.choose_launch("triad", **H100, vec=16).unroll == 2
    # an SM with fewer threads (e.g. 1536 on sm_86) gets fewer resident blocks
    s = mem.choose_launch("read", sms=84, max_threads_per_sm=1536, max_blocks_per_sm=16, vec=16)
    assert (s.blocks_per_sm, s.blocks) == (3, 252)


def test_launch_shape_respects_occupancy_and_overrides():
    s = mem.choose_launch("triad", **H100, vec=16, unroll=8, occupancy=lambda t, u: 2)
    assert s.blocks_per_sm == 2 and s.resident == 2 and s.unroll == 8
    s = mem.choose_launch("copy", **H100, threads=256, blocks_per_sm=3, unroll=1, hint="default")
    assert (s.threads, s.blocks_per_sm, s.blocks, s.unroll, s.hint, s.resident) == (256, 3, 396, 1, "default", 8)
    assert s.config("copy")["in_flight_per_sm_bytes"] == 3 * 256 * 1 * 16
    # more blocks than are resident: kept (they run in waves), in flight counts the resident ones only
    s = mem.choose_launch("copy", **H100, blocks_per_sm=16)
    assert s.blocks_per_sm == 16 and s.in_flight_per_sm("copy") == 4 * 512 * 4 * 16


@pytest.mark.parametrize("kw,msg", [
    (dict(threads=100), "multiple of 32"), (dict(threads=2048), "multiple of 32"), (dict(unroll=3), "--unroll 3"),
    (dict(vec=12), "--vec 12"), (dict(hint="nt"), "--hint nt"), (dict(blocks_per_sm=0), "--blocks-per-sm 0"),
])
def test_launch_shape_rejects_bad_overrides(kw, msg):
    with pytest.raises(AccelkernError, match=msg):
        mem.choose_launch("copy", **H100, **kw)


def test_launch_shape_says_when_registers_do_not_fit():
    with pytest.raises(AccelkernError, match="do not fit"):
        mem.choose_launch("triad", **H100, threads=1024, occupancy=lambda t, u: 0)


# ---- the kernels' tile schedule (model of for_tiles in csrc/memory/memory_common.cuh) -----------------

def _round_robin(n_tiles, passes, blocks, b):
    """The dealing the kernels used before: virtual tile v = b + k * blocks, tile v mod n_tiles."""
    return [v % n_tiles for v in range(b, n_tiles * passes, blocks)]


def test_hot_schedule_at_the_1mib_point_never_rereads_a_tile_before_all_others():
    # H100/H200 read at 1 MiB: 132 SMs x 4 blocks of 512 threads, unroll 4, 16-byte vectors -> 32 KiB tiles
    shape = mem.choose_launch("read", **H100, vec=16)
    n_tiles = schedule.n_tiles_of(1 << 20, shape.vec, shape.threads, shape.unroll)
    passes = mem.hot_passes(mem.traffic("read", 1 << 20), "cuda")
    assert (shape.blocks, n_tiles, passes) == (528, 32, 1024) and math.gcd(528, 32) == 16
    sched = schedule.tile_schedule(n_tiles, passes, shape.blocks)
    assert Counter(t for tiles in sched for t in tiles) == {t: passes for t in range(n_tiles)}
    for tiles in sched:
        assert len(tiles) in (62, 63)                       # 32768 virtual tiles over 528 blocks
        for i in range(len(tiles) - n_tiles + 1):           # any n_tiles consecutive visits: all distinct
            assert len(set(tiles[i:i + n_tiles])) == n_tiles
        for i, t in enumerate(tiles[n_tiles:], n_tiles):    # a re-read comes exactly n_tiles visits later
            assert tiles[i - n_tiles] == t
    # what the round-robin dealing gave: block 0 saw 2 tiles (64 KiB) about 31 times each
    old = _round_robin(n_tiles, passes, shape.blocks, 0)
    assert set(old) == {0, 16} and len(old) == 63


@pytest.mark.parametrize("n_tiles,passes,blocks", [(1, 7, 5), (3, 2, 8), (32, 1024, 528), (45, 3, 264),
                                                   (1000, 2, 132), (7, 13, 7), (64, 1, 528)])
def test_schedule_covers_every_tile_exactly_passes_times(n_tiles, passes, blocks):
    sched = schedule.tile_schedule(n_tiles, passes, blocks)
    assert Counter(t for tiles in sched for t in tiles) == {t: passes for t in range(n_tiles)}
    counts = [len(t) for t in sched]
    assert max(counts) - min(counts) <= 1                  # balanced to one tile
    if passes == 1:                                         # one pass: grid-stride, as before
        assert sched[1] == list(range(1, n_tiles, blocks))
    for tiles in sched:
        assert len(set(tiles[:n_tiles])) == min(len(tiles), n_tiles)


def test_schedule_model_uses_the_kernel_arithmetic():
    # the .cuh computes per = total / blocks, extra = total % blocks, first = b*per + min(b, extra)
    src = open(os.path.join(ROOT, "csrc", "memory", "memory_common.cuh")).read()
    for piece in ("per = total / blocks, extra = total % blocks", "first = b * per + (b < extra ? b : extra)",
                  "count = per + (b < extra ? 1 : 0)", "t = first % n_tiles"):
        assert piece in src
    assert schedule.block_run(32, 1024, 528, 0) == (0, 63) and schedule.block_run(32, 1024, 528, 527) == (32706, 62)
    # 32768 = 528 x 62 + 32: blocks 0..31 take 63 tiles, the others 62
    assert schedule.block_run(10, 3, 4, 3) == (23, 7)       # 30 = 4 x 7 + 2: blocks 0, 1 get 8, 2 and 3 get 7


# ---- cache policy, sweep sizes, transition --------------------------------------------------------

def test_cache_plan():
    l2 = 50 << 20
    assert mem.cache_plan(4 << 30, l2, None) == mem.CachePlan(1, False, "cold: one set >= 8x the 50 MiB cache")
    p = mem.cache_plan(64 << 20, l2, 10 << 30)
    assert p == mem.CachePlan(3, False, "cold: 3 sets rotated (> 3x the 50 MiB cache)")
    p = mem.cache_plan(1 << 20, l2, 10 << 30)  # 64 sets of 1 MiB cannot exceed 3x the L2: flush instead
    assert p.l2_flush and p.slots == 1
    p = mem.cache_plan(1 << 20, l2, 10 << 30, can_flush=False)
    assert p == mem.CachePlan(64, False, "partly cache-resident: 64 sets rotated, < 3x the cache")
    assert mem.cache_plan(1 << 20, l2, None, hot=True).mode.startswith("hot")


def test_hot_passes_make_each_call_move_about_the_target():
    t = mem.traffic("copy", 1 << 20)
    p = mem.hot_passes(t, "cuda")
    assert p == 512 and p * t.moved == mem.HOT_TARGET_BYTES["cuda"]
    assert mem.hot_passes(mem.traffic("read", 4 << 30), "cuda") == 1


def test_sweep_sizes_cover_1mib_to_4gib_in_log_steps():
    sizes = mem.sweep_sizes(1 << 20, 4 << 30, 2)
    assert sizes[0] == 1 << 20 and sizes[-1] == 4 << 30 and len(sizes) == 25
    ratios = [b / a for a, b in zip(sizes, sizes[1:])]
    assert all(abs(r - math.sqrt(2)) < 0.01 for r in ratios)
    assert all(s % 256 == 0 for s in sizes)
    with pytest.raises(AccelkernError):
        mem.sweep_sizes(2 << 20, 1 << 20)


def test_sweep_sizes_on_whole_tiles():
    from accelkern.memory.sweep import _on_tiles
    assert _on_tiles([1 << 20, 1482910, 100, 40000], 32768) == [100, 32768, 1 << 20, 1474560]
    assert _on_tiles([1 << 20, 1490000], 32768, capacity=1490000) == [1 << 20, 1474560]   # 1507328 > capacity


def _curve(l2, hi=10.0, lo=4.0, settled=True):
    pts = []
    for e in range(20, 33):
        ws = 1 << e
        bw = hi if ws <= l2 / 2 else lo if ws >= 2 * l2 else hi + (lo - hi) * (math.log2(ws / (l2 / 2)) / 2)
        pts.append(mem.SweepPoint(ws, ws, bw, settled))
    return pts


def test_cache_transition_found_near_the_cache_size():
    l2 = 50 << 20
    tr = mem.cache_transition(_curve(l2))
    assert l2 / 2 <= tr <= 2 * l2
    assert abs(math.log2(tr / l2)) < 0.3


def test_cache_transition_none_without_two_plateaus():
    flat = [mem.SweepPoint(1 << e, 1 << e, 4.0 + 0.01 * e) for e in range(20, 30)]
    assert mem.cache_transition(flat) is None
    assert mem.cache_transition(flat[:3]) is None


def test_no_transition_from_unsettled_points():
    l2 = 50 << 20
    assert mem.cache_transition(_curve(l2, settled=False)) is None
    line = mem.transition_line("read", _curve(l2, settled=False), l2, "L2")
    assert "no cache -> memory transition derived: only 0 of 13 sizes" in line and "raise --time" in line
    # a flat settled curve plus fast unsettled points at small sizes: the fast points make no plateau
    pts = [mem.SweepPoint(1 << e, 1 << e, 4.0) for e in range(24, 33)]
    pts += [mem.SweepPoint(1 << e, 1 << e, 12.0, settled=False) for e in range(20, 24)]
    assert mem.cache_transition(pts) is None
    assert mem.cache_transition([mem.SweepPoint(p.size, p.working_set, p.tbps) for p in pts]) is not None
    line = mem.transition_line("read", pts, l2, "L2")
    assert "no clear cache plateau" in line and "from 9 of 13 sizes; 4 unsettled left out" in line


def test_timing_caveat_names_too_few_samples_and_no_convergence():
    from accelkern import timing
    rule = timing.StopRule(min_samples=5, max_time_s=0.1, target_noise=0.01)
    one = Row(suite="hbm-sweep", name="read", samples=1, converged=False, stop_reason="max_time")
    assert mem.timing_caveat(one, rule) == "too few samples: 1 < 5 within 0.1 s (max_time); raise --time"
    noisy = Row(suite="hbm", name="read", samples=40, converged=False, stop_reason="max_time", rel_stddev=0.034,
                median_rel_stderr=0.02, criterion="nvbench")
    assert mem.timing_caveat(noisy, rule) == "not converged: noise 3.4% > 1.0% after 40 samples (max_time)"
    noisy.criterion = "median-stderr"
    assert mem.timing_caveat(noisy, rule) == "not converged: median error 2.0% > 1.0% after 40 samples (max_time)"
    good = Row(suite="hbm", name="read", samples=40, converged=True, stop_reason="converged")
    assert mem.timing_caveat(good, rule) is None


def test_plot_file_written(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sub" / "sweep.png"
    pts = _curve(50 << 20)
    pts[-1].settled = False
    out = mem.plot_sweep({"read": pts}, 50 << 20, 4.8, str(path), "test")
    assert out == str(path) and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- CPU caches from sysfs (fake trees) and the CPU default size ----------------------------------

def _fake_sysfs(root, layout):
    """layout: {cpu: [(level, type, size, shared_cpu_list), ...]} written as cpuN/cache/indexI/ files."""
    for cpu, entries in layout.items():
        for i, (level, kind, size, shared) in enumerate(entries):
            d = root / f"cpu{cpu}" / "cache" / f"index{i}"
            d.mkdir(parents=True)
            for name, value in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
                (d / name).write_text(f"{value}\n")
    return str(root)


def _vm_tree(root):
    """The VM of the report: 2 vCPUs, each with 32K L1d (+32K L1i) and 1M L2, 'sharing' a 480 MiB L3."""
    return _fake_sysfs(root, {c: [(1, "Data", "32K", str(c)), (1, "Instruction", "32K", str(c)),
                                  (2, "Unified", "1024K", str(c)), (3, "Unified", "491520K", "0-1")] for c in (0, 1)})


def _server_tree(root):
    """16 CPUs, SMT pairs (c, c+8) sharing 48K L1d and 2M L2, two 32M L3s of 4 cores (8 CPUs) each."""
    layout = {}
    for c in range(16):
        core = c % 8
        l3 = "0-3,8-11" if core < 4 else "4-7,12-15"
        layout[c] = [(1, "Data", "48K", f"{core},{core + 8}"), (1, "Instruction", "32K", f"{core},{core + 8}"),
                     (2, "Unified", "2048K", f"{core},{core + 8}"), (3, "Unified", "32768K", l3)]
    return _fake_sysfs(root, layout)


def test_vm_report_of_a_huge_l3_is_bounded(tmp_path):
    c = cpu_caches.read_caches(_vm_tree(tmp_path), cpus=[0, 1])
    assert [(x.level, x.instances, x.sharing) for x in c.levels] == [(1, 2, 1), (2, 2, 1), (3, 1, 2)]
    assert c.reported_bytes == (64 << 10) + (2 << 20) + (480 << 20)
    assert c.usable_bytes == (64 << 10) + (2 << 20) + (32 << 20)          # L3 bounded to 16 MiB x 2 CPUs
    assert c.bounded and "reported 480 MiB for 2 CPU(s)" in c.describe()
    size = plan.cpu_default_size(mem.OWN_KERNELS, c, free=24 << 30)
    assert size == 273 * MiB                                             # ceil(8 x 34.06 MiB) to a MiB
    assert 3 * size <= 2 << 30                                           # triad's three buffers within the cap
    note = cpu_caches.cache_note(size, c)
    assert "sysfs reports 482.1 MiB" in note and "if the report is real" in note


def test_server_tree_counts_each_shared_cache_once(tmp_path):
    root = _server_tree(tmp_path)
    c = cpu_caches.read_caches(root, cpus=range(16))
    assert [(x.level, x.instances, x.sharing) for x in c.levels] == [(1, 8, 2), (2, 8, 2), (3, 2, 8)]
    assert c.usable_bytes == c.reported_bytes == 8 * (48 << 10) + 8 * (2 << 20) + 2 * (32 << 20)
    assert plan.cpu_default_size(mem.OWN_KERNELS, c, free=64 << 30) == 643 * MiB   # ceil(8 x 80.375 MiB)
    # one core (both of its SMT CPUs) reaches one L1, one L2 and one L3
    one = cpu_caches.read_caches(root, cpus=[0, 8])
    assert one.usable_bytes == (48 << 10) + (2 << 20) + (32 << 20)
    assert cpu_caches.cache_note(100 * MiB, c).startswith("working set 100 MiB is less than 3x the 80.38 MiB")
    assert cpu_caches.cache_note(643 * MiB, c) is None


def test_cpu_size_capped_by_free_memory_and_the_largest_set(tmp_path):
    c = cpu_caches.read_caches(_vm_tree(tmp_path), cpus=[0, 1])
    assert plan.cpu_set_cap(1 << 30) == 256 * MiB and plan.cpu_set_cap(64 << 30) == 2 << 30
    assert plan.cpu_default_size(mem.OWN_KERNELS, c, free=1 << 30) == 85 * MiB     # 256 MiB / triad's 3
    assert plan.cpu_default_size(["read"], c, free=1 << 30) == 256 * MiB
    assert plan.cpu_default_size(["read", "copy"], c, free=1 << 30) == 128 * MiB


def test_unknown_caches_are_said(tmp_path):
    c = cpu_caches.read_caches(str(tmp_path), cpus=[0])
    assert not c.known and c.usable_bytes == 0
    assert plan.cpu_default_size(mem.OWN_KERNELS, c, free=64 << 30) == 8 * plan.CPU_CACHE_UNKNOWN
    assert "cache sizes unknown" in cpu_caches.cache_note(1 << 30, c)


def test_sysfs_parsers():
    assert cpu_caches.parse_size("32K") == 32 << 10 and cpu_caches.parse_size("480M") == 480 << 20
    assert cpu_caches.parse_size("1048576") == 1 << 20
    assert cpu_caches.parse_cpu_list("0-3,8,10-11") == {0, 1, 2, 3, 8, 10, 11}


def test_cpu_row_says_when_the_set_may_not_exceed_the_caches(monkeypatch, tmp_path):
    from accelkern import timing
    from accelkern.device import get_device_info
    caches = cpu_caches.read_caches(_vm_tree(tmp_path), cpus=[0, 1])
    monkeypatch.setattr(cpu_caches, "this_machine", lambda: caches)
    info = get_device_info("cpu")
    rule = timing.StopRule(min_samples=2, min_time_s=0.0, max_time_s=0.05)
    row = mem.run_kernel("read", 4 * MiB, info, None, rule)
    # 4 MiB rotated 26 times (~3x the 34 MiB the CPUs can use) but far below the 482 MiB sysfs reports
    assert row.config["sets"] * 4 * MiB >= 3 * caches.usable_bytes
    assert "sysfs reports 482.1 MiB" in row.note


# ---- references ----------------------------------------------------------------------------------

def test_checksum_matches_a_plain_word_sum():
    g = torch.Generator().manual_seed(1)
    buf = torch.randint(0, 256, (1003,), dtype=torch.uint8, generator=g)
    b = bytes(buf.tolist())
    for n in (0, 1, 3, 4, 7, 1000, 1003):
        want = sum(int.from_bytes(b[i:i + 4], "little") for i in range(0, n - n % 4, 4)) + sum(b[n - n % 4:n])
        assert mem.checksum(buf, n) == want % (1 << 32)


def test_write_pattern_fill_and_poison():
    buf = torch.zeros(11, dtype=torch.uint8)
    mem.poison_fill_(buf, 11, mem.WRITE_PATTERN)
    assert not mem.filled_with(buf, 11, mem.WRITE_PATTERN)
    assert all(x != y for x, y in zip(buf.tolist(), mem.pattern_bytes(mem.WRITE_PATTERN, 0, 11)))
    buf[:] = torch.tensor(list((mem.WRITE_PATTERN.to_bytes(4, "little") * 3)[:11]), dtype=torch.uint8)
    assert mem.filled_with(buf, 11, mem.WRITE_PATTERN)
    assert mem.pattern_bytes(0x04030201, 2, 4) == [3, 4, 1, 2]
    buf[10] ^= 1
    assert not mem.filled_with(buf, 11, mem.WRITE_PATTERN)


def test_triad_error_detects_wrong_and_unwritten_elements(monkeypatch):
    from accelkern.memory import references
    monkeypatch.setattr(references, "CHUNK", 256)   # several chunks, a partial last one
    b, c = torch.randn(1000), torch.randn(1000)
    a = b + 3.0 * c
    assert mem.triad_error(a, b, c, 3.0, 1000) < 1e-6
    a[617] += 1.0
    ref = (b.double() + 3.0 * c.double())
    assert mem.triad_error(a, b, c, 3.0, 1000) == pytest.approx(1.0 / float(ref.pow(2).mean().sqrt()), rel=1e-5)
    a[17] = float("nan")
    assert mem.triad_error(a, b, c, 3.0, 1000) == math.inf
    a[17] = float("inf")
    assert mem.triad_error(a, b, c, 3.0, 1000) == math.inf


def test_random_bytes_cover_every_bit_on_the_cpu():
    w = mem.TorchWorkload("read", (1 << 16) + 5, "cpu")
    words = w.src[0][: 1 << 16].view(torch.int64)
    assert bool((words < 0).any()) and bool((words > 0).any())   # the top bit varies: full 64-bit draws
    counts = torch.bincount(w.src[0].long(), minlength=256)
    assert int(counts.min()) > 0.7 * (1 << 16) / 256
    w.close()


# ---- torch path on the CPU ------------------------------------------------------------------------

@pytest.mark.parametrize("kernel,nbytes", [(k, n) for k in mem.OWN_KERNELS
                                           for n in (1, 3, 4, 15, 17, 4096, (1 << 20) + 3)
                                           if not (k == "triad" and n < 4)])   # triad works on fp32 elements
def test_torch_workloads_correct_on_aligned_and_odd_sizes(kernel, nbytes):
    w = mem.TorchWorkload(kernel, nbytes, "cpu", slots=2)
    ok, err, tol = w.check()
    assert ok, (kernel, nbytes, err, tol)
    w.resize(max(1, nbytes // 2) if kernel != "triad" else max(4, nbytes // 2), passes=2)
    assert w.check()[0]
    w.close()


class _ShortCopy(mem.TorchWorkload):
    """A copy that misses its last byte: the check must catch it."""

    def __call__(self, slot):
        self._views[slot][1][:-1].copy_(self._views[slot][0][:-1])


class _ShortWrite(mem.TorchWorkload):
    def __call__(self, slot):
        v = self._views[slot]
        v[0].fill_(mem.as_int32(mem.WRITE_PATTERN))  # the 3 tail bytes are never written


class _LongCopy(mem.TorchWorkload):
    """A copy that writes one byte past its end."""

    def __call__(self, slot):
        n = self.nbytes + 1
        self.dst[slot][:n].copy_(self.src[slot][:n])


class _LongTriad(mem.TorchWorkload):
    def __call__(self, slot):
        e = self.nbytes // 4 + 1
        torch.add(self.b[slot][:e], self.c[slot][:e], alpha=mem.TRIAD_SCALAR, out=self.a[slot][:e])


def test_checks_catch_a_missed_tail_and_writes_past_the_end():
    assert not _ShortCopy("copy", 1001, "cpu").check()[0]
    assert not _ShortWrite("write", 1003, "cpu").check()[0]
    w = _LongCopy("copy", 2000, "cpu")
    w.resize(1001)
    assert not w.check()[0]
    t = _LongTriad("triad", 4000, "cpu")
    t.resize(400)
    assert not t.check()[0]


def test_cuda_only_kernels_are_skipped_on_cpu():
    from accelkern.device import get_device_info
    info = get_device_info("cpu")
    for k in mem.CUDA_ONLY:
        with pytest.raises(Unavailable, match="needs a CUDA device"):
            mem.make_workload(k, 1024, info)
    row = mem.run_kernel("h2d", 1024, info, None, mem.TUNE_RULE)
    assert row.status == "skipped" and "CUDA" in row.note


def test_measured_cpu_row_carries_both_byte_conventions():
    from accelkern import timing
    from accelkern.device import get_device_info
    info = get_device_info("cpu")
    rule = timing.StopRule(min_samples=3, min_time_s=0.0, max_time_s=0.2)
    row = mem.run_kernel("triad", (1 << 20) + 2, info, None, rule)
    assert row.status == "ok" and row.correct
    assert row.bytes_read == 2 * (1 << 20) and row.bytes_written == 1 << 20
    assert row.value == pytest.approx((3 << 20) / (row.median_ms * 1e-3) / 1e12)
    assert row.one_direction == pytest.approx((2 << 20) / (row.median_ms * 1e-3) / 1e12)
    assert "rounded down" in row.note and row.shape == "1 MiB" and row.dtype == "fp32"
    assert row.config["timing_settled"] is (mem.timing_caveat(row, rule) is None)


def test_require_memory_says_what_is_free():
    with pytest.raises(AccelkernError) as e:
        mem.require_memory("copy", mem.traffic("copy", 1 << 50), "cpu")
    msg = str(e.value)
    assert "free" in msg and "TiB" in msg and "GiB" in msg and "\n" not in msg



@pytest.fixture
def torch_cpu_path(monkeypatch):
    """hbm and validate on a CPU through torch's ops, as when accelkern._cpu is not built: the path these tests
    exercise (accelkern's own CPU kernels have tests/test_memory_cpu*.py)."""
    from accelkern import _cpu_ext
    monkeypatch.setattr(_cpu_ext, "load", lambda: None)

# ---- CLI ------------------------------------------------------------------------------------------

def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def _small_machine(monkeypatch, tmp_path, l3="4096K"):
    """this_machine() -> 2 CPUs with a 4 MiB L3 (the default CPU size then is the 64 MiB floor)."""
    caches = cpu_caches.read_caches(_fake_sysfs(tmp_path / "sys", {c: [(1, "Data", "32K", str(c)),
                                                                        (3, "Unified", l3, "0-1")] for c in (0, 1)}),
                                    cpus=[0, 1])
    monkeypatch.setattr(cpu_caches, "this_machine", lambda: caches)
    return caches


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_cpu_default_size_and_buffers(monkeypatch, tmp_path):
    _small_machine(monkeypatch, tmp_path)
    r = _run(["hbm", "--device", "cpu", "--time", "0.05", "--json"])
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout)["rows"]}
    assert set(rows) == set(mem.OWN_KERNELS)
    n = 64 * MiB                                  # 8 x 4.06 MiB is below the 64 MiB floor
    for name, buffers, read, written in (("copy", 2, n, n), ("read", 1, n, 0), ("write", 1, 0, n),
                                         ("triad", 3, 2 * n, n)):
        x = rows[name]
        assert x["config"]["bytes_per_buffer"] == n and x["config"]["buffers"] == buffers, name
        assert x["config"]["sets"] == 1 and x["shape"] == "64 MiB"
        assert x["bytes_read"] == read and x["bytes_written"] == written
        assert x["status"] == "ok" and x["correct"] is True and x["metric"] == "TB/s" and x["value"] > 0
        assert x["backend"] == "torch" and x["suite"] == "hbm"


def test_cli_default_run_rss_stays_within_the_bound(tmp_path):
    # the real default on this machine, the kernel with the largest set (triad: 3 buffers), in a child
    out = tmp_path / "out.json"
    t0 = time.monotonic()
    with open(out, "w") as f:
        p = subprocess.Popen([sys.executable, "-m", "accelkern", "hbm", "--device", "cpu", "--kernel", "triad",
                              "--time", "0.05", "--json"], stdout=f, stderr=subprocess.DEVNULL, cwd=ROOT)
        _pid, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    assert os.waitstatus_to_exitcode(status) == 0
    row = json.loads(out.read_text())["rows"][0]
    size = plan.cpu_default_size(["triad"], cpu_caches.this_machine(), plan.host_available_bytes())
    assert row["config"]["bytes_per_buffer"] == size and row["config"]["buffers"] == 3
    assert 3 * size <= plan.CPU_SET_CAP
    peak = usage.ru_maxrss * 1024                 # KiB on Linux
    assert 3 * size <= peak <= 4 << 30, (peak, size)
    print(f"default triad run: {mem.size_text(size)} x 3 buffers, peak RSS {mem.size_text(peak)}, {wall:.1f} s")


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_table_output_and_out_dir(tmp_path):
    r = _run(["hbm", "--device", "cpu", "--size", "1000003", "--kernel", "copy,ce", "--time", "0.1",
              "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "rd+wr" in r.stdout and "1-dir" in r.stdout and "skipped" in r.stdout and "B/s" in r.stdout
    assert "976.6 KiB (1000003 B)" in r.stdout and "bytes: rd+wr counts" in r.stdout
    assert "cpu caches: " in r.stdout
    assert (tmp_path / "hbm.jsonl").exists() and (tmp_path / "hbm.csv").exists()


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_unknown_kernel_lists_the_valid_ones():
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--kernel", "cpy"])
    assert r.exit_code == 2
    assert "unknown kernel 'cpy'; valid: copy, read, write, triad, ce, torch, h2d, d2h" in r.output
    assert "Traceback" not in r.output


def test_cli_size_larger_than_free_memory_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--size", "64TiB", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = [l for l in r.output.splitlines() if l.startswith("Error")]
    assert len(lines) == 1 and "free" in lines[0]
    assert not any(tmp_path.iterdir())  # refused before any results file is opened


@pytest.mark.parametrize("args,msg", [
    (["--vec", "12"], "--vec '12' not allowed"), (["--size", "lots"], "not understood"),
    (["--hint", "nt"], "--hint 'nt' not allowed; use default, stream, l2"),
    (["--tune", "--sweep"], "separate runs"),
    (["--sweep", "--sweep-min", "2MiB", "--sweep-max", "1MiB"], "sweep range"),
    (["--device", "cuda:x"], "malformed"), (["--json", "--csv"], "exclusive"),
])
@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_bad_input_is_one_line_exit_2(args, msg):
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu"] + args if "--device" not in args else ["hbm"] + args)
    assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, r.output


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_sweep_writes_rows_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    r = _run(["hbm", "--device", "cpu", "--sweep", "--sweep-min", "256KiB", "--sweep-max", "1MiB", "--steps", "1",
              "--time", "0.2", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "hbm_sweep.png").stat().st_size > 10_000
    _h, rows = read_jsonl(str(tmp_path / "hbm_sweep.jsonl"))
    assert [row.shape for row in rows] == ["256 KiB", "512 KiB", "1 MiB"]
    assert all(row.correct for row in rows)
    assert [row.config["passes"] for row in rows] == [256, 128, 64]    # 64 MiB per call on a CPU
    assert [row.config["working_set_bytes"] for row in rows] == [256 << 10, 512 << 10, 1 << 20]
    assert "samples" in r.stdout and "settled" in r.stdout


def _few_samples(monkeypatch):
    """Every measurement ends after one sample, as a too short --time gives on a slow machine."""
    from accelkern import timing
    from accelkern.memory import measure as measure_mod

    def one_sample(fn, device="cpu", *, slots=1, rule=None, **kw):
        fn(0)
        return timing.Measurement(timing.TimingStats.from_samples([0.01], "max_time", 0.01), None,
                                  {"timer": "host", "slots": slots, "l2_flush": False, "graph": False})
    monkeypatch.setattr(measure_mod.timing, "measure", one_sample)


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_sweep_with_one_sample_per_size_derives_no_transition(monkeypatch, tmp_path):
    _few_samples(monkeypatch)
    r = _run(["hbm", "--device", "cpu", "--sweep", "--sweep-min", "64KiB", "--sweep-max", "1MiB", "--time", "0.1",
              "--plot", str(tmp_path / "p.png"), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    _h, rows = read_jsonl(str(tmp_path / "hbm_sweep.jsonl"))
    assert len(rows) == 9
    for x in rows:
        assert x.samples == 1 and x.config["timing_settled"] is False
        assert "too few samples: 1 < 5" in x.note
    assert "read: no cache -> memory transition derived: only 0 of 9 sizes" in r.stdout
    assert "transition at" not in r.stdout and "too few samples" in r.stdout


def test_cli_plot_path_checked_before_measuring(tmp_path):
    parent = tmp_path / "a_file"
    parent.write_text("")                  # a PNG cannot go under a regular file, whoever runs the test
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--sweep", "--plot", str(parent / "x.png"),
                                 "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--plot" in r.output and "Traceback" not in r.output, r.output
    assert not (tmp_path / "o").exists()   # refused before any results file is opened
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--sweep", "--plot", str(tmp_path)])
    assert r.exit_code == 2 and "cannot write a PNG there" in r.output


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_plot_failure_after_measuring_keeps_the_rows(monkeypatch, tmp_path):
    def broken(*a, **kw):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(mem, "plot_sweep", broken)
    r = _run(["hbm", "--device", "cpu", "--sweep", "--sweep-min", "256KiB", "--sweep-max", "256KiB", "--time", "0.1",
              "--out", str(tmp_path)])
    assert r.exit_code == 1, r.output   # a file the file system refused: exit 1, the rest written
    text = " ".join(r.stdout.split())   # footer lines are folded at 120 columns
    assert "plot failed (" in text and "No space left on device" in text and "rows are kept" in text
    _h, rows = read_jsonl(str(tmp_path / "hbm_sweep.jsonl"))
    assert len(rows) == 1 and rows[0].correct and (tmp_path / "hbm_sweep.csv").exists()


def test_cli_dry_run_touches_no_device(monkeypatch, tmp_path):
    monkeypatch.setenv("ACCELKERN_DRY_RUN", "1")
    from accelkern import device
    monkeypatch.setattr(device, "resolve_device", lambda d: pytest.fail("device touched in a dry run"))
    r = CliRunner().invoke(cli, ["hbm", "--device", "cuda:0", "--sweep", "--kernel", "read,copy", "--hint", "l2",
                                 "--out", str(tmp_path / "o")])
    assert r.exit_code == 0 and r.output.strip() == "dry run: accelkern hbm: options ok"
    assert not (tmp_path / "o").exists()
    r = CliRunner().invoke(cli, ["hbm", "--device", "cuda:0", "--kernel", "memset"])
    assert r.exit_code == 2 and "unknown kernel 'memset'" in r.output


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_ctrl_c_keeps_finished_rows(monkeypatch, tmp_path):
    real = mem.run_kernel
    calls = []

    def interrupted_third(*a, **kw):
        calls.append(a[0])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(mem, "run_kernel", interrupted_third)
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--size", "256KiB", "--time", "0.05",
                                 "--out", str(tmp_path)])
    assert r.exit_code == 130, r.output
    _h, rows = read_jsonl(str(tmp_path / "hbm.jsonl"))
    assert [x.name for x in rows] == ["copy", "read"] and all(x.correct for x in rows)
    assert "interrupted: 2 finished row(s) kept" in r.output


@pytest.mark.usefixtures("torch_cpu_path")
def test_cli_ctrl_c_in_the_sweep_keeps_finished_rows(monkeypatch, tmp_path):
    from accelkern.memory import sweep as sweep_mod
    real = sweep_mod.measure_workload
    calls = []

    def interrupted_second(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(sweep_mod, "measure_workload", interrupted_second)
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--sweep", "--sweep-min", "256KiB", "--sweep-max", "1MiB",
                                 "--time", "0.1", "--out", str(tmp_path)])
    assert r.exit_code == 130, r.output
    _h, rows = read_jsonl(str(tmp_path / "hbm_sweep.jsonl"))
    assert len(rows) == 1 and rows[0].shape == "256 KiB"
    assert not (tmp_path / "hbm_sweep.png").exists()


# ---- bench scripts (run by scripts/device_check.sh): CPU inputs and --dry-run ----------------------

def _bench(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(ROOT, "bench", f"{name}.py"))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


def test_bench_hbm_table_on_cpu_and_dry_run(tmp_path, monkeypatch):
    b = _bench("hbm_table")
    r = CliRunner().invoke(b.main, ["--device", "cpu", "--size", "256KiB", "--time", "0.05", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    table = (tmp_path / "hbm.md").read_text()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines() if line.startswith("| ")]
    head = cells[0]
    rows = {c[0]: dict(zip(head, c)) for c in cells[1:]}
    assert head[0] == "kernel" and {"size", "ok"} <= set(head), head
    for k in ("read", "write", "copy", "triad"):            # every STREAM-like kernel measured and checked
        assert rows[k]["size"] == "256 KiB" and rows[k]["ok"] == "yes", table
    assert table in r.output
    r = CliRunner().invoke(b.main, ["--dry-run", "--out", str(tmp_path / "d")])
    assert r.exit_code == 0 and "dry run: accelkern hbm: options ok" in r.output and not (tmp_path / "d").exists()
    assert "ACCELKERN_DRY_RUN" not in os.environ
    r = CliRunner().invoke(b.main, ["--dry-run", "--size", "lots"])
    assert r.exit_code == 2 and "not understood" in r.output


@pytest.mark.usefixtures("torch_cpu_path")
def test_bench_hbm_sweep_on_cpu_prints_verdicts_and_dry_run(tmp_path):
    b = _bench("hbm_sweep")
    r = CliRunner().invoke(b.main, ["--device", "cpu", "--kernel", "read", "--sweep-min", "256KiB",
                                    "--sweep-max", "512KiB", "--steps", "1", "--time", "0.1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    verdict = [l for l in r.output.splitlines() if l.startswith("verdict hbm_sweep read: ")]
    # two sizes are fewer than a transition needs: the verdict is NONE and counts the settled rows it was given
    from accelkern.memory.sweep import MIN_TRANSITION_POINTS
    assert MIN_TRANSITION_POINTS > 2
    _h, rows = read_jsonl(str(tmp_path / "hbm_sweep.jsonl"))
    settled = sum(x.config["timing_settled"] is True for x in rows)
    assert len(rows) == 2 and verdict == [f"verdict hbm_sweep read: NONE (no transition derived; {settled} of 2 "
                                          "sizes settled)"], r.output
    r = CliRunner().invoke(b.main, ["--dry-run", "--kernel", "read,copy", "--out", str(tmp_path / "d")])
    assert r.exit_code == 0 and "options ok" in r.output and "verdict" not in r.output
    r = CliRunner().invoke(b.main, ["--dry-run", "--kernel", "ce"])
    assert r.exit_code == 2 and "cannot be swept" in r.output


def test_bench_sweep_verdict_arithmetic(tmp_path):
    b = _bench("hbm_sweep")
    from accelkern.results import ResultWriter, RunHeader
    l2 = 50 << 20
    w = ResultWriter(str(tmp_path), RunHeader(command="hbm_sweep", device="x", device_kind="cuda"), stem="hbm_sweep")
    for p in _curve(l2):
        w.write(Row(suite="hbm-sweep", name="read", status="ok", value=p.tbps, config={
            "vec": 16, "bytes_per_buffer": p.size, "working_set_bytes": p.working_set, "timing_settled": True}))
    w.close("")
    path = str(tmp_path / "hbm_sweep.jsonl")
    assert b.verdicts(path, l2, "L2")[0].startswith("verdict hbm_sweep read: PASS (transition at ")
    assert b.verdicts(path, 8 * l2, "L2")[0].startswith("verdict hbm_sweep read: FAIL")
    assert "NONE" in b.verdicts(path, None, "L2")[0]


# ---- validate suite --------------------------------------------------------------------------------

def test_validate_registers_the_hbm_suite():
    from accelkern import validate
    validate.load_suites()
    assert "hbm" in validate.SUITES and "cpu" in validate.SUITES["hbm"].devices


def test_validate_budget_size_arithmetic():
    from accelkern.memory import validate_suite as vs
    # 40% of 10 s at 1 ns per byte over read (1) + write (1) + copy (2) buffers: 1e9 B -> 953 MiB
    assert vs.budget_size(10.0, 1e-9, ["read", "write", "copy"]) == 953 * MiB
    assert vs.budget_size(0.0, 1e-9, ["read"]) == 1 * MiB


@pytest.mark.usefixtures("torch_cpu_path")
def test_validate_suite_sizes_and_times_within_its_share(monkeypatch):
    from accelkern import validate
    from accelkern.device import get_device_info
    from accelkern.memory import validate_suite as vs
    monkeypatch.setattr(vs, "setup_seconds_per_byte", lambda device: 1e-9)
    seen = []

    def fake_run_kernel(kernel, nbytes, info, spec, rule, **kw):
        seen.append((kernel, nbytes, rule.max_time_s))
        return Row(suite="hbm", name=kernel, status="ok", value=1e-3, metric="TB/s", config={})
    monkeypatch.setattr(vs, "run_kernel", fake_run_kernel)
    ctx = validate.Context(device=get_device_info("cpu"), spec=None, budget_s=2.0)
    monkeypatch.setattr(ctx, "time_left", lambda: 2.0)
    rows = list(vs.suite_rows(ctx))
    n = min(mem.validate_size(ctx.device), 190 * MiB)   # 0.4 x 2 s / (1 ns x 4 buffers) = 200e6 B -> 190 MiB
    assert [(k, s) for k, s, _ in seen] == [("read", n), ("write", n), ("copy", n)]
    # each of 3 measurements gets (2 s - 3 x (set-up + warm-up)) / 3 of timing
    setup = 1e-9 * n * 2
    assert seen[0][2] == pytest.approx(max(vs.MIN_TIME_S, (2.0 - 3 * (setup + vs.WARMUP_S)) / 3))
    assert [r.name for r in rows] == ["read: read", "write: write", "copy: copy"]
    if n < mem.validate_size(ctx.device):
        assert all("size limited to 190 MiB by the 2 s validate budget" in r.note for r in rows)


# ---- the CUDA path's Python side, with the extension emulated on the CPU ------------------------------

def _np_word_sums(src, n):
    """Independent of accelkern.memory.references: numpy's little-endian word sum (mod 2^32 done by caller)."""
    b = src[:n].numpy().tobytes()
    return int(np.frombuffer(b[:n - n % 4], dtype="<u4").astype(np.uint64).sum()) + sum(b[n - n % 4:])


class _EmulatedC:
    """accelkern._C's memory functions done on CPU tensors by numpy and torch (not by the package's
    references); the read kernel's per-block partials follow the tile schedule model. Records launches."""

    def __init__(self, drop_last_byte=False):
        self.calls, self.drop, self._memo = [], drop_last_byte, {}

    def mem_kernel_info(self, kernel, vec, unroll, hint, threads):
        regs = 30 + 4 * unroll * (2 if kernel == "triad" else 1)
        return {"num_regs": regs, "local_bytes": 0, "max_threads_per_block": 1024,
                "max_blocks_per_sm": min(2048 // threads, 65536 // (regs * threads), 32)}

    def mem_copy(self, src, dst, n, *launch):
        self.calls.append(("copy", n) + launch)
        m = n - 1 if self.drop else n
        dst[:m].copy_(src[:m])

    def _partials(self, src, n, vec, unroll, threads, blocks, passes):
        key = (src.data_ptr(), n, vec, unroll, threads, blocks, passes)
        if key not in self._memo:
            tile = threads * unroll * vec
            n_tiles = (n // vec) // (threads * unroll)
            words = np.frombuffer(src[:n_tiles * tile].numpy().tobytes(), dtype="<u4").astype(np.uint64)
            per_tile = words.reshape(n_tiles, tile // 4).sum(axis=1) if n_tiles else np.zeros(0, np.uint64)
            sums = [int(sum(per_tile[t] for t in tiles)) for tiles in schedule.tile_schedule(n_tiles, passes, blocks)]
            tail = _np_word_sums(src[n_tiles * tile:], n - n_tiles * tile)
            sums[0] += passes * tail
            self._memo[key] = [s & 0xFFFFFFFF for s in sums]
        return self._memo[key]

    def mem_read(self, src, n, partials, vec, unroll, hint, threads, blocks, passes):
        self.calls.append(("read", n, vec, unroll, hint, threads, blocks, passes))
        for b, v in enumerate(self._partials(src, n, vec, unroll, threads, blocks, passes)):
            partials[b] = v - (1 << 32) if v >= 1 << 31 else v

    def mem_write(self, dst, n, pattern, *launch):
        self.calls.append(("write", n) + launch)
        if n not in self._memo:
            self._memo[n] = torch.frombuffer(bytearray((pattern.to_bytes(4, "little") * (n // 4 + 1))[:n]),
                                             dtype=torch.uint8)
        dst[:n].copy_(self._memo[n])

    def mem_triad(self, a, b, c, s, n, *launch):
        self.calls.append(("triad", n) + launch)
        torch.add(b[:n], c[:n], alpha=s, out=a[:n])

    def mem_memcpy(self, dst, src, n):
        self.calls.append(("memcpy", n))
        dst[:n].copy_(src[:n])


@pytest.fixture
def emulated(monkeypatch):
    from accelkern import _ext
    from accelkern.device import DeviceInfo
    c = _EmulatedC()
    monkeypatch.setattr(_ext._LOADER, "module", c)
    monkeypatch.setattr(_ext._LOADER, "loaded", True)
    monkeypatch.setattr(_ext._LOADER, "error_text", None)
    info = DeviceInfo(kind="cuda", index=0, name="emulated", torch_device="cpu", sm_count=4, max_threads_per_sm=2048,
                      max_blocks_per_sm=32, l2_bytes=1 << 20, mem_clock_mhz=2619, mem_bus_width_bits=6144)
    return c, info


FAST = dict(min_samples=3, min_time_s=0.0, max_time_s=0.05)


def test_emulated_cuda_path_launches_and_rows(emulated):
    from accelkern import specs, timing
    c, info = emulated
    spec = specs.by_key("h200-sxm")
    rule = timing.StopRule(**FAST)
    for k in mem.OWN_KERNELS:
        row = mem.run_kernel(k, (1 << 20) + 3, info, spec, rule, vec=8, hint="default", unroll=2)
        assert row.status == "ok" and row.correct, row
        assert row.config["vec"] == 8 and row.config["unroll"] == 2 and row.config["hint"] == "default"
        assert row.config["blocks"] == 4 * row.config["blocks_per_sm"] and row.pct_of_spec is not None
        assert row.backend == "accelkern" and row.kernel == f"{k}_v8_default"
    launches = [x for x in c.calls if x[0] == "read"]
    n, vec, unroll, hint, threads, blocks, passes = launches[-1][1:]
    assert (n, vec, unroll, hint, threads, passes) == ((1 << 20) + 3, 8, 2, 0, 512, 1)
    assert [x[1] for x in c.calls if x[0] == "triad"][-1] == (1 << 18)  # fp32 elements, rounded down
    row = mem.run_kernel("read", 4096, info, spec, rule, hint="l2")
    assert row.bytes_written == 4 * row.config["blocks"] and row.bytes_read == 4096  # 4 B per block stored
    assert [x for x in c.calls if x[0] == "read"][-1][4] == 2                         # hint l2 = MemHint 2


def test_emulated_cuda_path_wrong_output_is_failed_and_not_timed(emulated):
    from accelkern import timing
    c, info = emulated
    c.drop = True
    row = mem.run_kernel("copy", 1001, info, None, timing.StopRule(**FAST))
    assert row.status == "failed" and row.correct is False and row.value is None and "not timed" in row.note


def test_emulated_cuda_path_sweep_is_hot_on_whole_tiles_with_l2_loads(emulated):
    from accelkern import timing
    c, info = emulated
    rows = []
    pts = mem.run_sweep("read", [64 << 10, 200 << 10, 256 << 10], info, None, timing.StopRule(**FAST),
                        emit=rows.append)
    # read, vec 16, 512 threads x unroll 4: 32 KiB tiles; 200 KiB rounds to 192 KiB
    assert [p.size for p in pts] == [64 << 10, 192 << 10, 256 << 10]
    assert all(r.correct and r.config["cache"].startswith("hot") and r.config["hint"] == "l2" for r in rows)
    # ~1 GiB per call: ceil(2^30 / (size + 4 B x 8 blocks of partials)); 4 SMs x 2 resident blocks
    assert [r.config["passes"] for r in rows] == [16377, 5461, 4096]
    assert {x[-1] for x in c.calls if x[0] == "read"} >= {r.config["passes"] for r in rows}
    assert {x[4] for x in c.calls if x[0] == "read"} == {2}
    rows = []
    mem.run_sweep("read", [64 << 10], info, None, timing.StopRule(**FAST), hint="default", emit=rows.append)
    assert "may be served from the SM's L1" in rows[0].note


class _TuneC(_EmulatedC):
    """1024 threads never fit, so one candidate of the threads stage is recorded as not run."""

    def mem_kernel_info(self, kernel, vec, unroll, hint, threads):
        d = super().mem_kernel_info(kernel, vec, unroll, hint, threads)
        return {**d, "max_blocks_per_sm": 0 if threads == 1024 else d["max_blocks_per_sm"]}


def test_emulated_tune_tries_every_candidate_and_picks_the_fastest(monkeypatch, emulated):
    from accelkern import _ext
    _c, info = emulated
    monkeypatch.setattr(_ext._LOADER, "module", _TuneC())
    speed = {"unroll": {1: 1.0, 2: 2.0, 4: 3.0, 8: 2.5}, "threads": {128: 1.0, 256: 1.3, 512: 1.1},
             "hint": {"default": 1.0, "stream": 1.05}}

    def fake_measure(w, info, spec, rule, plan, check=True, flusher=None):
        s = w.shape  # separable, so the coordinate search must reach the global optimum
        v = speed["unroll"][s.unroll] * speed["threads"][s.threads] * (1 + s.blocks_per_sm / 100)
        v *= speed["hint"][s.hint]
        return Row(suite="hbm", name=w.kernel, value=v, metric="TB/s")
    monkeypatch.setattr(tune_mod, "measure_workload", fake_measure)
    tr = mem.tune_kernel("copy", 1 << 20, info, None)
    asked = {st: [t.asked for t in tr.trials if t.stage == st] for st in tune_mod.STAGES}
    assert asked["start"] == [{}]
    assert asked["unroll"] == [{"unroll": 1}, {"unroll": 2}, {"unroll": 4}, {"unroll": 8}]
    assert asked["threads"] == [{"threads": 128}, {"threads": 256}, {"threads": 512}, {"threads": 1024}]
    # resident blocks at 256 threads, unroll 4 (46 registers): min(2048 / 256, 65536 / (46 x 256)) = 5
    assert asked["blocks_per_sm"] == [{"blocks_per_sm": 1}, {"blocks_per_sm": 2}, {"blocks_per_sm": 5}]
    assert asked["hint"] == [{"hint": "default"}, {"hint": "stream"}]
    not_run = [t for t in tr.trials if t.tbps is None]
    assert [(t.stage, t.asked) for t in not_run] == [("threads", {"threads": 1024})] and "do not fit" in not_run[0].why
    measured = tr.measured()
    assert tr.best_tbps == max(measured.values()) and measured[tr.best.key()] == tr.best_tbps
    assert (tr.best.unroll, tr.best.threads, tr.best.blocks_per_sm, tr.best.hint) == (4, 256, 5, "stream")
    assert tr.best_tbps == pytest.approx(3.0 * 1.3 * 1.05 * 1.05)
    assert "picked v16 20x256 u4" in tr.summary() and "hint stream" in tr.summary()


def test_emulated_tune_measures_through_the_harness(emulated):
    from accelkern import timing
    _c, info = emulated
    tr = mem.tune_kernel("copy", 1 << 20, info, None, rule=timing.StopRule(**FAST))
    measured = tr.measured()
    assert len(tr.tried) == len(measured) >= 6 and all(v > 0 for v in measured.values())
    assert tr.best_tbps == max(measured.values()) and measured[tr.best.key()] == tr.best_tbps


# ---- SASS of the built extension: the hot sweep's loads bypass L1 ------------------------------------

def _cuobjdump():
    dirs = []
    import importlib.util
    if importlib.util.find_spec("triton"):
        dirs.append(os.path.join(os.path.dirname(__import__("triton").__file__), "backends", "nvidia", "bin"))
    for d in dirs + os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "cuobjdump")
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which("cuobjdump")


def _mangled(kernel, vec, unroll, hint):
    args = {"read": "PKhmiPj", "copy": "PKhPhmi", "triad": "PfPKfS4_fmi", "write": "Phmij"}[kernel]
    n = len(f"{kernel}_kernel")
    return f"_ZN9accelkern3mem{n}{kernel}_kernelILi{vec}ELi{unroll}ELi{hint}EEEv{args}"


@pytest.fixture(scope="module")
def mem_sass():
    from accelkern import _ext
    C = _ext.load()
    if C is None:
        pytest.skip("accelkern._C not built (pure-Python install): no SASS to inspect")
    tool = _cuobjdump()
    if tool is None:
        pytest.skip("cuobjdump not found (it ships in triton's package: triton/backends/nvidia/bin)")
    names = [_mangled("read", 16, 4, mem.HINTS["l2"]), _mangled("read", 4, 4, mem.HINTS["l2"]),
             _mangled("read", 16, 4, mem.HINTS["default"])]   # cuobjdump's time grows with each name asked
    text = subprocess.run([tool, "-sass", "-fun", ",".join(names), C.__file__], capture_output=True, text=True,
                          check=True).stdout
    funcs = {}
    for sec in re.split(r"\n\s*arch = ", text)[1:]:
        arch = sec.split()[0]
        for f in re.split(r"Function : ", sec)[1:]:
            funcs[(arch, f.split()[0])] = re.findall(r"\b(LDG\.[A-Z0-9_.]+)", f)
    return funcs


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
def test_sass_hot_read_loads_bypass_l1(mem_sass, arch):
    hot = mem_sass.get((arch, _mangled("read", 16, 4, mem.HINTS["l2"])))
    assert hot, f"read l2 kernel missing from the {arch} SASS"
    assert not [op for op in hot if ".CONSTANT" in op], hot            # never the L1-cached read-only path
    assert all(".STRONG.GPU" in op for op in hot), hot                  # ld.global.cg: served at the L2
    assert "LDG.E.128.STRONG.GPU" in hot                                # the 16-byte body
    assert {"LDG.E.STRONG.GPU", "LDG.E.U8.STRONG.GPU"} <= set(hot)      # the word and byte tails too
    narrow = mem_sass[(arch, _mangled("read", 4, 4, mem.HINTS["l2"]))]
    assert narrow and all(".STRONG.GPU" in op for op in narrow)
    # the test can tell: the default hint's loads are the L1-cached form
    default = mem_sass[(arch, _mangled("read", 16, 4, mem.HINTS["default"]))]
    assert "LDG.E.128.CONSTANT" in default and all(".CONSTANT" in op for op in default)


# ---- GPU ------------------------------------------------------------------------------------------

def _cuda_info():
    from accelkern.device import get_device_info
    return get_device_info("cuda")


ODD_SIZES = (1, 3, 15, 16, 17, 4099, (1 << 20) + 3)


def _check_sizes(kernel, vec, hint):
    info = _cuda_info()
    shape = mem.device_launch(kernel, info, vec, hint)
    tile = shape.threads * shape.unroll * vec
    sizes = sorted({vec - 1, vec, tile - 1, tile, tile + vec + 3, 3 * tile * shape.blocks + 5, *ODD_SIZES} - {0})
    w = mem.KernelWorkload(kernel, max(sizes), "cuda", shape)
    checked = 0
    try:
        for n in sizes:
            if kernel == "triad" and n < 4:
                continue
            w.resize(n)
            ok, err, _tol = w.check()
            assert ok, (kernel, vec, hint, n, err)
            checked += 1
    finally:
        w.close()
    assert checked >= len(sizes) - 3


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", mem.OWN_KERNELS)
@pytest.mark.parametrize("vec", mem.VECS)
@pytest.mark.parametrize("hint", list(mem.HINTS))
def test_gpu_kernels_correct_on_aligned_and_odd_sizes(kernel, vec, hint):
    _check_sizes(kernel, vec, hint)


@pytest.mark.gpu
@pytest.mark.smoke
@pytest.mark.parametrize("kernel", ["copy", "read"])
def test_gpu_smoke_copy_and_read_bit_exact(kernel):
    _check_sizes(kernel, 16, "stream")
    # the hot sweep's case: L2-only loads, many passes over a 1 MiB buffer with the real grid
    info = _cuda_info()
    shape = mem.device_launch(kernel, info, 16, mem.HOT_HINT)
    w = mem.KernelWorkload(kernel, 1 << 20, "cuda", shape)
    try:
        w.resize(1 << 20, mem.hot_passes(w.traffic, "cuda"))
        assert w.check()[0]
    finally:
        w.close()


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", mem.OWN_KERNELS)
def test_gpu_kernels_correct_for_other_launch_shapes_and_passes(kernel):
    info = _cuda_info()
    ran = []
    for threads, unroll, bps in ((32, 1, 1), (1024, 8, 1), (128, 2, 7)):
        try:
            shape = mem.device_launch(kernel, info, 16, "stream", threads=threads, unroll=unroll, blocks_per_sm=bps)
        except AccelkernError:
            continue  # does not fit (registers)
        w = mem.KernelWorkload(kernel, (1 << 22) + 7, "cuda", shape)
        try:
            for n, passes in (((1 << 22) + 7, 1), (12345, 3), (1 << 20, 5)):
                w.resize(n, passes)
                assert w.check()[0], (kernel, threads, unroll, bps, n, passes)
        finally:
            w.close()
        ran.append((threads, unroll, bps))
    assert len(ran) >= 2 and (32, 1, 1) in ran, ran   # 32 threads at unroll 1 fit on every GPU


@pytest.mark.gpu
def test_gpu_kernels_do_not_spill():
    from accelkern import _ext
    C = _ext.require()
    for k in mem.OWN_KERNELS:
        for v in mem.VECS:
            for u in mem.UNROLLS:
                for h in mem.HINTS.values():
                    i = C.mem_kernel_info(k, v, u, h, 256)
                    assert i["local_bytes"] == 0, (k, v, u, h, i)
                    assert i["max_blocks_per_sm"] >= 1


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", [pytest.param("ce", marks=pytest.mark.smoke), "h2d", "d2h", "torch"])
def test_gpu_transfers_bit_exact(kernel):
    info = _cuda_info()
    for n in (1, 4099, (1 << 20) + 3):
        w = mem.make_workload(kernel, n, info)
        try:
            assert w.check()[0], (kernel, n)
        finally:
            w.close()


@pytest.mark.gpu
def test_gpu_cli_every_kernel_ok():
    r = _run(["hbm", "--size", "256MiB", "--time", "0.2", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["rows"]
    assert {x["name"] for x in rows} == set(mem.KERNELS)
    for x in rows:
        assert x["status"] == "ok" and x["correct"] is True and x["value"] > 0, x


@pytest.mark.gpu
def test_gpu_tune_tries_every_stage_and_picks_the_measured_maximum():
    info = _cuda_info()
    tr = mem.tune_kernel("copy", 512 << 20, info, None)
    asked = {st: [t.asked for t in tr.trials if t.stage == st] for st in tune_mod.STAGES}
    assert asked["unroll"] == [{"unroll": u} for u in mem.UNROLLS]
    assert asked["threads"] == [{"threads": t} for t in mem.THREADS_CHOICES]
    assert asked["hint"] == [{"hint": "default"}, {"hint": "stream"}]
    before = [t for t in tr.trials if t.stage in ("start", "unroll", "threads") and t.tbps is not None]
    res = max(before, key=lambda t: t.tbps).shape.resident     # the best shape the blocks stage started from
    assert asked["blocks_per_sm"] == [{"blocks_per_sm": b} for b in sorted({1, 2, max(1, res // 2), res})]
    assert all((t.tbps is not None) != (t.why is not None) for t in tr.trials)
    assert all(t.tbps > 0 for t in tr.trials if t.tbps is not None)
    measured = tr.measured()
    assert tr.best_tbps == max(measured.values()) and measured[tr.best.key()] == tr.best_tbps


@pytest.mark.gpu
def test_gpu_sweep_structure_around_the_l2():
    # structure only: the L2 -> HBM transition claim is a verdict of bench/hbm_sweep.py (device_check)
    from accelkern import timing
    info = _cuda_info()
    l2 = info.l2_bytes
    sizes = mem.sweep_sizes(max(1 << 20, l2 // 16), 4 * l2, 2)
    rows = []
    rule = timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=0.2, target_noise=0.01)
    pts = mem.run_sweep("read", sizes, info, None, rule, emit=rows.append)
    assert len(rows) == len(pts) >= len(sizes) - 1
    for r, p in zip(rows, pts):
        c = r.config
        assert r.correct and r.suite == "hbm-sweep" and c["hint"] == "l2" and c["cache"].startswith("hot")
        assert c["bytes_per_buffer"] % (c["threads"] * c["unroll"] * c["vec"]) == 0      # whole tiles
        assert c["passes"] == mem.hot_passes(mem.traffic("read", c["bytes_per_buffer"]), "cuda")
        assert c["working_set_bytes"] == p.working_set == p.size and p.tbps > 0
        assert p.settled == c["timing_settled"]
