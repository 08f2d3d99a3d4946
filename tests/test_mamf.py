import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from accelkern import mamf, timing
from accelkern.cli import cli
from accelkern.errors import AccelkernError
from accelkern.results import Row

H200_LIKE = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 1, 1), (256, 128, 1, 1)), max_dim=20480,
                             ks=(4096, 8192, 16384), max_operand_bytes=100 << 30, elem_bytes=2)


def test_wave_aware_candidates_span_the_wave_range_both_orientations_tile_aligned():
    mn = mamf.wave_mn(H200_LIKE)
    assert len(mn) > 50
    for (m, n), why in mn.items():
        tile = (128, 256) if "128x256" in why else (256, 128)
        assert m % tile[0] == 0 and n % tile[1] == 0, (m, n, why)
        assert (n, m) in mn                                  # both orientations
        assert max(m, n) <= 20480 and max(m, n) / min(m, n) <= 4
        st = mamf.wave_stats(mamf.Shape(m, n, 8192), H200_LIKE.launch(tile + (1, 1)))
        whole = st["tiles"] % 132 == 0
        assert whole or ("just under" in why and 1 - st["wave_eff"] <= 0.05 + 1 / st["tiles"]), (m, n, why)
    # 1, 2 and 3 waves of 132 tiles (128x256: 12 x 11 tiles = 1536 x 2816) and just under one wave
    # (2048 x 2048 = 16 x 8 = 128 of 132 tiles), not only the biggest shapes
    assert (1536, 2816) in mn and (2816, 1536) in mn and (2048, 2048) in mn
    waves_seen = {mamf.wave_stats(mamf.Shape(m, n, 8192), H200_LIKE.launch((128, 256, 1, 1)))["waves"]
                  for (m, n), why in mn.items() if "128x256" in why and "whole" in why}
    assert {1.0, 2.0, 3.0, 4.0} <= {round(w, 6) for w in waves_seen}
    assert min(m * n for m, n in mn) <= 2048 * 2048 < 8192 * 8192 <= max(m * n for m, n in mn)


def test_k_from_the_largest_that_fits_downward_and_max_dim_bounds_k_separately():
    space = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 1, 1),), max_dim=20480, ks=None,
                             max_operand_bytes=100 << 30, elem_bytes=2)
    ks = space.k_values(2048, 2048)
    assert ks[0] == 20480 and ks == sorted(ks, reverse=True) and ks[-1] == 2048
    assert 16384 in ks and 12288 in ks and 8192 in ks
    # memory bounds K for big M x N: two rotating operand sets and the output must fit
    tight = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 1, 1),), max_dim=20480, ks=None,
                             max_operand_bytes=1 << 30, elem_bytes=2)
    top = tight.k_values(16384, 16384)
    assert not top or tight.fits(mamf.Shape(16384, 16384, top[0]))
    big = tight.k_values(4096, 4096)[0]
    assert tight.fits(mamf.Shape(4096, 4096, big)) and not tight.fits(mamf.Shape(4096, 4096, big + 256))
    cands = mamf.wave_candidates(tight)
    assert len(cands) and all(tight.fits(s) for s in cands.shapes)
    assert len(set(cands.shapes)) == len(cands)


def test_cluster_shape_divides_the_tile_grid():
    clustered = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 2, 1),), max_dim=20480, ks=(8192,),
                                 max_operand_bytes=100 << 30, elem_bytes=2)
    mn = mamf.wave_mn(clustered)
    assert mn
    for (m, n), why in mn.items():
        if "tile 128x256 cluster 2x1" in why:
            assert m % 256 == 0 and n % 256 == 0, (m, n)          # whole 2x1 clusters of 128x256 tiles
        else:
            assert "tile 256x128 cluster 1x2 (the other orientation)" in why, why
            assert n % 256 == 0 and m % 256 == 0, (m, n)


def test_parse_tiles():
    assert mamf.parse_tiles("128x256") == ((128, 256, 1, 1),)
    assert mamf.parse_tiles("128x256:2x1, 256x128") == ((128, 256, 2, 1), (256, 128, 1, 1))
    for bad in ("", "128", "axb", "128x256:2"):
        with pytest.raises(AccelkernError):
            mamf.parse_tiles(bad)


def test_hand_computed_wave_stats():
    # M=K=8192, N=1408, tile 128x256, 132 SMs, 1 CTA/SM -> 64 x 6 = 384 tiles, 2.91 waves, last wave 91% full
    from accelkern import waves
    st = mamf.wave_stats(mamf.Shape(8192, 1408, 8192), waves.Launch(128, 256, 132, 1))
    assert st["tiles"] == 384
    assert st["waves"] == pytest.approx(2.909, abs=1e-3)
    assert st["wave_eff"] == pytest.approx(384 / 396)
    assert st["tile_eff"] == pytest.approx(1408 / 1536)


def test_lattice_candidates_keep_only_what_fits_or_was_recorded():
    space = mamf.SearchSpace(sms=132, ctas_per_sm=1, tiles=((128, 256, 1, 1),), max_dim=20480, ks=None,
                             max_operand_bytes=1 << 30, elem_bytes=2)
    c = mamf.lattice_candidates(space, [1024, 65536], [1024], [1024, 2048])
    assert c.shapes == [mamf.Shape(1024, 1024, 1024), mamf.Shape(1024, 1024, 2048)] and c.lattice
    rec = {mamf.Shape(1024, 1024, 2048)}
    c = mamf.lattice_candidates(space, [1024, 65536], [1024], [1024, 2048], available=rec)
    assert c.shapes == [mamf.Shape(1024, 1024, 2048)]


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

    def cost_s(self, flops, tflops):
        return 1.0 + 0 * flops

    def measure(self, s, why="", mode=None, phase="search", rule=None, check=False):
        self.clock.t += 1
        self.calls.append((s, mode or self.mode, phase))
        v = self.surface(s)
        m = mamf.Measured(s, v, Row(suite="mamf", name=phase, shape=str(s), value=v, metric="TFLOPS",
                                    correct=True if check else None), why)
        self.measured.setdefault((s, mode or self.mode), m)
        return m


def _lattice(ms, ns, ks):
    return mamf.lattice_candidates(H200_LIKE, ms, ns, ks)


def test_guided_search_finds_the_top_of_a_lattice_for_part_of_its_cost_and_stops_by_itself():
    # a smooth surface with its top inside the lattice, away from the cheapest and the largest shapes
    peak = mamf.Shape(6144, 4096, 8192)
    surface = lambda s: 800 * (1 - 0.02 * (np.log2(s.m / peak.m) ** 2 + np.log2(s.n / peak.n) ** 2
                                           + np.log2(s.k / peak.k) ** 2))
    sizes = list(range(1024, 16385, 1024))
    c = _lattice(sizes, sizes, (2048, 4096, 8192, 16384))
    clk = FakeClock()
    r = FakeRunner(clk, surface)
    search = mamf.Search(r, mamf.Budget(10_000, clk))
    best = search.guided(c)
    assert best.tflops >= 0.99 * max(surface(s) for s in c.shapes)
    assert search.tried == len({s for s, _, _ in r.calls})        # nothing measured twice
    assert search.tried < 0.25 * len(c)
    assert search.stop_reason.startswith("converged")
    assert set(s for s, _, _ in r.calls) <= set(c.shapes)         # never outside the lattice


def test_guided_search_stops_at_the_budget():
    c = _lattice(list(range(1024, 16385, 1024)), [4096, 8192], (4096, 8192))
    clk = FakeClock()
    r = FakeRunner(clk, lambda s: float(s.m))
    search = mamf.Search(r, mamf.Budget(5, clk))
    search.guided(c)
    assert search.tried == 5 and len(r.calls) == 5 and search.stop_reason == "budget spent"


def test_a_gain_inside_the_noise_is_no_reason_to_go_on():
    # a flat surface: nothing can beat the best by the 1% noise floor, so the search stops after the model's
    # first look instead of measuring every shape
    c = _lattice(list(range(1024, 16385, 1024)), list(range(1024, 16385, 1024)), (8192,))
    clk = FakeClock()
    search = mamf.Search(FakeRunner(clk, lambda s: 700.0), mamf.Budget(10_000, clk))
    search.guided(c)
    assert search.stop_reason.startswith("converged") and search.tried < 40


# ---- issue 22: calibrated doubt, a stop that weighs chance against cost, the leader's neighbours ----------

PEAK = mamf.Shape(6144, 4096, 8192)
SIZES = list(range(1024, 16385, 1024))


def _bowl(s):
    """A smooth surface with its top inside the 1,024-shape lattice below, away from its corners."""
    return 800 * (1 - 0.02 * (np.log2(s.m / PEAK.m) ** 2 + np.log2(s.n / PEAK.n) ** 2 + np.log2(s.k / PEAK.k) ** 2))


def _guided(surface, budget=10_000):
    c = _lattice(SIZES, SIZES, (2048, 4096, 8192, 16384))
    clk = FakeClock()
    r = FakeRunner(clk, surface)
    search = mamf.Search(r, mamf.Budget(budget, clk))
    return c, r, search, search.guided(c)


def test_calibration_scale_matches_misses_to_the_spread_the_model_gave():
    from accelkern.mamf.calibration import scale
    rng = np.random.default_rng(0)
    z = rng.normal(0.0, 1.0, 400)
    assert 0.9 <= scale(z, lo=0.1) <= 1.1                     # misses as large as said: no change
    assert 2.6 <= scale(3.0 * z) <= 3.4                       # three times as large: three times as wide
    assert scale(z - 1.5, lo=0.1) == pytest.approx(scale(z, lo=0.1))   # a shift (picked shapes overrated)
    assert scale(-np.abs(z)) == 1.0                           # misses downward never widen
    # one shape far above the rest widens a little, not as if every prediction were that far off
    assert 1.0 < scale(np.r_[z[:20], 12.0]) < 1.6


def test_a_model_wrong_about_its_last_predictions_must_not_stop_the_search():
    from accelkern.mamf.calibration import MISS_Z, RECENT, Calibration
    cal = Calibration()
    for _ in range(10):
        cal.record(0.0, 0.0, 0.01)                            # ten predictions that held exactly
    assert cal.widen() == 1.0 and cal.recent_miss() is None
    cal.record(0.05, 0.0, 0.01)                               # then one 5 sd above the prediction
    assert cal.widen() > 1.3 and cal.recent_miss() > MISS_Z
    for _ in range(RECENT):
        cal.record(0.0, 0.0, 0.01)
    assert cal.recent_miss() is None                          # the next RECENT held: it may stop again


def test_the_risk_accepted_shrinks_as_the_price_of_removing_it_falls():
    from accelkern.mamf import stop
    p = np.r_[np.full(10, 0.005), np.zeros(990)]              # 5% left in ten shapes
    cheap = stop.doubt(np.zeros(1000), p, np.full(1000, 0.01), left_s=60.0)
    dear = stop.doubt(np.zeros(1000), p, np.full(1000, 10.0), left_s=60.0)
    assert cheap.chance == pytest.approx(1 - 0.995 ** 10) and cheap.price_s == pytest.approx(0.1)
    assert not cheap.small_enough and dear.small_enough       # 0.1 s buys it; 100 s does not
    assert "would cost" not in dear.why(0.01) and "100 s" in dear.why(0.01) and "4.9%" in dear.why(0.01)
    # a better region left is searched for whatever it costs; a doubt under the floor is accepted
    region = stop.doubt(np.r_[np.full(10, 0.05), np.zeros(990)], p, np.full(1000, 10.0), left_s=60.0)
    assert not region.small_enough
    tiny = stop.doubt(np.zeros(1000), p / 10, np.full(1000, 0.01), left_s=60.0)
    assert tiny.small_enough and "below 1%" in tiny.why(0.01)


def test_neighbours_are_the_next_m_n_and_k_of_the_set():
    c = _lattice(SIZES, SIZES, (2048, 4096, 8192, 16384))
    got = {c.shapes[j] for j in c.neighbours(c.index[PEAK])}
    assert got == {mamf.Shape(5120, 4096, 8192), mamf.Shape(7168, 4096, 8192), mamf.Shape(6144, 3072, 8192),
                   mamf.Shape(6144, 5120, 8192), mamf.Shape(6144, 4096, 4096), mamf.Shape(6144, 4096, 16384)}
    corner = c.index[mamf.Shape(1024, 16384, 2048)]
    assert {c.shapes[j] for j in c.neighbours(corner)} == {
        mamf.Shape(2048, 16384, 2048), mamf.Shape(1024, 15360, 2048), mamf.Shape(1024, 16384, 4096)}


def test_the_leaders_neighbours_are_measured_before_the_search_stops_and_the_line_says_what_remained():
    c, r, search, best = _guided(_bowl)
    assert best.shape == PEAK and search.stop_reason.startswith("converged")
    measured = {s for s, _, _ in r.calls}
    assert {c.shapes[j] for j in c.neighbours(c.index[best.shape])} <= measured
    why = search.stop_reason
    assert "chance" in why and "unmeasured shapes" in why and "better region" in why and "model spread" in why


def test_a_per_shape_factor_up_and_down_is_not_taken_for_noise():
    # issue 22: the smooth surface times a fixed log-normal factor per shape (2%): 6 of 10 seeds ended below
    # 99% of the best; single shapes far above the rest cannot be promised, most seeds must reach it
    shares = []
    for seed in range(10):
        f = dict(zip(_lattice(SIZES, SIZES, (2048, 4096, 8192, 16384)).shapes,
                     np.exp(np.random.default_rng(seed).normal(0.0, 0.02, 1024))))
        surface = lambda s: _bowl(s) * f[s]
        c, r, search, best = _guided(surface)
        shares.append(best.tflops / max(surface(s) for s in c.shapes))
        assert search.tried < 0.25 * len(c)
    assert sum(x >= 0.99 for x in shares) >= 6 and min(shares) >= 0.94, shares


def test_grid_search_visits_every_shape_in_order_and_stops_at_the_budget():
    clk = FakeClock()
    r = FakeRunner(clk, lambda s: s.m + s.n / 10 + s.k / 100)
    c = _lattice([256, 512], [256], [128, 256])
    best = mamf.Search(r, mamf.Budget(1e9, clk)).grid(c)
    assert [x[0] for x in r.calls] == [mamf.Shape(256, 256, 128), mamf.Shape(256, 256, 256),
                                       mamf.Shape(512, 256, 128), mamf.Shape(512, 256, 256)]
    assert best.shape == mamf.Shape(512, 256, 256)
    clk2 = FakeClock()
    s2 = mamf.Search(FakeRunner(clk2, lambda s: 1.0), mamf.Budget(2, clk2))
    s2.grid(c)
    assert s2.tried == 2 and s2.stop_reason == "budget spent"


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
    r = CliRunner().invoke(cli, ["mamf", "--device", "cpu", "--budget", "1", "--max-dim", "512", "--warmup", "0",
                                 "--dtype", "fp32", "--top", "2", "--repeats", "2", "--out", str(tmp_path), "--json"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    winners = [x for x in doc["rows"] if x["name"] == "MAMF"]
    assert len(winners) == 1
    w = winners[0]
    assert w["value"] > 0 and w["correct"] is True and w["dtype"] == "fp32"
    # --budget bounds the run: when two re-measures of the top two would not fit, fewer are made, and said
    cfg = w["config"]
    again = [x for x in doc["rows"] if x["name"] == "re-measure" and x["shape"] == w["shape"]]
    assert cfg["shapes_tried"] >= 1 and cfg["repeats"] == len(again) and 1 <= len(again) <= 2
    if len(again) < 2:
        assert cfg["budget_note"].startswith("--budget:") and cfg["budget_note"] in w["note"]
    assert "MAMF fp32 =" in w["note"]
    searched = [x for x in doc["rows"] if x["name"] == "search"]
    assert all(max(int(v) for v in x["shape"].split("x")) <= 512 for x in searched)
    lines = (tmp_path / "mamf.jsonl").read_text().splitlines()
    assert len(lines) == 1 + len(doc["rows"])


def test_bad_options_are_one_line_exit_2_before_any_output(tmp_path):
    out = tmp_path / "o"
    for args, msg in ((["--search", "grid", "--m", "256:512:256"], "needs --m, --n and --k"),
                      (["--dtype", "fp4"], "allowed are"),
                      (["--budget", "-5"], "--budget -5"),
                      (["--m", "1024:256:256", "--n", "256"], "--m"),
                      (["--m", "256"], "--m and --n go together"),
                      (["--tile", "128"], "--tile"),
                      (["--sms", "100"], "--sms goes with --replay"),
                      (["--m", "1:20000:1", "--n", "1:20000:1"], "use a coarser STEP")):
        r = CliRunner().invoke(cli, ["mamf", "--device", "cpu", "--out", str(out)] + args)
        assert r.exit_code == 2, (args, r.output)
        assert msg in r.output and "Traceback" not in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1, (args, r.output)
        assert not out.exists(), args                   # nothing written before the refusal


def test_grid_ranges_stop_excluded(tmp_path):
    r = CliRunner().invoke(cli, ["mamf", "--device", "cpu", "--search", "grid", "--m", "128:384:128", "--n", "128",
                                 "--k", "128", "--warmup", "0", "--dtype", "fp32", "--top", "1", "--repeats", "1",
                                 "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert sorted(x["shape"] for x in doc["rows"] if x["name"] == "search") == ["128x128x128", "256x128x128"]


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
    assert r.exit_code == 2 and "needs" in r.output and "GiB" in r.output and "Traceback" not in r.output


@pytest.mark.gpu
@pytest.mark.parametrize("backend", [pytest.param("cublaslt", marks=pytest.mark.smoke), "torch"])
def test_gpu_short_guided_search_finds_a_checked_winner(backend):
    from accelkern import specs
    from accelkern.device import get_device_info
    dev = get_device_info("cuda")
    spec, _ = specs.lookup(dev.name)
    rows = []
    res = mamf.run(dev, spec, "bf16", lambda r: rows.append(r) or r, backend=backend, budget_s=2, warmup_s=1,
                   top=2, repeats=1, max_dim=8192)
    assert res.winner_tflops and res.winner_tflops > 0
    assert res.checked is not None and res.checked.correct is True
    assert res.other_mode and res.other_mode["mode"] == "sustained" and res.other_mode["tflops"] > 0
    win = [r for r in rows if r.name == "MAMF"]
    assert len(win) == 1
    # the headline is the median of the winner's re-measures, and no more than the silicon allows
    import statistics
    assert res.winner_tflops == pytest.approx(statistics.median(r.value for r in res.winner_rows))
    assert win[0].value == pytest.approx(res.winner_tflops)
    if win[0].clock_peak:
        assert res.winner_tflops <= 1.02 * win[0].clock_peak
    if spec is not None and spec.peak("bf16"):
        assert res.winner_tflops <= 1.02 * spec.peak("bf16")
    from accelkern import monitor
    if monitor.nvml() is not None:          # without NVML there is no clock to report; everything else holds
        assert win[0].sm_clock_mean_mhz
    if backend == "cublaslt":
        assert win[0].config.get("tile") and win[0].config.get("waves") is not None


# ---- the search's fixed choices: what it screens, how many K values a leader gets, when it re-chooses its model's
# hyperparameters, and that between full evaluations only the shapes with a chance are re-predicted --------------

def test_screening_is_the_cheapest_shape_then_four_per_varying_dimension_spread_over_the_set():
    from accelkern.mamf.search import screening
    c = _lattice(SIZES, SIZES, (2048, 4096, 8192, 16384))
    idx = screening(c)
    got = [c.shapes[i] for i in idx]
    assert len(got) == 9 and len(set(got)) == 9                       # 1 + 4 x 2 varying dimensions
    assert all(s.k == 16384 for s in got)                             # each M x N at its largest K
    good = c.q_best >= 0.9 * c.q_best.max()                           # well quantized only
    assert all(good[i] for i in idx)
    cheapest = min((i for i in range(len(c)) if good[i] and c.k[i] == 16384), key=lambda i: c.flops[i])
    assert idx[0] == cheapest and list(c.flops[idx]) == sorted(c.flops[idx])
    ms, ns = [s.m for s in got], [s.n for s in got]
    assert max(ms) == max(ns) == 16384 and min(ms) <= 2048 and min(ns) <= 2048   # spread to the set's ends
    one_dim = _lattice(SIZES, [4096], (8192,))
    assert len(screening(one_dim)) == 5                               # 1 + 4 x 1


def test_the_leader_gets_five_other_k_values_spread_over_the_range_largest_first():
    ks = tuple(range(1024, 16385, 1024))                              # 16 K values per M x N
    c = _lattice([2048, 4096, 8192], [4096], ks)
    clk = FakeClock()
    r = FakeRunner(clk, lambda s: 100.0 + s.m / 100 + s.k / 1e4)      # the leader: the largest M
    from accelkern.mamf.search import screening
    first = len(screening(c))
    mamf.Search(r, mamf.Budget(first + 5, clk)).guided(c)
    calls = [s for s, _, _ in r.calls]
    lead = max(calls[:first], key=lambda s: 100.0 + s.m / 100 + s.k / 1e4)
    assert lead == mamf.Shape(8192, 4096, 16384)
    varied = calls[first:first + 5]
    assert {(s.m, s.n) for s in varied} == {(8192, 4096)}
    others = sorted((k for k in ks if k != 16384), reverse=True)      # 15 others, 5 evenly spaced among them
    assert [s.k for s in varied] == [others[i] for i in (0, 4, 7, 10, 14)]


def test_the_model_re_chooses_its_hyperparameters_when_the_measured_set_grew_by_a_fifth(monkeypatch):
    from accelkern.mamf.model import SurfaceModel
    seen = []
    fit = SurfaceModel.fit

    def spy(self, idx, y, choose=False):
        seen.append((len(idx), bool(choose)))
        return fit(self, idx, y, choose=choose)

    monkeypatch.setattr(SurfaceModel, "fit", spy)
    _guided(_bowl)
    assert seen[0][1] is True
    last = seen[0][0]
    for n, chosen in seen[1:]:
        assert chosen == (n >= 1.2 * last), (n, last, seen)
        last = n if chosen else last
    assert sum(ch for _, ch in seen) >= 2 and sum(not ch for _, ch in seen) >= 2


def test_between_full_evaluations_only_the_shapes_with_a_chance_are_predicted_again(monkeypatch):
    from accelkern.mamf.search import Search
    pools = []
    chances = Search._chances

    def spy(self, pool, y_best):
        out = chances(self, pool, y_best)
        open_ = int((~self._dead).sum()) - len(self._y)
        pools.append((len(pool), open_, float(np.max(out[4])) if len(pool) else 0.0))
        return out

    monkeypatch.setattr(Search, "_chances", spy)
    _c, _r, search, best = _guided(_bowl)
    partial = [(n, o) for n, o, _ in pools if n < o]
    assert partial, pools                                              # some evaluations were of the hot set only
    assert all(0 < n for n, _ in partial)
    assert best.shape == PEAK


def test_a_model_needs_two_measured_shapes_and_says_so_when_fewer_could_be_measured():
    from accelkern.mamf.search import screening
    c = _lattice(SIZES, SIZES, (2048, 4096, 8192, 16384))
    first = [c.shapes[i] for i in screening(c)]
    for live, fits in ((first[:1], False), (first[:2], True)):
        clk = FakeClock()
        r = FakeRunner(clk, lambda s: 500.0 + s.m / 1e3 if s in live else 0.0)   # every other shape fails
        search = mamf.Search(r, mamf.Budget(10_000, clk))
        best = search.guided(c)
        assert best.shape == max(live, key=lambda s: s.m)
        assert (search.stop_reason == "too few shapes could be measured for a model") is not fits, search.stop_reason
        assert (search.model is not None and search.calibration.loo_z.size == 2) is fits


def test_every_shape_measured_after_the_first_fit_was_predicted_first_and_its_miss_counted(monkeypatch):
    from accelkern.mamf.model import SurfaceModel
    sizes = []
    fit = SurfaceModel.fit

    def spy(self, idx, y, choose=False):
        sizes.append(len(idx))
        return fit(self, idx, y, choose=choose)

    monkeypatch.setattr(SurfaceModel, "fit", spy)
    _c, _r, search, _best = _guided(_bowl)
    checked = len(search.calibration.z)
    assert checked == search.tried - sizes[0] > 10
    assert f"after {checked} predictions checked" in search.stop_reason


def test_the_winner_row_keeps_the_chance_left_when_the_search_stopped():
    import re
    from accelkern.mamf import job
    c = _lattice(SIZES, SIZES, (2048, 4096, 8192, 16384))
    clk = FakeClock()
    r = FakeRunner(clk, _bowl)
    res = job.SearchResult(dtype="bf16", search="guided", mode=r.mode, tried=0, measuring_s=0.0, best=None)
    win = job.search_and_pick(r, c, mamf.Budget(10_000, clk), "guided", top=2, repeats=2, res=res,
                              progress=lambda m: None)
    assert win is not None and res.stop_reason.startswith("converged")
    said = re.search(r"than the noise \([0-9.]+%\) is ([0-9.]+)% \(([0-9.]+)% for a better region\)", res.stop_reason)
    assert said, res.stop_reason
    d = res.doubt
    assert f"{100 * d['chance']:.1f}" == said.group(1) and f"{100 * d['region_chance']:.1f}" == said.group(2)
    assert d["unmeasured_shapes"] == len(c) - res.tried and 0 <= d["chance"] < 0.2
    assert job.winner_row(res).config["stop_doubt"] == d
    grid = job.SearchResult(dtype="bf16", search="grid", mode=r.mode, tried=0, measuring_s=0.0, best=None)
    small = _lattice([1024, 2048], [1024], (2048,))
    job.search_and_pick(FakeRunner(FakeClock(), _bowl), small, mamf.Budget(100, FakeClock()), "grid", top=1,
                        repeats=1, res=grid, progress=lambda m: None)
    assert grid.doubt is None                       # a grid leaves no doubt to report


def test_a_doubt_that_stays_large_keeps_the_search_measuring_until_it_falls_then_it_stops_by_itself(monkeypatch):
    # the first 40 looks are told a better region is certain (so nothing is ever small enough): between full
    # looks the hot set runs out or is empty, and the search must look at every shape again, never spin in
    # place (refitting the same shapes) nor leave without a reason
    import dataclasses
    from accelkern.mamf import stop
    from accelkern.mamf.model import SurfaceModel
    real, looks = stop.doubt, []

    def forced(*a, **k):
        d = real(*a, **k)
        looks.append(d)
        return dataclasses.replace(d, region=1.0) if len(looks) <= 40 else d

    fit, same = SurfaceModel.fit, []

    def fit_once_per_measurement(self, idx, y, choose=False):
        same.append(len(idx))
        assert same.count(len(idx)) < 20, "the search refits the same shapes without measuring"
        return fit(self, idx, y, choose=choose)

    monkeypatch.setattr(stop, "doubt", forced)
    monkeypatch.setattr(SurfaceModel, "fit", fit_once_per_measurement)
    c, r, search, best = _guided(_bowl)
    assert len(looks) > 40 and search.stop_reason.startswith("converged"), search.stop_reason
    assert best.shape == PEAK and search.tried > 40
    assert search.tried == len({s for s, _, _ in r.calls})


def test_each_model_pick_says_its_prediction_spread_and_chance_and_the_stop_line_joins_its_parts():
    import re
    lines = []
    c = _lattice(SIZES, SIZES, (2048, 4096, 8192, 16384))
    clk = FakeClock()
    search = mamf.Search(FakeRunner(clk, _bowl), mamf.Budget(10_000, clk), progress=lines.append)
    search.guided(c)
    pat = re.compile(r"\] (\d+x\d+x\d+) -> ([0-9.]+) \(model: predicted ([0-9.]+) \+- ([0-9.]+)%, (\d+)% chance to "
                     r"beat the best( \(its region\))?; lattice\) \| best ")
    picks = [m for m in map(pat.search, lines) if m]
    assert len(picks) == sum("(model: " in line for line in lines) >= 5
    assert any(m.group(6) for m in picks) and any(not m.group(6) for m in picks)   # regions and single shapes
    for m in picks:    # each prediction within a few of its spreads of what was then measured (the bowl is smooth)
        pred, spread, got = float(m.group(3)), float(m.group(4)) / 100, float(m.group(2))
        assert 0 < spread < 0.5 and abs(math.log(got / pred)) <= 4 * spread + 0.02, m.group(0)
    head, calibration = search.stop_reason.split("; model spread x")
    assert head.startswith("converged: ") and calibration.split(",")[0].replace(".", "").isdigit()


def test_a_set_small_enough_to_measure_whole_ends_with_every_shape_measured():
    c = _lattice([1024, 2048], [4096], (4096,))
    clk = FakeClock()
    r = FakeRunner(clk, lambda s: 100.0 + s.m / 100)
    search = mamf.Search(r, mamf.Budget(10_000, clk))
    best = search.guided(c)
    assert search.stop_reason == "every shape measured"
    assert {s for s, _, _ in r.calls} == set(c.shapes) and best.shape == mamf.Shape(2048, 4096, 4096)
