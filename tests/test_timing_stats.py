"""timing's statistics at their edges: StopRule's defaults and refusals, the incremental tracker on tiny and
growing streams, every branch of both stopping criteria at its exact boundary, and TimingStats' fields.
Pure numpy, synthetic samples (tests/test_timing.py has the harness around them)."""
import math

import numpy as np
import pytest

from accelkern import timing


def test_stop_rule_defaults():
    r = timing.StopRule()
    assert (r.min_samples, r.max_samples, r.min_time_s, r.max_time_s, r.target_noise, r.criterion) == \
        (10, 100_000, 0.05, 5.0, 0.005, "nvbench")
    assert (timing.STABLE_MIN_SAMPLES, timing.STABLE_REL_SPREAD) == (128, 0.05)
    assert timing.CRITERIA == ("nvbench", "median-stderr")


def test_stop_rule_refusals_at_their_boundaries():
    timing.StopRule(min_samples=1, max_samples=1, max_time_s=1e-9, target_noise=1e-12)      # all allowed
    for kw in ({"min_samples": 0}, {"min_samples": 5, "max_samples": 4}):
        with pytest.raises(ValueError, match=r"^need 1 <= min_samples <= max_samples$"):
            timing.StopRule(**kw)
    for kw in ({"max_time_s": 0}, {"max_time_s": -1}, {"target_noise": 0}, {"target_noise": -0.1}):
        with pytest.raises(ValueError, match=r"^max_time_s and target_noise must be positive$"):
            timing.StopRule(**kw)
    with pytest.raises(ValueError, match=r"^criterion 'x' unknown; allowed: nvbench, median-stderr$"):
        timing.StopRule(criterion="x")


def test_tracker_on_no_one_and_two_samples():
    t = timing.StopRule().tracker()
    assert t.n == 0 and math.isnan(t.mean) and t.stddev == 0.0 and t.rel_stddev == math.inf and t.measured_s == 0.0
    t.extend([])
    assert t.n == 0 and t.noise.n == 0
    t.extend([2.0])
    assert (t.n, t.mean, t.stddev, t.rel_stddev, t.noise.n) == (1, 2.0, 0.0, math.inf, 0)
    t.extend(np.array([[4.0]]))
    assert t.n == 2 and t.mean == 3.0 and t.stddev == pytest.approx(math.sqrt(2.0))
    assert t.rel_stddev == pytest.approx(math.sqrt(2.0) / 3.0) and list(t.noise.values) == [pytest.approx(math.sqrt(2) / 3)]
    neg = timing.StopRule().tracker()
    neg.extend([-1.0, -3.0])
    assert neg.rel_stddev == math.inf                         # a mean <= 0 has no relative spread


def test_tracker_grows_past_its_first_buffer_and_keeps_every_sample():
    t = timing.StopRule().tracker(calls_per_sample=3)
    xs = np.linspace(1.0, 2.0, 1000)
    for chunk in np.array_split(xs, 3):
        t.extend(chunk)
    assert t.n == 1000 and np.array_equal(t.samples.values, xs) and t.noise.n == 999
    assert t.measured_s == pytest.approx(3 * xs.sum(), rel=1e-12) and t.calls_per_sample == 3
    assert t.stddev == pytest.approx(np.std(xs, ddof=1), rel=1e-12)


def _tracker(xs, **rule):
    t = timing.StopRule(**{"min_samples": 2, "min_time_s": 0.0, "max_time_s": 1e9, **rule}).tracker()
    t.extend(xs)
    return t


def test_nvbench_converges_at_exactly_the_target_noise():
    xs = [1.0, 3.0]                                         # relative stddev sqrt(2) / 2
    at = math.sqrt(2.0) / 2.0
    assert _tracker(xs, target_noise=at)._noise_ok() == "converged"
    assert _tracker(xs, target_noise=at * 0.999)._noise_ok() is None
    empty = timing.StopRule().tracker()
    assert empty._noise_ok() is None


def test_noise_stable_needs_enough_samples_and_a_settled_history():
    rng = np.random.default_rng(11)
    flat = 1.0 + 0.03 * rng.standard_normal(4000)
    t = _tracker(flat[:timing.STABLE_MIN_SAMPLES - 1])
    assert t._noise_ok() is None                            # one sample short of the stability test
    t = _tracker(flat)
    assert t._noise_ok() == "noise_stable"
    window = t.noise.values[-max(32, t.n // 2):]
    now = t.noise.values[-1]
    assert float(np.sqrt(np.mean((window - now) ** 2))) < timing.STABLE_REL_SPREAD * now
    ramp = _tracker(np.concatenate([np.ones(200), 1.0 + 0.5 * np.arange(1, 201)]))
    assert ramp._noise_ok() is None                         # the noise estimate still climbs


def _with_history(n, hist):
    """A tracker of n samples whose nvbench noise history is `hist` (the window's length follows n)."""
    t = timing.StopRule(min_samples=2, min_time_s=0.0, max_time_s=1e9).tracker()
    t.extend(np.ones(n))
    t.noise = timing._Growing()
    t.noise.extend(np.asarray(hist, dtype=float))
    return t


def test_the_stability_window_is_the_last_half_of_the_estimates():
    # 401 samples: the window is the last 200 estimates
    assert _with_history(401, [0.5] * 190 + [0.1] * 210)._noise_ok() == "noise_stable"
    assert _with_history(401, [0.5] * 210 + [0.1] * 190)._noise_ok() is None
    # 130 samples: the last 65
    assert _with_history(130, [0.5] * 90 + [0.1] * 40)._noise_ok() is None
    assert _with_history(130, [0.5] * 60 + [0.1] * 70)._noise_ok() == "noise_stable"
    # (the floor of 32 never binds: the stability test waits for 128 samples, whose half is 64)
    assert _with_history(128, [0.5] * 60 + [0.1] * 68)._noise_ok() == "noise_stable"
    assert _with_history(128, [0.3] * 127 + [0.0])._noise_ok() == "converged"      # a zero estimate


def test_median_stderr_criterion_and_its_edges():
    xs = [1.0, 1.1, 0.9, 1.05, 0.95]
    se = math.sqrt(math.pi / 2) * np.std(xs, ddof=1) / math.sqrt(5) / 1.0
    t = _tracker(xs, criterion="median-stderr", target_noise=se)
    assert t._median_rel_stderr() == pytest.approx(se) and t._noise_ok() == "converged"
    assert _tracker(xs, criterion="median-stderr", target_noise=se * 0.99)._noise_ok() is None
    assert _tracker([1.0], criterion="median-stderr")._median_rel_stderr() == math.inf
    assert _tracker([-1.0, -2.0, 0.5], criterion="median-stderr")._median_rel_stderr() == math.inf
    assert timing.median_rel_stderr([]) == timing.median_rel_stderr([3.0]) == math.inf
    assert timing.median_rel_stderr([0.0, 0.0, 1.0]) == math.inf
    assert timing.median_rel_stderr(xs) == pytest.approx(se)


def test_decide_at_every_boundary():
    rule = timing.StopRule(min_samples=4, max_samples=6, min_time_s=4.0, max_time_s=10.0, target_noise=0.5)
    t = rule.tracker()
    assert t.add([1.0, 1.0, 1.0], 0.0) is None               # 3 samples < 4
    assert t.add([1.0], 0.0) == "converged"                  # 4 samples, 4.0 s measured: both exactly enough
    t = rule.tracker()
    assert t.add([0.999, 1.0, 1.0, 1.0], 0.0) is None        # 3.999 s < 4.0 s
    assert t.add([1.0, 1.0], 0.0) == "converged"
    noisy = [0.1, 5.0, 0.1, 5.0, 0.1, 5.0]
    t = rule.tracker()
    assert t.add(noisy[:5], 9.999) is None
    assert t.add(noisy[5:], 9.999) == "max_samples"          # exactly max_samples
    t = rule.tracker()
    assert t.add(noisy[:2], 10.0) == "max_time"              # exactly max_time, with a sample
    assert rule.tracker().add([], 50.0) is None              # no sample yet: go on whatever the clock says
    assert t.decisions == 1 and t.reason == "max_time"
    assert rule.decide(noisy[:5], 10.0, calls_per_sample=2) == "max_time"
    assert rule.max_noise == 0.5


def test_timing_stats_fields_and_verdicts():
    s = timing.TimingStats.from_samples([2e-3], "max_time", 0.5)
    assert (s.n, s.median_s, s.min_s, s.max_s, s.mean_s, s.stddev_s, s.rel_stddev) == (1, 2e-3, 2e-3, 2e-3, 2e-3, 0.0, 0.0)
    assert s.median_rel_stderr == math.inf and s.wall_s == 0.5 and s.samples_s == [2e-3] and s.criterion is None
    assert s.busy_fraction is None and not s.converged
    assert timing.TimingStats.from_samples([0.0, 0.0]).rel_stddev == math.inf
    assert timing.TimingStats.from_samples([1.0]).stop_reason == "given"
    for reason, conv in (("converged", True), ("noise_stable", True), ("max_samples", True), ("max_time", False),
                         ("given", False)):
        assert timing.TimingStats.from_samples([1.0, 2.0], reason).converged is conv
    s = timing.TimingStats.from_samples([1e-3, 3e-3, 2e-3, 6e-3], "converged", 2.0, criterion="nvbench",
                                        busy_fraction=0.9)
    d = s.summary()
    assert d == {"samples": 4, "median_ms": pytest.approx(2.5), "min_ms": pytest.approx(1.0),
                 "max_ms": pytest.approx(6.0), "mean_ms": pytest.approx(3.0),
                 "rel_stddev": pytest.approx(np.std([1, 3, 2, 6], ddof=1) / 3.0),
                 "median_rel_stderr": pytest.approx(math.sqrt(math.pi / 2) * np.std([1, 3, 2, 6], ddof=1) / 2 / 2.5),
                 "converged": True, "stop_reason": "converged", "criterion": "nvbench", "busy_fraction": 0.9}
    with pytest.raises(ValueError, match="^no samples$"):
        timing.TimingStats.from_samples(np.array([]))


def test_tracker_starts_undecided_and_counts_one_call_per_sample():
    t = timing.SampleTracker(timing.StopRule())
    assert t.reason is None and t.decisions == 0 and t.calls_per_sample == 1
    small = _tracker([0.5, 0.7])                            # a mean under 1 s still has a relative spread
    assert small.rel_stddev == pytest.approx(np.std([0.5, 0.7], ddof=1) / 0.6)
    assert _tracker([-1.0, 1.0]).rel_stddev == math.inf      # a zero mean: no relative spread, no division


def test_two_samples_are_enough_for_every_spread_and_one_for_the_time_bound():
    assert timing.median_rel_stderr([1.0, 1.2]) == pytest.approx(math.sqrt(math.pi / 2) * np.std([1.0, 1.2], ddof=1)
                                                                 / math.sqrt(2) / 1.1)
    assert _tracker([1.0, 1.2], criterion="median-stderr")._median_rel_stderr() == pytest.approx(
        timing.median_rel_stderr([1.0, 1.2]))
    assert _tracker([-1.0, 0.0, 1.0], criterion="median-stderr")._median_rel_stderr() == math.inf   # median 0
    assert timing.median_rel_stderr([-1.0, 0.0, 1.0]) == math.inf
    one = timing.StopRule(min_samples=5, max_time_s=1.0).tracker()
    assert one.add([0.5], 1.0) == "max_time"                  # one sample past the bound: stop
    s = timing.TimingStats.from_samples([1.0, 3.0])
    assert s.stddev_s == pytest.approx(math.sqrt(2.0)) and s.wall_s == 0.0 and s.criterion is None
    bare = timing.TimingStats(1, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, math.inf, "given", 0.0)
    assert bare.criterion is None and bare.busy_fraction is None and bare.samples_s == []
    assert "samples_s" not in repr(bare)


def test_a_history_settled_within_a_hair_below_is_stable():
    """Recent estimates a hair under the current one (differences of both signs, mostly negative) are settled."""
    hist = [0.5] * 200 + [0.099, 0.099, 0.099, 0.101] * 50
    hist[-1] = 0.1
    assert _with_history(401, hist)._noise_ok() == "noise_stable"
