"""How one mamf run spends its --budget of wall-clock seconds: warm-up, search, re-measures of the top
shapes and the winner in the other mode, all inside it (replay: the same, in seconds of replayed cost).

  warm-up      at most WARMUP_SHARE of the budget (and at most --warmup);
  search       until what is left is what the rest needs: `reserve` keeps, for the re-measures and the
               other mode, the wall time the best shape's own search measurement took, per measurement to
               come, but never more than POST_SHARE of the budget;
  the rest     what is left is shared by the measurements to come; a measurement whose full rule would not
               fit gets a shorter one (`rule`), and when even that cannot fit (one call of the shape takes
               longer), fewer shapes are re-measured, then fewer times, down to one re-measure of the best
               (`counts`): the headline is always re-measured, so a budget smaller than one measurement of
               the winner is overrun by that one measurement.
Seconds throughout.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from accelkern import timing

WARMUP_SHARE = 0.2     # of the budget, at most, for the warm-up
POST_SHARE = 0.4       # ... and kept for the re-measures and the other mode
CHECK_CALLS = 10       # a correctness check (a reference in higher precision) costs about this many calls
MIN_TIMED_S = 0.02     # the shortest timed part of a shortened rule


@dataclass
class WallPlan:
    budget_s: float
    clock: Callable[[], float] = time.monotonic
    t0: float | None = None

    def __post_init__(self):
        if self.t0 is None:
            self.t0 = self.clock()

    def left(self) -> float:
        return self.budget_s - (self.clock() - self.t0)

    def warmup_s(self, asked: float) -> float:
        return max(0.0, min(asked, WARMUP_SHARE * self.budget_s))

    def reserve(self, per_s: float, count: int) -> float:
        """Seconds to keep for `count` measurements expected to take `per_s` each."""
        return min(POST_SHARE * self.budget_s, max(0.0, per_s) * count)


def counts(left_s: float, per_s: float, shapes: int, repeats: int, others: float,
           check_s: float = 0.0) -> tuple[int, int]:
    """(shapes, repeats) to re-measure in `left_s` when one measurement takes at least `per_s` and each
    shape's first also a correctness check of `check_s`, with `others` measurements of the other mode to
    come for each repeat: fewer shapes first, then fewer repeats."""
    def fits(n: int, r: int) -> bool:
        return (n * r + others * r) * per_s + n * check_s <= left_s
    while shapes > 1 and not fits(shapes, repeats):
        shapes -= 1
    while repeats > 1 and not fits(shapes, repeats):
        repeats -= 1
    return shapes, repeats


def rule(full: timing.StopRule, allowance_s: float, overhead_s: float) -> timing.StopRule:
    """`full`, or a shorter one when a measurement must fit `allowance_s` with `overhead_s` of set-up and
    warm-up around its timed part."""
    timed = allowance_s - overhead_s
    if timed >= full.max_time_s:
        return full
    timed = max(MIN_TIMED_S, timed)
    return timing.StopRule(min_samples=min(full.min_samples, 3), max_samples=full.max_samples,
                           min_time_s=min(full.min_time_s, timed / 2), max_time_s=timed,
                           target_noise=full.target_noise, criterion=full.criterion)
