"""The pytest side of a device check that fits its window: every GPU test's declared cost (tests/gpu_costs.py),
the `extended` mark from its tier, and with --deadline a run that orders tests most valuable first, starts
a test only when its declared cost still fits, and reports the others as not reached.

--run-log FILE gets one JSON line per test as it ends (outcome, declared and measured seconds, recorded
properties), flushed at once: a run killed from outside still leaves what finished, and
scripts/test_section_summary.py reads it whether or not the JUnit XML was written.
"""
from __future__ import annotations

import faulthandler
import fnmatch
import importlib.util
import json
import os
import signal
import sys
import time

import pytest

import gpu_costs

NOT_REACHED = "not reached: the section's deadline"
_HAVE_TIMEOUT_PLUGIN = importlib.util.find_spec("pytest_timeout") is not None
_STATE: dict = {}   # this session's config and declared seconds per node id (reports carry neither)


def cost_entry(name: str, case: str | None) -> tuple[int, float, str] | None:
    """(place in the table, seconds per case, tier) of a test function and its case id, or None."""
    for place, (key, (seconds, tier)) in enumerate(gpu_costs.COSTS.items()):
        base, _, pattern = key.partition("[")
        if base != name:
            continue
        if not pattern or (case is not None and fnmatch.fnmatchcase(case, pattern[:-1])):
            return place, seconds, tier
    return None


def _split(item) -> tuple[str, str | None]:
    name = getattr(item, "originalname", None) or item.name.split("[")[0]
    case = item.callspec.id if hasattr(item, "callspec") else None
    return name, case


def declared(item) -> tuple[int, float, str] | None:
    return getattr(item, "_gpu_cost", None)


def pytest_addoption(parser):
    g = parser.getgroup("gpu plan")
    g.addoption("--deadline", type=float, default=None,
                help="seconds after pytest starts by which the last test must end: tests run most valuable "
                     "first and one whose declared cost no longer fits is reported as not reached")
    g.addoption("--section-limit", type=float, default=None,
                help="the device check section's limit (s): the deadline is SECTION_EXIT_S inside it")
    g.addoption("--run-log", default=None, help="write one JSON line per finished test to this file")
    if not _HAVE_TIMEOUT_PLUGIN:   # the same option pytest-timeout has, done here
        g.addoption("--timeout", type=float, default=float(os.environ.get("ACCELKERN_TEST_TIMEOUT", 0)),
                    help="fail a test that runs longer than this many seconds (0: no limit)")


def pytest_configure(config):
    config.addinivalue_line("markers", "extended: a GPU test run only by device_check's tests_extended section")
    config._gpu_plan_start = time.monotonic()
    _STATE["config"] = config
    path = config.getoption("--run-log")
    config._gpu_plan_log = open(path, "w", buffering=1) if path else None
    if config._gpu_plan_log:
        _log(config, {"event": "start", "deadline_s": deadline_s(config)})


def pytest_unconfigure(config):
    f = getattr(config, "_gpu_plan_log", None)
    if f:
        _log(config, {"event": "end", "elapsed_s": round(time.monotonic() - config._gpu_plan_start, 2)})
        f.close()


def _log(config, record: dict):
    f = getattr(config, "_gpu_plan_log", None)
    if f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Runs before -m deselects: the `extended` mark must exist when the marker expression is read."""
    for item in items:
        entry = cost_entry(*_split(item))
        item._gpu_cost = entry
        if entry and entry[2] == gpu_costs.EXTENDED:
            item.add_marker(pytest.mark.extended)
    if deadline_s(config) is not None:
        order = {id(it): (declared(it)[0] if declared(it) else len(gpu_costs.COSTS), i)
                 for i, it in enumerate(items)}
        items.sort(key=lambda it: order[id(it)])


def pytest_collection_finish(session):
    _STATE["declared"] = {it.nodeid: (declared(it)[1] if declared(it) else None) for it in session.items}
    if getattr(session.config, "_gpu_plan_log", None):
        _log(session.config, {"event": "collected", "tests": [it.nodeid for it in session.items],
                              "declared_s": [declared(it)[1] if declared(it) else None for it in session.items]})


def deadline_s(config) -> float | None:
    """Seconds after pytest started by which the last test must end (--deadline, or --section-limit less
    gpu_costs.SECTION_EXIT_S), or None."""
    limit = config.getoption("--section-limit")
    if limit is not None:
        return limit - gpu_costs.SECTION_EXIT_S
    return config.getoption("--deadline")


def seconds_left(config) -> float | None:
    deadline = deadline_s(config)
    if deadline is None:
        return None
    return deadline - (time.monotonic() - config._gpu_plan_start)


def pytest_runtest_setup(item):
    left = seconds_left(item.config)
    if left is None:
        return
    cost = declared(item)[1] if declared(item) else 0.0
    if cost > left:
        pytest.skip(f"{NOT_REACHED} ({cost:g} s declared, {max(left, 0):.1f} s left)")


def _timeout_plugin(config) -> bool:
    return config.pluginmanager.hasplugin("timeout")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """With pytest-timeout installed, the time left to the deadline becomes the test's timeout marker
    (read by pytest-timeout's own wrapper, which runs inside this one)."""
    left = seconds_left(item.config) if _timeout_plugin(item.config) else None
    if left is not None and left > 0:
        configured = item.config.getoption("--timeout", None) or 0
        item.add_marker(pytest.mark.timeout(min(configured, left) if configured else left, method="signal"))
    yield


class PastLimit(Exception):
    """A test still running at --timeout or at the section's deadline."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """One SIGALRM for both limits: --timeout (when pytest-timeout is not installed) and the deadline, so a
    hung or slow test fails and pytest still ends and writes its report; a hang inside C code that the
    signal cannot interrupt gets its stacks dumped 30 s later."""
    if _timeout_plugin(item.config):   # pytest-timeout owns SIGALRM then: the deadline reaches it as a marker
        yield
        return
    timeout = item.config.getoption("--timeout") or 0
    left = seconds_left(item.config)
    limits = [(timeout, f"ran longer than --timeout={timeout:g} s")] if timeout else []
    if left is not None:
        limits.append((max(left, 0.5), "was still running at the section's deadline"))
    if not limits or not hasattr(signal, "SIGALRM"):
        yield
        return
    limit, why = min(limits)

    def expire(signum, frame):
        raise PastLimit(f"{item.nodeid} {why}")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    faulthandler.dump_traceback_later(limit + 30, exit=False, file=sys.stderr)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        faulthandler.cancel_dump_traceback_later()


def pytest_runtest_logstart(nodeid, location):
    """A test that starts and never reports was running when the process died: the summary says which."""
    config = _STATE.get("config")
    if config is not None and getattr(config, "_gpu_plan_log", None):
        _log(config, {"event": "begin", "nodeid": nodeid})


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed") or \
            (report.when == "teardown" and report.outcome == "failed"):
        config = _STATE.get("config")
        if not config or not getattr(config, "_gpu_plan_log", None):
            return
        outcome = report.outcome
        reason = None
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
            if getattr(report, "wasxfail", None) is not None:
                outcome, reason = "xfailed", report.wasxfail
            elif reason.startswith(NOT_REACHED):
                outcome = "not_reached"
        elif report.failed and report.when != "call":
            outcome = "error"
        elif report.passed and getattr(report, "wasxfail", None) is not None:
            outcome = "xpassed"
        _log(config, {"event": "test", "nodeid": report.nodeid, "when": report.when, "outcome": outcome,
                      "reason": reason, "seconds": round(report.duration, 3),
                      "declared_s": _STATE.get("declared", {}).get(report.nodeid),
                      "properties": dict(report.user_properties)})


