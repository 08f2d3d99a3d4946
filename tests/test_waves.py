"""Occupancy against the toolkit's calculator, sweep ranges, plots and the CLI on the CPU; the staircase kernel
on a GPU (`gpu` mark). The model's own arithmetic is tests/test_waves_model.py."""
import itertools
import json
import math
import os
import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from accelkern import waves as wv
from accelkern import waves_sweep as ws
from accelkern.cli import cli
from accelkern.errors import AccelkernError
from accelkern.results import Row

H100 = wv.SmLimits()  # sm_90 defaults: 132-SM H100/H200 class


def _calc():
    from accelkern import _ext
    C = _ext.load()
    if C is None or not hasattr(C, "waves_occupancy_calc"):
        pytest.skip(f"accelkern._C with waves_occupancy_calc not built: {_ext.error()}")
    return C


def test_occupancy_matches_the_toolkit_calculator():
    """The Python arithmetic against cuda_occupancy.h (host code in accelkern._C) over a grid of
    architectures, block sizes, registers, shared memory and carveouts."""
    C = _calc()
    checked = 0
    for cc in ((8, 0), (8, 6), (8, 9), (9, 0)):
        sm = wv.SmLimits.for_cc(cc)
        dev = {"cc_major": cc[0], "cc_minor": cc[1], "max_threads_per_block": sm.max_threads_per_block,
               "max_threads_per_sm": sm.max_threads_per_sm, "regs_per_block": sm.regs_per_block,
               "regs_per_sm": sm.regs_per_sm, "smem_per_block": sm.smem_per_block, "smem_per_sm": sm.smem_per_sm,
               "smem_per_block_optin": sm.smem_per_block_optin, "reserved_smem_per_block": 1024}
        grid = itertools.product((32, 64, 96, 128, 192, 256, 384, 512, 1024), (0, 16, 24, 33, 64, 72, 128, 168, 200,
                                                                               255),
                                 (0, 1, 8192, 49152, 60000, 100000, 115712, 163840, 232448), (0, 4096),
                                 (-1, 0, 50, 100))
        for threads, regs, dyn, static, carve in grid:
            if dyn + static > sm.smem_per_block_optin:
                continue
            ref = C.waves_occupancy_calc({**dev, "threads_per_cta": threads, "regs_per_thread": regs,
                                          "static_smem": static, "dynamic_smem": dyn,
                                          "max_dynamic_smem": sm.smem_per_block_optin - static,
                                          "carveout_percent": carve})
            assert ref["error"] == 0
            got = wv.occupancy(wv.CtaResources(threads, regs, static, dyn), sm,
                               None if carve < 0 else carve)
            where = f"cc {cc} threads {threads} regs {regs} static {static} dyn {dyn} carveout {carve}"
            assert got.ctas_per_sm == ref["ctas_per_sm"], where
            assert (got.limits["warps"], got.limits["registers"], got.limits["shared_memory"],
                    got.limits["blocks"]) == (ref["limit_warps"], ref["limit_regs"], ref["limit_smem"],
                                              ref["limit_blocks"]), where
            if got.ctas_per_sm:
                assert got.allocated_smem_per_cta == ref["allocated_smem_per_cta"], where
            checked += 1
    assert checked > 15000


def _toolkit_rows(C, cc):
    """cuda_occupancy.h's answers for one architecture over the recorded grid (tests/data/occupancy_calc.json)."""
    sm = wv.SmLimits.for_cc(cc)
    dev = {"cc_major": cc[0], "cc_minor": cc[1], "max_threads_per_block": sm.max_threads_per_block,
           "max_threads_per_sm": sm.max_threads_per_sm, "regs_per_block": sm.regs_per_block,
           "regs_per_sm": sm.regs_per_sm, "smem_per_block": sm.smem_per_block, "smem_per_sm": sm.smem_per_sm,
           "smem_per_block_optin": sm.smem_per_block_optin, "reserved_smem_per_block": 1024}
    rows = []
    for threads, regs, dyn, static, carve in itertools.product((32, 96, 256, 1024), (0, 33, 128, 255),
                                                               (0, 1, 49152, 100000, 163840, 232448), (0, 4096),
                                                               (-1, 0, 50, 100)):
        if dyn + static > sm.smem_per_block_optin:
            continue
        ref = C.waves_occupancy_calc({**dev, "threads_per_cta": threads, "regs_per_thread": regs,
                                      "static_smem": static, "dynamic_smem": dyn,
                                      "max_dynamic_smem": sm.smem_per_block_optin - static,
                                      "carveout_percent": carve})
        assert ref["error"] == 0
        rows.append([threads, regs, dyn, static, carve, ref["ctas_per_sm"], ref["limit_warps"], ref["limit_regs"],
                     ref["limit_smem"], ref["limit_blocks"], ref["allocated_smem_per_cta"]])
    return rows


def test_recorded_occupancy_table_is_the_toolkit_calculators():
    """The table the fast model test reads is what the live calculator answers today, for every architecture."""
    C = _calc()
    with open(os.path.join(os.path.dirname(__file__), "data", "occupancy_calc.json")) as f:
        cases = json.load(f)["cases"]
    for key, rows in cases.items():
        assert _toolkit_rows(C, tuple(int(x) for x in key.split("."))) == rows, key


# ---- shape suggestions -----------------------------------------------------------------------------

# ---- sweep values: the one range convention (STOP excluded) ----------------------------------------

def test_sweep_ranges_exclude_stop_like_every_command(tmp_path):
    from accelkern.units import parse_int_values
    assert parse_int_values("128:8193:128", "--n")[-1] == 8192 and len(parse_int_values("128:8193:128")) == 64
    assert parse_int_values("128:8192:128")[-1] == 8064                 # STOP itself is never a value
    assert parse_int_values("2:10:2", "--n") == [2, 4, 6, 8]
    # the sweep's default N is 128, 256, ..., 8192, and --help says STOP is excluded
    r = CliRunner().invoke(cli, ["waves", "sweep", "--help"])
    assert "128:8193:128" in r.output and "STOP excluded" in r.output


def test_sweep_shapes_at_most_two_dimensions():
    shapes, varying = ws.sweep_shapes([8192], [128, 256], [8192])
    assert shapes == [(8192, 128, 8192), (8192, 256, 8192)] and varying == ["N"]
    shapes, varying = ws.sweep_shapes([1, 2], [3, 4], [5])
    assert len(shapes) == 4 and varying == ["M", "N"]
    with pytest.raises(AccelkernError, match="at most two"):
        ws.sweep_shapes([1, 2], [3, 4], [5, 6])


# ---- plots -----------------------------------------------------------------------------------------

def _point(m, n, k, ms, tile=(128, 256), algo="algo 1"):
    a = wv.analyze(m, n, k, wv.Launch(*tile, 132))
    row = Row(suite="waves", name="sweep", dtype="bf16", shape=f"{m}x{n}x{k}", median_ms=ms,
              value=2.0 * m * n * k / (ms * 1e-3) / 1e12, config={"tiles": a.tiles})
    return ws.SweepPoint(m, n, k, row, a, algo)


def _stairs(resident, wave_us=17.0, offset_us=3.0):
    pts = wv.staircase_ctas(resident, 3, 8, 132)
    return {c: (offset_us + wave_us * math.ceil(c / resident)) * 1e-6 for c in pts}


def _png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_sweep_plot_has_measured_and_predicted_series(tmp_path):
    pytest.importorskip("matplotlib")
    ns = list(range(128, 2049, 128))
    # measured = the model plus 2% ripple: time follows ceil(waves)
    pts = [_point(8192, n, 8192, 0.2 * wv.analyze(8192, n, 8192, wv.Launch(128, 256, 132)).full_waves
                  * (1.02 if i % 3 == 0 else 1.0) + 0.005, algo="algo 1" if n < 1024 else "algo 2")
           for i, n in enumerate(ns)]
    summary = ws.summarize(pts, ["N"], 989.0)
    assert summary.pearson_time > 0.99 and summary.points == len(ns)
    assert summary.algo_switches == [{"at": "N=1024", "from": "algo 1", "to": "algo 2"}]
    path = str(tmp_path / "sweep.png")
    series = ws.plot_sweep(pts, "N", summary, path, "test")
    assert _png(path)
    labels = list(series)
    assert labels[0] == "measured" and labels[1].startswith("predicted")
    assert series["measured"][0] == ns
    assert series["measured"][1] == pytest.approx([p.row.value for p in pts])
    assert series[labels[1]][1] == pytest.approx([p.row.config["predicted_tflops_fitted"] for p in pts])


def test_dips_are_found_and_reported_with_tiles_and_waves():
    ns = [1024, 1152, 1280, 1408, 1536]
    tf = [600, 610, 500, 620, 630]
    pts = []
    for n, t in zip(ns, tf):
        p = _point(8192, n, 8192, 2.0 * 8192 * n * 8192 / (t * 1e12) * 1e3)
        pts.append(p)
    dips = ws.find_dips(pts, "N")
    assert len(dips) == 1 and dips[0]["at"] == "N=1280" and dips[0]["tiles"] == 64 * 5


def test_heatmap_and_staircase_plots(tmp_path):
    pytest.importorskip("matplotlib")
    pts = [_point(m, n, 4096, 0.05 * wv.analyze(m, n, 4096, wv.Launch(128, 256, 132)).full_waves + 0.01)
           for m in (1024, 2048, 4096) for n in (512, 1024, 2048)]
    summary = ws.summarize(pts, ["M", "N"], None)
    path = str(tmp_path / "heat.png")
    data = ws.plot_heatmap(pts, ["M", "N"], summary, path, "heat")
    assert _png(path) and data["x"] == [512, 1024, 2048] and data["y"] == [1024, 2048, 4096]
    assert data["measured"][2][2] == pytest.approx(pts[-1].row.value)

    plan = SimpleNamespace(ctas_per_sm=2, resident=264)
    pts2 = _stairs(264)
    res = ws.StaircaseResult(plan, pts2, wv.fit_staircase(pts2, 264), [])
    path = str(tmp_path / "stairs.png")
    series = ws.plot_staircase([res], path, "stairs")
    assert _png(path)
    assert list(series) == ["measured, 2 CTA/SM", "predicted, steps every 264 CTAs"]
    xs, ys = series["predicted, steps every 264 CTAs"]
    assert ys[xs.index(264)] == pytest.approx(20.0) and ys[xs.index(265)] == pytest.approx(37.0)


# ---- CLI (no GPU needed) -----------------------------------------------------------------------------

def test_explain_by_hand_without_a_gpu(monkeypatch):
    import torch
    from accelkern import device as dev_mod

    def no_device(*a, **k):
        raise AssertionError("explain by hand touched a device")

    monkeypatch.setattr(torch.cuda, "is_available", no_device)
    monkeypatch.setattr(dev_mod, "get_device_info", no_device)
    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "8192x1408x8192", "--tile", "128x256",
                                 "--sms", "132", "--ctas-per-sm", "1", "--peak", "989"])
    assert r.exit_code == 0, r.output
    assert "64 x 6 = 384 tiles" in r.output
    assert "384 / 132 = 2.91 -> 3 wave(s); last wave 91% full (120 of 132 CTAs)" in r.output
    assert "N 1408 -> 1536: 91.7%" in r.output
    assert "pads to the tile boundary" in r.output and "drops the partial wave" in r.output

    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "8192x1408x8192", "--tile", "128x256",
                                 "--sms", "132", "--json"])
    doc = json.loads(r.output)
    assert doc["analysis"]["tiles"] == 384 and doc["analysis"]["full_waves"] == 3
    assert doc["suggestions"][0]["shape"] == "8192x1536x8192"


def test_explain_huge_shapes_keep_columns_apart():
    # 3.1e9 tiles, 2.4e7 waves: every cell of the suggestion table stays in its column
    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "400000000000x1408x8192", "--tile", "128x256",
                                 "--sms", "132", "--peak", "989"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    head = next(i for i, l in enumerate(lines) if l.startswith("dim "))
    titles = lines[head].split()
    assert titles == ["dim", "value", "change", "tiles", "waves", "time", "gain", "why"]
    starts = [lines[head].index(t) for t in titles]
    row = lines[head + 2]
    assert row.split("  ")[0] == "N" and "18750000000" in row and "142045454.55" in row
    for a, b in zip(starts, starts[1:]):          # a column's cell ends before the next one starts
        assert row[b - 2:b] == "  " or row[a:b].strip()
    assert [c for c in re.split(r"\s{2,}", row)] == ["N", "1536", "+128", "18750000000", "142045454.55", "x1.00",
                                                     "x1.091", "pads to the tile boundary"]
    assert "10,178 s" in r.output and "e+" not in r.output   # predicted time in seconds, not 1.018e+07 ms


def test_explain_bad_input_is_one_line():
    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "8192x1408", "--tile", "128x256", "--sms", "132"])
    assert r.exit_code == 2 and "MxNxK" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "8x8x8", "--tile", "128", "--sms", "132"])
    assert r.exit_code == 2 and "AxB" in r.output
    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "8x8x8", "--tile", "128x128", "--sms", "132",
                                 "--cluster", "2"])
    assert r.exit_code == 2 and "--cluster" in r.output


def test_explain_without_tile_on_cpu_says_what_to_give():
    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "8192x1408x8192", "--device", "cpu"])
    assert r.exit_code == 2 and "--tile" in r.output and "--sms" in r.output
    r = CliRunner().invoke(cli, ["waves", "explain", "--shape", "8192x1408x8192", "--device", "cpu", "--tile",
                                 "128x256", "--sms", "132", "--measure"])
    assert r.exit_code == 3 and "--measure needs one" in r.output


def test_dry_run_validates_every_waves_command_without_a_device(monkeypatch, tmp_path):
    monkeypatch.setenv("ACCELKERN_DRY_RUN", "1")
    for cmd in (["sweep", "--m", "8192", "--k", "8192", "--n", "256:8193:256", "--backend", "cublaslt",
                 "--fixed-algo", "--out", str(tmp_path / "s"), "--plot", str(tmp_path / "s" / "p.png")],
                ["staircase", "--ctas-per-sm", "1,2", "--waves", "3", "--per-wave", "4", "--out", str(tmp_path / "t")],
                ["explain", "--shape", "8192x1408x8192", "--dtype", "bf16"]):
        r = CliRunner().invoke(cli, ["waves"] + cmd)
        assert r.exit_code == 0 and r.output.strip() == f"dry run: accelkern waves_{cmd[0]}: options ok", r.output
    assert not (tmp_path / "s").exists() and not (tmp_path / "t").exists()   # nothing written in a dry run
    r = CliRunner().invoke(cli, ["waves", "sweep", "--n", "10:5:1"])
    assert r.exit_code == 2 and "STOP must be > START" in r.output
    r = CliRunner().invoke(cli, ["waves", "staircase", "--ctas-per-sm", "0"])
    assert r.exit_code == 2 and ">= 1" in r.output


CPU_SWEEP = ["waves", "sweep", "--device", "cpu", "--backend", "torch", "--dtype", "fp32", "--m", "128", "--k", "128",
             "--n", "32:129:32", "--tile", "32x32", "--sms", "4", "--max-time", "0.02"]


def test_sweep_on_cpu_writes_rows_summary_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    out = str(tmp_path / "o")
    r = CliRunner().invoke(cli, CPU_SWEEP + ["--out", out])
    assert r.exit_code == 0, r.output
    for f in ("waves_sweep.jsonl", "waves_sweep.csv", "waves_sweep.md", "waves_sweep.png",
              "waves_sweep_summary.json"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    doc = json.load(open(os.path.join(out, "waves_sweep_summary.json")))
    assert [p["n"] for p in doc["points"]] == [32, 64, 96, 128]       # 32:129:32, STOP excluded
    assert [p["tiles"] for p in doc["points"]] == [4, 8, 12, 16]
    assert [p["waves"] for p in doc["points"]] == [1.0, 2.0, 3.0, 4.0]
    assert all(p["status"] == "ok" and p["predicted_ms_fitted"] > 0 for p in doc["points"])
    from accelkern.results import read_jsonl
    _, rows = read_jsonl(os.path.join(out, "waves_sweep.jsonl"))
    assert all(r.correct for r in rows) and rows[0].config["model_source"] == "tile given by hand"
    assert "Pearson r" in r.output
    # measured values with 4 significant figures and a scaled unit, never an exponent
    assert re.search(r"\d FLOPS|\d [kMGT]FLOPS", r.output) and "e-0" not in r.output


def test_sweep_rejects_bad_options():
    r = CliRunner().invoke(cli, ["waves", "sweep", "--device", "cpu", "--n", "10:5:1"])
    assert r.exit_code == 2 and "STOP must be > START" in r.output
    r = CliRunner().invoke(cli, ["waves", "sweep", "--device", "cpu", "--backend", "torch", "--fixed-algo",
                                 "--n", "32"])
    assert r.exit_code == 2 and "--backend cublaslt" in r.output
    r = CliRunner().invoke(cli, ["waves", "sweep", "--device", "cpu", "--m", "1,2", "--n", "1,2", "--k", "1,2"])
    assert r.exit_code == 2 and "at most two" in r.output


def test_sweep_refuses_an_unwritable_plot_before_measuring(tmp_path, monkeypatch):
    parent = tmp_path / "a_file"
    parent.write_text("")                  # a PNG cannot go under a regular file, whoever runs the test
    measured = []
    monkeypatch.setattr(ws, "measure_gemm_point", lambda *a, **k: measured.append(a) or pytest.fail("measured"))
    r = CliRunner().invoke(cli, CPU_SWEEP + ["--plot", str(parent / "p.png"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "--plot" in r.output and "Traceback" not in r.output, r.output
    assert not measured and not (tmp_path / "o").exists()


def test_sweep_keeps_results_when_the_plot_fails_after_measuring(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ws, "plot_sweep", broken)
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, CPU_SWEEP + ["--out", str(out)])
    assert r.exit_code == 1, r.output          # a file the file system refused: exit 1, the rest written
    assert "PLOT NOT WRITTEN" in r.output and "No space left on device" in r.output and "Traceback" not in r.output
    from accelkern.results import read_jsonl
    _, rows = read_jsonl(str(out / "waves_sweep.jsonl"))
    assert len(rows) == 4 and (out / "waves_sweep.csv").exists() and (out / "waves_sweep_summary.json").exists()


def test_sweep_ctrl_c_keeps_the_finished_rows(tmp_path, monkeypatch):
    """Interrupted while measuring the third point: exit 130, the two finished rows in JSONL and CSV."""
    real = ws.measure_gemm_point
    calls = []

    def measure(*a, **k):
        calls.append(a[4:7])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(ws, "measure_gemm_point", measure)
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, CPU_SWEEP + ["--out", str(out)])
    assert r.exit_code == 130, r.output
    from accelkern.results import read_jsonl
    _, rows = read_jsonl(str(out / "waves_sweep.jsonl"))
    assert [x.shape for x in rows] == ["128x32x128", "128x64x128"] and all(x.status == "ok" for x in rows)
    assert len((out / "waves_sweep.csv").read_text().strip().splitlines()) == 3    # header + 2 rows


def test_staircase_without_cuda_says_so():
    import torch
    if torch.cuda.is_available():
        pytest.skip("has a GPU")
    r = CliRunner().invoke(cli, ["waves", "staircase", "--device", "cpu"])
    assert r.exit_code == 3 and "CUDA" in r.output


# ---- GPU ------------------------------------------------------------------------------------------

def _cuda_info():
    from accelkern.device import get_device_info
    return get_device_info("cuda")


@pytest.mark.gpu
def test_staircase_kernel_computes_exact_values():
    info = _cuda_info()
    plan = ws.plan_staircase(info, 2)
    for ctas in (1, 133, 2 * plan.resident + 1):
        for iters in (0, 1, 17, 1000):
            ok, err = ws.staircase_check(info.index, ctas, iters, plan.dynamic_smem)
            assert ok, (ctas, iters, err)


@pytest.mark.gpu
@pytest.mark.parametrize("c", [1, 2, 4, 8])
def test_model_occupancy_matches_the_runtime(c):
    plan = ws.plan_staircase(_cuda_info(), c)
    assert plan.model.ctas_per_sm == c
    assert plan.runtime_ctas_per_sm == c, plan.attrs
    assert plan.attrs["local_bytes"] == 0  # no spills


@pytest.mark.gpu
def test_model_occupancy_matches_the_runtime_without_smem():
    from accelkern import _ext
    info = _cuda_info()
    attrs = dict(_ext.require().waves_staircase_attributes(info.index, 0))
    sm = ws.staircase_sm_limits(info, attrs)
    occ = wv.occupancy(ws.staircase_resources(attrs), sm, attrs["carveout_percent"])
    assert occ.ctas_per_sm == attrs["ctas_per_sm"]


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_staircase_point(record_property):
    """One step of the staircase at 1 CTA/SM: both sides measured, checked, and described by the model."""
    info = _cuda_info()
    plan = ws.plan_staircase(info, 1)
    R = plan.resident
    res = ws.run_staircase(info, 1, ctas_list=[R, R + 1], max_time_s=0.05, iters=1024)
    assert res.correct and plan.model.ctas_per_sm == plan.runtime_ctas_per_sm == 1
    assert R == info.sm_count and sorted(res.points) == [R, R + 1]
    assert [(r.config["ctas"], r.config["full_waves"]) for r in res.rows] == [(R, 1), (R + 1, 2)]
    for r in res.rows:                                   # each row is its point: the median, its FLOPs, checked
        c = r.config["ctas"]
        assert r.correct is True and r.metric == "us" and r.value == pytest.approx(res.points[c] * 1e6)
        assert r.flops == 2.0 * c * ws.STAIRCASE_THREADS * 1024 and r.config["iters"] == 1024
    # the second wave's time is a speed claim: a verdict line of scripts/device_verdicts.py
    record_property("staircase_second_wave_ratio", res.points[R + 1] / res.points[R])


@pytest.mark.gpu
@pytest.mark.parametrize("c", [1, 2])
def test_staircase_steps_fall_at_the_predicted_cta_counts(c):
    """Every CTA count asked is measured and checked, each row says its waves, the step checks read the
    measured points by their rule, and the time jumps at every predicted step: one wave more is a second
    full pass of the same work (about 2x), far outside clock noise, so it is asserted, not only a verdict."""
    info = _cuda_info()
    plan = ws.plan_staircase(info, c)
    R, S = plan.resident, info.sm_count
    assert R == S * c and plan.model.ctas_per_sm == plan.runtime_ctas_per_sm == c
    ctas = sorted({1, R // 2, R - 1, R, R + 1, R + 2, 3 * R // 2, 2 * R - 1, 2 * R, 2 * R + 1, 2 * R + 2,
                   5 * R // 2, 3 * R, S, S + 1, 3 * S, 3 * S + 1})
    res = ws.run_staircase(info, c, ctas_list=ctas, max_time_s=0.2)
    assert res.correct
    assert sorted(res.points) == ctas and all(t > 0 for t in res.points.values())
    assert res.fit is not None and res.fit.resident == R
    assert {s.at_ctas for s in res.steps} >= {R, 2 * R}
    for st in res.steps:       # each step check reads the measured points and judges by the documented rule
        assert (st.before_s, st.after_s) == (res.points[st.at_ctas], res.points[st.at_ctas + 1])
        inside = [t for n, t in res.points.items() if st.at_ctas - R < n <= st.at_ctas]
        rule = (st.after_s - st.before_s >= 0.5 * res.fit.wave_s and max(inside) - min(inside) <= 0.25 * res.fit.wave_s)
        assert st.ok is rule
    # the claim itself: the time jumps at every predicted step and nowhere else (one wave more is 2x the work)
    assert res.steps_ok, [(s.at_ctas, s.jump_s / res.fit.wave_s, s.flat_rise_s / res.fit.wave_s) for s in res.steps]
    for row in res.rows:
        n = row.config["ctas"]
        assert row.config["resident"] == R and row.config["full_waves"] == -(-n // R)
        assert row.config["waves"] == pytest.approx(n / R) and row.config["predicted_us"] > 0
        assert row.flops == 2.0 * n * ws.STAIRCASE_THREADS * row.config["iters"]


@pytest.mark.gpu
def test_active_clusters_from_the_runtime():
    info = _cuda_info()
    if info.compute_capability[0] < 9:
        pytest.skip("thread-block clusters need sm_90+")
    from accelkern import _ext
    C = _ext.require()
    for c in (1, 2):
        smem = ws.plan_staircase(info, c).dynamic_smem
        assert C.waves_max_active_clusters(info.index, 1, smem) == info.sm_count * c
        for size in (2, 4, 8):
            n = ws.active_clusters(info, size, c)
            # clusters stay inside a GPC: never more than the SMs allow, and at most one cluster short per GPC
            assert n * size <= info.sm_count * c and n * size >= info.sm_count * c - 8 * size, (c, size, n)


@pytest.mark.gpu
def test_sweep_with_cublaslt_records_the_algorithm():
    pytest.importorskip("accelkern.gemm")
    from accelkern import specs, timing
    info = _cuda_info()
    setup = ws.GemmSetup("cublaslt", "bf16", info.torch_device, info.sm_count, cache_bytes=info.l2_bytes)
    setup.hold(ws.pick_fixed_algo("bf16", 4096, 2048, 4096, info.torch_device), 4096, 2048)
    rule = timing.StopRule(min_samples=3, max_time_s=0.1)
    spec, _ = specs.lookup(info.name, None)
    pts = [ws.measure_gemm_point(setup, info, spec, 4096, n, 4096, rule) for n in (1024, 1536, 2048)]
    for p in pts:
        assert p.ok and p.row.correct is not False
        assert p.row.config["tiles"] == p.analysis.tiles and p.row.config["model_tile"]
        assert p.row.kernel == pts[0].row.kernel  # one algorithm held


# ---- the cuBLASLt path, against the accelkern.gemm contract (an emulated module computing through torch) --

def _emulated_gemm_module(calls):
    """accelkern.gemm as its contract states it, with torch doing the math on the CPU."""
    import types
    from accelkern import torch_backend
    from accelkern.errors import Unavailable

    def info(idx, tile_m, tile_n, waves_count=None):
        return SimpleNamespace(index=idx, algo_id=20 + idx, tile=f"{tile_m}x{tile_n}", tile_m=tile_m,
                               tile_n=tile_n, stages=3, cluster=None, cluster_m=None, cluster_n=None,
                               splitk=1 if idx else 4, reduction=None, swizzle=0, custom_option=0,
                               workspace_bytes=0, waves_count=waves_count, raw=None)

    def heuristic_algos(dtype, m, n, k, device="cuda", layout=None, top_k=8, workspace_bytes=None):
        calls.append(("heuristic", m, n, k))
        return [info(0, 32, 32), info(1, 32, 64)]  # a split-K one first: --fixed-algo must skip it

    class CublasLtGemm(torch_backend.TorchGemm):
        def __init__(self, dtype, m, n, k, device="cuda", *, layout=None, algo=None, workspace_bytes=None,
                     slots=None, cache_bytes=None, seed=0):
            if algo is not None and n % algo.tile_n:
                raise Unavailable(f"algorithm {algo.algo_id} does not support N={n}")
            super().__init__(dtype, m, n, k, device, slots=slots or 1, cache_bytes=cache_bytes, seed=seed)
            tiles = -(-m // 32) * -(-n // 64)
            self.algo = algo or info(1, 32, 64, waves_count=tiles / (4 * 2))  # 4 SMs x 2 CTAs per SM
            calls.append(("gemm", m, n, k, self.algo.algo_id))

        def check(self):
            return super().check()

    mod = types.ModuleType("accelkern.gemm")
    mod.heuristic_algos, mod.CublasLtGemm, mod.AlgoInfo = heuristic_algos, CublasLtGemm, SimpleNamespace
    return mod


def test_emulated_cublaslt_path_follows_the_gemm_contract(monkeypatch):
    import sys
    from accelkern import timing
    from accelkern.device import get_device_info
    calls = []
    import accelkern
    fake = _emulated_gemm_module(calls)
    # both routes to the module: the import system and the package attribute (set once the real one loaded)
    monkeypatch.setitem(sys.modules, "accelkern.gemm", fake)
    monkeypatch.setattr(accelkern, "gemm", fake, raising=False)
    info = get_device_info("cpu")
    rule = timing.StopRule(min_samples=2, min_time_s=0.0, max_time_s=0.02)
    # default: the algorithm cuBLASLt picks per shape, its CTAs/SM read from wavesCount
    setup = ws.GemmSetup("cublaslt", "fp32", "cpu", sms=4)
    checked = set()
    pts = [ws.measure_gemm_point(setup, info, None, 64, n, 32, rule, checked=checked) for n in (64, 96, 128)]
    assert all(p.ok for p in pts)
    assert [p.row.correct for p in pts] == [True, None, None]  # checked once per algorithm
    cfg = pts[0].row.config
    assert cfg["algo_id"] == 21 and cfg["tile"] == "32x64" and cfg["model_tile"] == "32x64"
    assert cfg["model_ctas_per_sm"] == 2 and "wavesCount" in cfg["model_source"]
    assert cfg["tiles"] == 2 * 1 and pts[1].row.config["tiles"] == 2 * 2 and cfg["resident"] == 8
    assert pts[0].row.kernel == "algo 21 tile 32x64 stages 3 splitK 1"
    # --fixed-algo: the best non-split-K algorithm at the largest shape, held; invalid shapes are skipped rows
    algo = ws.pick_fixed_algo("fp32", 64, 128, 32, "cpu")
    assert algo.algo_id == 21 and ("heuristic", 64, 128, 32) in calls
    algo.waves_count = 4 / (4 * 2)  # at 64x128: 2 x 2 tiles on 4 SMs x 2 CTAs per SM
    setup.hold(algo, 64, 128)
    algo.waves_count = 99.0  # a stale figure must not matter: the launch was read at the chosen shape
    pts = [ws.measure_gemm_point(setup, info, None, 64, n, 32, rule) for n in (64, 96, 128)]
    assert [p.row.status for p in pts] == ["ok", "skipped", "ok"]
    assert "does not support N=96" in pts[1].row.note
    assert pts[0].row.config["fixed_algo"] is True and pts[0].row.config["model_ctas_per_sm"] == 2
    assert "chosen for" in pts[0].row.config["model_source"]
    summary = ws.summarize(pts, ["N"], None)
    assert summary.points == 2 and summary.algo_switches == []


def test_explain_measure_times_the_shape_and_its_suggestions_on_cpu():
    from accelkern.device import get_device_info
    launch = wv.Launch(32, 64, 4)
    base = wv.analyze(64, 96, 32, launch)
    sugg = wv.suggest_shapes(64, 96, 32, launch)
    assert sugg
    got = ws.explain_measure(get_device_info("cpu"), None, "fp32", "torch", 0.02, base, sugg)
    assert set(got) == {(64, 96, 32)} | {s.shape for s in sugg}
    assert all(v["correct"] and v["measured_ms"] > 0 for v in got.values())
    for s in sugg:
        m = got[s.shape]
        assert m["measured_gain"] == pytest.approx(m["measured_tflops"] / got[(64, 96, 32)]["measured_tflops"])


@pytest.mark.parametrize("cc", [(8, 0), (9, 0)])
def test_staircase_smem_plan_agrees_with_the_toolkit_calculator(cc):
    """What the GPU test checks against the runtime, checked on the CPU against cuda_occupancy.h: the
    staircase kernel's shape (one warp, few registers) with the planned smem gives exactly c CTAs/SM."""
    C = _calc()
    sm = wv.SmLimits.for_cc(cc)
    res = wv.CtaResources(32, 14)
    for c in (1, 2, 3, 4, 8, 16):
        smem = wv.smem_for_ctas_per_sm(c, res, sm)
        ref = C.waves_occupancy_calc({"cc_major": cc[0], "cc_minor": cc[1], "smem_per_sm": sm.smem_per_sm,
                                      "smem_per_block_optin": sm.smem_per_block_optin, "threads_per_cta": 32,
                                      "regs_per_thread": 14, "dynamic_smem": smem,
                                      "max_dynamic_smem": sm.smem_per_block_optin, "carveout_percent": 100})
        assert ref["ctas_per_sm"] == c, (cc, c, smem, ref)


# ---- bench/waves_study.py (device_check's study script) on the CPU: a crash there must not cost GPU time ---

def _bench(name):
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "bench", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("backend,quick", [("cublaslt", False), ("torch", True)])
def test_bench_waves_study_dry_run_checks_every_command_line(tmp_path, backend, quick):
    bench = _bench("waves_study")
    args = ["--dry-run", "--out", str(tmp_path / "w"), "--backend", backend] + (["--quick"] if quick else [])
    r = CliRunner().invoke(bench.main, args)
    assert r.exit_code == 0, r.output
    lines = bench.command_lines(str(tmp_path / "w"), quick, backend, None)
    assert [l[1] for l in lines] == ["staircase"] + ["sweep"] * (2 if backend == "cublaslt" else 1) + ["explain"]
    for l in lines:
        assert f"dry run: accelkern waves_{l[1]}: options ok" in r.output
    assert f"dry run: {len(lines)} command lines ok" in r.output and not (tmp_path / "w").exists()
    # the N sweep ends at 8192 with STOP excluded
    from accelkern.units import parse_int_values
    n = lines[1][lines[1].index("--n") + 1]
    assert parse_int_values(n)[-1] == 8192


def test_bench_waves_study_summarises_a_cpu_sweep(tmp_path):
    bench = _bench("waves_study")
    out = tmp_path / "w"
    r = CliRunner().invoke(cli, CPU_SWEEP + ["--out", str(out / "sweep_torch")])
    assert r.exit_code == 0, r.output
    lines = bench.summary_lines(str(out), ["torch", "fixed"])
    assert lines[0].startswith("   torch: Pearson r time ") and lines[0].endswith("4 points")
    doc = json.load(open(out / "sweep_torch" / "waves_sweep_summary.json"))["summary"]
    assert f"{doc['pearson_time']:.4f}" in lines[0]
    assert lines[1] == f"   fixed: no summary ({out / 'sweep_fixed' / 'waves_sweep_summary.json'} missing)"
