"""accelkern.fleet.outliers line by line: what is compared with what, the exact boundaries of the median rule
and the datasheet floors, the reasons' words, and which ranks and pairs a verdict names. Pure Python."""
import pytest

from accelkern.fleet import outliers
from accelkern.results import Row


def _row(suite="fleet-hbm", rank=0, value=3.0, name="copy", shape="16MiB", metric="TB/s", **kw):
    return Row(suite=suite, name=name, dtype="fp32", shape=shape, metric=metric, value=value,
               config={"rank": rank, **kw.pop("config", {})}, **kw)


def _flag(rows, tol=5.0, floors=None):
    return outliers.flag_rows(rows, tol, floors)


def test_the_documented_floors():
    assert outliers.FLOORS_PCT == {"fleet-hbm": 75.0, "fleet-gemm": 50.0, "fleet-mamf": 50.0, "fleet-peak": 60.0}
    assert (outliers.NOISE_Z, outliers.MAX_NOISE_ALLOWANCE, outliers.MEDIAN_SE) == (2.0, 0.5, 1.2533)
    assert outliers.SPEED_FLAGGED == ("fleet-gemm", "fleet-mamf", "fleet-hbm", "fleet-peak", "fleet-p2p")


def test_quantity_keys_say_what_is_compared_with_what():
    r = _row("fleet-p2p", config={"bytes": 64, "link": "nvlink", "collective": "x"})
    assert outliers.quantity_key(r) == ("fleet-p2p", 64, "nvlink")
    r = _row("fleet-collectives", config={"collective": "all_reduce", "bytes": 1024, "link": "x"})
    assert outliers.quantity_key(r) == ("fleet-collectives", "all_reduce", 1024)
    for suite in ("fleet-mamf", "fleet-peak"):     # each rank's own best shape: the shape is not part of it
        assert outliers.quantity_key(_row(suite, name="MAMF", shape="a")) == (suite, "MAMF", "fp32")
    assert outliers.quantity_key(_row("fleet-gemm", name="cublasLt", shape="8x8x8")) == \
        ("fleet-gemm", "cublasLt", "fp32", "8x8x8")
    assert outliers.quantity_key(_row("fleet-hbm")) == ("fleet-hbm", "copy", "fp32", "16MiB")


def test_different_quantities_get_their_own_medians():
    rows = [_row(rank=0, value=3.0), _row(rank=1, value=1.0, shape="1GiB"), _row(rank=2, value=3.2),
            _row("fleet-mamf", 0, 700.0, name="MAMF", shape="a"), _row("fleet-mamf", 1, 710.0, name="MAMF", shape="b")]
    _flag(rows)
    assert [r.config["fleet_median"] for r in rows] == [3.1, 1.0, 3.1, 705.0, 705.0]
    assert not any(r.config["flagged"] for r in rows)


def test_the_median_rule_flags_strictly_below_the_tolerance():
    rows = [_row(rank=0, value=100.0), _row(rank=1, value=95.0), _row(rank=2, value=100.0),
            _row(rank=3, value=94.99), _row(rank=4, value=130.0)]
    _flag(rows, tol=5.0)
    assert rows[0].config["fleet_median"] == 100.0
    assert [r.config["flagged"] for r in rows] == [False, False, False, True, False]   # exactly 0.95: not flagged
    assert rows[1].config["ratio_to_median"] == 0.95 and rows[4].config["ratio_to_median"] == 1.3
    assert rows[3].config["flag_reason"] == ("5.0% below the fleet median 100 TB/s (tolerance 5%)")
    assert rows[0].config["flag_reason"] is None
    _flag(rows, tol=0.0)
    assert [r.config["flagged"] for r in rows] == [False, True, False, True, False]
    assert rows[1].config["flag_reason"] == "5.0% below the fleet median 100 TB/s (tolerance 0%)"


def test_the_floor_is_strict_and_can_be_replaced():
    at = _row(rank=0, value=3.6, pct_of_spec=75.0, spec_value=4.8)
    under = _row(rank=1, value=3.6, pct_of_spec=74.9, spec_value=4.8)
    unknown = _row(rank=2, value=3.6, pct_of_spec=None)
    _flag([at, under, unknown])
    assert (at.config["flagged"], under.config["flagged"], unknown.config["flagged"]) == (False, True, False)
    assert under.config["flag_reason"] == "74.9% of the datasheet 4.8 TB/s, below the 75% floor"
    _flag([at, under], floors={})                  # no floors: nothing below a median either
    assert not at.config["flagged"] and not under.config["flagged"]
    _flag([at, under], floors={"fleet-hbm": 80.0})
    assert at.config["flagged"] and "below the 80% floor" in at.config["flag_reason"]


def test_floors_apply_per_suite():
    rows = [_row("fleet-gemm", 0, 500.0, name="g", metric="TFLOPS", pct_of_spec=50.5, spec_value=989.5),
            _row("fleet-mamf", 0, 490.0, name="MAMF", metric="TFLOPS", pct_of_spec=49.5, spec_value=989.5),
            _row("fleet-peak", 0, 590.0, name="p", metric="TFLOPS", pct_of_spec=59.6, spec_value=989.5),
            _row("fleet-p2p", 0, 10.0, metric="GB/s", pct_of_spec=1.0, config={"bytes": 1, "link": "x"})]
    _flag(rows)
    assert [r.config["flagged"] for r in rows] == [False, True, True, False]    # p2p has no floor
    assert rows[1].config["flag_reason"] == "49.5% of the datasheet 989.5 TFLOPS, below the 50% floor"


def test_both_reasons_are_given_together():
    rows = [_row(rank=0, value=4.0, pct_of_spec=83.3, spec_value=4.8),
            _row(rank=1, value=2.0, pct_of_spec=41.7, spec_value=4.8),
            _row(rank=2, value=4.0, pct_of_spec=83.3, spec_value=4.8)]
    _flag(rows)
    assert rows[1].config["flag_reason"] == ("50.0% below the fleet median 4 TB/s (tolerance 5%); "
                                            "41.7% of the datasheet 4.8 TB/s, below the 75% floor")


def test_failures_and_wrong_results_are_flagged_in_every_suite_and_left_out_of_the_median():
    failed = _row(rank=0, value=None, status="failed", note="CUDA error")
    silent = _row(rank=1, value=None, status="failed")
    wrong = _row(rank=2, value=9.0, correct=False)
    zero = _row(rank=3, value=0.0)
    skipped = _row(rank=4, value=1.0, status="skipped")
    fine = [_row(rank=5, value=3.0), _row(rank=6, value=3.2)]
    rows = [failed, silent, wrong, zero, skipped] + fine
    _flag(rows)
    assert fine[0].config["fleet_median"] == pytest.approx(3.1)      # 9.0, 0.0 and the skipped 1.0 left out
    assert failed.config["flag_reason"] == "measurement failed: CUDA error"
    assert silent.config["flag_reason"] == "measurement failed: no reason given"
    assert wrong.config["flag_reason"] == "wrong result" and wrong.config["ratio_to_median"] is None
    assert zero.config["ratio_to_median"] is None and not zero.config["flagged"]
    assert skipped.config["ratio_to_median"] is None and not skipped.config["flagged"]
    coll = _row("fleet-collectives", 0, 5.0, correct=False, config={"collective": "c", "bytes": 1})
    _flag([coll])
    assert coll.config["flag_reason"] == "wrong result"


def test_nothing_measured_leaves_no_median():
    rows = [_row(rank=0, value=None, status="failed"), _row(rank=1, value=0.0)]
    _flag(rows)
    assert [r.config["fleet_median"] for r in rows] == [None, None]
    assert [r.config["ratio_to_median"] for r in rows] == [None, None]


def test_collectives_are_never_flagged_by_speed():
    rows = [_row("fleet-collectives", r, v, metric="GB/s", config={"collective": "all_reduce", "bytes": 8})
            for r, v in enumerate((100.0, 10.0))]
    _flag(rows)
    assert rows[1].config["ratio_to_median"] == pytest.approx(10.0 / 55.0) and not rows[1].config["flagged"]


def test_the_verdict_names_ranks_and_pairs():
    rows = [_row(rank=0, value=3.0), _row(rank=3, value=1.0), _row(rank=1, value=3.0), _row(rank=3, value=0.5),
            _row("fleet-p2p", 2, 1.0, config={"src": 2, "dst": 0, "bytes": 1, "link": "x"}),
            _row("fleet-p2p", 1, 9.0, config={"src": 1, "dst": 0, "bytes": 1, "link": "x"}),
            _row("fleet-p2p", 0, 9.0, config={"src": 0, "dst": 1, "bytes": 1, "link": "x"}),
            _row("fleet-p2p", 2, 1.0, config={"src": 2, "dst": 0, "bytes": 1, "link": "x"}),
            _row("fleet-collectives", 5, 1.0, correct=False, config={"collective": "c", "bytes": 1})]
    _flag(rows)
    assert outliers.flagged_ranks(rows) == [3, 5]          # p2p rows name a pair, not a rank; sorted, once each
    assert outliers.flagged_pairs(rows) == [(2, 0)]
    assert outliers.flagged_ranks([]) == [] and outliers.flagged_pairs([]) == []


def test_flag_rows_returns_the_rows_it_flagged_in_place():
    rows = [_row()]
    assert outliers.flag_rows(rows, 5.0) is rows
    assert set(rows[0].config) == {"rank", "fleet_median", "ratio_to_median", "allowed_below", "flagged",
                                   "flag_reason"}


# ---- the noise allowance: a gap the figures' own spread explains is not an outlier ---------------------

def _noisy(rank, value, spread):
    return _row("fleet-gemm", rank, value, name="g", metric="TFLOPS", rel_stddev=spread)


def test_the_allowance_is_two_standard_deviations_of_the_gap():
    rows = [_noisy(0, 100.0, 0.02), _noisy(1, 100.0, 0.04), _noisy(2, 90.0, 0.03)]
    _flag(rows, tol=1.0)
    median_se = 1.2533 * 0.03 / 3 ** 0.5                  # the group's median spread, over sqrt(3 ranks)
    for r, own in zip(rows, (0.02, 0.04, 0.03)):
        assert r.config["allowed_below"] == pytest.approx(2.0 * (own ** 2 + median_se ** 2) ** 0.5, rel=1e-12)
    assert rows[2].config["flagged"] and rows[2].config["flag_reason"] == (
        "10.0% below the fleet median 100 TFLOPS (more than the tolerance 1% and 2 standard deviations of the "
        f"measured spread, {rows[2].config['allowed_below']:.1%})")


def test_the_tolerance_wins_when_it_is_larger_and_is_named_alone():
    rows = [_noisy(0, 100.0, 0.001), _noisy(1, 100.0, 0.001), _noisy(2, 80.0, 0.001)]
    _flag(rows, tol=10.0)
    assert rows[2].config["allowed_below"] == pytest.approx(0.10)
    assert rows[2].config["flag_reason"] == "20.0% below the fleet median 100 TFLOPS (tolerance 10%)"
    edge = [_noisy(0, 100.0, None), _noisy(1, 100.0, None), _noisy(2, 90.0, None)]
    _flag(edge, tol=10.0)                                  # exactly the tolerance below: allowed
    assert not edge[2].config["flagged"] and edge[2].config["allowed_below"] == pytest.approx(0.10)


def test_unusable_spreads_count_as_none_and_the_allowance_is_capped():
    for bad in (None, float("nan"), float("inf"), -0.1, 0.0, "3%"):
        rows = [_noisy(0, 100.0, bad), _noisy(1, 100.0, bad), _noisy(2, 96.0, bad)]
        _flag(rows, tol=3.0)
        assert rows[2].config["allowed_below"] == pytest.approx(0.03), bad
        assert rows[2].config["flagged"], bad                # 4% below, no spread to excuse it
    wild = [_noisy(0, 100.0, 5.0), _noisy(1, 100.0, 5.0), _noisy(2, 51.0, 5.0)]
    _flag(wild, tol=1.0)
    assert wild[2].config["allowed_below"] == 0.5 and not wild[2].config["flagged"]     # 49% below: inside
    wild[2].value = 49.0
    _flag(wild, tol=1.0)
    assert wild[2].config["flagged"]                          # past half the median: whatever the noise


def test_an_unmeasured_row_gets_no_allowance_and_its_spread_stays_out():
    rows = [_noisy(0, 100.0, 0.01), _noisy(1, 100.0, 0.01), _noisy(2, None, 0.9)]
    rows[2].status = "failed"
    _flag(rows, tol=1.0)
    assert rows[2].config["allowed_below"] is None
    assert rows[0].config["allowed_below"] == pytest.approx(2.0 * (0.01 ** 2 + (1.2533 * 0.01 / 2 ** 0.5) ** 2) ** 0.5)
