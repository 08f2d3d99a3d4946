"""Verdict lines for the speed claims scripts/device_check.sh checks: reported, never a test failure.

Reads every results .jsonl under DIR (the device check's details) and prints one line per claim it can
judge: PASS / FAIL / n/a, the claim, and the figures behind it (device, dtype, shape, clock, power); then
the speed facts the GPU tests recorded in the pytest sections' run logs (*.testlog) instead of asserting.
Usage: python3 scripts/device_verdicts.py DIR [--out FILE]   (ACCELKERN_DRY_RUN=1: parse and exit)
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from accelkern.results import read_results  # noqa: E402


def load(root: str) -> list:
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "**", "*.jsonl"), recursive=True)):
        rows += read_results(path).rows
    return rows


def _tele(r) -> str:
    parts = [f"{r.sm_clock_mean_mhz:.0f} MHz" if r.sm_clock_mean_mhz else None,
             f"{r.power_mean_w:.0f} W" if r.power_mean_w else None, r.throttle or None]
    return ", ".join(p for p in parts if p)


def verdicts(rows: list) -> list[tuple[str, str, str]]:
    """(PASS|FAIL|n/a, claim, evidence) for each claim; rows of any accelkern command."""
    out = []

    def add(ok, claim, evidence):
        out.append(("n/a" if ok is None else "PASS" if ok else "FAIL", claim, evidence))

    wrong = [r for r in rows if r.correct is False]
    add(not wrong, "every checked result matches its float64 reference",
        f"{len(wrong)} wrong: " + "; ".join(f"{r.suite} {r.dtype or r.name} {r.shape}" for r in wrong[:5])
        if wrong else f"{sum(r.correct is True for r in rows)} checked rows")

    def best(pred):
        c = [r for r in rows if r.status == "ok" and r.value and pred(r)]
        return max(c, key=lambda r: r.value) if c else None

    lt = best(lambda r: r.suite == "gemm" and r.dtype == "bf16" and r.backend == "cublaslt"
              and r.shape == "8192x8192x8192")
    th = best(lambda r: r.suite == "gemm" and r.dtype == "bf16" and r.backend == "torch"
              and r.shape == "8192x8192x8192")
    if lt and th:
        add(lt.value >= th.value * 0.99, "bf16 8192^3: cuBLASLt's best >= torch (same tn layout)",
            f"{lt.value:.1f} vs {th.value:.1f} TFLOPS ({_tele(lt)})")
    else:
        add(None, "bf16 8192^3: cuBLASLt's best >= torch", "no such rows")

    busy = [r for r in rows if r.status == "ok" and getattr(r, "busy_fraction", None) is not None
            and r.suite == "gemm" and r.dtype == "bf16" and r.shape == "8192x8192x8192"
            and not (r.config or {}).get("l2_flush")]
    if busy:
        low = min(busy, key=lambda r: r.busy_fraction)
        add(low.busy_fraction >= 0.97, "back-to-back bf16 8192^3 keeps the GPU busy (busy fraction >= 0.97)",
            f"lowest {low.busy_fraction:.3f} ({low.backend} {low.kernel or ''})")
    else:
        add(None, "busy fraction >= 0.97 back to back", "no bf16 8192^3 row with a busy fraction")

    mamf = [r for r in rows if r.name == "MAMF" and r.status == "ok" and r.value]
    for r in mamf:
        add(True, f"MAMF {r.dtype}", f"{r.value:.1f} {r.metric} at {r.shape} "
            f"({(r.config or {}).get('search', '?')}, {_tele(r)})")
    grid = [r for r in mamf if (r.config or {}).get("search") == "grid" and r.dtype == "bf16"]
    guided = [r for r in mamf if (r.config or {}).get("search") == "guided" and r.dtype == "bf16"]
    if grid and guided:
        add(guided[0].value >= grid[0].value * 0.99, "guided bf16 MAMF >= the grid's (within 1%)",
            f"{guided[0].value:.1f} vs {grid[0].value:.1f} TFLOPS")

    peak_busy = [r for r in rows if r.suite == "peak" and r.status == "ok"
                 and (r.config or {}).get("busy_fraction") is not None]
    if peak_busy:
        bad = [r for r in peak_busy if not 0.5 <= r.config["busy_fraction"] <= 1.05]
        add(not bad, "peak: in-kernel CTA time / event median within 0.5 .. 1.05 (the loop is what was timed)",
            "; ".join(f"{r.name} {r.config['busy_fraction']:.3f}" for r in (bad or peak_busy)[:4]))

    throttled = [r for r in rows if r.throttle and any(w in r.throttle for w in ("power", "thermal"))]
    if throttled:
        add(True, "power or thermal throttling seen (a finding, not a failure)",
            f"{len(throttled)} rows, e.g. {throttled[0].suite} {throttled[0].dtype or throttled[0].name} "
            f"{throttled[0].shape}: {_tele(throttled[0])}")
    return out


def log_verdicts(root: str) -> list[str]:
    """Verdict lines the commands and bench scripts printed themselves (waves staircase steps, the hbm
    sweep's cache -> memory transition), from the device check's *.out logs."""
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*.out"))):
        name = os.path.basename(path)[:-4]
        if name == "verdicts":
            continue
        with open(path, errors="replace") as f:
            for line in f:
                if "verdict" in line.lower():
                    out.append(f"{name}: {line.strip()}")
    return out


# speed facts the GPU tests record (record_property) instead of asserting: property -> (claim, judge)
TEST_CLAIMS = {
    "graph_mode_converged": ("graph-mode timing of a 2048^3 fp32 GEMM converges within 2 s", lambda v: v is True),
    "telemetry_span_over_wall_s": ("the telemetry span ends within 50 ms of the measurement's wall time",
                                   lambda v: v <= 0.05),
    "staircase_second_wave_ratio": ("one CTA past a full wave costs a second wave (time >= 1.5x)",
                                    lambda v: v >= 1.5),
    "peak_busy_fraction_": ("the peak sweep's in-kernel CTA time / event median lies within 0.5 .. 1.05",
                            lambda v: 0.5 <= v <= 1.05),
}


def _records(root: str) -> list[dict]:
    import json
    out = []
    for path in sorted(glob.glob(os.path.join(root, "*.testlog"))):
        with open(path, errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if rec.get("event") == "test":
                    out.append(rec)
    return out


def recorded_verdicts(root: str) -> list[tuple[str, str, str]]:
    """(PASS|FAIL, claim, evidence) for every speed fact a GPU test recorded in the sections' run logs, and
    an n/a line naming the tests that took over twice their declared seconds (tests/gpu_costs.py)."""
    recs = _records(root)
    out = []
    for prefix, (claim, judge) in TEST_CLAIMS.items():
        facts = [(rec["nodeid"].split("::")[-1], k, v) for rec in recs
                 for k, v in (rec.get("properties") or {}).items() if k == prefix or
                 (prefix.endswith("_") and k.startswith(prefix))]
        if not facts:
            continue
        bad = [f for f in facts if not judge(f[2])]
        shown = bad or facts
        out.append(("FAIL" if bad else "PASS", claim, "; ".join(
            f"{k.removeprefix(prefix) or test} {v:.3f}" if isinstance(v, float) else f"{test} {v}"
            for test, k, v in shown[:4])))
    slow = [r for r in recs if r.get("declared_s") and r["seconds"] > 2 * r["declared_s"]]
    if slow:
        out.append(("n/a", "tests within twice their declared cost (tests/gpu_costs.py)", f"{len(slow)} over: " +
                    ", ".join(f"{r['nodeid'].split('::')[-1]} {r['seconds']:.1f}/{r['declared_s']:g} s"
                              for r in sorted(slow, key=lambda r: -r["seconds"])[:4])))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", help="directory with results .jsonl files (searched recursively)")
    ap.add_argument("--out", default=None, help="also write the lines to this file")
    a = ap.parse_args()
    if os.environ.get("ACCELKERN_DRY_RUN", "") not in ("", "0"):
        print("dry run: device_verdicts.py: options ok")
        return 0
    if not os.path.isdir(a.dir):
        print(f"device_verdicts: {a.dir} is not a directory", file=sys.stderr)
        return 2
    lines = [f"{v:<5} {claim}: {ev}" for v, claim, ev in verdicts(load(a.dir)) + recorded_verdicts(a.dir)]
    lines += log_verdicts(a.dir)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
