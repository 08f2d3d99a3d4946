"""Mutation scores of the modules whose arithmetic users quote: can the tests fail when the code is wrong?

Each module is mutated by mutmut (2.x) in a scratch copy of the tree, one at a time, against the test files
that exercise it; where only part of a module is asked for (timing's statistics, the MAMF search's stop) every
other line is marked `# pragma: no mutate` in the copy. A mutant counts as killed when the tests fail (any
pytest exit but 0: a mutant that breaks an import is killed too, which mutmut 2 alone would not count) or
time out. Surviving mutants are listed with their line, for a reader to judge (some are equivalent).

  python3 bench/mutation_scores.py --run [--module NAME ...]   mutate (slow: ~1 s per mutant at best)
  python3 bench/mutation_scores.py --caches DIR                summarize DIR/mut_<name>.cache files
  python3 bench/mutation_scores.py --caches DIR --recheck SCRATCH   re-test their survivors first
Writes bench/results/mutation_scores.{json,txt}.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import tokenize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")

MAMF_TESTS = ["tests/test_mamf_stop.py", "tests/test_mamf_replay.py", "tests/test_mamf_sim.py"]   # the replays run the whole search

# name: (module, line ranges mutated (None: all), test files and pytest options)
MODULES = {
    "figures": ("accelkern/figures.py", None, ["tests/test_figures.py"]),
    "units": ("accelkern/units.py", None, ["tests/test_units.py"]),
    "waves": ("accelkern/waves.py", None, ["tests/test_waves_model.py"]),
    "timing_statistics": ("accelkern/timing.py", [(47, 262)],
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
    "mamf_search_stop": ("accelkern/mamf/search.py", [(33, 46), (88, 91), (167, 227)], MAMF_TESTS),
    "mamf_stop": ("accelkern/mamf/stop.py", None, MAMF_TESTS),
}
GOAL = 0.85
KILLED = ("ok_killed", "ok_suspicious", "bad_timeout")

RUNNER = """#!/bin/bash
find accelkern -name __pycache__ -prune -exec rm -rf {} + 2>/dev/null
PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -x -q -p no:cacheprovider "$@" >/dev/null 2>&1
[ $? -eq 0 ]
"""


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


def run(name: str, scratch: str) -> str:
    """Mutates one module in `scratch` (a copy of the tree); returns the path of its mutmut cache."""
    module, ranges, tests = MODULES[name]
    if ranges:
        mark_outside(os.path.join(scratch, module), ranges)
    runner = os.path.join(scratch, "pytest_runner.sh")
    with open(runner, "w") as f:
        f.write(RUNNER)
    os.chmod(runner, 0o755)
    cache = os.path.join(scratch, ".mutmut-cache")
    if os.path.exists(cache):
        os.remove(cache)
    env = dict(os.environ, PYTHONPATH=scratch, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    cmd = ["mutmut", "run", "--test-time-base", "20", "--paths-to-mutate", module, "--tests-dir", "tests",
           "--runner", " ".join([runner] + [f"'{t}'" if " " in t else t for t in tests])]
    subprocess.run(cmd, cwd=scratch, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.copy(os.path.join(ROOT, module), os.path.join(scratch, module))
    return cache


def recheck(name: str, scratch: str, cache: str) -> int:
    """Re-tests every survivor of `cache` against the tests as they are now (after tests were added for the
    survivors of a run); a mutant the tests now kill is marked killed. Returns how many were. mutmut rewrites
    its cache when it meets a mutated file, so every mutant starts from a fresh copy of it."""
    module, ranges, tests = MODULES[name]
    target, pristine = os.path.join(scratch, module), os.path.join(ROOT, module)
    runner = os.path.join(scratch, "pytest_runner.sh")
    env = dict(os.environ, PYTHONPATH=scratch, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    for rel in subprocess.run(["git", "ls-files", "tests"], cwd=ROOT, capture_output=True, text=True).stdout.split():
        shutil.copy(os.path.join(ROOT, rel), os.path.join(scratch, rel))
    ids = [i for (i,) in sqlite3.connect(cache).execute("select id from Mutant where status='bad_survived'")]
    work = os.path.join(scratch, ".mutmut-cache")
    killed = []
    for i in ids:
        shutil.copy(pristine, target)
        if ranges:
            mark_outside(target, ranges)
        shutil.copy(cache, work)
        before = open(target).read()
        subprocess.run(["mutmut", "apply", str(i)], cwd=scratch, env=env, capture_output=True)
        if open(target).read() == before:
            continue            # the mutant's line is not in today's module: it stays as the run left it
        if subprocess.run([runner] + tests, cwd=scratch, env=env, capture_output=True).returncode != 0:
            killed.append(i)
    shutil.copy(pristine, target)
    db = sqlite3.connect(cache)
    db.executemany("update Mutant set status='ok_killed' where id=?", [(i,) for i in killed])
    db.commit()
    return len(killed)


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
                     f"({MODULES[name][0]}{', lines ' + str(MODULES[name][1]) if MODULES[name][1] else ''})")
    for name, r in results.items():
        for s in r["survivors"]:
            lines.append(f"  survivor {name} {s}"[:160])
    text = "\n".join(lines) + "\n"
    with open(os.path.join(RESULTS, "mutation_scores.txt"), "w") as f:
        f.write(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="store_true", help="mutate now (a scratch copy of the tree)")
    ap.add_argument("--caches", default=None, help="summarize DIR/mut_<name>.cache files instead")
    ap.add_argument("--recheck", default=None, metavar="SCRATCH",
                    help="with --caches: first re-test their survivors against today's tests in SCRATCH (a copy "
                         "of the tree made by --run)")
    ap.add_argument("--module", action="append", choices=sorted(MODULES), help="only these (default: all)")
    a = ap.parse_args()
    names = a.module or list(MODULES)
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
            shutil.copy(cache, os.path.join(scratch, f"mut_{name}.cache"))
            results[name] = score(cache, MODULES[name][1])
            print(f"{name}: {results[name]['killed']}/{results[name]['mutants']}", flush=True)
            write(results)                  # after every module: a long run stopped early keeps what finished
    elif a.caches:
        for name in names:
            path = os.path.join(a.caches, f"mut_{name}.cache")
            if os.path.exists(path):
                before = score(path, MODULES[name][1])["killed"]
                if a.recheck:
                    print(f"{name}: {recheck(name, a.recheck, path)} survivors now killed", flush=True)
                results[name] = score(path, MODULES[name][1])
                results[name]["killed_in_the_run"] = before
    else:
        ap.error("give --run or --caches DIR")
    sys.stdout.write(write(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
