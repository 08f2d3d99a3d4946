"""The guided search's stop (accelkern/mamf/stop.py) on given chances and costs: the doubts it computes,
where each threshold lies, and the `converged` line. Pure arithmetic, no search."""
import math

import numpy as np
import pytest

from accelkern.mamf import search, stop


def test_union_of_independent_chances():
    assert stop._union(np.array([0.5, 0.5])) == pytest.approx(0.75)
    assert stop._union(np.array([0.1, 0.2, 0.3])) == pytest.approx(1 - 0.9 * 0.8 * 0.7)
    assert stop._union(np.array([])) == 0.0
    assert stop._union(np.array([1.0, 0.3])) == 1.0


def test_doubt_counts_only_the_ten_likeliest_and_the_next_ten_per_second():
    rng = np.random.default_rng(3)
    shape = rng.uniform(0, 0.05, 30)
    region = rng.uniform(0, 0.02, 30)
    costs = rng.uniform(0.1, 2.0, 30)
    d = stop.doubt(region, shape, costs, left_s=50.0)
    top = np.sort(shape)[-10:]
    assert d.chance == pytest.approx(1 - np.prod(1 - top))
    assert d.region == pytest.approx(1 - np.prod(1 - np.sort(region)[-10:]))
    nxt = np.argsort(-shape / costs)[:10]            # most chance per second first
    assert d.settled == pytest.approx(1 - np.prod(1 - shape[nxt]))
    assert d.price_s == pytest.approx(costs[nxt].sum())
    assert d.rest_s == pytest.approx(costs.sum()) and d.open_ == 30 and d.left_s == 50.0
    assert stop.doubt([0.1], [0.1], [1.0], left_s=-3.0).left_s == 0.0     # an overspent budget counts as none
    assert stop.doubt([0.1], [0.1], [0.0], left_s=1.0).price_s == pytest.approx(1e-12)   # no free shape


def _d(region=0.0, chance=0.5, settled=0.5, price_s=1.0, left_s=100.0, rest_s=1000.0, open_=50):
    return stop.Doubt(region=region, chance=chance, settled=settled, price_s=price_s, left_s=left_s,
                      rest_s=rest_s, open_=open_)


def test_a_certain_gain_is_worth_a_tenth_of_what_is_left_but_never_more_than_measuring_all():
    assert _d(left_s=100.0, rest_s=1000.0).gain_s == pytest.approx(10.0)
    assert _d(left_s=100.0, rest_s=4.0).gain_s == pytest.approx(4.0)
    assert _d(settled=0.25, left_s=100.0).worth == pytest.approx(2.5)


def test_where_the_stop_lies():
    # a better region keeps the search going at a 20% chance, whatever removing it costs
    assert not _d(region=0.2, chance=0.001, price_s=1e9).small_enough
    assert _d(region=0.1999, chance=0.001).small_enough
    # a shape doubt below 1% is accepted however cheap its removal
    assert _d(chance=0.0099, settled=0.0099, price_s=1e-9).small_enough
    assert not _d(chance=0.01, settled=0.5, price_s=1.0).small_enough       # worth 5 s > 1 s: measure on
    # otherwise: stop when the next measurements cost more than what they would settle is worth
    assert _d(chance=0.5, settled=0.5, price_s=5.0001).small_enough       # worth 0.5 x 10 s = 5 s
    assert not _d(chance=0.5, settled=0.5, price_s=5.0).small_enough


def test_converged_line_says_what_remained_and_why():
    below = _d(region=0.05, chance=0.004, open_=7).why(0.012)
    assert below.startswith("converged: the chance that one of the 7 likeliest of 7 unmeasured shapes beats the "
                            "best by more than the noise (1.2%) is 0.4% (5.0% for a better region)")
    assert below.endswith(", below 1%")
    dear = _d(chance=0.3, settled=0.2, price_s=4.0, left_s=30.0, rest_s=900.0, open_=400).why(0.01)
    assert "one of the 10 likeliest of 400" in dear and "is 30.0%" in dear
    assert "the next 10 measurements would settle 20.0% of it for 4 s" in dear
    assert "worth 3 s: 10% of the 30 s left)" in dear
    allof = _d(chance=0.3, settled=0.2, price_s=4.0, left_s=300.0, rest_s=2.5, open_=3).why(0.01)
    assert "worth 2.5 s: what measuring all 3 would cost)" in allof and "the next 3 measurements" in allof


def test_normal_tail_used_for_the_chances():
    assert search._norm_sf(0.0) == pytest.approx(0.5)
    assert search._norm_sf(1.0) == pytest.approx(0.15865525393145707)
    assert search._norm_sf(-2.0) == pytest.approx(0.9772498680518208)
    assert search._norm_sf(np.array([3.0]))[0] == pytest.approx(0.5 * math.erfc(3 / math.sqrt(2)))
