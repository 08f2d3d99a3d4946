"""When the guided search may stop: the chance left against the price of removing it.

The doubt is the summed chance of the TOP_CHANCES unmeasured shapes likeliest to beat the best by more
than the noise (only the largest: neighbouring shapes' chances are correlated, so summing a long tail of
them would count one hope many times). Removing it costs what measuring those shapes costs (predicted).
A user quotes the headline, so the risk accepted shrinks as that price falls: a gain beyond the noise,
were it certain, is worth VALUE_SHARE of the budget left; a doubt is worth removing while its chance times
that value exceeds the price of removing it:

    accepted = price / (VALUE_SHARE x budget left), within [FLOOR_CHANCE, STOP_CHANCE]

On a short sweep (each shape costs a sliver of the budget) the search goes on while a few per cent of
chance remain; on a 20k lattice, whose top shapes are the expensive ones, it stops at STOP_CHANCE, the
most ever accepted. FLOOR_CHANCE: chances are model estimates, not more precise than that. Seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STOP_CHANCE = 0.2      # the most risk ever accepted
VALUE_SHARE = 0.1      # a certain gain beyond the noise is worth this share of the budget left
FLOOR_CHANCE = 0.01    # the least
TOP_CHANCES = 10


@dataclass
class Doubt:
    """The chance left (summed over the top shapes), what measuring them would cost, the risk accepted."""
    chance: float
    price_s: float
    left_s: float
    accepted: float
    shapes: int           # how many open shapes carry the chance (of how many open)
    open_: int

    @property
    def small_enough(self) -> bool:
        return self.chance < self.accepted

    def why(self, noise: float) -> str:
        """The `converged` line: what remained and why it was not worth removing."""
        price = (f"measuring the {self.shapes} likeliest would cost {self.price_s:.3g} s"
                 + (f" of the {self.left_s:.3g} s left" if self.left_s > 0 else ""))
        if self.accepted >= STOP_CHANCE:
            verdict = f"dear, so the largest risk, {STOP_CHANCE:.0%}, is accepted"
        elif self.accepted <= FLOOR_CHANCE:
            verdict = f"cheap, so only the least risk, {FLOOR_CHANCE:.0%}, is accepted"
        else:
            verdict = (f"more than the chance is worth (a certain gain: {VALUE_SHARE:.0%} of the budget left), "
                       f"so a {self.accepted:.1%} risk is accepted at that price")
        return (f"converged: the chance that an unmeasured shape beats the best by more than the noise "
                f"({noise:.1%}) is {min(self.chance, 1.0):.1%} (top {self.shapes} of {self.open_} open shapes "
                f"summed); {price}, {verdict}")


def doubt(chances: np.ndarray, costs_s: np.ndarray, left_s: float) -> Doubt:
    """The doubt of the open shapes (their chances to beat the best, their predicted costs in seconds)."""
    chances = np.asarray(chances, dtype=np.float64)
    top = np.argsort(-chances)[:TOP_CHANCES]
    chance = float(chances[top].sum())
    price = float(np.asarray(costs_s, dtype=np.float64)[top].sum()) if len(top) else 0.0
    left = max(0.0, left_s)
    accepted = price / (VALUE_SHARE * left) if left > 0 else STOP_CHANCE
    accepted = min(STOP_CHANCE, max(FLOOR_CHANCE, accepted))
    return Doubt(chance, price, left, accepted, len(top), len(chances))
