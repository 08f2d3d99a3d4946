"""What an unmeasured shape may really measure, as the search's chances need it: the surface model's
prediction corrected by what the measured shapes showed, and widened by what its own predictions missed.

The model (accelkern.mamf.model) fits a smooth surface plus a per-shape scatter (the nugget). Part of that
scatter is measurement noise (the runner reports it: a re-measure would not repeat it; none is reported
for a mamf-finder log), the rest is real (the library picks another kernel for the next shape, and picks it
again every time): a shape's chance model is N(prediction, latent variance + scatter less measurement
variance), its spread scaled as below.

Calibration: before the search measures a shape it predicts it (predict-then-measure), and after, the miss
z = (measured - predicted) / predicted sd is kept. Misses downward are left out (a slower kernel for one
shape is harmless to a search for the top); a shape thought worse than it was is what could hide the best.
The spread is scaled by the s under which the upward misses are as large as a standard normal's:
mean(min(max(z, 0) / s, CAP)^2) = E[min(max(Z, 0), CAP)^2] (winsorized: one shape far above the rest says
the surface has such shapes, not that every prediction is that far off), with PRIOR pseudo-misses of the
expected size so one unlucky shape does not double it. Until WINDOW predictions have been checked, s is at
least 1 and at least the same scale of the leave-one-out misses (early on, before anything was predicted);
from then on it is the scale of the last WINDOW misses alone (older ones were made by a model since
refitted on more shapes), at least NARROW: a model whose last WINDOW predictions all held below their
spread has earned a narrower one. A model wrong about the last few shapes must not stop the search:
`recent_miss()` names an upward miss beyond MISS_Z scaled sd among the last RECENT predictions.
Units: log throughput and standard deviations.
"""
from __future__ import annotations

import math

import numpy as np

PRIOR = 3.0        # pseudo-observations of the model's own view (scatter, misses of the expected size)
WINDOW = 8         # predict-then-measure misses that count
RECENT = 4         # the last few predictions, judged on their own
MISS_Z = 2.0       # ... an upward miss beyond this many (widened) sd keeps the search going
CAP = 2.0          # a miss counts at most this many sd (after scaling)
NARROW = 0.25      # the narrowest a spread is scaled, after WINDOW predictions held


def _upper_moment(a: float) -> float:
    """E[min(max(Z, 0), a)^2] for a standard normal Z."""
    pdf = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    sf = 0.5 * math.erfc(a / math.sqrt(2.0))
    return (0.5 - sf) - a * pdf + a * a * sf


EXPECTED = _upper_moment(CAP)


def scale(z, lo: float = 1.0, hi: float = 100.0) -> float:
    """The scale in [lo, hi] that makes the upward misses `z` as large as a standard normal's (see above)."""
    z = np.maximum(np.asarray(z, dtype=np.float64), 0.0)

    def excess(s: float) -> float:
        w = np.minimum(z / s, CAP)
        return (float((w * w).sum()) + PRIOR * EXPECTED) / (len(z) + PRIOR) - EXPECTED

    if excess(lo) <= 0:
        return lo
    if excess(hi) >= 0:
        return hi
    for _ in range(50):              # the excess falls as the scale grows: bisection
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return math.sqrt(lo * hi)


class Calibration:
    """The chance model of unmeasured shapes (`predict`) and the widening of its spread (`factor`)."""

    def __init__(self):
        self.z: list[float] = []
        self.loo_z: np.ndarray = np.zeros(0)
        self.scatter = 0.0
        self.measured_var = 0.0

    def update(self, model, measured_var: float = 0.0):
        """After a fit: the shape-to-shape scatter and the leave-one-out misses. `measured_var`: the runner's
        measurement variance of log throughput (0 when it reported none)."""
        r, var = model.loo()
        keep = ~model.outlier
        self.measured_var = measured_var
        self.scatter = max(0.0, model.nugget_var() - measured_var)
        self.loo_z = r[keep] / np.sqrt(var[keep])

    def predict(self, model, idx, observed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unscaled sd of log throughput at `idx`: of the shape itself, or (`observed`) of its
        measurement (the runner's measurement noise added)."""
        mu, sd = model.predict(idx)
        var = sd * sd + self.scatter + (self.measured_var if observed else 0.0)
        return mu, np.sqrt(var)

    def record(self, measured: float, mu: float, sd: float):
        """One predict-then-measure miss (log throughput; `sd` the spread predicted, unwidened)."""
        if sd > 0 and math.isfinite(measured) and math.isfinite(mu):
            self.z.append((measured - mu) / sd)

    def factor(self) -> float:
        """The multiplier for the predicted spread (see above)."""
        if len(self.z) < WINDOW:
            return max(scale(self.z), scale(self.loo_z))
        return scale(self.z[-WINDOW:], lo=NARROW)

    def recent_miss(self) -> float | None:
        """The largest upward miss (in widened sd) among the last RECENT predictions if beyond MISS_Z."""
        if not self.z:
            return None
        worst = max(self.z[-RECENT:]) / self.factor()
        return worst if worst > MISS_Z else None

    def summary(self) -> str:
        spread = f"model spread x{self.factor():.2f}, shape-to-shape {math.sqrt(self.scatter):.1%} upward"
        if not self.z:
            return spread + " (no prediction checked yet)"
        return (f"{spread}, after {len(self.z)} predictions checked against the measurement (largest miss "
                f"upward {max(max(self.z), 0.0):.1f} sd)")
