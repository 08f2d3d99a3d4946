"""The device check's test plan without a GPU: every GPU test declares its cost, the smoke set covers every
family within 30 s, and tests/gpu_plan.py runs a section most valuable first under a deadline, reports the
tests it did not reach, and leaves a run log that scripts/test_section_summary.py reads even after a kill."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import gpu_costs  # noqa: E402
import test_section_summary as summary  # noqa: E402

_DUMP = textwrap.dedent("""
    import json, runpy, sys
    mod = runpy.run_path(sys.argv[1])
    print(json.dumps([[nid, sorted(k for k in kw if k in ("gpu", "smoke", "extended")), cost]
                      for nid, kw, cost in mod["_collect"]()]))
""")


def _every_test_file_in(items) -> bool:
    files = {f"tests/{f}" for f in os.listdir(os.path.join(ROOT, "tests")) if f.startswith("test_") and f.endswith(".py")}
    return files <= {it.nodeid.split("::")[0] for it in items}


@pytest.fixture(scope="module")
def collected(request):
    """(node id, marks among gpu/smoke/extended, (place, seconds, tier) or None) of every test: this run's own
    collection when it holds the whole suite unfiltered (the plain `pytest` of CI), else a fresh one."""
    items = request.session.items
    if _every_test_file_in(items) and not request.config.getoption("-m") and not request.config.getoption("-k"):
        return [[it.nodeid, sorted(k for k in it.keywords if k in ("gpu", "smoke", "extended")),
                 list(it._gpu_cost) if getattr(it, "_gpu_cost", None) else None] for it in items]
    r = subprocess.run([sys.executable, "-c", _DUMP, os.path.join(ROOT, "scripts", "dry_run_check.py")],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_every_gpu_test_declares_a_cost_and_every_entry_is_used(collected):
    gpu = [(nid, cost) for nid, marks, cost in collected if "gpu" in marks]
    assert len(gpu) > 300
    assert [nid for nid, cost in gpu if cost is None] == []
    used = {cost[0] for _, cost in gpu}
    assert [k for i, k in enumerate(gpu_costs.COSTS) if i not in used] == []      # no stale entry
    assert all(0 < s <= 30 and tier in (gpu_costs.CORE, gpu_costs.EXTENDED) for s, tier in gpu_costs.COSTS.values())


def test_the_smoke_set_is_twenty_gpu_tests_one_per_family_within_30_s(collected):
    smoke = [(nid, marks, cost) for nid, marks, cost in collected if "smoke" in marks]
    assert len(smoke) >= 20 and all("gpu" in marks and "extended" not in marks for _, marks, _ in smoke)
    assert sum(cost[1] for _, _, cost in smoke) <= 30.0
    families = {nid.split("::")[0] for nid, marks, _ in collected if "gpu" in marks}
    assert {nid.split("::")[0] for nid, _, _ in smoke} == families     # every file with GPU tests, once at least
    assert len(families) >= 10


def test_extended_is_what_the_table_says(collected):
    for nid, marks, cost in collected:
        if cost:
            assert ("extended" in marks) == (cost[2] == gpu_costs.EXTENDED), nid


# ---- the plugin in a sandbox of its own -----------------------------------------------------------------

SANDBOX_TESTS = '''
import time
import pytest

def test_first_by_value():
    pass

def test_too_costly():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_cheap(n, record_property):
    record_property("n_seen", n)

def test_fails():
    assert 1 == 2

def test_overruns():
    time.sleep(60)

def test_last():
    pass
'''

SANDBOX_COSTS = '''
SECTION_OVERHEAD_S = 1.0
SECTION_EXIT_S = 4.0
CORE, EXTENDED = "core", "extended"
COSTS = {
    "test_first_by_value": (0.1, CORE),
    "test_cheap[2]": (0.1, CORE),
    "test_fails": (0.1, CORE),
    "test_too_costly": (500.0, CORE),
    "test_cheap": (0.1, EXTENDED),
    "test_overruns": (0.1, CORE),
    "test_last": (0.1, CORE),
}
'''


NO_CUDA = "def is_available():\n    return False\n"


def _sandbox(tmp_path, tests=SANDBOX_TESTS, cuda=NO_CUDA):
    """The plugin and conftest beside test files of our own, and a stand-in torch (quick to import) whose
    torch.cuda is `cuda`."""
    for name in ("gpu_plan.py", "conftest.py"):
        shutil.copy(os.path.join(ROOT, "tests", name), tmp_path / name)
    (tmp_path / "torch").mkdir()
    (tmp_path / "torch" / "__init__.py").write_text("from . import cuda\n")
    (tmp_path / "torch" / "cuda.py").write_text(cuda)
    (tmp_path / "gpu_costs.py").write_text(SANDBOX_COSTS)
    (tmp_path / "test_sandbox.py").write_text(tests)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    gpu: x\n    smoke: x\n")
    return tmp_path


def _pytest(sandbox, *args):
    return subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                            cwd=sandbox, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(sandbox)})


def _log(path):
    return [json.loads(x) for x in open(path) if x.strip()]


def test_a_deadline_runs_most_valuable_first_stops_a_runaway_and_reports_the_rest(tmp_path):
    sb = _sandbox(tmp_path)
    p = _pytest(sb, "--section-limit=9", "--run-log=run.testlog", "--junitxml=run.xml", "-m", "not extended")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1, out + err
    log = _log(sb / "run.testlog")
    assert log[0] == {"event": "start", "deadline_s": 5.0}        # the section's 9 s less SECTION_EXIT_S (4 s)
    recs = [r for r in log if r["event"] == "test"]
    order = [r["nodeid"].split("::")[1] for r in recs]
    assert order == ["test_first_by_value", "test_cheap[2]", "test_fails", "test_too_costly", "test_overruns",
                     "test_last"]                                   # the table's order, [1] deselected
    outcome = {r["nodeid"].split("::")[1]: r for r in recs}
    assert outcome["test_too_costly"]["outcome"] == "not_reached"
    assert "500 s declared" in outcome["test_too_costly"]["reason"]
    assert outcome["test_overruns"]["outcome"] == "failed" and outcome["test_overruns"]["seconds"] < 6
    assert outcome["test_last"]["outcome"] == "not_reached"          # the deadline passed during the runaway
    assert outcome["test_cheap[2]"]["properties"] == {"n_seen": 2} and outcome["test_cheap[2]"]["declared_s"] == 0.1
    assert (sb / "run.xml").exists()
    ok, line = summary.summarize(*summary.read_log(sb / "run.testlog"), p.returncode)
    assert not ok and line.startswith("2 passed, 2 failed, 0 errors, 0 skipped, 2 not reached (of 6)")


def test_not_reaching_tests_is_not_a_failure(tmp_path):
    sb = _sandbox(tmp_path)
    p = _pytest(sb, "--deadline=60", "--run-log=run.testlog", "-k", "first or costly or cheap")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, out + err
    ok, line = summary.summarize(*summary.read_log(sb / "run.testlog"), p.returncode)
    assert ok and line == "3 passed, 0 failed, 0 errors, 0 skipped, 1 not reached (of 4)"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "test_section_summary.py"),
                        str(sb / "run.testlog")], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == line


def test_a_killed_run_still_leaves_its_verdict(tmp_path):
    """pytest killed from outside (SIGKILL: no XML, no report): the run log still says what passed, and the
    test that was running when it died counts as failed."""
    sb = _sandbox(tmp_path)
    p = _pytest(sb, "--run-log=run.testlog", "-k", "first or overruns")
    log = sb / "run.testlog"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (log.exists() and '::test_first_by_value"' in log.read_text()):
        time.sleep(0.1)
    time.sleep(0.5)                                               # now inside test_overruns' sleep
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate(timeout=30)
    ok, line = summary.summarize(*summary.read_log(log), -9)
    # the test that was running is a failure (hung past the limit), the finished one keeps its pass
    assert not ok and line.startswith("1 passed, 1 failed, 0 errors, 0 skipped, 0 not reached (of 2)"), line
    assert "killed while running test_sandbox.py::test_overruns (past the section's limit: a hang?)" in line


def test_a_run_log_that_never_collected_is_a_failure(tmp_path):
    assert summary.summarize(None, [], False) == (False, "pytest never collected (no run log, or it stopped "
                                                         "before collecting)")
    assert summary.read_log(str(tmp_path / "missing.testlog")) == (None, [], False)


# ---- the CUDA probe: 'no CUDA' skips, anything else errors ---------------------------------------------

GPU_TESTS = '''
import pytest

@pytest.mark.gpu
def test_on_the_gpu():
    pass

def test_on_the_cpu():
    pass
'''


@pytest.mark.parametrize("cuda, want", [
    (NO_CUDA, "1 passed, 1 skipped"),
    ("def is_available():\n    raise RuntimeError('CUDA driver initialization failed')\n", "1 passed, 1 error"),
    ("import warnings\ndef is_available():\n    warnings.warn('CUDA initialization: the NVIDIA driver is too old')"
     "\n    return False\n", "1 passed, 1 error")], ids=["no_cuda", "probe_raises", "probe_warns"])
def test_the_cuda_probe_skips_only_for_no_cuda(tmp_path, cuda, want):
    sb = _sandbox(tmp_path, GPU_TESTS, cuda)
    p = _pytest(sb, "-rs")
    out, err = p.communicate(timeout=120)
    assert want in out.splitlines()[-1], out + err
    if "error" in want:
        assert "the CUDA probe failed" in out and "is not skipped" in out
    else:
        assert "needs a CUDA GPU" in out


def test_summary_of_a_run_killed_between_two_tests_and_of_slow_tests(tmp_path):
    log = tmp_path / "s.testlog"
    recs = [{"event": "start"}, {"event": "collected", "tests": ["a::t1", "a::t2", "a::t3"]},
            {"event": "begin", "nodeid": "a::t1"},
            {"event": "test", "nodeid": "a::t1", "when": "call", "outcome": "passed", "seconds": 5.0, "declared_s": 1.0},
            {"event": "begin", "nodeid": "a::t2"},
            {"event": "test", "nodeid": "a::t2", "when": "call", "outcome": "passed", "seconds": 1.0, "declared_s": 1.0},
            {"event": "test", "nodeid": "a::t2", "when": "teardown", "outcome": "error", "seconds": 0.1,
             "declared_s": 1.0}]
    log.write_text("\n".join(json.dumps(r) for r in recs) + "\n{\"event\": \"beg")
    ok, line = summary.summarize(*summary.read_log(str(log)))
    assert not ok and line == ("1 passed, 0 failed, 1 errors, 0 skipped, 1 not reached (of 3); pytest stopped from "
                               "outside before a::t3; over twice their declared s: t1 5.0/1")
    log.write_text("\n".join(json.dumps(r) for r in recs[:4] + [{"event": "end"}]) + "\n")
    ok, line = summary.summarize(*summary.read_log(str(log)))
    assert ok and line.startswith("1 passed, 0 failed, 0 errors, 0 skipped, 2 not reached (of 3); over twice")


def test_a_section_where_every_test_skipped_fails(tmp_path):
    log = tmp_path / "s.testlog"
    recs = [{"event": "collected", "tests": ["a::t1", "a::t2"]},
            {"event": "test", "nodeid": "a::t1", "outcome": "skipped", "seconds": 0.0, "declared_s": 1.0},
            {"event": "test", "nodeid": "a::t2", "outcome": "xfailed", "seconds": 0.0, "declared_s": 1.0},
            {"event": "end"}]
    log.write_text("\n".join(json.dumps(r) for r in recs) + "\n")
    ok, line = summary.summarize(*summary.read_log(str(log)), 0)
    assert not ok and line.endswith("; every test skipped (on a GPU machine: CUDA unusable to the tests?)")
