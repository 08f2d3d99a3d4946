"""scripts/device_verdicts.py judges the speed claims from rows a GPU run writes (synthetic rows here)."""
import os
import subprocess
import sys

from accelkern.results import ResultWriter, Row, RunHeader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _rows(tmp_path, rows, stem):
    w = ResultWriter(str(tmp_path), RunHeader(command=stem, device="NVIDIA H200", device_kind="cuda"), stem=stem)
    for r in rows:
        w.write(r)
    w.close()


def _verdicts(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "device_verdicts.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "ACCELKERN_DRY_RUN": "0"})
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def _gemm(backend, value, busy=None, correct=True):
    return Row(suite="gemm", name=backend, dtype="bf16", shape="8192x8192x8192", backend=backend, value=value,
               metric="TFLOPS", correct=correct, busy_fraction=busy, sm_clock_mean_mhz=1600, power_mean_w=699,
               throttle="sw_power_cap")


def test_claims_pass_and_fail_on_the_figures(tmp_path):
    _rows(tmp_path, [_gemm("cublaslt", 700.0, busy=0.95), _gemm("torch", 720.0, busy=0.99),
                     Row(suite="peak", name="wgmma bf16", value=900.0, config={"busy_fraction": 0.98}),
                     Row(suite="peak", name="ffma", value=60.0, config={"busy_fraction": 0.3})], "gemm")
    (tmp_path / "waves_staircase.out").write_text("  verdict: every step at the predicted CTA count\n")
    out = _verdicts(tmp_path)
    line = {ln.split(": ")[0].split(None, 1)[1]: ln for ln in out if ln[:4] in ("PASS", "FAIL", "n/a ")}
    assert line["bf16 8192^3"].startswith("FAIL") and "700.0 vs 720.0" in line["bf16 8192^3"]
    busy = next(ln for ln in out if "busy fraction >= 0.97" in ln)
    assert busy.startswith("FAIL") and "0.950" in busy
    peak = next(ln for ln in out if ln.split(None, 1)[1].startswith("peak:"))
    assert peak.startswith("FAIL") and "ffma 0.300" in peak
    assert any(ln.startswith("PASS") and "checked result" in ln for ln in out)
    assert any("power or thermal throttling seen" in ln for ln in out)
    assert "waves_staircase: verdict: every step at the predicted CTA count" in out


def test_a_wrong_result_fails_the_correctness_claim(tmp_path):
    _rows(tmp_path, [_gemm("cublaslt", 760.0, busy=0.99, correct=False), _gemm("torch", 720.0)], "gemm")
    out = _verdicts(tmp_path)
    wrong = next(ln for ln in out if "float64 reference" in ln)
    assert wrong.startswith("FAIL") and "1 wrong" in wrong
    assert next(ln for ln in out if "bf16 8192^3" in ln).startswith("PASS")


def _testlog(tmp_path, name, records):
    import json
    with open(tmp_path / f"{name}.testlog", "w") as f:
        f.write(json.dumps({"event": "start", "deadline_s": 40}) + "\n")
        for nodeid, seconds, declared, props in records:
            f.write(json.dumps({"event": "test", "nodeid": nodeid, "when": "call", "outcome": "passed",
                                "reason": None, "seconds": seconds, "declared_s": declared,
                                "properties": props}) + "\n")
        f.write('{"event": "test", "nodeid": "torn')          # a run killed mid-line


def test_speed_facts_the_gpu_tests_recorded_become_verdicts(tmp_path):
    _testlog(tmp_path, "tests", [
        ("tests/test_timing.py::test_graph_mode_rows_converge", 2.1, 2.3, {"graph_mode_converged": False}),
        ("tests/test_timing.py::test_power_is_attributed_to_the_timed_span", 1.0, 1.0,
         {"telemetry_span_over_wall_s": 0.012}),
        ("tests/test_peak.py::test_gpu_short_sweep_rows[fp32]", 9.0, 3.5, {"peak_busy_fraction_fp32": 0.97}),
        ("tests/test_peak.py::test_gpu_short_sweep_rows[bf16]", 3.0, 3.5, {"peak_busy_fraction_bf16": 1.2})])
    _testlog(tmp_path, "smoke", [("tests/test_waves.py::test_gpu_smoke_staircase_point", 0.9, 1.0,
                                  {"staircase_second_wave_ratio": 1.97})])
    out = _verdicts(tmp_path)
    line = {ln.split(": ")[0][6:]: ln for ln in out}
    assert line["graph-mode timing of a 2048^3 fp32 GEMM converges within 2 s"].startswith("FAIL")
    assert line["the telemetry span ends within 50 ms of the measurement's wall time"].startswith("PASS")
    assert line["one CTA past a full wave costs a second wave (time >= 1.5x)"].startswith("PASS")
    busy = line["the peak sweep's in-kernel CTA time / event median lies within 0.5 .. 1.05"]
    assert busy.startswith("FAIL") and "bf16 1.200" in busy and "fp32" not in busy
    slow = line["tests within twice their declared cost (tests/gpu_costs.py)"]
    assert slow.startswith("n/a") and "1 over: test_gpu_short_sweep_rows[fp32] 9.0/3.5 s" in slow


def test_no_run_logs_no_recorded_verdicts(tmp_path):
    out = _verdicts(tmp_path)
    assert not [ln for ln in out if "converges within 2 s" in ln or "declared cost" in ln]
