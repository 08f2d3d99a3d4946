"""SIGTERM and SIGHUP (what Slurm, Kubernetes and a closed terminal send) stop a command as Ctrl-C does: the
measurement in progress is abandoned, every finished row is kept, the table printed, the CSV and markdown
written, and the exit code is 128 + the signal (130 SIGINT, 143 SIGTERM, 129 SIGHUP). While that clean-up
runs a second signal is only acknowledged; a third stops at once (the JSONL already holds every finished row)."""
from __future__ import annotations

import contextlib
import os
import signal
import sys

from accelkern import safe_io

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_seen: list[int] = []
_deferring: list[bool] = []


class Stopped(KeyboardInterrupt):
    """A stop signal, raised where the program was; every `except KeyboardInterrupt` keeps its rows."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _on_signal(signum, frame):
    _seen.append(signum)
    if len(_seen) == 1:
        if _deferring:
            return          # raised when the deferred block ends
        raise Stopped(signum)
    if len(_seen) == 2:
        _say(f"accelkern: {signal.Signals(signum).name} again: still saving the finished rows (once more stops "
             "at once; the JSONL already holds every finished row)")
        return
    safe_io.discard_temps()
    _say("accelkern: stopped at once")
    os._exit(exit_code())


def install() -> dict:
    """Handles the stop signals (main thread only); returns the handlers it replaced, for restore()."""
    _seen.clear()
    previous = {}
    for sig in STOP_SIGNALS:
        try:
            previous[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):   # not the main thread: the caller's own handling stays
            pass
    return previous


def restore(previous: dict) -> None:
    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError, TypeError):
            pass


@contextlib.contextmanager
def deferred():
    """A block a first stop signal does not cut short (writing the files): Stopped is raised when it ends."""
    before = len(_seen)
    _deferring.append(True)
    try:
        yield
    finally:
        _deferring.pop()
    if before == 0 and _seen and not _deferring:
        raise Stopped(_seen[0])


def exit_code() -> int:
    """128 + the first stop signal received (130 when it was Ctrl-C, or when none was seen)."""
    return 128 + int(_seen[0]) if _seen else 128 + signal.SIGINT


def describe() -> str:
    """'interrupted' for Ctrl-C, else 'stopped by SIGTERM' (or SIGHUP)."""
    if not _seen or _seen[0] == signal.SIGINT:
        return "interrupted"
    return f"stopped by {signal.Signals(_seen[0]).name}"
