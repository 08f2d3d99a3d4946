"""Checks, without a GPU, every command line scripts/device_check.sh would run (its --dry-run).

The plan file has one line per command: section, name, limit (s), the shell-quoted command. Each accelkern
command runs in this one process with ACCELKERN_DRY_RUN=1 (it validates its options and exits 0 before
measuring); each script of scripts/ or bench/ runs likewise; pytest lines collect their marker expression
and add up the selected tests' declared costs (tests/gpu_costs.py) plus pytest's start-up against their limit;
the build line is checked for its switches only. Limits: every section's commands fit its limit and the
sections fit the deadline. Exit 0 when all is well, 1 otherwise, one line per problem.
"""
from __future__ import annotations

import argparse
import io
import os
import runpy
import shlex
import sys
import time
from contextlib import redirect_stderr, redirect_stdout

KNOWN_BUILD_SWITCHES = {"MAX_JOBS", "ACCELKERN_REQUIRE_EXTENSION", "ACCELKERN_PTXAS_VERBOSE", "ACCELKERN_CUDA_ARCHS",
                        "ACCELKERN_NO_EXTENSION"}


def _accelkern(args: list[str]) -> tuple[bool, str]:
    from click.testing import CliRunner

    from accelkern.cli import cli
    r = CliRunner().invoke(cli, args, catch_exceptions=True)
    out = (r.output or "").strip()
    if r.exit_code != 0 or "dry run:" not in out:
        last = out.splitlines()[-1] if out else repr(r.exception)
        return False, f"exit {r.exit_code}: {last}"
    return True, out.splitlines()[-1]


def _script(path: str, args: list[str]) -> tuple[bool, str]:
    argv, buf = sys.argv, io.StringIO()
    sys.argv = [path] + args
    code = 0
    try:
        with redirect_stdout(buf), redirect_stderr(buf):
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception as exc:  # a crash here is exactly what a dry run must catch
        code, buf = 1, io.StringIO(f"{type(exc).__name__}: {exc}")
    finally:
        sys.argv = argv
    out = buf.getvalue().strip()
    if code != 0 or "dry run:" not in out:
        return False, f"exit {code}: {out.splitlines()[-1] if out else 'no dry-run line printed'}"
    return True, out.splitlines()[-1]


_COLLECTED: list | None = None


def _collect() -> list:
    """Every test's node id, keywords and declared cost (tests/gpu_plan.py), collected once in this process;
    marker expressions are then evaluated per command line, as pytest's -m would."""
    global _COLLECTED
    if _COLLECTED is None:
        import pytest

        class Keep:
            items: list = []

            @pytest.hookimpl(trylast=True)
            def pytest_collection_modifyitems(self, items):
                Keep.items = [(it.nodeid, set(it.keywords), getattr(it, "_gpu_cost", None)) for it in items]

        buf = io.StringIO()
        with redirect_stdout(buf), redirect_stderr(buf):
            pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider"], plugins=[Keep()])
        _COLLECTED = Keep.items
    return _COLLECTED


def _overhead_s() -> float:
    """pytest's start-up plus the margin its deadline keeps inside the section's limit (tests/gpu_costs.py)."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "gpu_costs.py")
    spec = importlib.util.spec_from_file_location("gpu_costs_table", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return float(mod.SECTION_OVERHEAD_S) + float(mod.SECTION_EXIT_S)


def _pytest(args: list[str], limit: int | None = None) -> tuple[bool, str]:
    """The marker expression selects tests; their declared costs plus pytest's own start-up must fit the
    command's limit, and every selected GPU test must declare a cost."""
    from _pytest.mark.expression import Expression
    expr = None
    for i, a in enumerate(args):
        if a == "-m" and i + 1 < len(args):
            expr = args[i + 1]
    try:
        compiled = Expression.compile(expr) if expr else None
    except Exception as exc:
        return False, f"bad marker expression {expr!r}: {exc}"

    def matches(kw):
        if compiled is None:
            return True
        try:
            return compiled.evaluate(lambda name, **kwargs: name in kw)
        except TypeError:  # older pytest passes only the name
            return compiled.evaluate(lambda name: name in kw)
    chosen = [(nid, kw, cost) for nid, kw, cost in _collect() if matches(kw)]
    if not chosen:
        return False, f"-m {expr!r} selects no test"
    undeclared = [nid for nid, kw, cost in chosen if cost is None and "gpu" in kw]
    if undeclared:
        return False, (f"-m {expr!r}: {len(undeclared)} GPU test(s) declare no cost in tests/gpu_costs.py, "
                       f"e.g. {undeclared[0]}")
    declared = sum(cost[1] for _, _, cost in chosen if cost)
    overhead = _overhead_s()
    fits = limit is None or declared + overhead <= limit
    return fits, (f"-m {expr!r}: {len(chosen)} tests, declared {declared:.1f} s + {overhead:g} s start-up and exit"
                  + (f" {'within' if fits else 'OVER'} its {limit} s" if limit is not None else ""))


def _build(argv: list[str]) -> tuple[bool, str]:
    env = [a.split("=", 1)[0] for a in argv[1:] if "=" in a and not a.startswith("-")]
    unknown = [e for e in env if e not in KNOWN_BUILD_SWITCHES]
    if unknown:
        return False, f"unknown build switch(es) {', '.join(unknown)} (known: {', '.join(sorted(KNOWN_BUILD_SWITCHES))})"
    return True, "build switches known (the build itself runs on the GPU machine)"


def check(argv: list[str], limit: int | None = None) -> tuple[bool, str]:
    exe = os.path.basename(argv[0]) if argv else ""
    if exe == "env":
        return _build(argv)
    if not exe.startswith("python"):
        return False, f"unknown program '{argv[0]}'"
    rest = argv[1:]
    if rest[:2] == ["-m", "accelkern"]:
        return _accelkern(rest[2:])
    if rest[:2] == ["-m", "pytest"]:
        return _pytest(rest[2:], limit)
    if rest and rest[0].endswith(".py"):
        return _script(rest[0], rest[1:])
    return False, f"cannot dry-run '{' '.join(argv)}'"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", required=True)
    ap.add_argument("--total", type=int, required=True)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--section", action="append", default=[], help="NAME=LIMIT, in the order they run")
    a = ap.parse_args()
    os.environ["ACCELKERN_DRY_RUN"] = "1"
    sections = [(s.split("=")[0], int(s.split("=")[1])) for s in a.section]
    plan = [ln.rstrip("\n").split("\t", 3) for ln in open(a.plan) if ln.strip()]
    t0 = time.monotonic()
    bad = 0
    used: dict[str, int] = {}
    for section, name, limit, cmd in plan:
        used[section] = used.get(section, 0) + int(limit)
        ok, why = check(shlex.split(cmd), int(limit))
        bad += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {section:<12} {name:<18} {why}")
    for section, limit in sections:
        if used.get(section, 0) > limit:
            bad += 1
            print(f"FAIL {section:<12} {'limits':<18} its commands' limits add up to {used[section]} s > {limit} s")
    total = sum(limit for _, limit in sections)
    if total > a.total:
        bad += 1
        print(f"FAIL {'profile':<12} {'limits':<18} sections add up to {total} s > DEVICE_CHECK_LIMIT {a.total} s")
    print(f"dry run of the {a.profile} profile: {len(plan)} command(s) in {len(sections)} section(s), "
          f"limits {total} s of {a.total} s, {bad} problem(s), checked in {time.monotonic() - t0:.0f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
