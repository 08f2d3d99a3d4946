"""Memory bandwidth suite: byte accounting, sizes, launch shapes, cache policy, references and the torch path
on the CPU, the CLI; on a GPU every kernel against its reference on aligned and odd sizes, and the sweep's
L2 -> HBM transition."""
import json
import math

import pytest
import torch
from click.testing import CliRunner

from accelkern import memory as mem
from accelkern.cli import cli
from accelkern.errors import AccelkernError, Unavailable
from accelkern.units import parse_size

H100 = dict(sms=132, max_threads_per_sm=2048, max_blocks_per_sm=32)


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


# ---- sizes and names ------------------------------------------------------------------------------

def test_size_parsing():
    assert parse_size("2GiB") == 2 << 30
    assert parse_size("512MiB") == 512 << 20
    assert parse_size("1000003") == 1000003
    assert parse_size("1.5GB") == 1_500_000_000
    with pytest.raises(AccelkernError):
        parse_size("2 GiBs")


def test_size_label_is_exact():
    assert mem.size_label(2 << 30) == "2GiB"
    assert mem.size_label(1536 << 10) == "1536KiB"
    assert mem.size_label(1000003) == "1000003B"


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
    with pytest.raises(AccelkernError, match="default, stream"):
        mem.parse_choices("nt", tuple(mem.HINTS), "--hint", ["stream"])


# ---- launch shape -------------------------------------------------------------------------------

def test_launch_shape_from_device_attributes():
    s = mem.choose_launch("copy", **H100, vec=16)
    assert (s.threads, s.blocks_per_sm, s.blocks, s.unroll) == (512, 4, 528, 4)
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


# ---- cache policy, sweep sizes, transition --------------------------------------------------------

def test_cache_plan():
    l2 = 50 << 20
    assert mem.cache_plan(4 << 30, l2, None) == mem.CachePlan(1, False, mem.cache_plan(4 << 30, l2, None).mode)
    p = mem.cache_plan(64 << 20, l2, 10 << 30)
    assert not p.l2_flush and p.slots * (64 << 20) >= 3 * l2
    p = mem.cache_plan(1 << 20, l2, 10 << 30)  # 64 sets of 1 MiB cannot exceed 3x the L2: flush instead
    assert p.l2_flush and p.slots == 1
    p = mem.cache_plan(1 << 20, l2, 10 << 30, can_flush=False)
    assert not p.l2_flush and "partly" in p.mode
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


def _curve(l2, hi=10.0, lo=4.0):
    pts = []
    for e in range(20, 33):
        ws = 1 << e
        bw = hi if ws <= l2 / 2 else lo if ws >= 2 * l2 else hi + (lo - hi) * (math.log2(ws / (l2 / 2)) / 2)
        pts.append(mem.SweepPoint(ws, ws, bw))
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


def test_plot_file_written(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sub" / "sweep.png"
    out = mem.plot_sweep({"read": _curve(50 << 20)}, 50 << 20, 4.8, str(path), "test")
    assert out == str(path) and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
    buf[:] = torch.tensor(mem.pattern_bytes(mem.WRITE_PATTERN, 0, 11), dtype=torch.uint8)
    assert mem.filled_with(buf, 11, mem.WRITE_PATTERN)
    assert mem.pattern_bytes(0x04030201, 2, 4) == [3, 4, 1, 2]
    buf[10] ^= 1
    assert not mem.filled_with(buf, 11, mem.WRITE_PATTERN)


def test_triad_error_detects_wrong_and_unwritten_elements():
    b, c = torch.randn(1000), torch.randn(1000)
    a = b + 3.0 * c
    assert mem.triad_error(a, b, c, 3.0, 1000) < 1e-6
    a[17] += 1.0
    assert mem.triad_error(a, b, c, 3.0, 1000) > 0.1
    a[17] = float("nan")
    assert mem.triad_error(a, b, c, 3.0, 1000) == math.inf


# ---- torch path on the CPU ------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", mem.OWN_KERNELS)
@pytest.mark.parametrize("nbytes", [1, 3, 4, 15, 17, 4096, (1 << 20) + 3])
def test_torch_workloads_correct_on_aligned_and_odd_sizes(kernel, nbytes):
    if kernel == "triad" and nbytes < 4:
        pytest.skip("triad needs one fp32 element")
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
        v[0].fill_(mem._as_int32(mem.WRITE_PATTERN))  # the 3 tail bytes are never written


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
    assert "rounded down" in row.note and row.shape == "1MiB" and row.dtype == "fp32"


def test_require_memory_says_what_is_free():
    with pytest.raises(AccelkernError) as e:
        mem.require_memory("copy", mem.traffic("copy", 1 << 50), "cpu")
    msg = str(e.value)
    assert "free" in msg and "GiB" in msg and "\n" not in msg


# ---- CLI ------------------------------------------------------------------------------------------

def _run(args):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


def test_cli_cpu_table_rows_and_bytes():
    r = _run(["hbm", "--device", "cpu", "--size", "1MiB", "--time", "0.1", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = {x["name"]: x for x in doc["rows"]}
    assert set(rows) == set(mem.OWN_KERNELS)
    for name, x in rows.items():
        assert x["status"] == "ok" and x["correct"] is True and x["metric"] == "TB/s" and x["value"] > 0
        assert x["backend"] == "torch" and x["suite"] == "hbm"
    assert rows["copy"]["bytes_read"] == rows["copy"]["bytes_written"] == 1 << 20
    assert rows["triad"]["bytes_read"] == 2 << 20


def test_cli_table_output_and_out_dir(tmp_path):
    r = _run(["hbm", "--device", "cpu", "--size", "1000003", "--kernel", "copy,ce", "--time", "0.1",
              "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "rd+wr TB/s" in r.stdout and "1-dir TB/s" in r.stdout and "skipped" in r.stdout
    assert "bytes: rd+wr TB/s counts" in r.stdout
    assert (tmp_path / "hbm.jsonl").exists() and (tmp_path / "hbm.csv").exists()


def test_cli_unknown_kernel_lists_the_valid_ones():
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--kernel", "cpy"])
    assert r.exit_code == 1
    assert "unknown kernel 'cpy'; valid: copy, read, write, triad, ce, torch, h2d, d2h" in r.output
    assert "Traceback" not in r.output


def test_cli_size_larger_than_free_memory_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--size", "64TiB", "--out", str(tmp_path)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    lines = [l for l in r.output.splitlines() if l.startswith("Error")]
    assert len(lines) == 1 and "free" in lines[0]
    assert not any(tmp_path.iterdir())  # refused before any results file is opened


def test_cli_bad_vec_and_size():
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--vec", "12"])
    assert r.exit_code == 1 and "--vec '12' not allowed" in r.output
    r = CliRunner().invoke(cli, ["hbm", "--device", "cpu", "--size", "lots"])
    assert r.exit_code == 1 and "not understood" in r.output


def test_cli_sweep_writes_rows_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    r = _run(["hbm", "--device", "cpu", "--sweep", "--sweep-min", "256KiB", "--sweep-max", "1MiB", "--steps", "1",
              "--time", "0.2", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "hbm_sweep.png").stat().st_size > 10_000
    from accelkern.results import read_jsonl
    _h, rows = read_jsonl(str(tmp_path / "hbm_sweep.jsonl"))
    assert [row.shape for row in rows] == ["256KiB", "512KiB", "1MiB"]
    assert all(row.correct and row.config["passes"] >= 1 for row in rows)
    assert rows[0].config["working_set_bytes"] == 256 << 10


def test_validate_registers_the_hbm_suite():
    from accelkern import validate
    validate.load_suites()
    assert "hbm" in validate.SUITES and "cpu" in validate.SUITES["hbm"].devices


# ---- the CUDA path's Python side, with the extension emulated by torch on the CPU ---------------------

class _EmulatedC:
    """accelkern._C's memory functions done by torch on CPU tensors; records every launch."""

    def __init__(self, drop_last_byte=False):
        self.calls, self.drop = [], drop_last_byte

    def mem_kernel_info(self, kernel, vec, unroll, hint, threads):
        regs = 30 + 4 * unroll * (2 if kernel == "triad" else 1)
        return {"num_regs": regs, "local_bytes": 0, "max_threads_per_block": 1024,
                "max_blocks_per_sm": min(2048 // threads, 65536 // (regs * threads), 32)}

    def mem_copy(self, src, dst, n, *launch):
        self.calls.append(("copy", n) + launch)
        m = n - 1 if self.drop else n
        dst[:m].copy_(src[:m])

    def mem_read(self, src, n, partials, vec, unroll, hint, threads, blocks, passes):
        self.calls.append(("read", n, vec, unroll, hint, threads, blocks, passes))
        v = (passes * mem.checksum(src, n)) & 0xFFFFFFFF
        partials[:blocks].zero_()
        partials[blocks - 1] = v - (1 << 32) if v >= 1 << 31 else v

    def mem_write(self, dst, n, pattern, *launch):
        self.calls.append(("write", n) + launch)
        dst[:n] = torch.tensor(mem.pattern_bytes(pattern, 0, n), dtype=torch.uint8)

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
    monkeypatch.setattr(_ext, "_module", c)
    monkeypatch.setattr(_ext, "_loaded", True)
    monkeypatch.setattr(_ext, "_error", None)
    info = DeviceInfo(kind="cuda", index=0, name="emulated", torch_device="cpu", sm_count=4, max_threads_per_sm=2048,
                      max_blocks_per_sm=32, l2_bytes=1 << 20, mem_clock_mhz=2619, mem_bus_width_bits=6144)
    return c, info


FAST = dict(min_samples=3, min_time_s=0.0, max_time_s=0.05)


def test_cuda_path_launches_and_rows(emulated):
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
    row = mem.run_kernel("read", 4096, info, spec, rule)
    assert row.bytes_written == 4 * row.config["blocks"] and row.bytes_read == 4096  # 4 B per block stored


def test_cuda_path_wrong_output_is_failed_and_not_timed(emulated):
    from accelkern import timing
    c, info = emulated
    c.drop = True
    row = mem.run_kernel("copy", 1001, info, None, timing.StopRule(**FAST))
    assert row.status == "failed" and row.correct is False and row.value is None and "not timed" in row.note


def test_cuda_path_tune_and_sweep(emulated):
    from accelkern import timing
    c, info = emulated
    tr = mem.tune_kernel("copy", 1 << 20, info, None, rule=timing.StopRule(**FAST))
    assert len(tr.tried) >= 6 and tr.best_tbps >= tr.default_tbps > 0
    assert "tune copy: picked vec 16" in tr.summary()
    rows = []
    pts = mem.run_sweep("read", [64 << 10, 256 << 10], info, None, timing.StopRule(**FAST), emit=rows.append)
    assert [p.size for p in pts] == [64 << 10, 256 << 10]
    assert all(r.correct and r.config["cache"].startswith("hot") for r in rows)
    assert rows[0].config["passes"] > rows[1].config["passes"] > 1  # smaller sizes run more passes per call
    assert {x[-1] for x in c.calls if x[0] == "read"} >= {r.config["passes"] for r in rows}


# ---- GPU ------------------------------------------------------------------------------------------

def _cuda_info():
    from accelkern.device import get_device_info
    return get_device_info("cuda")


ODD_SIZES = (1, 3, 15, 16, 17, 4099, (1 << 20) + 3)


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", mem.OWN_KERNELS)
@pytest.mark.parametrize("vec", mem.VECS)
@pytest.mark.parametrize("hint", list(mem.HINTS))
def test_gpu_kernels_correct_on_aligned_and_odd_sizes(kernel, vec, hint):
    info = _cuda_info()
    shape = mem.device_launch(kernel, info, vec, hint)
    tile = shape.threads * shape.unroll * vec
    sizes = sorted({vec - 1, vec, tile - 1, tile, tile + vec + 3, 3 * tile * shape.blocks + 5, *ODD_SIZES} - {0})
    w = mem.KernelWorkload(kernel, max(sizes), "cuda", shape)
    try:
        for n in sizes:
            if kernel == "triad" and n < 4:
                continue
            w.resize(n)
            ok, err, _tol = w.check()
            assert ok, (kernel, vec, hint, n, err)
    finally:
        w.close()


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", mem.OWN_KERNELS)
def test_gpu_kernels_correct_for_other_launch_shapes_and_passes(kernel):
    info = _cuda_info()
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
@pytest.mark.parametrize("kernel", ["ce", "h2d", "d2h", "torch"])
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
def test_gpu_tune_picks_a_shape_at_least_as_fast_as_the_default():
    info = _cuda_info()
    tr = mem.tune_kernel("copy", 512 << 20, info, None)
    assert tr.best_tbps >= tr.default_tbps > 0 and len(tr.tried) >= 4


@pytest.mark.gpu
def test_gpu_sweep_l2_to_hbm_transition_within_2x_of_l2():
    from accelkern import timing
    info = _cuda_info()
    l2 = info.l2_bytes
    sizes = mem.sweep_sizes(max(1 << 20, l2 // 16), 32 * l2, 4)
    rule = timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=0.3, target_noise=0.01)
    pts = mem.run_sweep("read", sizes, info, None, rule, hint="default")
    tr = mem.cache_transition(pts)
    table = [(p.working_set >> 20, round(p.tbps, 2)) for p in pts]
    assert tr is not None, table
    assert l2 / 2 <= tr <= 2 * l2, (tr / 2**20, l2 / 2**20, table)
