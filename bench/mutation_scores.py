"""Mutation scores of the modules whose arithmetic users quote: can the tests fail when the code is wrong?

Each module is mutated by mutmut (2.x) in a scratch copy of the tree, one at a time, against the test files
that exercise it; where only part of a module is asked for (timing's statistics, the MAMF search's stop) every
other line is marked `# pragma: no mutate` in the copy. A mutant counts as killed when the tests fail (any
pytest exit but 0: a mutant that breaks an import is killed too, which mutmut 2 alone would not count) or
time out. Surviving mutants are listed with their line, for a reader to judge (some are equivalent).

  python3 bench/mutation_scores.py --run [--module NAME ...]   mutate (slow: ~1 s per mutant at best)
  python3 bench/mutation_scores.py --caches DIR                summarize DIR/mut_<name>.cache files
  python3 bench/mutation_scores.py --caches DIR --recheck SCRATCH   re-test their survivors first
  python3 bench/mutation_scores.py --dry-run                   what would be mutated and by which tests
Writes bench/results/mutation_scores.{json,txt}.
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")

MAMF_TESTS = ["tests/test_mamf_stop.py", "tests/test_mamf.py", "tests/test_mamf_replay.py",
              "tests/test_mamf_sim.py"]   # the search on fake surfaces, and the replays run the whole search

# name: (module, what is mutated (None: all; else top-level names and Class.method, found in today's file), test
# files and pytest options)
MODULES = {
    "figures": ("accelkern/figures.py", None, ["tests/test_figures.py"]),
    "units": ("accelkern/units.py", None, ["tests/test_units.py"]),
    "waves": ("accelkern/waves.py", None, ["tests/test_waves_model.py"]),
    "timing_statistics": ("accelkern/timing.py", ["StopRule", "_Growing", "SampleTracker", "median_rel_stderr",
                                                  "TimingStats"],
                          ["tests/test_timing_stats.py"] + [f"tests/test_timing.py::{t}" for t in (
                              "test_stats_from_samples", "test_summary_keys_are_row_fields", "test_median_rel_stderr",
                              "test_tracker_incremental_statistics_equal_numpy",
                              "test_stop_rule_waits_for_min_samples_and_min_time",
                              "test_min_time_counts_every_call_of_a_graph_replay",
                              "test_default_is_nvbench_and_median_stderr_is_kept_by_name",
                              "test_nvbench_stops_on_a_flat_noisy_series_once_the_noise_stops_falling",
                              "test_nvbench_continues_on_a_drifting_series", "test_stop_rule_bounds")]),
    "fleet_outliers": ("accelkern/fleet/outliers.py", None,
                       ["tests/test_fleet_outliers.py", "tests/test_fleet_noise.py",
                        "tests/test_fleet.py::test_outlier_detector_flags_only_the_slow_side",
                        "tests/test_fleet.py::test_outlier_detector_floor_failures_collectives_and_pairs",
                        "tests/test_fleet.py::test_verdict_and_self_test_judgement"]),
    # the MAMF search's stop: its constants, the chance computation, the noise and the loop that decides to
    # stop (search.py), and the stopping rule itself (stop.py)
    "mamf_search_stop": ("accelkern/mamf/search.py",
                         ["NOISE_FLOOR", "SCREEN_PER_DIM", "HOT_P", "VARY_K", "REFIT_GROWTH", "_norm_sf",
                          "Search.noise", "Search._chances", "Search._model_loop"], MAMF_TESTS),
    "mamf_stop": ("accelkern/mamf/stop.py", None, MAMF_TESTS),
}
GOAL = 0.85
NOTES = os.path.join(RESULTS, "mutation_notes.txt")    # a reader's judgement of the survivors, appended to the text
KILLED = ("ok_killed", "ok_suspicious", "bad_timeout")

RUNNER = """#!/bin/bash
find accelkern -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null
PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -x -q -p no:cacheprovider "$@" >/dev/null 2>&1
[ $? -eq 0 ]
"""


def spans(path: str, names) -> list[tuple[int, int]] | None:
    """The line ranges (first, last; 1-based) of `names` in the module at `path`: top-level functions, classes
    and assigned constants, or `Class.method`. Found by parsing today's file, so edits above them cannot shift
    what is measured. A name that is not there is an error (the list must follow the module)."""
    if names is None:
        return None
    tree = ast.parse(open(path).read())
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
            if isinstance(node, ast.ClassDef):
                for sub in node.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        found[f"{node.name}.{sub.name}"] = sub
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(t, ast.Name):
                    found[t.id] = node
    missing = [n for n in names if n not in found]
    if missing:
        raise SystemExit(f"mutation_scores: {path} has no {', '.join(missing)} (update MODULES)")
    out = []
    for n in names:
        node = found[n]
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        out.append((first, node.end_lineno))
    return sorted(out)


def _ranges(name: str):
    return spans(os.path.join(ROOT, MODULES[name][0]), MODULES[name][1])


def mark_outside(path: str, ranges) -> int:
    """Appends '# pragma: no mutate' to every code line outside `ranges` (not inside a multi-line string,
    not ending in a backslash); returns how many lines were marked."""
    src = open(path).read()
    inside = set()
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.STRING and tok.end[0] > tok.start[0]:
            inside.update(range(tok.start[0], tok.end[0]))
    out, marked = [], 0
    for i, line in enumerate(src.split("\n"), 1):
        keep = any(a <= i <= b for a, b in ranges) or not line.strip() or i in inside or line.rstrip().endswith("\\")
        out.append(line if keep else line + "  # pragma: no mutate")
        marked += not keep
    with open(path, "w") as f:
        f.write("\n".join(out))
    return marked


def _runner(scratch: str) -> str:
    runner = os.path.join(scratch, "pytest_runner.sh")
    with open(runner, "w") as f:
        f.write(RUNNER)
    os.chmod(runner, 0o755)
    return runner


def _env(scratch: str) -> dict:
    return dict(os.environ, PYTHONPATH=scratch, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")


def _tests_pass(runner: str, tests: list, scratch: str, timeout_s: float) -> bool | None:
    """True when the tests pass, False when they fail, None when they ran past timeout_s (the whole process
    group is killed: a mutant that loops forever must not outlive its verdict)."""
    p = subprocess.Popen([runner] + tests, cwd=scratch, env=_env(scratch), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        return p.wait(timeout=timeout_s) == 0
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return None


def run(name: str, scratch: str) -> str:
    """Mutates one module in `scratch` (a copy of the tree); returns the path of its cache of verdicts.
    mutmut makes the mutants (its run, with a runner that always passes, only records them) and applies
    them; the tests run under our own clock (a mutant that hangs is a timeout, killed), since mutmut 2's own
    loop was seen to hang for good on such a mutant."""
    module, names, tests = MODULES[name]
    ranges = spans(os.path.join(ROOT, module), names)
    target = os.path.join(scratch, module)
    if ranges:
        mark_outside(target, ranges)
    runner = _runner(scratch)
    t0 = time.monotonic()
    if not _tests_pass(runner, tests, scratch, 1800):
        raise SystemExit(f"mutation_scores: {name}: the tests fail (or hang) on the unmutated module")
    baseline = time.monotonic() - t0
    work = os.path.join(scratch, ".mutmut-cache")
    if os.path.exists(work):
        os.remove(work)
    subprocess.run(["mutmut", "run", "--paths-to-mutate", module, "--tests-dir", "tests", "--runner", "true"],
                   cwd=scratch, env=_env(scratch), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.copy(os.path.join(ROOT, module), target)
    cache = os.path.join(scratch, f"mut_{name}.cache")
    shutil.copy(work, cache)
    judge_mutants(name, scratch, cache, ("bad_survived", "untested"), timeout_s=max(60.0, 10 * baseline))
    return cache


def judge_mutants(name: str, scratch: str, cache: str, statuses=("bad_survived",), timeout_s: float = 600.0) -> int:
    """Tests every mutant of `cache` with one of `statuses` against the tests in `scratch`, and records the
    verdict (killed: the tests fail; a timeout counts as killed; survived: they pass). Returns how many were
    killed. mutmut rewrites its cache when it meets a mutated file, so every mutant starts from a fresh copy."""
    module, names, tests = MODULES[name]
    ranges = spans(os.path.join(ROOT, module), names)
    target = os.path.join(scratch, module)
    pristine = os.path.join(scratch, "pristine.py")    # the module as it was at the start: edits made in the
    shutil.copy(os.path.join(ROOT, module), pristine)  # tree meanwhile must not leak into a mutant
    runner = _runner(scratch)
    marks = ",".join("?" * len(statuses))
    ids = [i for (i,) in sqlite3.connect(cache).execute(f"select id from Mutant where status in ({marks})", statuses)]
    work = os.path.join(scratch, ".mutmut-cache")
    killed = 0
    for n, i in enumerate(ids, 1):
        shutil.copy(pristine, target)
        if ranges:
            mark_outside(target, ranges)
        shutil.copy(cache, work)
        before = open(target).read()
        subprocess.run(["mutmut", "apply", str(i)], cwd=scratch, env=_env(scratch), capture_output=True)
        if open(target).read() == before:
            continue            # the mutant's line is not in today's module: it stays as it was
        verdict = _tests_pass(runner, tests, scratch, timeout_s)
        status = "bad_survived" if verdict else ("ok_killed" if verdict is False else "bad_timeout")
        killed += status != "bad_survived"
        db = sqlite3.connect(cache)           # after every mutant: a run stopped early keeps its verdicts
        db.execute("update Mutant set status=? where id=?", (status, i))
        db.commit()
        db.close()
        print(f"  {name} {n}/{len(ids)}: mutant {i} {status}", flush=True)
    shutil.copy(pristine, target)
    return killed


def recheck(name: str, scratch: str, cache: str) -> int:
    """Re-tests every survivor of `cache` against the tests as they are now (after tests were added for the
    survivors of a run); returns how many they now kill."""
    for rel in subprocess.run(["git", "ls-files", "tests"], cwd=ROOT, capture_output=True, text=True).stdout.split():
        shutil.copy(os.path.join(ROOT, rel), os.path.join(scratch, rel))
    return judge_mutants(name, scratch, cache)


def score(cache: str, ranges) -> dict:
    """Counts per mutmut status within `ranges`, the killed share, and the survivors' lines."""
    db = sqlite3.connect(cache)
    rows = db.execute('select m.status, l.line_number, l.line from Mutant m join Line l on m.line = l.id').fetchall()
    rows = [(st, no + 1, text) for st, no, text in rows if not ranges or any(a <= no + 1 <= b for a, b in ranges)]
    counts: dict = {}
    for st, _, _ in rows:
        counts[st] = counts.get(st, 0) + 1
    killed = sum(counts.get(k, 0) for k in KILLED)
    tested = len(rows) - counts.get("untested", 0)        # a run stopped early leaves the rest untested
    survivors = sorted({(no, text.split("# pragma")[0].strip()) for st, no, text in rows if st == "bad_survived"})
    return {"mutants": tested, "untested": counts.get("untested", 0), "killed": killed,
            "score": killed / tested if tested else None, "counts": counts,
            "survivors": [f"line {no}: {text}" for no, text in survivors]}


def write(results: dict) -> str:
    """Writes the scores, keeping the modules an earlier invocation scored and this one did not."""
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, "mutation_scores.json")
    if os.path.exists(path):
        with open(path) as f:
            results = {**{k: v for k, v in json.load(f).items() if k in MODULES}, **results}
        results = {k: results[k] for k in MODULES if k in results}
    with open(os.path.join(RESULTS, "mutation_scores.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    lines = [f"{'module':<20} {'killed':>7} {'total':>6} {'score':>6}  goal {GOAL:.0%}  (run: killed by the tests at the "
             f"run's start; survivors then re-tested against the final tests)"]
    for name, r in results.items():
        mark = "ok" if r["score"] is not None and r["score"] >= GOAL else "BELOW"
        run = r.get("killed_in_the_run")
        run_text = f"run {run}/{r['mutants']} = {run / r['mutants']:.1%}, " if run is not None else ""
        partial = f"PARTIAL: {r['untested']} more mutants never tested, " if r.get("untested") else ""
        lines.append(f"{name:<20} {r['killed']:>7} {r['mutants']:>6} {r['score']:>6.1%}  {mark}  {partial}{run_text}"
                     f"({MODULES[name][0]}{': ' + ', '.join(MODULES[name][1]) if MODULES[name][1] else ''})")
    for name, r in results.items():
        for s in r["survivors"]:
            lines.append(f"  survivor {name} {s}"[:160])
    if os.path.exists(NOTES):
        lines += ["", open(NOTES).read().rstrip()]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, "mutation_scores.txt"), "w") as f:
        f.write(text)
    return text


def dry_run(names) -> int:
    """Says what --run would mutate and with which tests; 1 when a module, name or test file is missing."""
    problems = []
    for name in names:
        module, parts, tests = MODULES[name]
        if not os.path.exists(os.path.join(ROOT, module)):
            problems.append(f"{name}: {module} does not exist")
            continue
        try:
            where = _ranges(name)
        except SystemExit as exc:
            problems.append(str(exc))
            continue
        files = [t.split("::")[0] for t in tests if not t.startswith("-")]
        problems += [f"{name}: test file {f} does not exist" for f in files if not os.path.exists(os.path.join(ROOT, f))]
        print(f"{name}: {module}" + (f" lines {where}" if where else " (whole file)") + f"; tests: {len(tests)} "
              f"({', '.join(sorted(set(files)))})")
    if shutil.which("mutmut") is None:
        print("note: mutmut is not installed (pip install 'mutmut<3'); --run needs it")
    for p in problems:
        print(f"problem: {p}")
    return 1 if problems else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="mutate now (a scratch copy of the tree)")
    ap.add_argument("--caches", default=None, help="summarize DIR/mut_<name>.cache files instead")
    ap.add_argument("--recheck", default=None, metavar="SCRATCH",
                    help="with --caches: first re-test their survivors against today's tests in SCRATCH (a copy "
                         "of the tree made by --run)")
    ap.add_argument("--module", action="append", choices=sorted(MODULES), help="only these (default: all)")
    ap.add_argument("--dry-run", action="store_true",
                    help="check that every module, name and test file exists and say what would run; mutate nothing")
    a = ap.parse_args()
    names = a.module or list(MODULES)
    if a.dry_run:
        return dry_run(names)
    results = {}
    if a.run:
        scratch = tempfile.mkdtemp(prefix="accelkern-mutation-")
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
        for rel in files:
            os.makedirs(os.path.dirname(os.path.join(scratch, rel)) or scratch, exist_ok=True)
            shutil.copy(os.path.join(ROOT, rel), os.path.join(scratch, rel))
        for so in [f for f in os.listdir(os.path.join(ROOT, "accelkern")) if f.endswith(".so")]:
            shutil.copy(os.path.join(ROOT, "accelkern", so), os.path.join(scratch, "accelkern", so))
        print(f"scratch copy: {scratch}", flush=True)
        for name in names:
            cache = run(name, scratch)
            results[name] = score(cache, _ranges(name))
            print(f"{name}: {results[name]['killed']}/{results[name]['mutants']}", flush=True)
            write(results)                  # after every module: a long run stopped early keeps what finished
    elif a.caches:
        for name in names:
            path = os.path.join(a.caches, f"mut_{name}.cache")
            if os.path.exists(path):
                before = score(path, _ranges(name))["killed"]
                if a.recheck:
                    print(f"{name}: {recheck(name, a.recheck, path)} survivors now killed", flush=True)
                results[name] = score(path, _ranges(name))
                results[name]["killed_in_the_run"] = before
    else:
        ap.error("give --run or --caches DIR")
    sys.stdout.write(write(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
