"""scripts/device_check.sh without a GPU: its dry run parses every command line it would run, a planted bad
flag is caught, and the pre-flight stops a GPU-less machine before anything is built."""
import os
import shutil
import subprocess

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "scripts", "device_check.sh")


def _run(*args, script=SCRIPT, env=None, timeout=120):
    e = {k: v for k, v in os.environ.items() if k != "DEVICE_CHECK_LIMIT"}
    e.update(env or {})
    return subprocess.run(["bash", script, *args], capture_output=True, text=True, timeout=timeout, env=e,
                          cwd=ROOT)


def test_dry_run_parses_every_command_line_and_the_limits_add_up():
    profile = []  # the default profile here; .ci/run dry-runs the quick one
    r = _run("--dry-run", *profile)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith("FAIL")], r.stdout
    summary = lines[-1]
    assert "0 problem(s)" in summary and ("of 420 s" in summary if not profile else "of 240 s" in summary)
    assert sum(ln.startswith("ok") for ln in lines) >= (12 if not profile else 7)
    tests = [ln for ln in lines if "-m 'gpu and" in ln]
    assert len(tests) == 2 and all("within its" in ln for ln in tests), tests   # smoke and tests fit
    smoke = next(ln for ln in tests if "'gpu and smoke'" in ln)
    n = int(smoke.split("': ")[1].split()[0])
    assert n >= 20


def test_dry_run_fails_a_section_whose_tests_cannot_fit(monkeypatch):
    """The pytest check adds up the selected tests' declared seconds and pytest's start-up against the limit,
    and refuses a selected GPU test that declares nothing (on a made-up collection)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("dry_run_check", os.path.join(ROOT, "scripts", "dry_run_check.py"))
    drc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(drc)
    monkeypatch.setattr(drc, "_overhead_s", lambda: 6.0)
    monkeypatch.setattr(drc, "_COLLECTED", [("a::t1", {"gpu", "smoke"}, (0, 10.0, "core")),
                                            ("a::t2", {"gpu", "smoke"}, (1, 9.0, "core")),
                                            ("a::t3", {"gpu"}, (2, 50.0, "extended")),
                                            ("b::cpu", set(), None)])
    assert drc._pytest(["-m", "gpu and smoke"], 25) == (
        True, "-m 'gpu and smoke': 2 tests, declared 19.0 s + 6 s start-up and exit within its 25 s")
    assert drc._pytest(["-m", "gpu and smoke"], 24) == (
        False, "-m 'gpu and smoke': 2 tests, declared 19.0 s + 6 s start-up and exit OVER its 24 s")
    assert drc._pytest(["-m", "gpu and nosuch"], 24) == (False, "-m 'gpu and nosuch' selects no test")
    drc._COLLECTED.append(("c::t4", {"gpu"}, None))
    ok, why = drc._pytest(["-m", "gpu"], 1000)
    assert not ok and why == "-m 'gpu': 1 GPU test(s) declare no cost in tests/gpu_costs.py, e.g. c::t4"
    assert drc._pytest(["-m", "not gpu"], 1)[0] is False and drc._pytest(["-m", "not gpu"], 7)[0] is True


def test_dry_run_fails_on_a_planted_bad_flag(tmp_path):
    scripts = tmp_path / "scripts"
    shutil.copytree(os.path.join(ROOT, "scripts"), scripts)
    text = (scripts / "device_check.sh").read_text()
    assert "--algos 8" in text
    (scripts / "device_check.sh").write_text(text.replace("--algos 8", "--algoz 8", 1))
    r = _run("--dry-run", "gemm", script=str(scripts / "device_check.sh"))
    assert r.returncode == 1
    bad = [ln for ln in r.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(bad) == 1 and "gemm_bf16" in bad[0] and "--algoz" in bad[0], r.stdout


def test_unknown_section_and_limits_over_the_deadline_are_refused():
    r = _run("--dry-run", "gemm", "nosuchsection")
    assert r.returncode == 2 and "unknown section 'nosuchsection'" in r.stderr
    r = _run("--dry-run", env={"DEVICE_CHECK_LIMIT": "100"})
    assert r.returncode == 2 and "more than DEVICE_CHECK_LIMIT=100 s" in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU pre-flight")
def test_preflight_exits_3_without_a_gpu_before_building(tmp_path):
    out, details = tmp_path / "out", tmp_path / "details"
    r = _run(env={"OUT": str(out), "DETAILS": str(details)}, timeout=60)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "no usable GPU" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (details / "build.log").exists()
    assert "preflight" in (out / "summary.txt").read_text()
