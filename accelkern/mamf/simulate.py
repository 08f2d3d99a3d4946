"""Simulated GPU throughput surfaces, to judge the MAMF search offline (tests, bench/mamf_replay.py) on
lattices far larger than any recording; `write_finder_log` writes one as mamf-finder would have logged it,
so `accelkern mamf --replay` takes it like a recorded surface.

The model: a GEMM of M x N x K runs ceil(tiles / SMs) waves of CTA tiles (one CTA per SM); each tile costs
2*Tm*Tn*(K + prologue/epilogue) FLOPs at the tile's main-loop efficiency and the SM clock; a call also pays
a fixed launch/ramp time. Power at the clock f is idle + (full - idle) x busy share of the SMs x (f/fmax)^3;
in cold-cache mode the flush between calls draws less, so the average over a call and its gap is what the
cap limits: short calls run at a higher clock. The library's heuristic picks the fastest tile at the max
clock, and for some shapes (a fixed, seeded share) a worse one. Each recorded mean carries log-normal noise
and a few carry a dip (a clock hiccup). Units: seconds, MHz, W, TFLOPS.

Surfaces that are harder than the smooth ones above (each a Part, see SURFACES):
  jitter    a back end that switches algorithm from shape to shape: a fixed log-normal factor per shape,
            up as well as down, part of the true throughput (re-measuring gives it again);
  ceiling   a flat top: throughput saturates softly at this many TFLOPS (a power or bandwidth limit), so
            many shapes are near-equal and the best is barely above the rest;
  bump      a region (a box of M, N, K) where the back end has a better kernel: throughput x (1 + gain);
  stderr    the relative standard error of the median a runner would have reported with each shape
            (replay's measured spread; 0: none recorded, as in a mamf-finder log).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelkern.torch_backend import GemmShape as Shape


@dataclass(frozen=True)
class Part:
    name: str
    sms: int = 132
    max_clock_mhz: float = 1980.0
    flop_per_clk_per_sm: float = 4096.0
    tiles: tuple = ((128, 256, 0.90), (256, 128, 0.90), (128, 128, 0.83))   # Tm, Tn, main-loop efficiency
    k_overhead: float = 384.0        # a tile's prologue and epilogue, in K-equivalents
    edge_loss: float = 0.1           # per-tile slowdown x (1/tiles along M + 1/tiles along N)
    fixed_s: float = 4e-6            # launch and ramp per call
    gap_s: float = 80e-6             # cold-cache flush and refill between calls
    full_power_w: float = 1250.0     # every SM busy at the max clock
    idle_w: float = 90.0
    gap_w: float = 260.0             # while flushing
    cap_w: float = 700.0
    noise: float = 0.015             # log-normal sd of a recorded mean
    dip_share: float = 0.02          # shapes recorded during a clock hiccup (5-15% low)
    p_worse_tile: float = 0.15       # shapes for which the heuristic picks a slower tile
    jitter: float = 0.0              # log-normal sd of a fixed per-shape algorithm factor (true, up and down)
    ceiling: float | None = None     # TFLOPS at which throughput saturates (a flat top); None: no ceiling
    bump: tuple | None = None        # ((m_lo, m_hi), (n_lo, n_hi), (k_lo, k_hi), gain): a better region
    stderr: float = 0.0              # relative standard error recorded with each shape (0: none)


CAPPED = Part("power-capped (H200-like, 700 W)")
UNCAPPED = Part("uncapped", full_power_w=620.0, noise=0.006)
LATTICE_MN = tuple(range(256, 16385, 256))            # 64 values: 4096 M x N pairs
LATTICE_KS = ((1024, 2048, 4096, 8192, 16384), (4096, 6144, 8192, 12288, 16384), (2048, 4096, 8192, 16384, 20480))
SWEEP_M = tuple(range(256, 20480, 256))               # mamf-finder --m_range 0 20480 256: 79 values
CEILING_SOFTNESS = 20.0          # the flat top's knee: (t^-p + ceiling^-p)^(-1/p)

# the surfaces of issue 22 that the first search failed on (each judged by bench/mamf_replay.py)
JAGGED = Part("jagged (algorithm switches per shape)", noise=0.004, dip_share=0.0, jitter=0.02)
NOISY_CAPPED = Part("noisy power-capped", noise=0.025, dip_share=0.04, jitter=0.01, stderr=0.006)
FLAT_TOP = Part("flat-topped (uncapped, saturating)", full_power_w=620.0, noise=0.006, jitter=0.006,
                ceiling=700.0, bump=((2048, 4096), (12288, 16384), (16384, 16384), 0.03))


def _times(part: Part, m, n, k, clock_mhz):
    """Kernel seconds and busy share per tile: arrays of shape (tiles, shapes)."""
    out, busy = [], []
    for tm, tn, eff in part.tiles:
        gm, gn = np.ceil(m / tm), np.ceil(n / tn)
        tiles = gm * gn
        waves = np.ceil(tiles / part.sms)
        reuse = 1.0 + part.edge_loss * (1.0 / gm + 1.0 / gn)    # few tiles along a side: operands reused less
        per_tile = 2.0 * tm * tn * (k + part.k_overhead) * reuse / (part.flop_per_clk_per_sm * clock_mhz * 1e6 * eff)
        out.append(waves * per_tile + part.fixed_s)
        busy.append(tiles / (waves * part.sms))
    return np.array(out), np.array(busy)


def _clock(part: Part, m, n, k, tile_idx):
    """The SM clock the power cap allows for each shape with its chosen tile (bisection)."""
    sel = np.arange(len(m))
    lo = np.full(len(m), 300.0)
    hi = np.full(len(m), part.max_clock_mhz)

    def avg_power(f):
        t, busy = _times(part, m, n, k, f)
        t, busy = t[tile_idx, sel], busy[tile_idx, sel]
        pk = part.idle_w + (part.full_power_w - part.idle_w) * busy * (f / part.max_clock_mhz) ** 3
        return (t * pk + part.gap_s * part.gap_w) / (t + part.gap_s)

    ok = avg_power(hi) <= part.cap_w
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        fits = avg_power(mid) <= part.cap_w
        lo = np.where(fits, mid, lo)
        hi = np.where(fits, hi, mid)
    return np.where(ok, part.max_clock_mhz, lo)


def simulate(part: Part, shapes: list, seed: int = 0):
    """({shape: (mean, median, max) TFLOPS as recorded}, {shape: noise-free TFLOPS}, {shape: tile index})."""
    rng = np.random.default_rng(seed)
    m = np.array([s.m for s in shapes], dtype=np.float64)
    n = np.array([s.n for s in shapes], dtype=np.float64)
    k = np.array([s.k for s in shapes], dtype=np.float64)
    t_max, _ = _times(part, m, n, k, part.max_clock_mhz)
    tile = np.argmin(t_max, axis=0)
    worse = rng.random(len(shapes)) < part.p_worse_tile
    if len(part.tiles) > 1:
        other = (tile + rng.integers(1, len(part.tiles), len(shapes))) % len(part.tiles)
        tile = np.where(worse, other, tile)
    f = _clock(part, m, n, k, tile)
    t, _ = _times(part, m, n, k, f)
    true = 2.0 * m * n * k / t[tile, np.arange(len(shapes))] / 1e12
    noise = np.exp(rng.normal(0.0, part.noise, len(shapes)))
    dips = np.where(rng.random(len(shapes)) < part.dip_share, rng.uniform(0.85, 0.95, len(shapes)), 1.0)
    median_f = np.exp(rng.normal(0.002, 0.004, len(shapes)))
    peak_f = 1.01 + np.abs(rng.normal(0.0, 0.02, len(shapes)))
    true = _harder(part, true, m, n, k, rng)      # drawn after the others: the plain surfaces stay as they were
    mean = true * noise * dips
    median = mean * median_f
    peak = mean * peak_f
    rec = {s: (float(a), float(b), float(c)) for s, a, b, c in zip(shapes, mean, median, peak)}
    return rec, {s: float(v) for s, v in zip(shapes, true)}, {s: int(i) for s, i in zip(shapes, tile)}


def _harder(part: Part, true, m, n, k, rng):
    """The ceiling, the better region and the per-shape algorithm factor (all part of the true throughput)."""
    if part.ceiling:
        p = CEILING_SOFTNESS
        true = (true ** -p + part.ceiling ** -p) ** (-1.0 / p)
    if part.bump:
        (m0, m1), (n0, n1), (k0, k1), gain = part.bump
        inside = (m >= m0) & (m <= m1) & (n >= n0) & (n <= n1) & (k >= k0) & (k <= k1)
        true = true * np.where(inside, 1.0 + gain, 1.0)
    if part.jitter:
        true = true * np.exp(rng.normal(0.0, part.jitter, len(true)))
    return true


def lattice(ms=LATTICE_MN, ns=LATTICE_MN, ks=LATTICE_KS[0]) -> list:
    return [Shape(a, b, c) for a in ms for b in ns for c in ks]


def sweep(ms=SWEEP_M, n: int = 4096, k: int = 4096) -> list:
    """A 1-D M sweep at fixed N and K, as `mamf-finder --m_range 0 20480 256 --n 4096 --k 4096` records."""
    return [Shape(a, n, k) for a in ms]


def write_finder_log(path, rec: dict, sms: int = 132, name: str = "Simulated GPU", dtype: str = "torch.bfloat16"):
    """The recording as mamf-finder (benchmark version 2) would have logged it."""
    lines = ["", "Benchmark started on 2026-01-01 00:00:00", "", "** Command line:", "mamf-finder.py (simulated)", "",
             f"** Dtype: {dtype}", "", "** Platform/Device info:",
             f"- _CudaDeviceProperties(name='{name}', major=9, minor=0, total_memory=143155MB, "
             f"multi_processor_count={sms}, L2_cache_size=60MB)", "", "** Additional notes:",
             "- benchmark version: 2", "", "-" * 80, "", "Warming up the accelerator for 30 secs ... finished"]
    best = (0.0, 0.0, 0.0)
    for i, (s, (mean, med, mx)) in enumerate(rec.items(), 1):
        best = max(best, (mean, med, mx))
        lines.append(f"{i:>6} | {mean:6.1f}(mean) {med:6.1f}(median) {mx:6.1f}(max) @ {str(s):<20} | best: "
                     f"{best[0]:6.1f}(mean) {best[1]:6.1f}(median) {best[2]:6.1f}(max) TFLOPS")
    lines += ["", f"Tried {len(rec)} shapes => the best outcomes were:", "Elapsed time: 0:00:01"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def recording(part: Part, shapes: list, seed: int = 0, path: str = "simulated"):
    """(a replay Recording of the simulated surface, {shape: noise-free TFLOPS})."""
    from accelkern.mamf.replay import Point, Recording
    rec, true, _ = simulate(part, shapes, seed=seed)
    points = {s: Point(*v, spread=part.stderr or None) for s, v in rec.items()}
    return Recording(path, "mamf-finder", points, dtype="bf16", device=part.name, sms=part.sms,
                     mode="cold-cache"), true
