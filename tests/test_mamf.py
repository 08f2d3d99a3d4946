import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from accelkern import mamf, timing
from accelkern.cli import cli
from accelkern.errors import AccelkernError
from accelkern.results import Row

H200_LIKE = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 1, 1), (256, 128, 1, 1)), max_dim=20480,
                             ks=(4096, 8192, 16384), max_operand_bytes=100 << 30, elem_bytes=2)


def test_parse_dim_list_stop_excluded():
    assert mamf.parse_dim_list("256:1024:256") == [256, 512, 768]
    assert len(mamf.parse_dim_list("2048:16384:2048")) == 7
    assert len(mamf.parse_dim_list("256:20224:256")) == 78
    assert mamf.parse_dim_list("4096,8192") == [4096, 8192]
    assert mamf.parse_dim_list("8192") == [8192]
    for bad, msg in (("1024:256:256", "STOP must be >= START"), ("256:256:256", "empty"), ("256:1024:0", "STEP"),
                     ("a:b:c", "START:STOP:STEP"), ("1:2", "START:STOP:STEP"), ("0,5", "positive"), ("", "empty")):
        with pytest.raises(AccelkernError, match=msg):
            mamf.parse_dim_list(bad)


def test_guided_candidates_are_tile_aligned_whole_waves_within_limits_unique():
    cands = mamf.guided_candidates(H200_LIKE, limit=200)
    shapes = [s for s, _ in cands]
    assert len(shapes) == len(set(shapes)) > 20
    for s, why in cands:
        tile = (128, 256) if "128x256" in why else (256, 128)
        assert s.m % tile[0] == 0 and s.n % tile[1] == 0, (s, why)
        st = mamf.wave_stats(s, H200_LIKE.launch(tile + (1, 1)))
        assert st["tiles"] % 132 == 0 and st["wave_eff"] == 1.0 and st["tile_eff"] == 1.0
        assert max(s.m, s.n, s.k) <= 20480 and max(s.m, s.n) / min(s.m, s.n) <= 4
        assert s.k == 8192   # the middle K first
    assert shapes == sorted(shapes, key=lambda s: -s.m * s.n)  # largest first when under the limit


def test_guided_candidates_respect_memory_and_limit():
    small = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 1, 1),), max_dim=20480, ks=(8192,),
                             max_operand_bytes=1 << 30, elem_bytes=2)
    cands = mamf.guided_candidates(small, limit=10)
    assert 0 < len(cands) <= 10
    assert all(small.fits(s) for s, _ in cands)
    # the limit keeps the largest half and samples the rest, so mid-size shapes are measured too
    full = mamf.guided_candidates(small, limit=1000)
    assert cands[0][0] == full[0][0] and cands[-1][0] in [s for s, _ in full[len(full) // 2:]]


def test_cluster_shape_divides_the_tile_grid():
    clustered = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 2, 1),), max_dim=20480, ks=(8192,),
                                 max_operand_bytes=100 << 30, elem_bytes=2)
    cands = mamf.guided_candidates(clustered, limit=500)
    assert cands and all((s.m // 128) % 2 == 0 for s, _ in cands)
    assert all("2x1 clusters" in why for _, why in cands)


def test_hand_computed_wave_stats():
    # M=K=8192, N=1408, tile 128x256, 132 SMs, 1 CTA/SM -> 64 x 6 = 384 tiles, 2.91 waves, last wave 91% full
    from accelkern import waves
    st = mamf.wave_stats(mamf.Shape(8192, 1408, 8192), waves.Launch(128, 256, 132, 1))
    assert st["tiles"] == 384
    assert st["waves"] == pytest.approx(2.909, abs=1e-3)
    assert st["wave_eff"] == pytest.approx(384 / 396)
    assert st["tile_eff"] == pytest.approx(1408 / 1536)


def test_neighbours():
    s = mamf.Shape(8192, 8448, 8192)
    nb = dict(mamf.neighbours(s, H200_LIKE))
    for want in (mamf.Shape(8320, 8448, 8192), mamf.Shape(8064, 8448, 8192), mamf.Shape(8192, 8704, 8192),
                 mamf.Shape(8192, 8192, 8192), mamf.Shape(8448, 8192, 8192), mamf.Shape(8192, 8448, 16384),
                 mamf.Shape(8192, 8448, 4096)):
        assert want in nb, want
    assert s not in nb
    edge = mamf.Shape(20480, 20480, 16384)
    assert all(max(c.m, c.n, c.k) <= 20480 for c in dict(mamf.neighbours(edge, H200_LIKE)))


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_budget_accounting_with_fake_clock():
    clk = FakeClock()
    b = mamf.Budget(10, clk)
    assert b.left() == 10 and not b.exhausted()
    with b:
        clk.t += 4
        assert b.left() == pytest.approx(6)
    clk.t += 100          # time outside measuring does not count
    assert b.spent == 4 and b.left() == 6
    with b:
        clk.t += 7
    assert b.exhausted() and b.spent == 11
    with pytest.raises(AccelkernError):
        mamf.Budget(0)


class FakeRunner:
    """Measures a synthetic throughput surface; each measurement costs 1 s of the fake clock."""

    def __init__(self, clock, surface):
        self.clock, self.surface = clock, surface
        self.mode, self.rule, self.measured, self.calls = "cold-cache", timing.StopRule(), {}, []

    def measure(self, s, why="", mode=None, phase="search", rule=None, check=False):
        self.clock.t += 1
        self.calls.append((s, mode or self.mode, phase))
        v = self.surface(s)
        m = mamf.Measured(s, v, Row(suite="mamf", name=phase, shape=str(s), value=v, metric="TFLOPS",
                                    correct=True if check else None), why)
        self.measured.setdefault((s, mode or self.mode), m)
        return m


def test_guided_search_refines_past_the_candidates_and_stops_on_budget():
    clk = FakeClock()
    peak = mamf.Shape(8320, 8448, 16384)      # one tile off any candidate: only refinement finds it
    surface = lambda s: 800 - abs(s.m - peak.m) / 64 - abs(s.n - peak.n) / 64 - abs(s.k - peak.k) / 4096
    r = FakeRunner(clk, surface)
    search = mamf.Search(r, mamf.Budget(1000, clk))
    best = search.guided(H200_LIKE, explore=24)
    assert best.shape == peak
    assert search.tried == len({s for s, _, _ in r.calls})   # nothing measured twice
    clk2 = FakeClock()
    r2 = FakeRunner(clk2, surface)
    s2 = mamf.Search(r2, mamf.Budget(5, clk2))
    s2.guided(H200_LIKE)
    assert s2.tried == 5 and len(r2.calls) == 5


def test_grid_search_visits_every_shape_in_order():
    clk = FakeClock()
    r = FakeRunner(clk, lambda s: s.m + s.n / 10 + s.k / 100)
    best = mamf.Search(r, mamf.Budget(1e9, clk)).grid([256, 512], [256], [128, 256])
    assert [c[0] for c in r.calls] == [mamf.Shape(256, 256, 128), mamf.Shape(256, 256, 256),
                                       mamf.Shape(512, 256, 128), mamf.Shape(512, 256, 256)]
    assert best.shape == mamf.Shape(512, 256, 256)


def test_remeasure_and_summarize():
    clk = FakeClock()
    vals = iter([100.0, 104.0, 102.0, 50.0, 51.0, 49.0])
    r = FakeRunner(clk, lambda s: next(vals))
    a, b = mamf.Shape(256, 256, 256), mamf.Shape(512, 512, 512)
    out = mamf.remeasure(r, [a, b], repeats=3)
    assert [m.tflops for m in out[a]] == [100.0, 104.0, 102.0]
    assert out[a][0].row.correct is True and out[a][1].row.correct is None   # checked once per shape
    med, spread = mamf.summarize(out[a])
    assert med == 102.0 and spread == pytest.approx(4 / 102)
    assert all(phase == "re-measure" for _, _, phase in r.calls)


def test_cpu_end_to_end_short_budget(tmp_path):
    r = CliRunner().invoke(cli, ["mamf", "--device", "cpu", "--budget", "3", "--max-dim", "512", "--warmup", "0",
                                 "--dtype", "fp32", "--top", "2", "--repeats", "2", "--out", str(tmp_path), "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    winners = [x for x in doc["rows"] if x["name"] == "MAMF"]
    assert len(winners) == 1
    w = winners[0]
    assert w["value"] > 0 and w["correct"] is True and w["dtype"] == "fp32"
    assert w["config"]["shapes_tried"] >= 1 and w["config"]["repeats"] == 2
    assert "MAMF fp32 =" in w["note"]
    searched = [x for x in doc["rows"] if x["name"] == "search"]
    assert all(max(int(v) for v in x["shape"].split("x")) <= 512 for x in searched)
    lines = (tmp_path / "mamf.jsonl").read_text().splitlines()
    assert len(lines) == 1 + len(doc["rows"])


def test_cpu_grid_needs_all_three_ranges():
    r = CliRunner().invoke(cli, ["mamf", "--device", "cpu", "--search", "grid", "--m", "256:512:256"])
    assert r.exit_code == 1 and "needs --m, --n and --k" in r.output
    r = CliRunner().invoke(cli, ["mamf", "--device", "cpu", "--dtype", "fp4"])
    assert r.exit_code == 1 and "allowed are" in r.output


def test_sigint_keeps_a_valid_file_and_prints_the_summary(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(mamf.__file__))),
                                         env.get("PYTHONPATH", "")])
    p = subprocess.Popen([sys.executable, "-m", "accelkern.cli", "mamf", "--device", "cpu", "--budget", "120",
                          "--search", "grid", "--m", "64:4096:64", "--n", "128", "--k", "128", "--warmup", "0",
                          "--dtype", "fp32", "--out", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    path = tmp_path / "mamf.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= 4:
            break
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted after" in out and "best so far" in out
    recs = [json.loads(x) for x in path.read_text().splitlines()]
    assert recs[0]["type"] == "header" and len(recs) >= 4
    assert (tmp_path / "mamf.csv").exists()


def test_grid_that_cannot_fit_is_one_line():
    r = CliRunner().invoke(cli, ["mamf", "--device", "cpu", "--search", "grid", "--m", "1000000", "--n", "1000000",
                                 "--k", "1000000", "--warmup", "0"])
    assert r.exit_code == 1 and "needs" in r.output and "GiB" in r.output and "Traceback" not in r.output


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cublaslt", "torch"])
def test_gpu_short_guided_search_finds_a_checked_winner(backend):
    from accelkern import specs
    from accelkern.device import get_device_info
    dev = get_device_info("cuda")
    spec, _ = specs.lookup(dev.name)
    rows = []
    res = mamf.run(dev, spec, "bf16", lambda r: rows.append(r) or r, backend=backend, budget_s=4, warmup_s=1,
                   top=2, repeats=2, explore=6, max_dim=8192)
    assert res.winner_tflops and res.winner_tflops > 0
    assert res.checked is not None and res.checked.correct is True
    assert res.other_mode and res.other_mode["mode"] == "sustained" and res.other_mode["tflops"] > 0
    win = [r for r in rows if r.name == "MAMF"]
    assert len(win) == 1 and win[0].sm_clock_mean_mhz
    if backend == "cublaslt":
        assert win[0].config.get("tile") and win[0].config.get("waves") is not None
