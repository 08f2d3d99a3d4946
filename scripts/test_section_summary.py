"""The verdict of one pytest section of scripts/device_check.sh, from the run log tests/gpu_plan.py writes as
each test ends (so it exists even when pytest was killed and wrote no JUnit XML).

Prints one line: passed, failed, errors, skipped, not reached (of the tests selected), and the tests that
took more than twice their declared seconds (the cost table to correct). Exit 0 unless a test failed,
errored or was still running when pytest was killed, every test skipped, or pytest never got as far as
collecting (a broken set-up): not reaching a test is not a failure.
Usage: python3 scripts/test_section_summary.py RUN_LOG [--pytest-rc N]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter


def read_log(path: str) -> tuple[list[str] | None, list[dict], bool]:
    """(collected node ids or None, test records, whether pytest ended) from a run log; a torn last line
    (the process killed mid-write) is ignored. A test that began and never reported comes back as an
    'interrupted' record (it was running when pytest was killed: over its limit, or hung in C code)."""
    collected, tests, ended, begun = None, [], False, []
    try:
        f = open(path)
    except OSError:
        return None, [], False
    with f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == "collected":
                collected = rec["tests"]
            elif rec.get("event") == "test":
                tests.append(rec)
            elif rec.get("event") == "begin":
                begun.append(rec["nodeid"])
            elif rec.get("event") == "end":
                ended = True
    reported = {rec["nodeid"] for rec in tests}
    if not ended:
        tests += [{"event": "test", "nodeid": n, "outcome": "interrupted", "seconds": None, "declared_s": None}
                  for n in begun if n not in reported]
    return collected, tests, ended


def summarize(collected, tests, ended, pytest_rc: int | None = None) -> tuple[bool, str]:
    """(ok, the line): counts per outcome; tests collected but never reported count as not reached."""
    if collected is None:
        return False, "pytest never collected (no run log, or it stopped before collecting)"
    by_id: dict[str, dict] = {}
    for rec in tests:   # a teardown error after a pass is the test's verdict
        if rec["nodeid"] not in by_id or rec["outcome"] in ("failed", "error"):
            by_id[rec["nodeid"]] = rec
    n = Counter(r["outcome"] for r in by_id.values())
    missing = [t for t in collected if t not in by_id]
    not_reached = n["not_reached"] + len(missing)
    bad = n["failed"] + n["error"] + n["interrupted"]
    slow = sorted((r for r in by_id.values() if r.get("declared_s") and r["outcome"] in ("passed", "failed")
                   and r["seconds"] > 2 * r["declared_s"]), key=lambda r: -r["seconds"])
    parts = [f"{n['passed']} passed", f"{n['failed'] + n['interrupted']} failed", f"{n['error']} errors",
             f"{n['skipped'] + n['xfailed']} skipped", f"{not_reached} not reached (of {len(collected)})"]
    line = ", ".join(parts)
    stuck = [r["nodeid"] for r in by_id.values() if r["outcome"] == "interrupted"]
    if stuck:
        line += f"; killed while running {stuck[0]} (past the section's limit: a hang?)"
    elif missing and not ended:
        line += f"; pytest stopped from outside before {missing[0]}"
    if slow:
        line += "; over twice their declared s: " + ", ".join(
            f"{r['nodeid'].split('::')[-1]} {r['seconds']:.1f}/{r['declared_s']:g}" for r in slow[:3])
    if n["xpassed"]:
        line += f"; {n['xpassed']} unexpectedly passed"
    internal = pytest_rc in (2, 3, 4) and ended and not by_id
    all_skipped = bool(by_id) and n["skipped"] + n["xfailed"] == len(by_id)
    if all_skipped:
        line += "; every test skipped (on a GPU machine: CUDA unusable to the tests?)"
    return bad == 0 and not internal and not all_skipped, line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("log")
    ap.add_argument("--pytest-rc", type=int, default=None)
    a = ap.parse_args()
    ok, line = summarize(*read_log(a.log), a.pytest_rc)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
