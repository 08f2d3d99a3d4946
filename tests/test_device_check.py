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


def test_dry_run_fails_a_section_whose_tests_cannot_fit(tmp_path):
    for d in ("scripts", "tests", "bench"):
        shutil.copytree(os.path.join(ROOT, d), tmp_path / d, ignore=shutil.ignore_patterns("__pycache__"))
    costs = tmp_path / "tests" / "gpu_costs.py"
    text = costs.read_text()
    assert "SECTION_OVERHEAD_S = 6.0" in text
    costs.write_text(text.replace("SECTION_OVERHEAD_S = 6.0", "SECTION_OVERHEAD_S = 60.0"))
    r = _run("--dry-run", "smoke", script=str(tmp_path / "scripts" / "device_check.sh"),
             env={"PYTHONPATH": ROOT})
    assert r.returncode == 1, r.stdout + r.stderr
    bad = [ln for ln in r.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(bad) == 1 and "smoke" in bad[0] and "+ 60 s start-up OVER its 35 s" in bad[0], r.stdout


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
