"""The one results schema: a run header and rows, and their JSON and CSV forms.

Throughput units: TFLOPS (1e12 FLOP/s, TOPS for int8) or TB/s (1e12 bytes/s); times in ms.
"""
from __future__ import annotations

import csv
import io
import json
import math
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


def progress(msg: str):
    """One progress line on stderr (stdout stays clean for tables and --json/--csv)."""
    try:
        print(msg, file=sys.stderr, flush=True)
    except OSError:
        pass   # stderr itself cannot be written (a full disk, a closed pipe): the results do not depend on it
