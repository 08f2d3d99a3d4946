"""Correctness: the one tolerance table, output poisoning, and comparison against a reference.

Error metric for floating results: max |out - ref| / rms(ref), with ref computed in float64 from the
very same (already rounded) inputs. A GEMM is checked over its whole output and every batch entry
(check_gemm), its float64 reference computed on the same device and spot-checked against the CPU's. With random normal inputs rms(ref) ~ sqrt(K), so the metric is
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


class ReferenceMismatch(RuntimeError):
    """The device's float64 reference disagrees with the CPU's: no answer can be judged against it."""


def _exact_float(t):
    """A float64 copy of t on its device: fp8 goes through float32 (exact), as not every build converts
    float8 to float64 directly."""
    import torch
    if t.dtype in (getattr(torch, "float8_e4m3fn", None), getattr(torch, "float8_e5m2", None)):
        t = t.to(torch.float32)
    return t.to(torch.float64)


def _spots(size: int, spot: int) -> list[tuple[int, int]]:
    """First, middle and last ranges of `spot` indices (fewer when they overlap)."""
    if size <= spot:
        return [(0, size)]
    mid = (size - spot) // 2
    return sorted({(0, spot), (mid, mid + spot), (size - spot, size)})


def check_gemm(entries, dtype: str, scale: float = 1.0, *, spot: int = 64,
               chunk_bytes: int = 256 << 20) -> tuple[bool, float, float]:
    """(ok, error, tolerance) of a GEMM over its whole output: `entries` yields (A [M,K], B [K,N], D [M,N])
    for every batch entry, tensors on one device; D is compared with (A @ B) * scale computed in float64
    on that same device, in blocks of at most `chunk_bytes` of operands. The error is max|D - ref| over
    every element / rms(ref) over every element (integers: max|D - ref|, which must be 0). Before any
    answer counts, the device reference is itself compared on three spot blocks of the first entry with a
    float64 product on the CPU (tolerance fp64); a disagreement raises ReferenceMismatch."""
    import torch
    tol = tolerance(dtype)
    worst, sumsq, count, finite, integer = 0.0, 0.0, 0, True, None
    first = True
    for a, b, d in entries:
        m, k = a.shape
        n = b.shape[1]
        if b.shape[0] != k or tuple(d.shape) != (m, n):
            raise ValueError(f"shapes do not chain: A {tuple(a.shape)}, B {tuple(b.shape)}, D {tuple(d.shape)}")
        integer = not d.is_floating_point()
        rows = max(1, min(m, chunk_bytes // (8 * k)))
        cols = max(1, min(n, chunk_bytes // (8 * max(k, rows))))   # the reference block stays within it too
        for r0 in range(0, m, rows):
            a64 = _exact_float(a[r0:r0 + rows])
            for c0 in range(0, n, cols):
                ref = (a64 @ _exact_float(b[:, c0:c0 + cols])) * scale
                got = d[r0:r0 + rows, c0:c0 + cols]
                if not integer and not bool(torch.isfinite(got).all()):
                    finite = False
                diff = (_exact_float(got) - ref).abs()
                worst = max(worst, float(diff.max()) if diff.numel() else 0.0)
                sumsq += float(ref.pow(2).sum())
                count += ref.numel()
        if first and a.device.type != "cpu":
            _check_reference(a, b, scale, spot)
        first = False
    if integer:
        return worst <= tol, worst, tol
    if not finite:
        return False, math.inf, tol
    rms = math.sqrt(sumsq / count) if count and sumsq else 1.0
    err = worst / rms
    return err <= tol, err, tol


def _check_reference(a, b, scale: float, spot: int, to_cpu=lambda t: t.cpu()):
    """The device's float64 product against the CPU's on the first, middle and last spot blocks."""
    for r0, r1 in _spots(a.shape[0], spot):
        a_dev = _exact_float(a[r0:r1])
        a_cpu = to_cpu(a_dev)
        for c0, c1 in _spots(b.shape[1], spot):
            b_dev = _exact_float(b[:, c0:c1])
            dev = (a_dev @ b_dev) * scale
            cpu = (a_cpu @ to_cpu(b_dev)) * scale
            ok, err, tol = compare(dev, cpu, "fp64")
            if not ok:
                raise ReferenceMismatch(
                    f"the float64 reference on {a.device} disagrees with the CPU's on rows {r0}:{r1}, columns "
                    f"{c0}:{c1} (error {err:.3g} > {tol:g}): no result on this device can be checked")
