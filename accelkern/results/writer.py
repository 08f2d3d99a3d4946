"""The one results writer. A run is appended to DIR/<stem>.jsonl, never written over an earlier one: the file
keeps every earlier run and this one follows with its own header line; <stem>.csv and <stem>.md get this
run's rows after the earlier runs' (replaced whole, through a temporary file and a rename). Each row is one
write of a complete line, synced, so Ctrl-C, a kill or a full disk keeps every finished row. A write the file
system refuses does not stop the run: the rows stay in memory for the table, and `account()` says what could
not be written and what was kept."""
from __future__ import annotations

import json
import os
from dataclasses import asdict

from accelkern import safe_io
from accelkern.results.schema import RunHeader, progress, row_record, to_csv

HEADER_START = b'{"type": "header"'


class ResultWriter:
    """Streams one run's rows to DIR/<stem>.jsonl (opened at the first row: a run that measured nothing writes
    nothing); close() appends the run to <stem>.csv and, when given its markdown, to <stem>.md."""

    def __init__(self, out_dir: str | None, header: RunHeader, stem: str = "results"):
        self.header = header
        self.rows: list = []
        self.out_dir = out_dir
        self.stem = stem
        self.jsonl_path = os.path.join(out_dir, f"{stem}.jsonl") if out_dir else None
        self._fd = None
        self._created = False
        self.opened = False
        self.written = 0             # rows of this run in the JSONL
        self.earlier_runs = 0        # runs the JSONL held before this one
        self.failures: list[str] = []
        self.files: list[str] = []   # files this run wrote to

    def _open(self):
        self.opened = True
        os.makedirs(self.out_dir, exist_ok=True)
        self._created = not os.path.exists(self.jsonl_path)
        self._fd = os.open(self.jsonl_path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        cut = safe_io.trim_torn_tail(self._fd)
        if cut:
            progress(f"{self.jsonl_path}: its last line was torn (an earlier writer stopped mid-line): "
                     f"{cut} bytes trimmed")
        size = os.fstat(self._fd).st_size
        self.earlier_runs = sum(1 for line in os.pread(self._fd, size, 0).split(b"\n")
                                if line.startswith(HEADER_START)) if size else 0
        if size:
            progress(f"{self.jsonl_path} holds {self.earlier_runs or 'an'} earlier run(s): this run is appended "
                     "after them (nothing is overwritten)")
        self.files.append(self.jsonl_path)
        safe_io.append_line(self._fd, _line({"type": "header", **asdict(self.header)}))

    def write(self, row):
        self.rows.append(row)
        if self.jsonl_path and not self.failures:
            try:
                if not self.opened:
                    self._open()
                safe_io.append_line(self._fd, _line(row_record(row, self.header)))
                self.written += 1
            except OSError as exc:
                self._failed(self.jsonl_path, exc)
        return row

    def _failed(self, path: str, exc: OSError, running: bool = True):
        self.failures.append(f"{path} ({safe_io.why(exc)})")
        if running:
            progress(f"could not write {path}: {safe_io.why(exc)}; the run goes on and keeps its rows for the table")

    def close(self, markdown: str | None = None):
        """Closes the JSONL and appends the run to the CSV and, when given, the markdown (rendered by
        accelkern.tables, which builds on this package, never the other way)."""
        if self._fd is not None:
            empty = os.fstat(self._fd).st_size == 0
            os.close(self._fd)
            self._fd = None
            if empty and self._created:   # made by this run, which could write nothing into it
                os.unlink(self.jsonl_path)
        if not self.opened:
            return
        self.opened = False
        base = os.path.join(self.out_dir, self.stem)
        parts = [(f"{base}.csv", lambda old: _append_csv(old, to_csv(self.rows, self.header)))]
        if markdown is not None:
            parts.append((f"{base}.md", lambda old: old.rstrip("\n") + "\n\n" + markdown if old.strip() else markdown))
        for path, merge in parts:
            try:
                safe_io.atomic_write(path, merge(_read_text(path)))
                self.files.append(path)
            except OSError as exc:
                self._failed(path, exc, running=False)

    def account(self, where: str = "printed above") -> str | None:
        """None when every write succeeded; else one line: what could not be written and what was kept."""
        if not self.failures:
            return None
        kept = (f"{self.jsonl_path} keeps {self.written} of this run's {len(self.rows)} row(s)"
                + (f" after its {self.earlier_runs} earlier run(s)" if self.earlier_runs else ""))
        return (f"could not write {'; '.join(self.failures)}; kept: {kept}; every row of this run is {where}")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _line(obj: dict) -> bytes:
    return (json.dumps(obj, default=str) + "\n").encode()


def _read_text(path: str) -> str:
    """The file's text, '' when there is none (an unreadable file raises: it must not be replaced)."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _append_csv(old: str, new: str) -> str:
    """The earlier runs' CSV and then this run's rows (its own column line too when the columns differ)."""
    if not old.strip():
        return new
    if not old.endswith("\n"):
        old += "\r\n"
    head, _, body = new.partition("\n")
    return old + (body if old.partition("\n")[0] == head else "\r\n" + new)
