"""The search's model of a throughput surface: Gaussian-process regression of log TFLOPS over
(log2 M, log2 N, log2 K), with the log of the tile/wave efficiency as a fixed offset (a call's time follows
whole waves of whole tiles, so the model learns the throughput the tiles would give at full waves), on top
of a linear trend in those logs and in the log efficiency again (its coefficient corrects the offset where
the library's tiles are not the ones assumed). The trend carries what the device facts predict (a ragged
last wave loses throughput; bigger or smaller may be better); the Gaussian process carries the rest (the
power cap, K amortisation, the library's choices), and its posterior says how much an unmeasured shape
could still gain.

Hyperparameters (length scales along M/N and along K, noise-to-signal ratio) are chosen by maximum
marginal likelihood over a small grid, the signal variance in closed form (profiled). A measurement far
below what the others predict for it (the library picked a slower kernel, a clock hiccup) gets a hundred
times the noise variance: the search looks for the top of the surface, and one bad kernel choice must not
make the whole neighbourhood look uncertain. Plain numpy; the posterior variance of many candidates is one
matrix product with the inverse Cholesky factor.

The fitted noise (the nugget) holds measurement noise and shape-to-shape variation that is real (the
library picks another kernel for the next shape, and picks it again every time); `loo()` gives what the
search needs to judge both (accelkern.mamf.calibration).
"""
from __future__ import annotations

import itertools
import math

import numpy as np

LENGTHS_MN = (0.5, 1.0, 2.0, 4.0)       # log2 units: 0.5 = a factor 1.4 in size
LENGTHS_K = (0.75, 1.5, 3.0)
NOISE_RATIOS = (0.01, 0.05, 0.25, 1.0)  # noise variance / signal variance
TREND_PRIOR = (1e4, 1e4, 1e3, 1e3, 1e3)  # prior variances (x signal variance) of the trend coefficients
OUTLIER_Z = 2.0                          # leave-one-out residual below -1.5 sd: below the envelope
MAX_OUTLIERS = 0.3
PASSES = 3
OUTLIER_WEIGHT = 100.0                   # its noise variance is multiplied by this
_SQRT5 = math.sqrt(5.0)


def matern52(d2: np.ndarray) -> np.ndarray:
    """Matern 5/2 correlation of squared scaled distances (rougher than a squared exponential: throughput
    surfaces have kinks)."""
    r = np.sqrt(np.maximum(d2, 0.0))
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * d2) * np.exp(-_SQRT5 * r)


class SurfaceModel:
    """GP over candidate indices: `fit` on measured (index, log TFLOPS), `predict` mean and latent sd."""

    def __init__(self, m, n, k, q_best):
        x = np.column_stack([np.log2(m), np.log2(n), np.log2(k)]).astype(np.float64)
        self.x = x - x.mean(axis=0)
        self.logq = np.log(np.maximum(np.asarray(q_best, dtype=np.float64), 1e-3))
        self.h = np.column_stack([np.ones(len(x)), self.logq, self.x])
        self.prior = np.array(TREND_PRIOR)
        self.prior_var = 1.0 + (self.h ** 2 * self.prior).sum(1)
        self.hyper = (1.0, 1.5, 0.05)
        self.idx: np.ndarray | None = None
        self.outlier: np.ndarray | None = None

    def _corr(self, a: np.ndarray, b: np.ndarray, lmn: float, lk: float) -> np.ndarray:
        scale = np.array([lmn, lmn, lk])
        xa, xb = self.x[a] / scale, self.x[b] / scale
        d2 = (xa * xa).sum(1)[:, None] + (xb * xb).sum(1)[None, :] - 2.0 * xa @ xb.T
        return matern52(d2) + (self.h[a] * self.prior) @ self.h[b].T

    def fit(self, idx, y, choose: bool = True):
        """Conditions on log TFLOPS `y` at candidate indices `idx`; `choose` re-selects the hyperparameters
        and the outliers (twice: outliers found under the first choice are left out of the second)."""
        idx = np.asarray(idx, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        known = 0 if self.idx is None or self.outlier is None else min(len(self.outlier), len(idx))
        weight = np.ones(len(idx))
        if known and np.array_equal(self.idx[:known], idx[:known]):
            weight[:known] = np.where(self.outlier[:known], OUTLIER_WEIGHT, 1.0)
        self.idx, self.y = idx, y
        y = y - self.logq[idx]
        self.offset = float(np.median(y))
        self._yc = y - self.offset
        self._cache: dict = {}
        for rnd in range(PASSES if choose else 2):
            self._fit(weight, choose and rnd < PASSES - 1 or (choose and rnd == 0))
            z = self.loo_z()
            out = (z < -OUTLIER_Z) | (weight > 1.0) & (z < 0)
            if out.sum() > MAX_OUTLIERS * len(z):
                out = z <= np.quantile(z, MAX_OUTLIERS)
            new = np.where(out, OUTLIER_WEIGHT, 1.0)
            if np.array_equal(new, weight):
                break
            weight = new
        self.outlier = weight > 1.0
        return self

    def _fit(self, weight: np.ndarray, choose: bool):
        n = len(self._yc)
        combos = itertools.product(LENGTHS_MN, LENGTHS_K, NOISE_RATIOS) if choose else [self.hyper]
        best = None
        for lmn, lk, lam in combos:
            base = self._cache.get((lmn, lk))
            if base is None:
                base = self._cache[(lmn, lk)] = self._corr(self.idx, self.idx, lmn, lk)
            noise = (lam + 1e-8) * weight
            try:
                chol = np.linalg.cholesky(base + np.diag(noise))
            except np.linalg.LinAlgError:
                continue
            z = np.linalg.solve(chol, self._yc)
            s2 = max(float(z @ z) / n, 1e-10)
            ll = -0.5 * n * math.log(s2) - float(np.log(np.diag(chol)).sum())
            if best is None or ll > best[0]:
                best = (ll, (lmn, lk, lam), chol, s2)
        if best is None:
            raise np.linalg.LinAlgError("no hyperparameters gave a positive-definite kernel")
        _, self.hyper, chol, self.s2 = best
        self.w = np.linalg.inv(chol)                # C^-1 = W^T W
        self.alpha = self.w.T @ (self.w @ self._yc)

    def loo_z(self) -> np.ndarray:
        """Leave-one-out residuals of the measured points, in standard deviations."""
        d = (self.w * self.w).sum(0)                # diag of C^-1
        return self.alpha / np.sqrt(d * self.s2)

    def loo(self) -> tuple[np.ndarray, np.ndarray]:
        """Leave-one-out residuals of the measured points (measured - predicted from the others, log
        TFLOPS) and the variance the model gave each prediction (latent and nugget)."""
        d = (self.w * self.w).sum(0)
        return self.alpha / d, self.s2 / d

    def nugget_var(self) -> float:
        """The fitted noise variance of log throughput (measurement noise and per-shape variation)."""
        return self.hyper[2] * self.s2

    def predict(self, idx) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean of log TFLOPS at `idx` and its latent (noise-free) standard deviation."""
        idx = np.asarray(idx, dtype=np.int64)
        lmn, lk, _ = self.hyper
        cross = self._corr(idx, self.idx, lmn, lk)
        mu = self.offset + cross @ self.alpha + self.logq[idx]
        v = cross @ self.w.T
        var = np.maximum(self.prior_var[idx] - (v * v).sum(1), 1e-12) * self.s2
        return mu, np.sqrt(var)
