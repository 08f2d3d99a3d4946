"""Parsing and formatting of sizes and shapes shared by every command (bytes are exact integers)."""
from __future__ import annotations

import re

from accelkern.errors import AccelkernError

_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
               "t": 10**12, "tb": 10**12, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d{1,30}(?:\.\d{1,30})?)\s*([a-zA-Z]*)\s*$", re.ASCII)
MAX_DIGITS = 18   # a whole number on the command line or in a file: past 10^18 it is a typo, not a size


def is_digits(text: str) -> bool:
    """True for a non-empty run of ASCII digits 0-9 ('²56', '٣' and '1_000' are not), short enough to be a size."""
    return text.isascii() and text.isdigit() and len(text) <= MAX_DIGITS


def parse_size(text: str) -> int:
    """'2GiB' -> 2147483648, '512MiB', '1.5GB', '4096' (bytes). Binary (KiB/MiB/GiB) and decimal (KB/MB/GB)."""
    m = _SIZE_RE.match(str(text)) if str(text).isascii() else None
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS:
        raise AccelkernError(f"size '{text}' not understood; use e.g. 4096, 512MiB, 2GiB, 1.5GB")
    value = float(m.group(1)) * _SIZE_UNITS[unit]
    if value < 1 or value != int(value):
        raise AccelkernError(f"size '{text}' must be a positive whole number of bytes")
    return int(value)


def format_bytes(n: float) -> str:
    """Binary units, up to 4 significant figures, a space before the unit: 2147483648 -> '2 GiB',
    1536 -> '1.5 KiB', 189812480 -> '181 MiB', 1000 -> '1000 B'."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.4g} {unit}"
    return f"{int(n)} B"


# throughput metrics as rows store them (1e12 per second) and the base unit they scale
_RATE_BASE = {"TFLOPS": ("FLOPS", 1e12), "TOPS": ("OPS", 1e12), "TB/s": ("B/s", 1e12), "GB/s": ("B/s", 1e9)}
_PREFIXES = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3))   # never above the stored unit


def format_value(value: float | None, metric: str | None = None, digits: int = 4) -> str:
    """A measured value with 4 significant figures and a scaled unit instead of an exponent:
    (9.84e-05, 'TFLOPS') -> '98.4 MFLOPS', (0.02633, 'TB/s') -> '26.33 GB/s', (1450.2, 'TFLOPS') ->
    '1450 TFLOPS' (never scaled above the stored unit, so GPU figures stay in the unit users quote)."""
    if value is None:
        return "-"
    base = _RATE_BASE.get(metric)
    if base is None or value == 0:
        return f"{value:.{digits}g}" + (f" {metric}" if metric else "")
    unit, scale = base
    absolute = abs(value) * scale
    fits = [(prefix, p) for prefix, p in _PREFIXES if p <= scale and absolute >= p]
    prefix, p = fits[0] if fits else ("", 1.0)
    return f"{value * scale / p:.{digits}g} {prefix}{unit}"


MAX_RANGE_POINTS = 100_000


def parse_int_values(text: str, what: str = "value") -> list[int]:
    """The one range convention of every command: 'N', 'N1,N2,...' or 'START:STOP:STEP' with STOP
    excluded, as Python's range and mamf-finder's ranges ('2048:16385:2048' ends at 16384).
    Every value a positive integer; `what` names the option in the error (e.g. '--m')."""
    raw = str(text).strip()
    if not raw:
        raise AccelkernError(f"{what}: empty; use N, N1,N2,... or START:STOP:STEP (STOP excluded)")
    if ":" in raw:
        parts = raw.split(":")
        if len(parts) != 3 or not all(is_digits(p.strip()) for p in parts):
            raise AccelkernError(f"{what} '{raw}': a range is START:STOP:STEP with positive integers, STOP "
                                 "excluded, e.g. 2048:16385:2048")
        start, stop, step = (int(p) for p in parts)
        if start < 1 or step < 1:
            raise AccelkernError(f"{what} '{raw}': START and STEP must be >= 1")
        if stop <= start:
            raise AccelkernError(f"{what} '{raw}': STOP must be > START (STOP is excluded)")
        count = -(-(stop - start) // step)
        if count > MAX_RANGE_POINTS:
            raise AccelkernError(f"{what} '{raw}': {count} points; at most {MAX_RANGE_POINTS}")
        return list(range(start, stop, step))
    values = []
    for p in raw.split(","):
        p = p.strip()
        if not p:
            continue
        if not is_digits(p) or int(p) < 1:
            raise AccelkernError(f"{what} '{raw}': '{p}' is not a positive integer; use N, N1,N2,... or "
                                 "START:STOP:STEP (STOP excluded)")
        values.append(int(p))
    if not values:
        raise AccelkernError(f"{what} '{raw}': no values")
    return values


def parse_gemm_shape(text: str) -> tuple[int, int, int]:
    """'8192x8192x8192' (M x N x K) -> (8192, 8192, 8192); every size a positive integer."""
    parts = str(text).lower().replace("*", "x").split("x")
    if len(parts) != 3 or not all(is_digits(p.strip()) for p in parts):
        raise AccelkernError(f"shape '{text}' not understood; use MxNxK with positive integers, e.g. 8192x8192x8192")
    m, n, k = (int(p) for p in parts)
    if min(m, n, k) <= 0:
        raise AccelkernError(f"shape '{text}': M, N and K must be positive")
    return m, n, k


def split_list(text: str | None) -> list[str]:
    """'bf16, fp8,,int8' -> ['bf16', 'fp8', 'int8']."""
    return [p.strip() for p in (text or "").split(",") if p.strip()]
