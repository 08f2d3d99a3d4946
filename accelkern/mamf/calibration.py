"""What an unmeasured shape may really measure, as the search's chances need it: the surface model's
prediction, checked against what it predicted before and widened (or narrowed) until its misses are as
likely as it says.

The model (accelkern.mamf.model) fits a smooth surface plus a per-shape scatter (the nugget). Part of that
scatter is measurement noise (the runner reports it: a re-measure would not repeat it; none is reported
for a mamf-finder log), the rest is real (the library picks another kernel for the next shape, and picks it
again every time). Chances use two spreads, both scaled by `factor()`:
  region  the model's latent spread: how far the surface itself may be from the prediction;
  shape   the latent spread and the scatter less the measurement variance: a single shape's own luck.

Before the search measures a shape it predicts it, and after, the miss z = (measured - predicted) / the
spread predicted for the measurement is kept. What counts is how far misses reach upward from their
median: downward outliers (a slower kernel for one shape) are harmless to a search for the top, and the
median takes out the shift that choosing shapes by their prediction brings (the shapes picked are those
the model overrates most). The scale s makes those reaches as large as a standard normal's:
mean(min(max(z - median, 0) / s, CAP)^2) = E[min(max(Z, 0), CAP)^2], winsorized (one shape far above the
rest says the surface has such shapes, not that every prediction is that far off) and with PRIOR
pseudo-misses of the expected size (one unlucky shape does not double it).
  until WINDOW predictions are checked: factor = s of all misses, or of the model's leave-one-out misses
          if larger (early on, before anything was predicted), at least 1;
  then:   s of the last WINDOW misses alone (older ones were made by a model since refitted on more shapes),
          at least NARROW: a model whose last predictions held well within their spread earns a narrower one.
The median of the last WINDOW misses (shrunk by PRIOR) also shifts the predictions: upward at once, downward
only once WINDOW predictions are checked. A model wrong about the last few shapes must not stop the search:
`recent_miss()` names an upward miss beyond MISS_Z sd (as the spread was before it) among the last RECENT.
Units: log throughput and standard deviations.
"""
from __future__ import annotations

import math

import numpy as np

PRIOR = 3.0        # pseudo-observations of the model's own view (scatter, misses of the expected size)
WINDOW = 8         # predict-then-measure misses that count
RECENT = 4         # the last few predictions, judged on their own
MISS_Z = 2.0       # ... an upward miss beyond this many sd keeps the search going
CAP = 2.0          # a miss counts at most this many sd (after scaling)
NARROW = 0.5       # the narrowest the model's spread is scaled


def _upper_moment(a: float) -> float:
    """E[min(max(Z, 0), a)^2] for a standard normal Z."""
    pdf = math.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)
    sf = 0.5 * math.erfc(a / math.sqrt(2.0))
    return (0.5 - sf) - a * pdf + a * a * sf


EXPECTED = _upper_moment(CAP)


def scale(z, lo: float = 1.0, hi: float = 100.0) -> float:
    """The scale in [lo, hi] that makes the misses `z` above their median as large as a standard normal's
    above its own (see above)."""
    z = np.asarray(z, dtype=np.float64)
    z = np.maximum(z - np.median(z), 0.0) if len(z) else z

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
    """The chances' view of unmeasured shapes (`spreads`) and the scale of the model's spread (`factor`)."""

    def __init__(self):
        self.z: list[float] = []
        self.loo_z: np.ndarray = np.zeros(0)
        self.scatter = 0.0
        self.measured_var = 0.0

    def update(self, model, measured_var: float = 0.0):
        """After a fit: the scatter beyond measurement noise and the leave-one-out misses. `measured_var`:
        the runner's measurement variance of log throughput (0 when it reported none)."""
        r, latent = model.loo()
        keep = ~model.outlier
        self.measured_var = measured_var
        self.scatter = max(0.0, model.nugget_var() - measured_var)
        self.loo_z = r[keep] / np.sqrt(latent[keep] + self.scatter + measured_var)

    def predict(self, model, idx, observed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd of log throughput at `idx` as the model gives them (no calibration): of the shape
        itself, or (`observed`) of its measurement (the runner's measurement noise added)."""
        mu, sd = model.predict(idx)
        var = sd * sd + self.scatter + (self.measured_var if observed else 0.0)
        return mu, np.sqrt(var)

    def shift(self) -> float:
        """The model's bias at the shapes the search measures, in sd: the median of the last WINDOW misses,
        shrunk towards 0 by PRIOR pseudo-misses; downward only once WINDOW predictions were checked."""
        z = self.z[-WINDOW:]
        if not z:
            return 0.0
        bias = float(np.median(z)) * len(z) / (len(z) + PRIOR)
        return bias if bias > 0 or len(self.z) >= WINDOW else 0.0

    def record(self, measured: float, mu: float, sd: float):
        """One predict-then-measure miss (log throughput; `sd` the spread predicted, unwidened)."""
        if sd > 0 and math.isfinite(measured) and math.isfinite(mu):
            self.z.append((measured - mu) / sd)

    def widen(self, z=None) -> float:
        """The multiplier (>= 1) for the whole spread: misses beyond what the model said (`z`: these misses
        instead of all so far)."""
        z = self.z if z is None else z
        if len(z) < WINDOW:
            return max(scale(z), scale(self.loo_z))
        return scale(z[-WINDOW:])

    def narrow(self, z=None) -> float:
        """The multiplier (NARROW..1) once the last WINDOW predictions held well within their spread."""
        z = self.z if z is None else z
        return scale(z[-WINDOW:], lo=NARROW, hi=1.0) if len(z) >= WINDOW else 1.0

    def factor(self) -> float:
        """The multiplier for the model's spread."""
        return self.widen() * self.narrow()

    def spreads(self, model, idx) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Calibrated mean of log throughput at `idx` and its sd: of the region (the model's surface) and
        of the shape itself (with its scatter)."""
        mu, latent = model.predict(idx)
        full = np.sqrt(latent * latent + self.scatter)
        f = self.factor()
        return mu + self.shift() * full, f * latent, f * full

    def recent_miss(self) -> float | None:
        """The largest upward miss among the last RECENT predictions, in sd of the spread the model had when
        they were made (before they widened it), if beyond MISS_Z."""
        if not self.z:
            return None
        before = self.z[:-RECENT]
        worst = max(self.z[-RECENT:]) / (self.widen(before) * self.narrow(before))
        return worst if worst > MISS_Z else None

    def summary(self) -> str:
        spread = f"model spread x{self.factor():.2f}, shape-to-shape scatter {math.sqrt(self.scatter):.1%}"
        if not self.z:
            return spread + " (no prediction checked yet)"
        return (f"{spread}, after {len(self.z)} predictions checked against the measurement (largest miss "
                f"upward {max(max(self.z), 0.0):.1f} sd)")
