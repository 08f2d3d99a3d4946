"""A healthy fleet passes: the outlier rule allows for each figure's measured spread and the number of ranks,
and CPU ranks of one node run on disjoint physical cores."""
import pytest

from accelkern.fleet import outliers, ranks
from accelkern.results import Row


def _gemm(rank, value, spread=None):
    return Row(suite="fleet-gemm", name="torch.mm", dtype="fp32", shape="512x512x512", metric="TFLOPS", value=value,
               rel_stddev=spread, config={"rank": rank})


def test_a_gap_the_measured_spread_explains_is_not_flagged():
    # two CPU ranks 12% apart whose calls scatter by 8%: the slower is 6.4% below the median, inside
    # 2 x hypot(8%, 1.2533 x 8% / sqrt(2)) = 24.4%
    rows = [_gemm(0, 1.0, 0.08), _gemm(1, 0.88, 0.08)]
    outliers.flag_rows(rows, tolerance_pct=5)
    assert not any(r.config["flagged"] for r in rows)
    assert rows[1].config["allowed_below"] == pytest.approx(2 * (0.08 ** 2 + (1.2533 * 0.08 / 2 ** 0.5) ** 2) ** 0.5)
    # the same gap with quiet figures (0.5% spread) is a slow rank
    rows = [_gemm(0, 1.0, 0.005), _gemm(1, 0.88, 0.005)]
    outliers.flag_rows(rows, tolerance_pct=5)
    assert [r.config["flagged"] for r in rows] == [False, True]
    assert "6.4% below the fleet median" in rows[1].config["flag_reason"]


def test_more_ranks_make_the_median_surer_and_the_allowance_smaller():
    few = [_gemm(0, 1.0, 0.04), _gemm(1, 0.9, 0.04)]
    many = [_gemm(r, 1.0, 0.04) for r in range(15)] + [_gemm(15, 0.9, 0.04)]
    outliers.flag_rows(few, tolerance_pct=5)
    outliers.flag_rows(many, tolerance_pct=5)
    assert many[-1].config["allowed_below"] < few[-1].config["allowed_below"]
    # 2 ranks: 5.3% below a median the gap itself moves, inside 10.7%; 16 ranks: 10% below, past 8.3%
    assert not few[-1].config["flagged"] and many[-1].config["flagged"]


def test_no_noise_hides_a_rank_at_half_the_median():
    rows = [_gemm(0, 1.0, 3.0), _gemm(1, 1.0, 3.0), _gemm(2, 0.45, 3.0)]       # wildly noisy figures
    outliers.flag_rows(rows, tolerance_pct=5)
    assert rows[2].config["allowed_below"] == outliers.MAX_NOISE_ALLOWANCE and rows[2].config["flagged"]


def test_cpu_ranks_get_disjoint_whole_cores(monkeypatch):
    # 4 cores with 2 SMT siblings each, numbered as Linux does (siblings n and n + 4)
    monkeypatch.setattr(ranks.os, "sched_getaffinity", lambda pid: set(range(8)))
    monkeypatch.setattr(ranks, "_core_of", lambda cpu: (0, cpu % 4))
    shares = [ranks.cpu_share(r, 2) for r in range(2)]
    assert shares == [[[0, 4], [1, 5]], [[2, 6], [3, 7]]]
    cpus = [{c for core in s for c in core} for s in shares]
    assert not cpus[0] & cpus[1]
    assert ranks.cpu_share(0, 5) is None                    # fewer cores than ranks: they cannot be disjoint
