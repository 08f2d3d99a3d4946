"""The one reader of results files. A file holds one run or several (each later run appended after the earlier
ones, starting with its own header line); every line that cannot be used is named by its 1-based number, and
every field is checked once (accelkern.results.fields), so no consumer meets NaN, text where a number belongs
or a record nested without end."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from accelkern.results import fields as checks
from accelkern.results.schema import RunHeader


@dataclass
class RecordedRun:
    """One run of a results file: its header (None when the file starts with rows), its rows, the run
    environment its first row repeats, and the line its header (or first row) is on."""
    header: dict | None
    rows: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    line: int = 1


@dataclass
class ResultsFile:
    """A results file as read: every run in it (oldest first) and each line that could not be used. header,
    rows and env are those of the latest run."""
    path: str
    runs: list
    problems: list
    skipped: set = field(default_factory=set)    # numbers of the lines named in problems

    @property
    def latest(self) -> RecordedRun:
        return self.runs[-1] if self.runs else RecordedRun(None)

    @property
    def header(self) -> dict | None:
        return self.latest.header

    @property
    def rows(self) -> list:
        return self.latest.rows

    @property
    def env(self) -> dict:
        return self.latest.env

    def name(self, line: int, why: str) -> None:
        self.problems.append(f"line {line}: {why}")
        self.skipped.add(line)

    def which(self) -> str:
        """'' for a file of one run, else which run header/rows/env are ('the latest of 3 runs (line 40)')."""
        if len(self.runs) < 2:
            return ""
        return f"the latest of its {len(self.runs)} runs (line {self.latest.line})"


def _record(raw: bytes):
    """The JSON object on one line, or why there is none."""
    try:
        return json.loads(raw), None
    except RecursionError:
        return None, "nested too deeply"
    except (ValueError, UnicodeDecodeError) as exc:   # JSONDecodeError, and ints past Python's digit limit
        return None, f"not JSON ({str(exc).splitlines()[0][:80]})"


def parse_results(path: str, data: bytes) -> ResultsFile:
    """A ResultsFile from a results file's bytes (read_results reads the file)."""
    lines = data.split(b"\n")
    torn_tail = bool(lines) and lines[-1].strip() != b""
    res = ResultsFile(path, [], [])
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        rec, why = _record(raw)
        if why is not None and no == len(lines) and torn_tail:
            why = "torn last line (the writer was stopped mid-line)"
        elif why is None and not isinstance(rec, dict):
            why = f"a JSON {type(rec).__name__}, not a record"
        if why is not None:
            res.name(no, f"{why}; ignored")
            continue
        kind = rec.pop("type", None)
        if kind == "header":
            bad = checks.header_problem(rec)
            if bad:
                res.name(no, f"{bad}; the rows after it are read without a header")
                rec = None
            res.runs.append(RecordedRun(rec, line=no))
        elif kind == "row":
            bad = checks.row_problem(rec)
            if bad:
                res.name(no, f"{bad}; row ignored")
                continue
            if not res.runs:
                res.runs.append(RecordedRun(None, line=no))
            run = res.runs[-1]
            if not run.env:
                run.env = {k: rec[k] for k in RunHeader.ROW_ENV if rec.get(k) is not None
                           and checks.value_problem(checks.HEADER_KINDS[k], rec[k]) is None}
            run.rows.append(checks.as_row(rec))
        else:
            res.name(no, f"record type {str(kind)[:40]!r} is neither 'header' nor 'row'; ignored")
    return res


def read_results(path: str) -> ResultsFile:
    """Reads a results .jsonl without dropping anything silently: every unusable line is named in `problems`
    ('line 7: value 'abc' is not a number; row ignored'), a torn last line included. OSError when the file
    cannot be read."""
    with open(path, "rb") as f:
        data = f.read()
    return parse_results(path, data)


def read_jsonl(path: str) -> tuple[dict | None, list]:
    """(header dict, rows) of the latest run of a results file; unusable lines are left out (read_results
    names them)."""
    r = read_results(path)
    return r.header, r.rows
