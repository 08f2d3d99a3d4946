"""The one results schema: a run header and rows. JSONL written one complete line per row and flushed,
so Ctrl-C or a crash keeps every finished row; CSV and markdown rendered atomically at the end.

Throughput units: TFLOPS (1e12 FLOP/s, TOPS for int8) or TB/s (1e12 bytes/s); times in ms.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import socket
import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone

SCHEMA_VERSION = 1


@dataclass
class RunHeader:
    command: str
    device: str
    device_kind: str
    sms: int | None = None
    compute_capability: str | None = None
    driver: str | None = None
    cuda: str | None = None
    torch: str | None = None
    cublaslt: str | None = None
    accelkern: str | None = None
    extension: str | None = None
    spec: str | None = None
    spec_source: str | None = None
    nvml: str | None = None
    cpu: str | None = None              # CPU runs: microarchitecture, cores, ISA, caches, nominal clock
    host: str = field(default_factory=socket.gethostname)
    python: str = field(default_factory=platform.python_version)
    time_utc: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    schema: int = SCHEMA_VERSION

    # fields repeated on every row, so a CSV line stands alone
    ROW_ENV = ("device", "sms", "driver", "cuda", "torch", "accelkern")

    def env(self) -> dict:
        return {k: getattr(self, k) for k in self.ROW_ENV}


@dataclass
class Row:
    suite: str                          # capability: gemm, hbm, peak, waves, mamf, ...
    name: str                           # what was run: 'torch.mm', 'copy', 'cublasLt', ...
    status: str = "ok"                  # ok | skipped | failed
    dtype: str | None = None
    shape: str | None = None            # 'MxNxK', or a byte size for memory rows
    layout: str | None = None
    backend: str | None = None
    kernel: str | None = None           # kernel or algorithm id
    config: dict = field(default_factory=dict)  # tile, stages, cluster, split-K, launch shape ...
    # timing (per call)
    samples: int | None = None
    median_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    mean_ms: float | None = None
    rel_stddev: float | None = None
    median_rel_stderr: float | None = None
    converged: bool | None = None
    stop_reason: str | None = None
    timer: str | None = None            # cuda_events | host
    criterion: str | None = None        # stopping rule that decided: nvbench | median-stderr (timing.StopRule)
    busy_fraction: float | None = None  # summed call time / span of the timed part (1 = never idle)
    # work and throughput (from the median time unless named *_best)
    flops: float | None = None
    bytes_read: float | None = None
    bytes_written: float | None = None
    metric: str | None = None           # 'TFLOPS' | 'TB/s'
    value: float | None = None
    value_best: float | None = None     # from the fastest sample
    one_direction: float | None = None  # memory: bytes copied (one direction) per second, TB/s
    spec_value: float | None = None
    pct_of_spec: float | None = None
    theoretical_value: float | None = None   # e.g. memory clock x bus width x 2
    pct_of_theoretical: float | None = None
    clock_peak: float | None = None     # architectural peak at the observed SM clock
    pct_of_clock_peak: float | None = None
    flop_per_clk_per_sm: float | None = None
    # correctness
    correct: bool | None = None
    max_error: float | None = None
    tolerance: float | None = None
    # telemetry while it ran
    sm_clock_mean_mhz: float | None = None
    sm_clock_min_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    mem_clock_mean_mhz: float | None = None
    power_mean_w: float | None = None
    power_max_w: float | None = None
    power_limit_w: float | None = None
    temp_max_c: float | None = None
    throttle: str | None = None
    note: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


ROW_FIELDS = tuple(f.name for f in fields(Row))


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def row_record(row: Row, header: RunHeader | None) -> dict:
    rec = {"type": "row"}
    if header is not None:
        rec.update(header.env())
    rec.update({k: _clean(v) for k, v in row.to_dict().items()})
    return rec


class ResultWriter:
    """Streams rows to DIR/results.jsonl (one os.write per complete line, flushed and fsynced);
    close() renders results.csv and results.md via temp files and rename."""

    def __init__(self, out_dir: str | None, header: RunHeader, stem: str = "results"):
        self.header = header
        self.rows: list[Row] = []
        self.out_dir = out_dir
        self.stem = stem
        self._fd = None
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
            self.jsonl_path = os.path.join(out_dir, f"{stem}.jsonl")
            self._fd = os.open(self.jsonl_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self._write_line({"type": "header", **asdict(header)})

    def _write_line(self, obj: dict):
        data = (json.dumps(obj, default=str) + "\n").encode()
        os.write(self._fd, data)
        os.fsync(self._fd)

    def write(self, row: Row) -> Row:
        self.rows.append(row)
        if self._fd is not None:
            self._write_line(row_record(row, self.header))
        return row

    def close(self, markdown: str | None = None):
        """Closes the JSONL and writes the CSV and, when given, the markdown (rendered by accelkern.tables,
        which builds on this module, never the other way)."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        _atomic_write(os.path.join(self.out_dir, f"{self.stem}.csv"), to_csv(self.rows, self.header))
        if markdown is not None:
            _atomic_write(os.path.join(self.out_dir, f"{self.stem}.md"), markdown)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _atomic_write(path: str, text: str):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def to_csv(rows: list[Row], header: RunHeader | None = None) -> str:
    buf = io.StringIO()
    env_cols = list(RunHeader.ROW_ENV) if header else []
    w = csv.DictWriter(buf, fieldnames=env_cols + list(ROW_FIELDS), extrasaction="ignore")
    w.writeheader()
    for r in rows:
        rec = row_record(r, header)
        rec["config"] = json.dumps(rec["config"], sort_keys=True) if rec["config"] else ""
        w.writerow(rec)
    return buf.getvalue()


def to_json(header: RunHeader, rows: list[Row]) -> str:
    return json.dumps({"header": asdict(header), "rows": [row_record(r, header) for r in rows]},
                      indent=2, default=str)


@dataclass
class ResultsFile:
    """A results file as read: its header (None when it has none), its rows, each line that could not be
    used (named by its 1-based line number), and the run environment the first row repeats."""
    path: str
    header: dict | None
    rows: list
    problems: list
    env: dict = field(default_factory=dict)


def read_results(path: str) -> ResultsFile:
    """Reads a results .jsonl without dropping anything silently: every unusable line is named in
    `problems` ('line 7: not JSON ...; ignored'), a torn last line (a writer killed mid-line) included."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    torn_tail = bool(lines) and lines[-1].strip() != b""
    res = ResultsFile(path, None, [], [])
    for no, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            why = ("torn last line (the writer was stopped mid-line)" if no == len(lines) and torn_tail
                   else f"not JSON ({exc})")
            res.problems.append(f"line {no}: {why}; ignored")
            continue
        if not isinstance(rec, dict):
            res.problems.append(f"line {no}: a JSON {type(rec).__name__}, not a record; ignored")
            continue
        kind = rec.pop("type", None)
        if kind == "header":
            if res.header is None:
                res.header = rec
            else:
                res.problems.append(f"line {no}: a second header; ignored")
        elif kind == "row":
            if not isinstance(rec.get("suite"), str) or not isinstance(rec.get("name"), str):
                res.problems.append(f"line {no}: a row without its suite and name; ignored")
                continue
            if not res.env:
                res.env = {k: rec.get(k) for k in RunHeader.ROW_ENV if rec.get(k) is not None}
            fields_ = {k: v for k, v in rec.items() if k in ROW_FIELDS}
            if not isinstance(fields_.get("config"), dict):
                fields_["config"] = {}
            try:
                res.rows.append(Row(**fields_))
            except TypeError as exc:
                res.problems.append(f"line {no}: not a results row ({exc}); ignored")
        else:
            res.problems.append(f"line {no}: record type {kind!r} is neither 'header' nor 'row'; ignored")
    return res


def read_jsonl(path: str) -> tuple[dict | None, list[Row]]:
    """(header dict, rows) from a results file; unusable lines are left out (read_results names them)."""
    r = read_results(path)
    return r.header, r.rows


def progress(msg: str):
    """One progress line on stderr (stdout stays clean for tables and --json/--csv)."""
    print(msg, file=sys.stderr, flush=True)
