"""The outlier detector: for each measured quantity, the fleet median over ranks (over pairs of the same link
class for p2p), each row's ratio to it, and a flag when a row is further below the median than both the
tolerance and what the figures' own noise explains, or below a per-SKU floor (a fraction of the datasheet
figure). Only the slow side is flagged: a fast device is no problem. Pure Python, so the detector can be tested
without processes.

The noise allowance: NOISE_Z standard deviations of the gap between a figure and the fleet median, from the
figure's measured spread (the relative standard deviation of its timed calls: how disturbed its device was) and
the fleet median's (the group's median spread x 1.2533 / sqrt(ranks), the standard error of a median of that
many figures), at most MAX_NOISE_ALLOWANCE: a noisy figure, or a fleet of two, needs a larger gap, and a figure
below half the median is flagged whatever the noise.

Collectives are not flagged by speed: one slow link makes every rank of a ring wait, so their per-rank
times cannot name a rank (p2p names the link). A wrong result or a failed measurement is flagged anywhere.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict

from accelkern.units import format_value

# acceptance floors in % of the datasheet, per suite; the HBM one is the floor DCGM's memory-bandwidth test
# uses. GEMM and MAMF run below the tensor-core peak on power-capped cards, hence the lower floors.
FLOORS_PCT = {"fleet-hbm": 75.0, "fleet-gemm": 50.0, "fleet-mamf": 50.0, "fleet-peak": 60.0}
RANK_SUITES = ("fleet-gemm", "fleet-mamf", "fleet-hbm", "fleet-peak")
SPEED_FLAGGED = RANK_SUITES + ("fleet-p2p",)
NOISE_Z = 2.0          # standard deviations of the gap past which a slower figure is more than noise
MAX_NOISE_ALLOWANCE = 0.5
MEDIAN_SE = 1.2533     # standard error of a median of n normal figures: 1.2533 x spread / sqrt(n)


def quantity_key(row) -> tuple:
    """Rows measuring the same thing on different ranks (or pairs) share a key. A MAMF or peak figure is the
    rank's own best shape or launch, so the shape is not part of their key."""
    cfg = row.config or {}
    if row.suite == "fleet-p2p":
        return (row.suite, cfg.get("bytes"), cfg.get("link"))
    if row.suite == "fleet-collectives":
        return (row.suite, cfg.get("collective"), cfg.get("bytes"))
    if row.suite in ("fleet-mamf", "fleet-peak"):
        return (row.suite, row.name, row.dtype)
    return (row.suite, row.name, row.dtype, row.shape)


def _measured(row) -> bool:
    return row.status == "ok" and row.value is not None and row.value > 0 and row.correct is not False


def _spread(row) -> float:
    """The row's measured spread (relative standard deviation of its timed calls); 0 when unknown."""
    s = row.rel_stddev
    return float(s) if isinstance(s, (int, float)) and math.isfinite(s) and s > 0 else 0.0


def flag_rows(rows, tolerance_pct: float, floors_pct: dict | None = None) -> list:
    """Adds fleet_median, ratio_to_median, allowed_below (the fraction below the median a row may be), flagged
    and flag_reason to every row's config (in place)."""
    floors = FLOORS_PCT if floors_pct is None else floors_pct
    tolerance = tolerance_pct / 100.0
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        groups[quantity_key(r)].append(r)
    for group in groups.values():
        measured = [r for r in group if _measured(r)]
        values = [r.value for r in measured]
        median = statistics.median(values) if values else None
        median_spread = (MEDIAN_SE * statistics.median(_spread(r) for r in measured) / math.sqrt(len(measured))
                         if measured else 0.0)
        for r in group:
            cfg = r.config
            ratio = r.value / median if median and _measured(r) else None
            noise = min(MAX_NOISE_ALLOWANCE, NOISE_Z * math.hypot(_spread(r), median_spread))
            allowed = max(tolerance, noise)
            cfg["fleet_median"] = median
            cfg["ratio_to_median"] = ratio
            cfg["allowed_below"] = allowed if ratio is not None else None
            reasons = []
            if r.status == "failed":
                reasons.append(f"measurement failed: {r.note or 'no reason given'}")
            elif r.correct is False:
                reasons.append("wrong result")
            elif r.suite in SPEED_FLAGGED and ratio is not None:
                if ratio < 1.0 - allowed:
                    why = (f"tolerance {tolerance_pct:g}%" if noise <= tolerance else
                           f"more than the tolerance {tolerance_pct:g}% and {NOISE_Z:g} standard deviations of the "
                           f"measured spread, {noise:.1%}")
                    reasons.append(f"{100 * (1 - ratio):.1f}% below the fleet median "
                                   f"{format_value(median, r.metric)} ({why})")
                floor = floors.get(r.suite)
                if floor is not None and r.pct_of_spec is not None and r.pct_of_spec < floor:
                    reasons.append(f"{r.pct_of_spec:.1f}% of the datasheet {format_value(r.spec_value, r.metric)}, "
                                   f"below the {floor:g}% floor")
            cfg["flagged"] = bool(reasons)
            cfg["flag_reason"] = "; ".join(reasons) or None
    return rows


def flagged_ranks(rows) -> list[int]:
    """Ranks with a flagged per-device row, or a flagged (wrong or failed) collective row."""
    return sorted({r.config["rank"] for r in rows if r.config.get("flagged") and r.suite != "fleet-p2p"})


def flagged_pairs(rows) -> list[tuple[int, int]]:
    return sorted({(r.config["src"], r.config["dst"]) for r in rows
                   if r.suite == "fleet-p2p" and r.config.get("flagged")})
