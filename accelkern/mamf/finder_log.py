"""Reading mamf-finder logs (benchmark versions 1-2): the per-shape lines

     3 |  807.9(mean)  814.1(median)  821.5(max) @ 2048x2048x16384      | best:  807.9(mean) ... TFLOPS

and the header's dtype and device facts (name, multi_processor_count, L2_cache_size). The live display's
carriage returns count as line breaks. A damaged shape line (one that starts like a shape line, 'N |' or with
'(mean)', but does not parse, or whose throughput is not a positive finite number, like 'inf(mean)') is
named by its line number in the notes and skipped; other lines (warm-up messages, library chatter, the
summary) are skipped silently.
"""
from __future__ import annotations

import math
import re


_NUM = r"([-+]?(?:\d{1,30}(?:\.\d{0,30})?|\.\d{1,30})(?:[eE][-+]?\d{1,3})?|nan|inf(?:inity)?)"
SHAPE_LINE = re.compile(rf"^\s*(\d+)\s*\|\s*{_NUM}\s*\(mean\)\s*{_NUM}\s*\(median\)\s*{_NUM}\s*\(max\)\s*@\s*"
                        r"(\d{1,9})\s*x\s*(\d{1,9})\s*x\s*(\d{1,9})\s*(?:\|.*)?$", re.IGNORECASE | re.ASCII)
LOOKS_LIKE_SHAPE = re.compile(r"^\s*\d+\s*\||\(mean\)", re.IGNORECASE)
NAMED = 5   # damaged lines named one by one in the notes; the rest are counted
DTYPE_LINE = re.compile(r"^\*\*\s*Dtype:\s*(?:torch\.)?(\w+)", re.IGNORECASE)
_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float": "fp32",
           "float8_e4m3fn": "fp8", "float8_e4m3fnuz": "fp8", "int8": "int8"}


def _lines(text: str):
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse(text: str, path: str = "log") -> dict:
    """{'points': [(m, n, k, mean, median, max, line_no)], 'dtype', 'device', 'sms', 'l2_bytes', 'notes'}."""
    out = {"points": [], "dtype": None, "device": None, "sms": None, "l2_bytes": None, "notes": []}
    damaged: list[str] = []
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
            damaged.append(f"line {no}: malformed shape line {line.strip()[:80]!r} (expected "
                           "'N | X(mean) Y(median) Z(max) @ MxNxK | ...'); skipped")
            continue
        mean, median, mx = (float(sm.group(i)) for i in (2, 3, 4))
        m_, n_, k_ = (int(sm.group(i)) for i in (5, 6, 7))
        if not (all(math.isfinite(v) for v in (mean, median, mx)) and mean > 0 and min(m_, n_, k_) > 0):
            damaged.append(f"line {no}: shape {m_}x{n_}x{k_} with {sm.group(2)}(mean) {sm.group(3)}(median) "
                           f"{sm.group(4)}(max) TFLOPS: sizes and throughput must be positive finite numbers; "
                           "skipped")
            continue
        out["points"].append((m_, n_, k_, mean, median, mx, no))
    out["notes"] += damaged[:NAMED] + ([f"{len(damaged) - NAMED} more damaged shape line(s) skipped"]
                                       if len(damaged) > NAMED else [])
    return out


def _device_facts(line: str, out: dict):
    m = re.search(r"name='([^']+)'", line)
    if m:
        out["device"] = m.group(1)
    m = re.search(r"multi_processor_count=([0-9]{1,9})\b", line)
    if m:
        out["sms"] = int(m.group(1))
    m = re.search(r"L2_cache_size=([0-9]{1,12})\s*(MB|KB|B)?", line)
    if m:
        out["l2_bytes"] = int(m.group(1)) << {"MB": 20, "KB": 10}.get(m.group(2) or "B", 0)
