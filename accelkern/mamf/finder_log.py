"""Reading mamf-finder logs (benchmark versions 1-2): the per-shape lines

     3 |  807.9(mean)  814.1(median)  821.5(max) @ 2048x2048x16384      | best:  807.9(mean) ... TFLOPS

and the header's dtype and device facts (name, multi_processor_count, L2_cache_size). The live display's
carriage returns count as line breaks. A line that starts like a shape line ('N |' or with '(mean)') but
does not parse is an error naming its line number; other lines (warm-up messages, library chatter, the
summary) are skipped.
"""
from __future__ import annotations

import re

from accelkern.errors import AccelkernError

_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)"
SHAPE_LINE = re.compile(rf"^\s*(\d+)\s*\|\s*{_NUM}\s*\(mean\)\s*{_NUM}\s*\(median\)\s*{_NUM}\s*\(max\)\s*@\s*"
                        r"(\d+)\s*x\s*(\d+)\s*x\s*(\d+)\s*(?:\|.*)?$", re.IGNORECASE)
LOOKS_LIKE_SHAPE = re.compile(r"^\s*\d+\s*\||\(mean\)", re.IGNORECASE)
DTYPE_LINE = re.compile(r"^\*\*\s*Dtype:\s*(?:torch\.)?(\w+)", re.IGNORECASE)
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32",
           "float8_e4m3fn": "fp8", "float8_e4m3fnuz": "fp8", "int8": "int8"}


def _lines(text: str):
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse(text: str, path: str = "log") -> dict:
    """{'points': [(m, n, k, mean, median, max, line_no)], 'dtype', 'device', 'sms', 'l2_bytes', 'notes'}."""
    out = {"points": [], "dtype": None, "device": None, "sms": None, "l2_bytes": None, "notes": []}
    for no, line in enumerate(_lines(text), 1):
        m = DTYPE_LINE.match(line.strip())
        if m:
            name = m.group(1).lower()
            out["dtype"] = _DTYPES.get(name)
            if out["dtype"] is None:
                out["notes"].append(f"dtype {name} of the log is not one mamf measures")
            continue
        if "multi_processor_count=" in line or "L2_cache_size=" in line or "name='" in line:
            _device_facts(line, out)
            if not LOOKS_LIKE_SHAPE.search(line):
                continue
        if not LOOKS_LIKE_SHAPE.search(line):
            continue
        if line.lstrip().lower().startswith(("mean:", "median:", "max:")):
            continue   # the closing summary repeats the best shape
        sm = SHAPE_LINE.match(line)
        if not sm:
            raise AccelkernError(f"{path} line {no}: malformed shape line {line.strip()[:80]!r} (expected "
                                 f"'N | X(mean) Y(median) Z(max) @ MxNxK | ...')")
        mean, median, mx = (float(sm.group(i)) for i in (2, 3, 4))
        m_, n_, k_ = (int(sm.group(i)) for i in (5, 6, 7))
        if not (mean > 0 and min(m_, n_, k_) > 0):
            raise AccelkernError(f"{path} line {no}: shape {m_}x{n_}x{k_} with mean {sm.group(2)} TFLOPS: "
                                 f"sizes and throughput must be positive")
        out["points"].append((m_, n_, k_, mean, median, mx, no))
    return out


def _device_facts(line: str, out: dict):
    m = re.search(r"name='([^']+)'", line)
    if m:
        out["device"] = m.group(1)
    m = re.search(r"multi_processor_count=(\d+)", line)
    if m:
        out["sms"] = int(m.group(1))
    m = re.search(r"L2_cache_size=(\d+)\s*(MB|KB|B)?", line)
    if m:
        out["l2_bytes"] = int(m.group(1)) << {"MB": 20, "KB": 10}.get(m.group(2) or "B", 0)
