"""The simulated surfaces (accelkern.mamf.simulate) behave as the recorded H200 surfaces do: under a power
cap small shapes with a large K win, without one big wave-aligned shapes; partial waves dip; the heuristic
sometimes picks a worse tile; the recorded noise has its configured size."""
from dataclasses import replace

import numpy as np
import pytest

from accelkern.mamf.simulate import CAPPED, UNCAPPED, Shape, _clock, lattice, simulate


# ---- the simulator behaves as the recorded surfaces do -------------------------------------------------

def test_capped_part_favours_small_shapes_with_a_large_k_and_uncapped_favours_big_ones():
    shapes = lattice(ks=(4096, 16384))
    _, capped, _ = simulate(CAPPED, shapes)
    _, free, _ = simulate(replace(UNCAPPED, p_worse_tile=0.0), shapes)
    best_c = max(capped, key=capped.get)
    best_u = max(free, key=free.get)
    assert best_c.k == 16384 and best_c.m * best_c.n <= 4096 * 4096, best_c
    assert best_u.k == 16384 and best_u.m * best_u.n >= 8192 * 8192, best_u
    # under the cap an 8192^2 call runs at a lower clock than a 2048^2 one (as measured on the H200)
    f = _clock(CAPPED, np.array([2048.0, 8192.0]), np.array([2048.0, 8192.0]), np.array([16384.0, 8192.0]),
               np.array([0, 0]))
    assert f[0] > f[1] * 1.05 and f[1] < CAPPED.max_clock_mhz
    assert capped[Shape(2048, 2048, 16384)] > capped[Shape(8192, 8192, 16384)] * 1.03


def test_wave_quantization_dips_where_the_last_wave_is_nearly_empty():
    # tile 128x256 only, no cap: 132 tiles fill one wave, 133 need two (M = 128 x 133, N = 256)
    part = replace(UNCAPPED, tiles=((128, 256, 0.9),), p_worse_tile=0.0, noise=0.0, dip_share=0.0, fixed_s=0.0,
                   edge_loss=0.0)
    a, b = Shape(128 * 132, 256, 8192), Shape(128 * 133, 256, 8192)
    _, true, _ = simulate(part, [a, b])
    assert true[a] / true[b] == pytest.approx(2 * 132 / 133, rel=0.02)


def test_the_heuristic_sometimes_picks_a_worse_tile():
    shapes = lattice(ns=(4096,), ks=(8192,))
    _, t_good, tiles_good = simulate(replace(UNCAPPED, p_worse_tile=0.0, noise=0.0), shapes)
    _, t_bad, tiles_bad = simulate(replace(UNCAPPED, p_worse_tile=0.3, noise=0.0), shapes)
    changed = [s for s in shapes if tiles_good[s] != tiles_bad[s]]
    assert 0.1 * len(shapes) < len(changed) < 0.5 * len(shapes)
    assert all(t_bad[s] <= t_good[s] * (1 + 1e-9) for s in changed)
    assert sum(t_bad[s] < t_good[s] * 0.99 for s in changed) >= 0.2 * len(changed)


def test_recorded_noise_has_the_configured_size():
    shapes = lattice(ks=(8192,))
    rec, true, _ = simulate(replace(CAPPED, dip_share=0.0), shapes, seed=3)
    ratios = np.log([rec[s][0] / true[s] for s in shapes])
    assert abs(ratios.std() - CAPPED.noise) < 0.002 and abs(ratios.mean()) < 0.002
