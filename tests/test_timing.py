import math
import random
import statistics

import pytest

from accelkern import timing


def test_stats_from_samples():
    s = timing.TimingStats.from_samples([3.0, 1.0, 2.0, 4.0, 5.0], "converged", 1.0)
    assert (s.n, s.median_s, s.min_s, s.max_s, s.mean_s) == (5, 3.0, 1.0, 5.0, 3.0)
    assert s.stddev_s == pytest.approx(statistics.stdev([1, 2, 3, 4, 5]))
    assert s.rel_stddev == pytest.approx(s.stddev_s / 3.0)
    assert s.converged
    d = s.summary()
    assert d["median_ms"] == 3000.0 and d["samples"] == 5 and "samples_s" not in d
    with pytest.raises(ValueError):
        timing.TimingStats.from_samples([])


def test_median_rel_stderr():
    assert timing.median_rel_stderr([1.0]) == math.inf
    xs = [1.0, 1.1, 0.9, 1.05, 0.95]
    expect = math.sqrt(math.pi / 2) * statistics.stdev(xs) / math.sqrt(5) / 1.0
    assert timing.median_rel_stderr(xs) == pytest.approx(expect)


def test_stop_rule_waits_for_min_samples_and_min_time():
    rule = timing.StopRule(min_samples=10, min_time_s=1.0, max_time_s=100, target_noise=0.01)
    same = [0.01] * 50                     # noiseless, but only 0.5 s measured
    assert rule.decide(same, wall_s=1.0) is None
    assert rule.decide([0.2] * 10, wall_s=1.0) == "converged"
    assert rule.decide([0.2] * 9, wall_s=1.0) is None   # enough time, too few samples


def test_stop_rule_noise_criterion():
    rng = random.Random(1)
    rule = timing.StopRule(min_samples=10, min_time_s=0.0, max_time_s=1e9, target_noise=0.005)
    noisy = [1.0 + rng.gauss(0, 0.2) for _ in range(20)]   # ~20% noise: stderr of median ~5.6%
    assert rule.decide(noisy, wall_s=0) is None
    calm = [1.0 + rng.gauss(0, 0.01) for _ in range(20)]   # ~1% noise: ~0.28%
    assert rule.decide(calm, wall_s=0) == "converged"


def test_stop_rule_bounds():
    rule = timing.StopRule(min_samples=5, max_samples=30, min_time_s=0, max_time_s=2.0, target_noise=1e-9)
    rng = random.Random(2)
    noisy = [1 + rng.random() for _ in range(10)]
    assert rule.decide(noisy, wall_s=1.0) is None
    assert rule.decide(noisy, wall_s=2.5) == "max_time"
    assert rule.decide(noisy * 3, wall_s=0.1) == "max_samples"
    with pytest.raises(ValueError):
        timing.StopRule(min_samples=0)


def test_measure_host_path_rotates_slots_and_stops():
    seen = []

    def work(slot):
        seen.append(slot)
        sum(range(2000))

    rule = timing.StopRule(min_samples=5, max_samples=40, min_time_s=0, max_time_s=2.0, target_noise=1e-12)
    m = timing.measure(work, "cpu", slots=3, rule=rule, warmup_s=0, warmup_calls=2)
    assert m.stats.stop_reason in ("max_samples", "max_time")
    assert m.stats.n >= 5
    assert set(seen) == {0, 1, 2}
    assert seen[:6] == [0, 1, 2, 0, 1, 2]
    assert m.telemetry is None and m.mode["timer"] == "host"
    assert 0 < m.stats.min_s <= m.stats.median_s <= m.stats.max_s


def test_rotation_slots():
    # 3x cache must be covered: 60 MiB L2, 16 MiB sets -> ceil(180/16) = 12
    assert timing.rotation_slots(16 << 20, 60 << 20) == 12
    assert timing.rotation_slots(1 << 30, 60 << 20) == 2          # large sets: at least 2
    assert timing.rotation_slots(16 << 20, 60 << 20, budget_bytes=64 << 20) == 4
    assert timing.rotation_slots(1 << 30, 60 << 20, budget_bytes=1 << 29) == 1


@pytest.mark.gpu
def test_cuda_events_path_and_l2_flush_evicts():
    import torch
    dev = "cuda"
    l2 = torch.cuda.get_device_properties(0).L2_cache_size
    x = torch.randn(max(1, l2 // 3 // 4), device=dev)   # fits in L2 with room to spare
    out = torch.empty((), device=dev)
    read = lambda _slot: torch.sum(x, out=out)
    rule = timing.StopRule(min_samples=30, max_time_s=2.0)
    cached = timing.measure(read, dev, rule=rule, l2_flush=False)
    flushed = timing.measure(read, dev, rule=rule, l2_flush=True)
    assert cached.mode["timer"] == "cuda_events"
    # after a flush every byte comes from HBM: a re-read after flush is slower than a cached re-read
    assert flushed.stats.median_s > 1.15 * cached.stats.median_s, (flushed.stats, cached.stats)


@pytest.mark.gpu
def test_graph_mode_matches_plain_mode():
    import torch
    a = torch.randn(2048, 2048, device="cuda")
    b = torch.randn(2048, 2048, device="cuda")
    c = torch.empty_like(a)
    mm = lambda _slot: torch.mm(a, b, out=c)
    plain = timing.measure(mm, "cuda", rule=timing.StopRule(max_time_s=1.0))
    graphed = timing.measure(mm, "cuda", rule=timing.StopRule(max_time_s=1.0), graph=True, graph_calls=10)
    assert graphed.mode["calls_per_sample"] == 10
    assert graphed.stats.median_s == pytest.approx(plain.stats.median_s, rel=0.25)
