"""When the guided search may stop: the chance left against the price of removing it.

Two doubts, each the chance that at least one of the TOP_CHANCES unmeasured shapes likeliest to beat the
best by more than the noise does (only the likeliest: neighbouring shapes' chances are correlated, so a
long tail of them would count one hope many times):
  region  by the model's surface alone (its latent spread): a better region not yet seen. Accepted below
          REGION_CHANCE, whatever it would cost to remove: the search measures the region likeliest per
          second of cost first, as long as it is larger;
  shape   with each shape's own scatter (the library picks another kernel for the next shape): a better
          single shape. Removing it means measuring the shapes with the most chance per second of cost;
          the next TOP_CHANCES of them would settle part of it (the chance that one of them beats the best)
          for their summed cost. A user quotes the headline, so the risk accepted shrinks as that price
          falls: a gain beyond the noise, were it certain, is worth VALUE_SHARE of the budget left, but never
          more than measuring every unmeasured shape would cost (that finds it surely), and the search goes
          on while  settled chance x that worth >= cost,  unless the doubt is below FLOOR_CHANCE (chances
          are model estimates, not more precise than that).
On a short sweep (each shape a sliver of the budget) that means measuring while a few per cent of chance
remain; on a 20k lattice whose likeliest shapes are the large, expensive ones, it stops once only they
could still do better. Seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REGION_CHANCE = 0.2    # a better region is looked for until its chance is below this
VALUE_SHARE = 0.1      # a certain gain beyond the noise is worth this share of the budget left
FLOOR_CHANCE = 0.01    # a doubt this small is accepted however cheap its removal
TOP_CHANCES = 10


def _union(p: np.ndarray) -> float:
    """The chance that at least one of independent events of chances `p` happens."""
    return 1.0 - float(np.prod(1.0 - p))


@dataclass
class Doubt:
    """The chances left, and what the next measurements would settle of the shape doubt and cost."""
    region: float          # one of the likeliest regions beats the best by the noise
    chance: float          # one of the likeliest shapes does
    settled: float         # one of the next TOP_CHANCES measurements does
    price_s: float         # their predicted cost, seconds
    left_s: float          # budget left to the search, seconds
    rest_s: float          # what measuring every unmeasured shape would cost, seconds
    open_: int             # unmeasured shapes

    @property
    def gain_s(self) -> float:
        """What a certain gain beyond the noise is worth, seconds."""
        return min(VALUE_SHARE * self.left_s, self.rest_s)

    @property
    def worth(self) -> float:
        """The next measurements' worth in seconds: the chance they settle x a certain gain's worth."""
        return self.settled * self.gain_s

    @property
    def small_enough(self) -> bool:
        if self.region >= REGION_CHANCE:
            return False
        return self.chance < FLOOR_CHANCE or self.worth < self.price_s

    def why(self, noise: float) -> str:
        """The `converged` line: what remained and why it was not worth removing."""
        n = min(TOP_CHANCES, self.open_)
        head = (f"converged: the chance that one of the {n} likeliest of {self.open_} unmeasured shapes beats "
                f"the best by more than the noise ({noise:.1%}) is {self.chance:.1%} ({self.region:.1%} for a "
                f"better region)")
        if self.chance < FLOOR_CHANCE:
            return head + f", below {FLOOR_CHANCE:.0%}"
        whose = (f"{VALUE_SHARE:.0%} of the {self.left_s:.3g} s left" if self.gain_s < self.rest_s else
                 f"what measuring all {self.open_} would cost")
        return (head + f"; the next {n} measurements would settle {self.settled:.1%} of it for {self.price_s:.3g} "
                f"s, more than that chance is worth (a certain gain beyond the noise is worth {self.gain_s:.3g} "
                f"s: {whose})")


def doubt(region: np.ndarray, shape: np.ndarray, costs_s: np.ndarray, left_s: float) -> Doubt:
    """The doubts of the open shapes from their chances (of their region, of the shape itself) to beat the
    best and their predicted costs in seconds."""
    region = np.asarray(region, dtype=np.float64)
    shape = np.asarray(shape, dtype=np.float64)
    costs_s = np.maximum(np.asarray(costs_s, dtype=np.float64), 1e-12)
    top = TOP_CHANCES
    nxt = np.argsort(-shape / costs_s)[:top]
    return Doubt(region=_union(np.sort(region)[-top:]), chance=_union(np.sort(shape)[-top:]),
                 settled=_union(shape[nxt]), price_s=float(costs_s[nxt].sum()), left_s=max(0.0, left_s),
                 rest_s=float(costs_s.sum()), open_=len(shape))
