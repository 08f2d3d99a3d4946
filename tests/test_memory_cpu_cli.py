"""`accelkern hbm --device cpu` with accelkern's CPU kernels: bad input refused in one line with exit 2 and
nothing written; a small run's rows carry the byte convention, threads, ISA path, check and the theoretical
figure; the sweep writes its rows, latency, levels and plot. Functional only: no figure is judged for speed."""
import json

import pytest
from click.testing import CliRunner

from accelkern import _cpu_ext
from accelkern.cli import cli
from accelkern.hostcpu import topology
from accelkern.results import read_jsonl

MOD = _cpu_ext.load()
pytestmark = pytest.mark.skipif(MOD is None or not hasattr(MOD, "memory_kernels"),
                                reason=f"accelkern._cpu with memory kernels not built: {_cpu_ext.error()}")
CORES = len(topology.one_cpu_per_core())


def run(args):
    return CliRunner().invoke(cli, ["hbm", "--device", "cpu"] + args)


def one_error_line(r):
    lines = [l for l in r.output.splitlines() if l.startswith("Error")]
    assert r.exit_code == 2 and len(lines) == 1 and "Traceback" not in r.output, r.output
    return lines[0]


@pytest.mark.parametrize("args,msg", [
    (["--threads", "0"], "--threads 0: at least 1"),
    (["--threads", str(CORES + 1)], f"more than the {CORES} physical core(s)"),
    (["--sweep", "--sweep-min", "1MiB", "--sweep-max", "64KiB"], "reversed"),
    (["--sweep", "--sweep-min", "1KiB"], "at least 4 KiB per thread"),
    (["--kernel", "triad,memset"], "--kernel memset: not a CPU memory kernel"),
    (["--hint", "l2"], "on a CPU use default (normal stores) or stream"),
    (["--isa", "sse9"], "--isa sse9: use avx512, avx2, scalar"),
    (["--tune"], "--tune searches GPU launch shapes"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, msg):
    out = tmp_path / "o"
    r = run(args + ["--out", str(out)])
    assert msg in one_error_line(r)
    assert not out.exists()


def test_a_working_set_beyond_free_memory_is_refused_with_the_size_that_fits(tmp_path):
    out = tmp_path / "o"
    r = run(["--kernel", "triad", "--size", "64TiB", "--out", str(out)])
    line = one_error_line(r)
    assert "the working set needs 192 TiB" in line and "free" in line and "per array or less" in line
    assert not out.exists()
    r = run(["--sweep", "--sweep-max", "64TiB", "--out", str(out)])
    assert "free (MemAvailable)" in one_error_line(r) and not out.exists()


def test_small_run_rows_carry_convention_threads_path_and_check(tmp_path):
    r = run(["--kernel", "read,copy,torch", "--size", "1MiB", "--time", "0.05", "--threads", "1", "--json",
             "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout)["rows"]}
    assert set(rows) == {"read", "copy", "copy nt", "latency DRAM", "read (torch cross-check)",
                         "copy (torch cross-check)"}
    for name in ("read", "copy", "copy nt"):
        x = rows[name]
        c = x["config"]
        assert x["status"] == "ok" and x["correct"] is True and x["metric"] == "TB/s" and x["value"] > 0
        assert c["threads"] == 1 and c["path"] in ("avx512", "avx2", "scalar") and c["bytes_per_buffer"] == 1 << 20
        assert c["byte_convention"].startswith("explicit loads + stores")
        passes = c["passes"]
        assert x["bytes_read"] == passes * (1 << 20)
        assert x["bytes_written"] == (0 if name == "read" else passes * (1 << 20))
        assert x["one_direction"] <= x["value"]
    assert rows["copy"]["config"]["write_allocate_bytes"] == rows["copy"]["bytes_written"]
    assert rows["copy nt"]["config"]["write_allocate_bytes"] == 0
    assert "write-allocate" in rows["copy"]["note"] and "no write-allocate" in rows["copy nt"]["note"]
    assert rows["copy"]["config"]["memory_traffic_tbps"] > rows["copy"]["value"]
    lat = rows["latency DRAM"]
    from accelkern.memory import cpu_hbm
    chased = cpu_hbm.dram_chase_bytes(topology.one_cpu_per_core(1)[0])       # independent of --size
    assert lat["metric"] == "ns" and lat["value"] > 0 and lat["config"]["lines"] == chased // 64
    assert rows["copy (torch cross-check)"]["backend"] == "torch"
    _h, written = read_jsonl(str(tmp_path / "hbm.jsonl"))
    assert len(written) == len(rows)


def test_theoretical_from_a_cpu_entry_on_every_dram_row():
    r = run(["--kernel", "write", "--hint", "stream", "--size", "1MiB", "--time", "0.05", "--threads", "1",
             "--spec", "epyc-7742", "--json"])
    assert r.exit_code == 0, r.output
    x = [x for x in json.loads(r.stdout)["rows"] if x["name"] == "write nt"][0]
    assert x["theoretical_value"] == pytest.approx(204.8e9 / 1e12)
    assert x["pct_of_theoretical"] == pytest.approx(100 * x["value"] / x["theoretical_value"])
    assert "AMD EPYC 7742 datasheet: 8 channels" in x["config"]["theoretical_source"]
    assert "whole socket's (64 cores)" in x["note"]


def test_sweep_writes_bandwidth_latency_level_rows_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    r = run(["--sweep", "--sweep-min", "16KiB", "--sweep-max", "64KiB", "--steps", "1", "--time", "0.1",
             "--threads", "1", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    _h, rows = read_jsonl(str(tmp_path / "hbm_sweep.jsonl"))
    bw = [x for x in rows if x.suite == "hbm-sweep"]
    lat = [x for x in rows if x.suite == "hbm-sweep-latency"]
    assert [x.config["per_thread_bytes"] for x in bw] == [16 << 10, 32 << 10, 64 << 10]
    assert all(x.correct and x.name == "read" and x.config["passes"] >= 1 for x in bw)
    assert [x.config["bytes"] for x in lat] == [16 << 10, 32 << 10, 64 << 10]
    assert all(x.metric == "ns" and x.value > 0 for x in lat)
    assert (tmp_path / "hbm_sweep.png").stat().st_size > 10_000
    assert "sysfs caches:" in r.stdout


def test_ctrl_c_keeps_the_finished_rows(monkeypatch, tmp_path):
    from accelkern.memory import cpu_hbm
    real = cpu_hbm.measure_row
    calls = []

    def interrupted_third(*a, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(cpu_hbm, "measure_row", interrupted_third)
    r = run(["--kernel", "read,copy", "--size", "1MiB", "--time", "0.05", "--threads", "1", "--out", str(tmp_path)])
    assert r.exit_code == 130, r.output
    _h, rows = read_jsonl(str(tmp_path / "hbm.jsonl"))
    assert [x.name for x in rows] == ["read", "copy"] and all(x.correct for x in rows)
    assert "interrupted: 2 finished row(s) kept" in r.output
