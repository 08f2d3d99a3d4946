"""The MAMF search strategies on a candidate set: exhaustive (grid) and model-guided.

Guided, in three steps:
  1. screen  at the largest K of each M x N: a space-filling handful over log M x log N (the cheapest
             shape first, then always the shape farthest from those measured), among well-quantized shapes;
  2. K       for the two leaders, up to VARY_K other K values spread over the range (on a power-capped part
             K need not help monotonically); repeated for every new leader before the search may stop;
  3. model   a Gaussian process of log throughput (accelkern.mamf.model) predicts every unmeasured shape with
             an uncertainty; the next shape is the one with the largest chance to beat the best by more than
             the noise per second of predicted measuring cost, so cheap shapes and likely winners go first.
Stopping by statistics: the noise is the best shape's measured spread (2 standard errors), at least 1%; the
chance of an unmeasured shape is that its model value (latent, measurement noise left out) exceeds the best
measured by more than the noise. The search stops ("converged") when the TOP_CHANCES largest chances add up
to less than STOP_CHANCE (only the largest: neighbouring shapes' chances are correlated, so summing a long
tail of them would count one hope many times), and the leaders' K axes are walked; otherwise at --budget.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from accelkern.mamf.budget import Budget, Measured
from accelkern.mamf.candidates import Candidates
from accelkern.mamf.model import SurfaceModel

NOISE_FLOOR = 0.01        # a gain below 1% is not a gain (shape-to-shape noise of power-capped parts is 1-6%)
SCREEN_PER_DIM = 4        # screening shapes per varying dimension of M x N (plus the cheapest one)
STOP_CHANCE = 0.2         # stop when the largest chances to beat the best add up to less than this
TOP_CHANCES = 10          # ... the TOP_CHANCES largest
HOT_P = 1e-4              # between full evaluations only candidates with at least this chance are re-predicted
VARY_K = 5                # K values measured per leader
REFIT_GROWTH = 1.2        # hyperparameters re-chosen when the measured set grew by 20%


_erf = np.vectorize(math.erf, otypes=[float])


def _norm_cdf(z):
    return 0.5 * (1.0 + _erf(np.asarray(z) / math.sqrt(2.0)))


class Search:
    def __init__(self, runner, budget: Budget, progress: Callable[[str], None] = lambda m: None,
                 noise_floor: float = NOISE_FLOOR):
        self.r, self.budget, self.progress = runner, budget, progress
        self.noise_floor = noise_floor
        self.best: Measured | None = None
        self.tried = 0
        self.stop_reason = ""
        self.model: SurfaceModel | None = None

    def _try(self, s, why: str) -> Measured | None:
        key = (s, self.r.mode)
        if key in self.r.measured:
            return self.r.measured[key]
        if self.budget.exhausted():
            return None
        with self.budget:
            m = self.r.measure(s, why, rule=self._rule())
        self.tried += 1
        if m is not None and (self.best is None or m.tflops > self.best.tflops):
            self.best = m
        best = f"{self.best.tflops:.4g} at {self.best.shape}" if self.best else "-"
        self.progress(f"  [{self.tried}] {s} -> {m.tflops:.4g} ({why}) | best {best} | "
                      f"{self.budget.spent:.3g} s spent, {max(0.0, self.budget.left()):.3g} s left"
                      if m else f"  [{self.tried}] {s} skipped")
        return m

    def _rule(self):
        rule = getattr(self.r, "search_rule", None)
        return rule(self.budget.left()) if rule else None

    def noise(self) -> float:
        """The gain that counts: the best shape's measured spread (2 standard errors), at least the floor."""
        spread = self.best.spread if self.best is not None and self.best.spread else 0.0
        return max(self.noise_floor, 2.0 * spread)

    # ---- exhaustive ----------------------------------------------------------------------------

    def grid(self, cands: Candidates) -> Measured | None:
        for s in cands.shapes:
            if self.budget.exhausted():
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
        self._dead = np.zeros(len(c), dtype=bool)
        self._walked: set = set()
        for i in screening(c):
            self._measure(c, i, "screen at the largest K")
        self._vary_k(c)
        self._model_loop(c)
        return self.best

    def _measure(self, c: Candidates, i: int, why: str) -> bool:
        if self.budget.exhausted() or self._dead[i] or i in self._y:
            return False
        m = self._try(c.shapes[i], f"{why}; {c.why[i]}")
        if m is None or not m.tflops or m.tflops <= 0:
            self._dead[i] = True
            return False
        self._y[i] = math.log(m.tflops)
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

    def _model_loop(self, c: Candidates):
        model = self.model = SurfaceModel(c.m, c.n, c.k, c.q_best)
        chosen_at = 0
        hot = np.zeros(len(c), dtype=bool)      # candidates with a chance at the last full evaluation
        full = True
        while True:
            if self.budget.exhausted():
                self.stop_reason = "budget spent"
                return
            idx = np.fromiter(self._y, dtype=np.int64)
            if len(idx) < 2:
                self.stop_reason = "too few shapes could be measured for a model"
                return
            y = np.array([self._y[i] for i in idx])
            choose = len(idx) >= chosen_at * REFIT_GROWTH
            model.fit(idx, y, choose=choose)
            if choose:
                chosen_at, full = len(idx), True
            open_ = ~self._dead
            open_[idx] = False
            pool = np.flatnonzero(open_ if full else hot & open_)
            if len(pool) == 0:
                if full:
                    self.stop_reason = "every shape measured"
                    return
                full = True
                continue
            mu, sd = model.predict(pool)
            thr = float(y.max()) + math.log1p(self.noise())
            pi = 1.0 - _norm_cdf((thr - mu) / np.maximum(sd, 1e-9))
            chance = float(np.sort(pi)[-TOP_CHANCES:].sum())
            if full:
                hot[:] = False
                hot[pool[pi > HOT_P]] = True
            if chance < STOP_CHANCE:
                if full and self._vary_k(c):
                    continue      # the leaders changed since K was varied: their K axis first
                if full:
                    self.stop_reason = (f"converged: the chance that an unmeasured shape beats the best by more "
                                        f"than the noise ({self.noise():.1%}) is {min(chance, 1.0):.1%} (top "
                                        f"{TOP_CHANCES} of {len(pool)} summed)")
                    return
                full = True
                continue
            full = False
            cost = self.r.cost_s(c.flops[pool], np.exp(mu))
            k = int(np.argmax(pi / np.maximum(cost, 1e-9)))
            self._measure(c, int(pool[k]), f"model: predicted {math.exp(mu[k]):.4g} +- {sd[k]:.1%}, "
                                           f"{pi[k]:.0%} chance to beat the best")


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
