"""Parsing and formatting of sizes and shapes shared by every command (bytes are exact integers)."""
from __future__ import annotations

import re

from accelkern.errors import AccelkernError

_SIZE_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
               "t": 10**12, "tb": 10**12, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int:
    """'2GiB' -> 2147483648, '512MiB', '1.5GB', '4096' (bytes). Binary (KiB/MiB/GiB) and decimal (KB/MB/GB)."""
    m = _SIZE_RE.match(str(text))
    unit = m.group(2).lower() if m else None
    if not m or unit not in _SIZE_UNITS:
        raise AccelkernError(f"size '{text}' not understood; use e.g. 4096, 512MiB, 2GiB, 1.5GB")
    value = float(m.group(1)) * _SIZE_UNITS[unit]
    if value < 1 or value != int(value):
        raise AccelkernError(f"size '{text}' must be a positive whole number of bytes")
    return int(value)


def format_bytes(n: float) -> str:
    """Binary units, 3 significant digits: 2147483648 -> '2GiB', 1536 -> '1.5KiB'."""
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{int(n)}B"


def parse_gemm_shape(text: str) -> tuple[int, int, int]:
    """'8192x8192x8192' (M x N x K) -> (8192, 8192, 8192); every size a positive integer."""
    parts = str(text).lower().replace("*", "x").split("x")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise AccelkernError(f"shape '{text}' not understood; use MxNxK with positive integers, e.g. 8192x8192x8192")
    m, n, k = (int(p) for p in parts)
    if min(m, n, k) <= 0:
        raise AccelkernError(f"shape '{text}': M, N and K must be positive")
    return m, n, k


def split_list(text: str | None) -> list[str]:
    """'bf16, fp8,,int8' -> ['bf16', 'fp8', 'int8']."""
    return [p.strip() for p in (text or "").split(",") if p.strip()]
