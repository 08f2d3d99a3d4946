"""Writes that go whole or not at all: a line appended in one write (cut back on failure), a file replaced
through a temporary file and a rename (the temporary removed on failure), and the one-line account of a
write the file system refused (full, read-only, I/O error)."""
from __future__ import annotations

import os
import tempfile

from accelkern.errors import EXIT_MEASUREMENT_FAILED, AccelkernError

# temporary files being written right now: removed by discard_temps() when the process must stop at once
_TEMPS: set[str] = set()


class WriteFailed(AccelkernError):
    """A results file could not be written: exit code 1 (what was measured is still printed)."""
    exit_code = EXIT_MEASUREMENT_FAILED


def why(exc: BaseException) -> str:
    """'No space left on device' for an OSError, else the exception's first line."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).splitlines()[0] if str(exc) else ""
    return text or type(exc).__name__


def append_line(fd: int, data: bytes) -> None:
    """Appends `data` (one complete line) in one write and syncs it; on any failure the file is cut back to
    its length before, so it never ends in part of a line (what cannot be cut now, the next open trims)."""
    start = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:    # one write; a short one (the disk filled) is followed by one that says why
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError:
        try:
            os.ftruncate(fd, start)
        except OSError:
            pass
        raise


def trim_torn_tail(fd: int) -> int:
    """Cuts a last line without its newline (a writer killed mid-line) off the file; returns the bytes cut."""
    size = os.fstat(fd).st_size
    pos = size
    while pos > 0:
        step = min(4096, pos)
        chunk = os.pread(fd, step, pos - step)
        nl = chunk.rfind(b"\n")
        if nl >= 0:
            pos = pos - step + nl + 1
            break
        pos -= step
    if pos != size:
        os.ftruncate(fd, pos)
    return size - pos


def atomic_write(path: str, data: bytes | str) -> None:
    """Replaces `path` with `data` through a temporary file in the same directory and a rename: a reader sees
    the old file or the new one, never part of one. On any failure the temporary is removed."""
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    _TEMPS.add(tmp)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fchmod(fd, 0o644)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        _TEMPS.discard(tmp)


def discard_temps() -> None:
    """Removes every temporary file still being written (before an immediate exit)."""
    for tmp in list(_TEMPS):
        try:
            os.unlink(tmp)
        except OSError:
            pass
