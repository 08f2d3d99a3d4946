"""The CPU compute kernels' check: every accumulator element must hold the value its chain must produce
after `updates` updates (csrc/cpu/peak/peak.h explains each rule). A corrupted element fails it.

  alternate  acc = -acc + c: start (updates even) or c - start (odd), exact for any count;
  wrap32     acc += step in int32: start + updates x step modulo 2^32, exact for any count;
  add        acc += step in fp32: start + updates x step, exact while the sum stays below 2^24 units
             (step_part); past that the fp32 sum stops growing, and the check can only say the values are
             finite and did grow ('bounded').
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUMPY_TYPES = {"f64": np.float64, "f32": np.float32, "f16": np.float16, "i32": np.int32}
FP32_EXACT_UNITS = 2 ** 24


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    exact: bool            # False: only finite-and-grew could be checked (an 'add' chain past its exact range)
    max_error: float       # largest |value - expected| (0 when exact and right)
    bad: int               # elements that failed
    detail: str

    @property
    def verdict(self) -> str:
        if not self.ok:
            return "wrong"
        return "exact" if self.exact else "bounded"


def values(raw: bytes, value_type: str) -> np.ndarray:
    return np.frombuffer(raw, dtype=NUMPY_TYPES[value_type])


def exact_limit(kernel, start: np.ndarray) -> int | None:
    """The most updates an 'add' chain stays exact for (None: any count)."""
    if kernel.check != "add":
        return None
    top_units = float(np.max(start)) / kernel.step_part if start.size else 0.0
    per_update = kernel.step / kernel.step_part
    return int((FP32_EXACT_UNITS - top_units) // per_update) - 1


def expected(kernel, start: np.ndarray, updates: int) -> np.ndarray:
    """What each element must hold after `updates` updates (an 'add' chain: the exact sum)."""
    t = start.dtype.type
    if kernel.check == "alternate":
        return start.copy() if updates % 2 == 0 else (t(kernel.step) - start).astype(start.dtype)
    if kernel.check == "wrap32":
        total = start.astype(np.int64) + np.int64(updates) * np.int64(kernel.step)
        return ((total + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)
    if kernel.check == "add":
        return start.astype(np.float64) + float(updates) * kernel.step
    raise ValueError(f"unknown check rule {kernel.check!r}")


def check(kernel, start_raw: bytes, final_raw: bytes, updates: int) -> CheckResult:
    """Compare one worker's accumulators after `updates` updates per accumulator with the rule."""
    start, final = values(start_raw, kernel.value_type), values(final_raw, kernel.value_type)
    if start.shape != final.shape:
        return CheckResult(False, True, float("inf"), max(start.size, final.size),
                           f"{final.size} values, expected {start.size}")
    limit = exact_limit(kernel, start)
    if limit is not None and updates > limit:
        f = final.astype(np.float64)
        bad = int(np.count_nonzero(~np.isfinite(f) | (f <= start.astype(np.float64))))
        return CheckResult(bad == 0, False, float("nan"), bad,
                           f"{updates:,} updates is past the {limit:,} an fp32 sum of this step keeps exact: "
                           f"checked finite and grown")
    want = expected(kernel, start, updates)
    if kernel.check == "add":
        diff = np.abs(final.astype(np.float64) - want)
    else:
        diff = np.abs(final.astype(np.float64) - want.astype(np.float64))
    bad = int(np.count_nonzero(diff != 0) + np.count_nonzero(~np.isfinite(final.astype(np.float64))))
    err = float(np.max(diff)) if diff.size else 0.0
    detail = "every element exact" if bad == 0 else f"{bad} of {final.size} elements differ (largest by {err:g})"
    return CheckResult(bad == 0, True, err, bad, detail)
