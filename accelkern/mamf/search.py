"""The MAMF search strategies on a candidate set: exhaustive (grid) and model-guided.

Guided, in four steps:
  1. screen      at the largest K of each M x N: a space-filling handful over log M x log N (the cheapest
                 shape first, then always the shape farthest from those measured), among well-quantized shapes;
  2. K           for the two leaders after screening, up to VARY_K other K values spread over the range (on
                 a power-capped part K need not help monotonically);
  3. model       a Gaussian process of log throughput (accelkern.mamf.model) predicts every unmeasured shape,
                 checked against its own earlier predictions (accelkern.mamf.calibration), for two chances
                 to beat the best by more than the noise: its region's (the model's surface) and its own
                 (with the shape-to-shape scatter the measurements showed beyond their noise). While a
                 better region is likely, the next shape is the one with the most region chance per second
                 of predicted measuring cost; after that, the one with the most chance of its own;
  4. neighbours  before the search may stop, the leader's neighbours (the next M, N and K of the set on each
                 side) are measured, again for every new leader: quantization makes the neighbourhood of a
                 winner the likeliest place for a better shape, and it is cheap.
The noise is the best shape's measured spread (2 standard errors), at least 1%. The search stops
("converged") when the chance left is small against the price of removing it (accelkern.mamf.stop) and no
recent prediction missed upward, or when the budget is spent (less what the job keeps for its re-measures).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from accelkern.mamf import stop
from accelkern.mamf.budget import Budget, Measured
from accelkern.mamf.calibration import Calibration
from accelkern.mamf.candidates import Candidates
from accelkern.mamf.model import SurfaceModel

NOISE_FLOOR = 0.01        # a gain below 1% is not a gain (shape-to-shape noise of power-capped parts is 1-6%)
SCREEN_PER_DIM = 4        # screening shapes per varying dimension of M x N (plus the cheapest one)
HOT_P = 1e-4              # between full evaluations only candidates with at least this chance are re-predicted
VARY_K = 5                # K values measured per leader
REFIT_GROWTH = 1.2        # hyperparameters re-chosen when the measured set grew by 20%


_erf = np.vectorize(math.erf, otypes=[float])


def _norm_sf(z):
    """P(Z > z) for a standard normal Z."""
    return 0.5 * (1.0 - _erf(np.asarray(z) / math.sqrt(2.0)))


class Search:
    """`reserve_s(best)`: seconds of the budget the caller keeps for after the search (its re-measures)."""

    def __init__(self, runner, budget: Budget, progress: Callable[[str], None] = lambda m: None,
                 noise_floor: float = NOISE_FLOOR, reserve_s: Callable[[Measured | None], float] = lambda b: 0.0):
        self.r, self.budget, self.progress = runner, budget, progress
        self.noise_floor = noise_floor
        self.reserve_s = reserve_s
        self.best: Measured | None = None
        self.tried = 0
        self.stop_reason = ""
        self.model: SurfaceModel | None = None
        self.calibration = Calibration()
        self.doubt: stop.Doubt | None = None

    def left(self) -> float:
        """Seconds of the budget the search may still spend."""
        return self.budget.left() - self.reserve_s(self.best)

    def exhausted(self) -> bool:
        """No measurement fits any more (not even its set-up and warm-up, where the runner has seen them)."""
        return self.left() <= getattr(self.r, "overhead_s", 0.0)

    def _try(self, s, why: str) -> Measured | None:
        key = (s, self.r.mode)
        if key in self.r.measured:
            return self.r.measured[key]
        if self.exhausted():
            return None
        with self.budget:
            m = self.r.measure(s, why, rule=self._rule())
        self.tried += 1
        if m is not None and (self.best is None or m.tflops > self.best.tflops):
            self.best = m
        best = f"{self.best.tflops:.4g} at {self.best.shape}" if self.best else "-"
        self.progress(f"  [{self.tried}] {s} -> {m.tflops:.4g} ({why}) | best {best} | "
                      f"{self.budget.spent:.3g} s spent, {max(0.0, self.left()):.3g} s left"
                      if m else f"  [{self.tried}] {s} skipped")
        return m

    def _rule(self):
        rule = getattr(self.r, "search_rule", None)
        return rule(self.left()) if rule else None

    def noise(self) -> float:
        """The gain that counts: the best shape's measured spread (2 standard errors), at least the floor."""
        spread = self.best.spread if self.best is not None and self.best.spread else 0.0
        return max(self.noise_floor, 2.0 * spread)

    # ---- exhaustive ----------------------------------------------------------------------------

    def grid(self, cands: Candidates) -> Measured | None:
        for s in cands.shapes:
            if self.exhausted():
                self.stop_reason = "budget spent"
                return self.best
            self._try(s, "grid")
        self.stop_reason = "every shape measured"
        return self.best

    # ---- guided --------------------------------------------------------------------------------

    def guided(self, c: Candidates) -> Measured | None:
        if len(c) == 0:
            self.stop_reason = "no candidate"
            return None
        self._y: dict[int, float] = {}
        self._var: dict[int, float] = {}          # measurement variance of log throughput, when measured
        self._dead = np.zeros(len(c), dtype=bool)
        self._walked: set = set()
        self._fitted = False
        for i in screening(c):
            self._measure(c, i, "screen at the largest K")
        self._vary_k(c)
        self._model_loop(c)
        return self.best

    def _measure(self, c: Candidates, i: int, why: str) -> bool:
        if self.exhausted() or self._dead[i] or i in self._y:
            return False
        before = self.calibration.predict(self.model, [i], observed=True) if self._fitted else None
        m = self._try(c.shapes[i], f"{why}; {c.why[i]}")
        if m is None or not m.tflops or m.tflops <= 0:
            self._dead[i] = True
            return False
        self._y[i] = math.log(m.tflops)
        if m.spread:
            self._var[i] = m.spread ** 2
        if before is not None:
            self.calibration.record(self._y[i], float(before[0][0]), float(before[1][0]))
        return True

    def _vary_k(self, c: Candidates, leaders: int = 2, per_leader: int = VARY_K) -> int:
        """Other K values of the leaders' M x N (at most `per_leader`, spread over the range), once per M x N:
        the K axis of one M x N does not tell another's (the library may pick another tile at another K).
        Returns how many shapes were measured."""
        ranked = sorted(self._y, key=lambda i: -self._y[i])[:leaders]
        new = 0
        for i in ranked:
            mn = (int(c.m[i]), int(c.n[i]))
            if mn in self._walked:
                continue
            self._walked.add(mn)
            same = np.flatnonzero((c.m == c.m[i]) & (c.n == c.n[i]) & (c.k != c.k[i]))
            same = same[np.argsort(-c.k[same])]
            if len(same) > per_leader:
                same = same[np.round(np.linspace(0, len(same) - 1, per_leader)).astype(int)]
            for j in same:
                new += self._measure(c, int(j), f"K for the leader {c.shapes[i]}")
        return new

    def _neighbours(self, c: Candidates) -> int:
        """The leader's neighbours along each axis of the set (see Candidates.neighbours)."""
        lead = max(self._y, key=self._y.get)
        return sum(self._measure(c, j, f"next to the leader {c.shapes[lead]}") for j in c.neighbours(lead))

    def _before_stopping(self, c: Candidates) -> int:
        """Shapes measured because the leader's surroundings were not yet (0: the search may stop)."""
        return self._neighbours(c)

    def _measured_var(self) -> float:
        """The measurement variance of log throughput the runner reported (0 when it reported none)."""
        return float(np.mean(list(self._var.values()))) if self._var else 0.0

    def _chances(self, pool: np.ndarray, y_best: float):
        """Per shape: the mean, and the calibrated spread and chance to beat the best by more than the noise,
        of its region (the model's surface) and of the shape itself (with its scatter)."""
        mu, sd_region, sd_shape = self.calibration.spreads(self.model, pool)
        thr = y_best + math.log1p(self.noise())
        out = [mu]
        for sd in (sd_region, sd_shape):
            sd = np.maximum(sd, 1e-9)
            z = (thr - mu) / sd
            chance = np.zeros(len(z))
            near = z < 9.0              # beyond 9 sd the chance is below 1e-19: not worth an erf
            chance[near] = _norm_sf(z[near])
            out += [sd, chance]
        return out

    def _model_loop(self, c: Candidates):
        model = self.model = SurfaceModel(c.m, c.n, c.k, c.q_best)
        chosen_at = 0
        hot = np.zeros(len(c), dtype=bool)      # candidates with a chance at the last full evaluation
        full = True
        while True:
            if self.exhausted():
                self.stop_reason = "budget spent"
                return
            idx = np.fromiter(self._y, dtype=np.int64)
            if len(idx) < 2:
                self.stop_reason = "too few shapes could be measured for a model"
                return
            y = np.array([self._y[i] for i in idx])
            choose = len(idx) >= chosen_at * REFIT_GROWTH
            model.fit(idx, y, choose=choose)
            self._fitted = True
            self.calibration.update(model, self._measured_var())
            if choose:
                chosen_at, full = len(idx), True
            open_ = ~self._dead
            open_[idx] = False
            pool = np.flatnonzero(open_ if full else hot & open_)
            if len(pool) == 0:
                if full:              # every shape measured or failed (the leader's neighbours too)
                    self.stop_reason = "every shape measured"
                    return
                full = True           # the hot set ran out: look at every shape again
                continue
            mu, sd_r, p_r, sd_s, p_s = self._chances(pool, float(y.max()))
            cost = np.maximum(self.r.cost_s(c.flops[pool], np.exp(mu)), 1e-9)
            d = stop.doubt(p_r, p_s, cost, self.left())
            if full:
                hot[:] = False
                hot[pool[p_s > HOT_P]] = True
                self.doubt = d
                if d.small_enough and self.calibration.recent_miss() is None:
                    if self._before_stopping(c):
                        continue      # the leader's surroundings first, then look again
                    self.stop_reason = (d.why(self.noise()) + "; " + self.calibration.summary())
                    return
            elif d.small_enough:
                full = True           # the hot shapes look settled: judge on every shape
                continue
            full = False
            # a better region first (the model's surface), then single shapes where they are cheap
            region = d.region >= stop.REGION_CHANCE
            pi, sd = (p_r, sd_r) if region else (p_s, sd_s)
            k = int(np.argmax(pi / cost))
            self._measure(c, int(pool[k]), f"model: predicted {math.exp(mu[k]):.4g} +- {sd[k]:.1%}, "
                                           f"{pi[k]:.0%} chance to beat the best"
                                           + (" (its region)" if region else ""))


def screening(c: Candidates) -> list[int]:
    """The screening shapes, cheapest first: at each M x N's largest K, the cheapest well-quantized shape
    and then repeatedly the one farthest (in log M, log N) from those chosen."""
    keys = {}
    for i in range(len(c)):
        mn = (int(c.m[i]), int(c.n[i]))
        if mn not in keys or c.k[i] > c.k[keys[mn]]:
            keys[mn] = i
    pool = np.array(sorted(keys.values()), dtype=np.int64)
    good = pool[c.q_best[pool] >= 0.9 * c.q_best[pool].max()]
    dims = int(len(set(c.m[pool].tolist())) > 1) + int(len(set(c.n[pool].tolist())) > 1)
    want = min(len(good), 1 + SCREEN_PER_DIM * dims)
    pts = np.column_stack([np.log2(c.m[good]), np.log2(c.n[good])])
    chosen = [int(np.argmin(c.flops[good]))]
    dist = np.linalg.norm(pts - pts[chosen[0]], axis=1)
    while len(chosen) < want:
        j = int(np.argmax(dist))
        if dist[j] <= 0:
            break
        chosen.append(j)
        dist = np.minimum(dist, np.linalg.norm(pts - pts[j], axis=1))
    out = [int(good[j]) for j in chosen]
    return sorted(out, key=lambda i: c.flops[i])
