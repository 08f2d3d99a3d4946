"""`accelkern mamf --replay`: the guided search judged on recorded H200 surfaces (tests/data, recorded with
mamf-finder) and on simulated 20,000-shape lattices, with the default budget, so the search's own stopping
rule is what is judged; the replay's results document, bad replay input, and --compare-log."""
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from accelkern.cli import cli
from accelkern.mamf import replay, simulate

DATA = Path(__file__).parent / "data"
RECORDED = sorted(DATA.glob("*.mamf.txt"))
LINE = re.compile(r"^\s*\d+\s*\|\s*([\d.]+)\(mean\)\s+([\d.]+)\(median\)\s+([\d.]+)\(max\)\s*@\s*(\d+)x(\d+)x(\d+)")


def _read_log(path):
    """The recording as this test reads it (independent of accelkern.mamf.finder_log): {(m, n, k): mean}."""
    out = {}
    for line in Path(path).read_text().splitlines():
        m = LINE.match(line)
        if m:
            out.setdefault(tuple(int(m.group(i)) for i in (4, 5, 6)), float(m.group(1)))
    return out


def _cost(shape, tflops):
    m, n, k = shape
    return 100 * 2 * m * n * k / (tflops * 1e12)


def _replay_json(*args):
    r = CliRunner().invoke(cli, ["mamf", "--replay", *map(str, args), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_both_recorded_surfaces_are_in_tests_data():
    assert [p.name for p in RECORDED] == ["h200-bf16-grid-192.mamf.txt", "h200-bf16-m-sweep-79.mamf.txt"]
    assert [len(_read_log(p)) for p in RECORDED] == [192, 79]


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_recorded_surface_winner_within_1pct_of_the_best_for_a_quarter_of_the_cost(path):
    surface = _read_log(path)
    doc = _replay_json(path)
    rows = [r for r in doc["rows"] if r["name"] != "MAMF"]
    winner = [r for r in doc["rows"] if r["name"] == "MAMF"]
    assert len(winner) == 1
    # one row per replayed measurement: its shape, the recorded mean as the value, status ok
    for r in rows:
        assert r["suite"] == "mamf" and r["status"] == "ok" and r["backend"] == "replay"
        shape = tuple(int(v) for v in r["shape"].split("x"))
        assert r["value"] == pytest.approx(surface[shape])
    best = max(surface.values())
    w = winner[0]
    assert w["value"] >= 0.99 * best, (w["shape"], w["value"], best)
    assert w["value"] == pytest.approx(surface[tuple(int(v) for v in w["shape"].split("x"))])
    spent = sum(_cost(tuple(int(v) for v in r["shape"].split("x")), r["value"]) for r in rows)
    lattice = sum(_cost(s, v) for s, v in surface.items())
    assert spent <= 0.25 * lattice, (spent, lattice)
    assert w["config"]["replayed_cost_s"] == pytest.approx(spent, rel=1e-6)
    assert w["config"]["lattice_cost_s"] == pytest.approx(lattice, rel=1e-6)
    assert w["config"]["stop_reason"].startswith("converged")      # stopped by itself, not by the budget
    assert doc["header"]["device"] == "replay of NVIDIA H200" and doc["header"]["sms"] == 132


def _judge(part, seed=0, ks=simulate.LATTICE_KS[0]):
    shapes = simulate.lattice(ks=ks)
    rec, true = simulate.recording(part, shapes, seed=seed)
    res = replay.run_replay(rec, lambda row: row)
    best = max(true.values())
    return res, true[res.best.shape] / best, res.winner_tflops / best, res.replay["cost_share"]


@pytest.mark.parametrize("part", [replace(simulate.CAPPED, noise=0.0, dip_share=0.0), simulate.UNCAPPED],
                         ids=["power-capped", "uncapped"])
def test_simulated_20k_lattice_winner_within_1pct_of_the_true_best_for_1pct_of_the_cost(part):
    res, true_share, _, cost_share = _judge(part)
    assert res.candidates == 64 * 64 * 5
    assert true_share >= 0.99, (res.best.shape, true_share)
    assert cost_share <= 0.01, cost_share
    assert res.stop_reason.startswith("converged")


def test_noisy_power_capped_lattice_reports_a_figure_within_the_noise_of_the_true_best():
    # 1.5% recording noise: which of the near-equal top shapes wins is partly chance; the figure must not be
    res, true_share, reported, cost_share = _judge(simulate.CAPPED)
    assert true_share >= 0.96 and 0.97 <= reported <= 1.04, (res.best.shape, true_share, reported)
    assert cost_share <= 0.01
    # the regime is found: a small shape with a large K, not the biggest one
    assert res.best.shape.m * res.best.shape.n <= 6144 * 6144 and res.best.shape.k >= 4096


def test_simulated_surface_as_a_finder_log_replays_from_the_command_line(tmp_path):
    shapes = simulate.lattice(ms=range(1024, 8193, 1024), ns=range(1024, 8193, 1024), ks=(4096, 8192))
    rec, true, _ = simulate.simulate(simulate.CAPPED, shapes, seed=1)
    log = tmp_path / "sim.log"
    simulate.write_finder_log(log, rec, sms=132, name="Simulated GPU")
    doc = _replay_json(log)
    w = [r for r in doc["rows"] if r["name"] == "MAMF"][0]
    assert w["config"]["lattice_shapes"] == 128 and "132 SMs from the recording" in w["config"]["facts"]
    won = simulate.Shape(*(int(v) for v in w["shape"].split("x")))
    assert true[won] >= 0.99 * max(true.values())                 # the true (noise-free) throughput
    # ranges inside the recording: the search never leaves them
    doc = _replay_json(log, "--m", "1024,2048", "--n", "1024:3073:1024", "--k", "8192")
    shapes = {r["shape"] for r in doc["rows"]}
    assert shapes <= {f"{m}x{n}x8192" for m in (1024, 2048) for n in (1024, 2048, 3072)}


def test_grid_replay_measures_every_shape_and_costs_the_whole_lattice_plus_re_measures():
    path = DATA / "h200-bf16-m-sweep-79.mamf.txt"
    doc = _replay_json(path, "--search", "grid", "--m", "1:100000:1", "--n", "1:100000:1", "--k", "1:100000:1",
                       "--budget", "1000", "--top", "1", "--repeats", "1")
    w = [r for r in doc["rows"] if r["name"] == "MAMF"][0]
    surface = _read_log(path)
    assert len([r for r in doc["rows"] if r["name"] == "search"]) == len(surface)
    assert w["value"] == max(surface.values())
    assert w["config"]["cost_share"] > 1.0


def test_our_own_jsonl_replays_too(tmp_path):
    out = tmp_path / "r"
    r = CliRunner().invoke(cli, ["mamf", "--replay", str(DATA / "h200-bf16-grid-192.mamf.txt"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    doc = _replay_json(out / "mamf.jsonl")
    w = [x for x in doc["rows"] if x["name"] == "MAMF"][0]
    assert w["kernel"] == "accelkern" and w["value"] == pytest.approx(807.9)


def _fails(args, *words):
    r = CliRunner().invoke(cli, ["mamf", *map(str, args)])
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
    for w in words:
        assert w in r.output, (w, r.output)


def test_bad_replay_input_is_one_line_exit_2(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_text("Benchmark started\nWarming up ... finished\n")
    _fails(["--replay", empty], "no shape lines")
    bad = tmp_path / "bad.log"
    good = (DATA / "h200-bf16-m-sweep-79.mamf.txt").read_text().splitlines()
    first = next(i for i, x in enumerate(good) if LINE.match(x))
    good[first + 2] = "     3 |  80x.9(mean)  814.1(median) @ 2048x2048"
    bad.write_text("\n".join(good) + "\n")
    r = CliRunner().invoke(cli, ["mamf", "--replay", str(bad), "--budget", "5"])   # a damaged line: named, skipped
    assert r.exit_code == 0 and f"line {first + 3}: malformed shape line" in r.output, r.output
    _fails(["--replay", DATA / "h200-bf16-grid-192.mamf.txt", "--m", "100", "--n", "100"], "select no recorded shape")
    _fails(["--replay", DATA / "h200-bf16-grid-192.mamf.txt", "--device", "cpu"], "--replay", "no --device")
    _fails(["--replay", tmp_path / "missing.log"], "cannot read")
    garbage = tmp_path / "g.jsonl"
    garbage.write_text('{"type": "header"}\n{not json\n')
    _fails(["--replay", garbage], "line 2: not JSON")


def test_compare_log_sets_mamf_finder_beside_ours(tmp_path):
    out = tmp_path / "ours"
    log = DATA / "h200-bf16-grid-192.mamf.txt"
    r = CliRunner().invoke(cli, ["mamf", "--replay", str(log), "--out", str(out)])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(cli, ["mamf", "--compare-log", str(log), "--results", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = [x for x in doc["rows"] if x["name"] == "compare"]
    assert rows and all(x["config"]["ours_over_finder"] == pytest.approx(1.0) for x in rows)
    r = CliRunner().invoke(cli, ["mamf", "--compare-log", str(log), "--results", str(out)])
    assert "mamf-finder" in r.output and "best 807.9 TFLOPS (mean) at 2048x2048x16384" in r.output
    _fails(["--compare-log", out / "mamf.jsonl", "--results", out], "not a mamf-finder log")
    _fails(["--results", out], "--results goes with --compare-log")


# ---- issue 22: surfaces that failed the first search, and what replay now carries -------------------------

def _sweep(part, seed):
    rec, true = simulate.recording(part, simulate.sweep(), seed=seed)
    res = replay.run_replay(rec, lambda row: row)
    return res, true[res.best.shape] / max(true.values()), res.replay["cost_share"]


def test_jagged_sweeps_whose_back_end_switches_algorithm_shape_to_shape():
    # the first search stopped on 2 of these 4 seeds with a winner 8-9% below the best (the model, sure of
    # itself after a handful of shapes, never looked between two screened ones)
    for seed in range(4):
        res, share, cost = _sweep(simulate.JAGGED, seed)
        assert share >= 0.99 and cost <= 0.25, (seed, res.best.shape, share, cost)
        assert res.stop_reason.startswith("converged")


def test_noisy_power_capped_sweeps_mostly_find_the_true_best():
    # 2.5% recording noise and clock dips: the first search ended within 1% of the true best on 3 of 12
    shares = [_sweep(simulate.NOISY_CAPPED, seed)[1] for seed in range(4)]
    assert sum(x >= 0.99 for x in shares) >= 3, shares


def test_simulated_shapes_go_up_as_well_as_down_and_a_flat_top_saturates():
    shapes = simulate.sweep()
    plain = replace(simulate.JAGGED, jitter=0.0)
    _, base, _ = simulate.simulate(plain, shapes, seed=2)
    _, jag, _ = simulate.simulate(simulate.JAGGED, shapes, seed=2)
    ratio = np.array([jag[s] / base[s] for s in shapes])
    assert (ratio > 1.02).sum() >= 5 and (ratio < 0.98).sum() >= 5       # a per-shape factor both ways
    assert abs(np.log(ratio).std() - simulate.JAGGED.jitter) < 0.006
    _, flat, _ = simulate.simulate(replace(simulate.FLAT_TOP, jitter=0.0, bump=None), simulate.lattice(ks=(16384,)))
    top = max(flat.values())
    assert top <= simulate.FLAT_TOP.ceiling and sum(v >= 0.99 * top for v in flat.values()) > 500
    (m0, m1), (n0, n1), _, gain = simulate.FLAT_TOP.bump
    _, bumped, _ = simulate.simulate(replace(simulate.FLAT_TOP, jitter=0.0), simulate.lattice(ks=(16384,)))
    inside = [s for s in bumped if m0 <= s.m <= m1 and n0 <= s.n <= n1]
    assert inside and all(bumped[s] == pytest.approx(flat[s] * (1 + gain)) for s in inside)


def test_a_recorded_spread_sets_the_noise_and_simulated_re_measures_draw_their_own():
    rec, true = simulate.recording(simulate.NOISY_CAPPED, simulate.sweep(), seed=0)
    assert all(p.spread == simulate.NOISY_CAPPED.stderr for p in rec.points.values())
    runner = replay.ReplayRunner(rec, lambda row: row)
    s = next(iter(rec.points))
    first = runner.measure(s)
    assert first.spread == simulate.NOISY_CAPPED.stderr and first.tflops == rec.points[s].mean
    again = [runner.measure(s, phase="re-measure").tflops for _ in range(5)]
    assert len(set(again)) == 5 and all(abs(v / true[s] - 1) < 0.2 for v in again)
    from accelkern.mamf.search import Search
    from accelkern.mamf.budget import Budget
    finder = Search(runner, Budget(10.0, runner.clock))
    finder.best = first
    assert finder.noise() == pytest.approx(max(0.01, 2 * simulate.NOISY_CAPPED.stderr))
    log = replay.load(DATA / "h200-bf16-m-sweep-79.mamf.txt")          # a log can only repeat its value
    runner = replay.ReplayRunner(log, lambda row: row)
    s = next(iter(log.points))
    assert {runner.measure(s, phase="re-measure").tflops for _ in range(3)} == {log.points[s].mean}


def test_budget_bounds_the_whole_replayed_cost_re_measures_included():
    path = DATA / "h200-bf16-m-sweep-79.mamf.txt"
    doc = _replay_json(path, "--budget", "0.3")
    rows = [r for r in doc["rows"] if r["name"] != "MAMF"]
    spent = sum(_cost(tuple(int(v) for v in r["shape"].split("x")), r["value"]) for r in rows)
    w = [r for r in doc["rows"] if r["name"] == "MAMF"][0]
    one = max(_cost(tuple(int(v) for v in r["shape"].split("x")), r["value"]) for r in rows)
    assert spent <= 0.3 + one and w["config"]["replayed_cost_s"] == pytest.approx(spent, rel=1e-6)
    again = [r for r in rows if r["name"] == "re-measure"]
    assert again and (len(again) == 9 or w["config"]["budget_note"].startswith("--budget:"))
