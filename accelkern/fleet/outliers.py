"""The outlier detector: for each measured quantity, the fleet median over ranks (over pairs of the same link
class for p2p), each row's ratio to it, and a flag when a row is more than the tolerance below the median or
below a per-SKU floor (a fraction of the datasheet figure). Only the slow side is flagged: a fast device
is no problem. Pure Python, so the detector can be tested without processes.

Collectives are not flagged by speed: one slow link makes every rank of a ring wait, so their per-rank
times cannot name a rank (p2p names the link). A wrong result or a failed measurement is flagged anywhere.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

from accelkern.units import format_value

# acceptance floors in % of the datasheet, per suite; the HBM one is the floor DCGM's memory-bandwidth test
# uses. GEMM and MAMF run below the tensor-core peak on power-capped cards, hence the lower floors.
FLOORS_PCT = {"fleet-hbm": 75.0, "fleet-gemm": 50.0, "fleet-mamf": 50.0, "fleet-peak": 60.0}
RANK_SUITES = ("fleet-gemm", "fleet-mamf", "fleet-hbm", "fleet-peak")
SPEED_FLAGGED = RANK_SUITES + ("fleet-p2p",)


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


def flag_rows(rows, tolerance_pct: float, floors_pct: dict | None = None) -> list:
    """Adds fleet_median, ratio_to_median, flagged and flag_reason to every row's config (in place)."""
    floors = FLOORS_PCT if floors_pct is None else floors_pct
    limit = 1.0 - tolerance_pct / 100.0
    groups: dict[tuple, list] = defaultdict(list)
    for r in rows:
        groups[quantity_key(r)].append(r)
    for group in groups.values():
        values = [r.value for r in group if _measured(r)]
        median = statistics.median(values) if values else None
        for r in group:
            cfg = r.config
            ratio = r.value / median if median and _measured(r) else None
            cfg["fleet_median"] = median
            cfg["ratio_to_median"] = ratio
            reasons = []
            if r.status == "failed":
                reasons.append(f"measurement failed: {r.note or 'no reason given'}")
            elif r.correct is False:
                reasons.append("wrong result")
            elif r.suite in SPEED_FLAGGED and ratio is not None:
                if ratio < limit:
                    reasons.append(f"{100 * (1 - ratio):.1f}% below the fleet median "
                                   f"{format_value(median, r.metric)} (tolerance {tolerance_pct:g}%)")
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
