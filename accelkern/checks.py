"""Correctness: the one tolerance table, output poisoning, and comparison against a reference.

Error metric for floating results: max |out - ref| / rms(ref), with ref computed in float64 from the
very same (already rounded) inputs. With random normal inputs rms(ref) ~ sqrt(K), so the metric is
independent of K and of the input scale; a dropped K-chunk, a wrong fragment layout or an unwritten
(poisoned) element gives errors of order 1 or NaN, far above every tolerance here.
"""
from __future__ import annotations

import math

# dtype -> largest allowed max|out-ref|/rms(ref). Rounding of the output dominates: bf16 keeps 8
# mantissa bits (max rel. rounding 2^-9 at ~5 sigma -> ~0.01), fp16 11, tf32 rounds inputs to 11.
TOLERANCES = {
    "fp64": 1e-10,
    "fp32": 1e-4,
    "tf32": 1e-2,
    "fp16": 1e-2,
    "fp16_acc16": 5e-2,   # fp16 accumulation: error grows with K
    "bf16": 5e-2,
    "fp8": 5e-2,          # exact fp8 inputs, fp32 (or fast) accumulation, bf16/fp16 output
    "int8": 0.0,          # integer math is exact
}


def tolerance(dtype: str) -> float:
    try:
        return TOLERANCES[dtype]
    except KeyError:
        raise KeyError(f"no tolerance for dtype '{dtype}'; known: {', '.join(TOLERANCES)}") from None


def poison_(t):
    """Fills an output so that an element the kernel never writes cannot pass the check."""
    if t.is_floating_point():
        t.fill_(float("nan"))
    else:
        import torch
        t.fill_(torch.iinfo(t.dtype).min)
    return t


def compare(out, ref, dtype: str) -> tuple[bool, float, float]:
    """(ok, error, tolerance): float dtypes by max|out-ref|/rms(ref), integers exactly."""
    import torch
    tol = tolerance(dtype)
    out64 = out.detach().to("cpu", torch.float64)
    ref64 = ref.detach().to("cpu", torch.float64)
    if out64.shape != ref64.shape:
        raise ValueError(f"shape mismatch: {tuple(out64.shape)} vs reference {tuple(ref64.shape)}")
    diff = (out64 - ref64).abs()
    if not out.is_floating_point():
        err = float(diff.max()) if diff.numel() else 0.0
        return err <= tol, err, tol
    if torch.isnan(out64).any() or torch.isinf(out64).any():
        return False, math.inf, tol
    rms = float(ref64.pow(2).mean().sqrt()) or 1.0
    err = float(diff.max()) / rms if diff.numel() else 0.0
    return err <= tol, err, tol
