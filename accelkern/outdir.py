"""An output directory belongs to one run at a time: checked before anything is measured, then held with an
advisory lock (fcntl.flock on DIR/.accelkern.lock, released by the kernel when the process ends, however it
ends) that refuses a second writer in one line naming the run that holds it. A file a run reads is never one
it writes."""
from __future__ import annotations

import fcntl
import json
import os
import sys
from datetime import datetime

from accelkern.errors import AccelkernError
from accelkern.safe_io import WriteFailed, why

LOCK_NAME = ".accelkern.lock"
# set by a launcher that holds the lock for the processes it starts (the fleet's ranks): the directory's real path
HELD_ENV = "ACCELKERN_OUT_HELD"

_held: dict[str, int] = {}    # real path -> the lock file's descriptor, kept open for the process's life


def _writable_ancestor(path: str) -> str | None:
    """The nearest existing directory at or above `path`, when this process may create files in it."""
    probe = os.path.abspath(path)
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    return probe if os.path.isdir(probe) and os.access(probe, os.W_OK | os.X_OK) else None


def check_out_dir(out: str | None) -> None:
    """Refuses an --out that cannot be written, before anything is measured: '' , a file, a missing parent
    that cannot be made, or a read-only directory."""
    if out is None:
        return
    if not str(out).strip():
        raise AccelkernError("--out '': give a directory to write the results into (it is created if missing)")
    path = os.path.abspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        raise AccelkernError(f"--out {out}: exists and is not a directory")
    if _writable_ancestor(path) is None:
        probe = os.path.abspath(path)
        while not os.path.exists(probe):
            probe = os.path.dirname(probe)
        raise AccelkernError(f"--out {out}: cannot write there ({probe} is not a writable directory)")


def check_plot_path(path: str | None, option: str = "--plot") -> None:
    """Refuses a PNG path whose directory cannot be written, a directory, or an existing file that is not a
    PNG (a results file given by mistake is never drawn over), before anything is measured."""
    if not path:
        return
    bad = os.path.isdir(path) or _writable_ancestor(os.path.dirname(os.path.abspath(path))) is None
    if bad:
        raise AccelkernError(f"{option} {path}: cannot write a PNG there (give a file path in a writable directory)")
    if os.path.exists(path) and not path.lower().endswith(".png"):
        raise AccelkernError(f"{option} {path}: exists and is not a .png; it is not replaced (give a .png path)")


def claim(out: str | None, command: str) -> None:
    """Takes DIR's lock for the rest of this process, or refuses (exit 2) naming the run that holds it. The
    directory is created if missing."""
    if out is None:
        return
    real = os.path.realpath(out)
    if real in _held or os.environ.get(HELD_ENV) == real:
        return
    try:
        os.makedirs(real, exist_ok=True)
        fd = os.open(os.path.join(real, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WriteFailed(f"--out {out}: cannot create {os.path.join(out, LOCK_NAME)} ({why(exc)}); "
                          "nothing was measured") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _holder(fd)
        os.close(fd)
        raise AccelkernError(f"--out {out} is in use by another accelkern run ({holder}); a directory takes one "
                             "run at a time: wait for it to end or give another --out") from None
    _held[real] = fd
    note = {"pid": os.getpid(), "command": " ".join(["accelkern", *sys.argv[1:]]) or command,
            "started": datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(note) + "\n").encode(), 0)
    except OSError:
        pass   # the lock holds without its note (a full disk); a second run then names the pid unknown


def _holder(fd: int) -> str:
    try:
        note = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return f"pid {note['pid']}, `{note['command']}`, started {note['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its pid, command and start are unknown"


def held_env(out: str) -> dict:
    """The environment a launcher gives the processes it starts so that they write in the DIR it holds."""
    return {HELD_ENV: os.path.realpath(out)}


def refuse_reading_outputs(inputs: dict, outputs: list[str]) -> None:
    """Refuses (exit 2) a run that would write a file it reads: `inputs` maps an option ('--replay') to the
    path it reads, `outputs` lists the files the run writes."""
    for option, path in inputs.items():
        if not path or not os.path.exists(path):
            continue
        for out in outputs:
            if os.path.exists(out) and os.path.samefile(path, out):
                raise AccelkernError(f"{option} {path} is read by this run and {out} is written by it: a run never "
                                     "writes a file it reads; give another --out")


def release_all() -> None:
    """Lets go of every directory this process holds (at the end of a command; the process's end does too)."""
    for real, fd in list(_held.items()):
        try:
            os.close(fd)
        except OSError:
            pass
        _held.pop(real, None)
