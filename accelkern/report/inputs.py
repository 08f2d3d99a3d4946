"""The report's inputs: results .jsonl files (or directories holding them) read tolerantly, grouped into runs.

A damaged line does not lose the rest of a file: it is named (file and line number) on the page and on
stderr. Files of one device, host and date form one run; two runs are shown side by side.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from accelkern.errors import AccelkernError
from accelkern import results
from accelkern.results import RunHeader

# run-environment fields every row repeats (results.RunHeader.ROW_ENV): a header can be rebuilt from them
ENV_FIELDS = RunHeader.ROW_ENV


@dataclass
class Source:
    """One results file: its header (or one rebuilt from the rows' environment fields), rows, problems."""
    path: str
    header: dict | None
    rows: list
    problems: list = field(default_factory=list)    # 'file line N: why', for the page and stderr
    env: dict = field(default_factory=dict)         # device, sms, ... as the first row repeats them

    @property
    def device(self) -> str | None:
        return (self.header or {}).get("device") or self.env.get("device")


def read_sources(path: str) -> list[Source]:
    """results.read_results (every unusable line named, with its number): one Source per run the file holds
    (a run appended to an --out DIR that held an earlier one is a run of its own), the file's problems on the
    first."""
    res = results.read_results(path)
    problems = [f"{path} {p}" for p in res.problems]
    if len(res.runs) < 2:
        return [Source(path, res.header, res.rows, problems, res.env)]
    return [Source(f"{path} (run {i} of {len(res.runs)}, line {run.line})", run.header, run.rows,
                   problems if i == 1 else [], run.env) for i, run in enumerate(res.runs, 1)]


def read_results(path: str) -> Source:
    """The latest run of a results file as a Source, with every problem of the file (read_sources gives all)."""
    sources = read_sources(path)
    last = sources[-1]
    return Source(path, last.header, last.rows, sources[0].problems, last.env)


def find_files(inputs: list[str]) -> list[str]:
    """The .jsonl files named, or found under the directories named (recursively, sorted), in input order."""
    out: list[str] = []
    for p in inputs:
        if os.path.isfile(p):
            found = [p]
        elif os.path.isdir(p):
            found = []
            for root, dirs, files in os.walk(p):
                dirs.sort()
                names = [f for f in sorted(files) if f.endswith(".jsonl")]
                if "fleet.jsonl" in names:   # the merged fleet file holds every fleet.rank<R>.jsonl's rows
                    names = [f for f in names if not (f.startswith("fleet.rank") and f != "fleet.jsonl")]
                found += [os.path.join(root, f) for f in names]
            if not found:
                raise AccelkernError(f"{p}: no accelkern results (.jsonl) in this directory; give an --out DIR of "
                                     "an accelkern command (validate, gemm, mamf, peak, hbm, waves, fleet) or its "
                                     ".jsonl file")
        else:
            raise AccelkernError(f"{p}: no such file or directory")
        out += [f for f in found if f not in out]
    return out


def load(inputs: list[str]) -> list[Source]:
    """Every results file of the inputs; refuses (exit 2) when none of them holds a row."""
    if not inputs:
        raise AccelkernError("give at least one results .jsonl file or --out DIR")
    sources = []
    for path in find_files(inputs):
        try:
            sources += read_sources(path)
        except OSError as exc:
            raise AccelkernError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not any(s.rows for s in sources):
        names = ", ".join(inputs)
        problems = sum(len(s.problems) for s in sources)
        raise AccelkernError(f"no result rows in {names}" + (f" ({problems} unreadable line(s), e.g. "
                                                             f"{_first_problem(sources)})" if problems else "")
                             + "; expected the .jsonl an accelkern command writes with --out DIR")
    return [s for s in sources if s.rows or s.header or s.problems]


def _first_problem(sources):
    for s in sources:
        if s.problems:
            return s.problems[0]
    return ""


@dataclass
class Run:
    """The files of one device, host and date: one column of the page."""
    label: str
    sources: list

    @property
    def rows(self) -> list:
        return [r for s in self.sources for r in s.rows]

    @property
    def headers(self) -> list:
        return [s.header for s in self.sources if s.header]

    @property
    def header(self) -> dict:
        """The first file's header, or one rebuilt from the rows' environment fields."""
        for s in self.sources:
            if s.header:
                return s.header
        env = next((s.env for s in self.sources if s.env), {})
        kind = "cpu" if env.get("cuda") is None else "cuda"
        return {"command": "?", "device_kind": kind, **env}

    @property
    def problems(self) -> list:
        return [p for s in self.sources for p in s.problems]

    @property
    def date(self) -> str | None:
        times = sorted(h.get("time_utc") or "" for h in self.headers)
        return times[0][:10] if times and times[0] else None


RUN_GAP_S = 6 * 3600   # files of one device and host more than this apart (by header time) are separate runs


def _time(src: Source) -> float | None:
    from datetime import datetime
    t = (src.header or {}).get("time_utc")
    try:
        return datetime.fromisoformat(t).timestamp() if t else None
    except ValueError:
        return None


def group_runs(sources: list[Source], merge: bool = False) -> list[Run]:
    """Files grouped into runs: one device on one host, split where consecutive files (by header time) are more
    than RUN_GAP_S apart unless `merge`; in input order. At most two runs (shown side by side)."""
    by_machine: dict[tuple, list[Source]] = {}
    for s in sources:
        by_machine.setdefault((s.device, (s.header or {}).get("host")), []).append(s)
    groups: list[tuple[tuple, list[Source]]] = []
    for key, srcs in by_machine.items():
        timed = sorted((s for s in srcs if _time(s) is not None), key=_time)
        segments = [[]]
        for prev, cur in zip([None] + timed, timed):
            if prev is not None and not merge and _time(cur) - _time(prev) > RUN_GAP_S:
                segments.append([])
            segments[-1].append(cur)
        segments[0] = [s for s in srcs if _time(s) is None] + segments[0]
        for seg in segments:
            keep = [s for s in srcs if any(s is x for x in seg)]          # input order within a run
            groups.append((key, keep))
    if len(groups) > 2:
        what = "; ".join(f"{d or '?'} on {h or '?'} from {Run('', g).date or 'an unknown date'}"
                         for (d, h), g in groups)
        raise AccelkernError(f"the inputs hold {len(groups)} different runs ({what}); the report shows one run, "
                             "or two side by side: give the files of at most two (--merge joins runs of one device "
                             "and host made at different times)")
    runs = []
    for letter, ((device, host), srcs) in zip("AB", groups):
        run = Run("", srcs)
        label = (f"{device or 'unknown device'}" + (f" on {host}" if host else "")
                 + (f", {run.date}" if run.date else ""))
        run.label = f"{letter}: {label}" if len(groups) == 2 else label
        runs.append(run)
    return runs


def from_memory(header: RunHeader | dict, rows: list, path: str = "(this run)") -> Run:
    """A run made of rows still in memory (`accelkern validate --report`)."""
    from dataclasses import asdict, is_dataclass
    h = asdict(header) if is_dataclass(header) else dict(header)
    src = Source(path, h, list(rows))
    return Run(h.get("device") or "this run", [src])
