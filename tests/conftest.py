import faulthandler
import importlib.util
import os
import signal
import sys

import pytest

# pytest-timeout when installed; otherwise the same --timeout option, done here, so one hung GPU test cannot
# cost a device run its JUnit XML (SIGALRM fails the test; a hang inside C code gets its stacks dumped).
_HAVE_PLUGIN = importlib.util.find_spec("pytest_timeout") is not None


def pytest_addoption(parser):
    if not _HAVE_PLUGIN:
        parser.addoption("--timeout", type=float, default=float(os.environ.get("ACCELKERN_TEST_TIMEOUT", 0)),
                         help="fail a test that runs longer than this many seconds (0: no limit)")


def _cuda_available() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run scripts/device_check.sh on one)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


class PerTestTimeout(Exception):
    """A test ran past --timeout."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    limit = 0 if _HAVE_PLUGIN else (item.config.getoption("--timeout") or 0)
    if not limit or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise PerTestTimeout(f"{item.nodeid} ran longer than --timeout={limit:g} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    faulthandler.dump_traceback_later(limit + 30, exit=False, file=sys.stderr)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        faulthandler.cancel_dump_traceback_later()
