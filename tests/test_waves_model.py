"""The tile/wave model without a GPU or the extension: tiles and waves (hand-computed cases), occupancy
arithmetic, shape suggestions, cuBLASLt algorithm -> launch, and the staircase's fit and step checks."""
import json
import math
import os
from types import SimpleNamespace

import pytest

from accelkern import waves as wv
from accelkern.errors import AccelkernError

H100 = wv.SmLimits()  # sm_90 defaults: 132-SM H100/H200 class


# ---- tiles and waves -----------------------------------------------------------------------------

def test_issue_example_8192x1408_tile_128x256_132_sms():
    a = wv.analyze(8192, 1408, 8192, wv.Launch(128, 256, 132, 1))
    assert (a.tiles_m, a.tiles_n, a.tiles, a.ctas, a.resident) == (64, 6, 384, 384, 132)
    assert round(a.waves, 2) == 2.91 and a.full_waves == 3
    assert a.last_wave_ctas == 120 and round(a.last_wave_fill, 2) == 0.91
    assert a.tile_efficiency == pytest.approx(1408 / 1536)
    assert a.wave_efficiency == pytest.approx(384 / 396)
    assert a.efficiency == pytest.approx(1408 / 1536 * 384 / 396)
    assert a.useful_flops == 2.0 * 8192 * 1408 * 8192
    assert a.quantized_flops == 2.0 * 3 * 132 * 128 * 256 * 8192


def test_two_ctas_per_sm_halves_the_waves():
    a = wv.analyze(8192, 1408, 8192, wv.Launch(128, 256, 132, ctas_per_sm=2))
    assert a.resident == 264 and a.waves == pytest.approx(384 / 264) and a.full_waves == 2
    assert a.last_wave_ctas == 120


def test_exact_multiple_is_one_full_wave():
    a = wv.analyze(128 * 12, 256 * 11, 4096, wv.Launch(128, 256, 132))
    assert a.tiles == 132 and a.waves == 1.0 and a.full_waves == 1 and a.last_wave_fill == 1.0
    assert a.efficiency == 1.0


def test_split_k_and_batch_multiply_tiles_and_shorten_k():
    a = wv.analyze(1024, 1024, 1000, wv.Launch(128, 128, 108, split_k=3, batch=2))
    assert a.tiles == 8 * 8 * 3 * 2 == 384
    assert a.k_per_split == 334
    assert a.useful_flops == 2.0 * 1024 * 1024 * 1000 * 2
    assert a.full_waves == 4  # 384 / 108 = 3.56
    assert a.quantized_flops == 2.0 * 4 * 108 * 128 * 128 * 334


def test_clusters_round_the_grid_and_the_resident_ctas():
    # 5 x 3 tiles with 2x1 clusters: the grid becomes 6 x 3 CTAs
    a = wv.analyze(5 * 128, 3 * 256, 512, wv.Launch(128, 256, 132, cluster_m=2))
    assert a.tiles == 15 and a.ctas == 18
    # clusters of 4 inside GPCs of 18, 18, 18, 18, 18, 18, 16 and 8 SMs: 4 per GPC of 18 (16 CTAs), 4 and 2
    assert wv.resident_ctas(132, 1, 4, (18,) * 6 + (16, 8)) == 6 * 16 + 16 + 8 == 120
    assert wv.resident_ctas(132, 2, 4, (18,) * 6 + (16, 8)) == 6 * 36 + 32 + 16 == 264
    assert wv.resident_ctas(132, 1, 2) == 132 and wv.resident_ctas(132, 1, 8) == 128


def test_runtime_cluster_count_overrides_the_estimate():
    # e.g. GPCs with odd SM counts: 64 clusters of 2 fit, not 66 -> 128 resident CTAs, 384 tiles = 3 waves
    L = wv.Launch(128, 256, 132, cluster_m=2, active_clusters=64)
    assert L.resident_ctas == 128
    a = wv.analyze(8192, 1408, 8192, L)
    assert a.ctas == 384 and a.waves == 3.0 and a.full_waves == 3 and a.last_wave_fill == 1.0
    assert wv.Launch(128, 256, 132, cluster_m=2, active_clusters=70).resident_ctas == 132  # capped at SMs


def test_persistent_kernel_tiles_per_cta_are_the_waves():
    a = wv.analyze(8192, 1408, 8192, wv.Launch(128, 256, 132, persistent=True))
    assert a.max_tiles_per_cta == 3 == a.full_waves


def test_bad_launch_and_shape_are_one_line_errors():
    with pytest.raises(AccelkernError, match="tile-m must be >= 1"):
        wv.Launch(0, 256, 132)
    with pytest.raises(AccelkernError, match="add up to"):
        wv.Launch(128, 256, 132, gpc_sms=(66, 60))
    with pytest.raises(AccelkernError, match="positive"):
        wv.analyze(0, 1, 1, wv.Launch(128, 128, 1))


# ---- predictions ---------------------------------------------------------------------------------

def test_time_is_full_waves_times_the_per_wave_time():
    a = wv.analyze(8192, 1408, 8192, wv.Launch(128, 256, 132))
    wave = 132 * 2 * 128 * 256 * 8192 / 989e12
    assert wv.per_wave_seconds(a, 989) == pytest.approx(wave)
    assert wv.predicted_seconds(a, 989) == pytest.approx(3 * wave)
    assert wv.predicted_seconds(a, 989, efficiency=0.5) == pytest.approx(6 * wave)
    # useful TFLOPS at the quantization ceiling: peak x efficiency
    assert wv.tflops(a.useful_flops, wv.predicted_seconds(a, 989)) == pytest.approx(989 * a.efficiency)
    with pytest.raises(AccelkernError):
        wv.per_wave_seconds(a, 0)


def test_fits_and_pearson():
    u = [1.0, 2.0, 3.0, 4.0]
    assert wv.fit_scale(u, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(2.0)
    assert wv.fit_affine(u, [3.0, 5.0, 7.0, 9.0]) == (pytest.approx(2.0), pytest.approx(1.0))
    a, b = wv.fit_affine(u, [1.0, 3.0, 5.0, 7.0])  # free intercept would be -1: through the origin instead
    assert b == 0.0 and a == pytest.approx(50 / 30)
    assert wv.pearson(u, [2.0, 4.0, 6.0, 8.0]) == pytest.approx(1.0)
    assert wv.pearson(u, [8.0, 6.0, 4.0, 2.0]) == pytest.approx(-1.0)
    assert wv.pearson(u, [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert wv.pearson([1, 2], [1, 2]) is None and wv.pearson(u, [1, 1, 1, 1]) is None


# ---- occupancy -----------------------------------------------------------------------------------

@pytest.mark.parametrize("threads,regs,dyn,expect,limit", [
    (32, 200, 0, 8, "registers"),          # 6400 regs/warp: 2 warps per 16384-register sub-partition
    (256, 33, 0, 6, "registers"),          # 33*32 -> 1280 regs/warp, 12 warps per sub-partition
    (1024, 32, 0, 2, "warps"),             # 64 warp slots / 32
    (32, 16, 0, 32, "blocks"),             # 32 block slots on sm_90
    (32, 16, 115712, 2, "shared_memory"),  # 115712 + 1024 reserved = 116736 B: two fit in 233472
    (32, 16, 100000, 2, "shared_memory"),  # 101024 -> 101120 B allocated
    (32, 16, 232448, 1, "shared_memory"),  # the opt-in maximum
    (128, 255, 0, 2, "registers"),         # 8160 -> 8192 regs/warp: 2 per sub-partition, 8 warps
])
def test_occupancy_hand_cases_sm90(threads, regs, dyn, expect, limit):
    occ = wv.occupancy(wv.CtaResources(threads, regs, 0, dyn), H100)
    assert occ.ctas_per_sm == expect and limit in occ.limiting


def test_occupancy_limits_and_carveout():
    assert wv.occupancy(wv.CtaResources(1025, 32), H100).ctas_per_sm == 0
    assert wv.occupancy(wv.CtaResources(32, 16, 0, 232449), H100).ctas_per_sm == 0
    # a 50% carveout preference: 116736 B aligned up to the 132 KiB configuration
    occ = wv.occupancy(wv.CtaResources(32, 16, 0, 40000), H100, carveout_percent=50)
    assert occ.allocated_smem_per_cta == 41088 and occ.ctas_per_sm == 135168 // 41088 == 3
    a100 = wv.SmLimits.for_cc((8, 0))
    assert a100.smem_per_sm == 167936
    assert wv.occupancy(wv.CtaResources(32, 16, 0, 80000), a100).ctas_per_sm == 2  # 81024 B each
    with pytest.raises(AccelkernError, match="no built-in SM limits"):
        wv.SmLimits.for_cc((7, 0))


@pytest.mark.parametrize("c", [1, 2, 3, 4, 8, 16])
def test_smem_for_ctas_per_sm_forces_exactly_that(c):
    res = wv.CtaResources(32, 14)
    smem = wv.smem_for_ctas_per_sm(c, res, H100)
    assert smem % 128 == 0
    assert wv.occupancy(wv.CtaResources(32, 14, 0, smem), H100, 100).ctas_per_sm == c
    # robust: a few allocation units either way do not change it
    for d in ((-512, 512) if c <= 4 else (-128, 128)):
        assert wv.occupancy(wv.CtaResources(32, 14, 0, smem + d), H100, 100).ctas_per_sm == c


def test_smem_for_ctas_per_sm_rejects_what_cannot_fit():
    with pytest.raises(AccelkernError, match="allowed 1..32"):
        wv.smem_for_ctas_per_sm(33, wv.CtaResources(32, 14), H100)
    with pytest.raises(AccelkernError, match="allowed 1..2"):
        wv.smem_for_ctas_per_sm(4, wv.CtaResources(1024, 32), H100)


def test_suggestions_for_the_issue_example():
    sugg = wv.suggest_shapes(8192, 1408, 8192, wv.Launch(128, 256, 132))
    got = {(s.dim, s.value): s for s in sugg}
    pad = got[("N", 1536)]   # tile boundary: same 384 tiles, same time, 1536/1408 the work
    assert pad.reason.startswith("pads") and pad.time_ratio == 1.0 and pad.gain == pytest.approx(1536 / 1408)
    fill = got[("M", 8448)]  # 66 x 6 = 396 tiles = exactly 3 waves
    assert fill.reason == "fills the last wave" and fill.analysis.tiles == 396 and fill.time_ratio == 1.0
    assert fill.gain == pytest.approx(396 / 384)
    drop = got[("N", 1024)]  # 64 x 4 = 256 tiles: 2 waves
    assert drop.reason == "drops the partial wave" and drop.time_ratio == pytest.approx(2 / 3)
    assert drop.gain == pytest.approx((256 / 264) / (1408 / 1536 * 384 / 396))
    assert all(s.gain > 1 for s in sugg)
    assert [abs(s.delta) for s in sugg] == sorted(abs(s.delta) for s in sugg)
    assert sugg[0].value == 1536


def test_no_suggestion_for_a_perfect_shape():
    assert wv.suggest_shapes(8448, 1536, 8192, wv.Launch(128, 256, 132)) == []


# ---- cuBLASLt algorithm -> launch -------------------------------------------------------------------

def _algo(tile_m, tile_n, waves_count, splitk=1, cluster_m=1, cluster_n=1):
    return SimpleNamespace(algo_id=66, tile=f"{tile_m}x{tile_n}", tile_m=tile_m, tile_n=tile_n, stages=4,
                           cluster=f"{cluster_m}x{cluster_n}x1", cluster_m=cluster_m, cluster_n=cluster_n,
                           splitk=splitk, waves_count=waves_count)


def test_launch_from_algo_reads_ctas_per_sm_and_orientation_from_waves_count():
    al = wv.launch_from_algo(_algo(128, 256, 384 / 132), 8192, 1408, 132)
    assert (al.launch.tile_m, al.launch.tile_n, al.launch.ctas_per_sm) == (128, 256, 1)
    assert "wavesCount" in al.source and not al.notes
    assert wv.launch_from_algo(_algo(128, 256, 384 / 264), 8192, 1408, 132).launch.ctas_per_sm == 2
    # tile stated for cuBLASLt's column-major M (= our N): the orientation matching wavesCount wins
    al = wv.launch_from_algo(_algo(256, 128, 384 / 132), 8192, 1408, 132)
    assert (al.launch.tile_m, al.launch.tile_n) == (128, 256) and "column-major" in al.notes[0]
    al = wv.launch_from_algo(_algo(128, 256, None), 8192, 1408, 132)
    assert al.launch.ctas_per_sm == 1 and "assumed 1" in al.source
    assert wv.launch_from_algo(_algo(128, 256, None), 8192, 1408, 132, ctas_per_sm=2).launch.ctas_per_sm == 2
    with pytest.raises(AccelkernError, match="no tile"):
        wv.launch_from_algo(_algo(None, None, 1.0), 8192, 1408, 132)


def test_infer_ctas_per_sm():
    assert wv.infer_ctas_per_sm(384, 132, 384 / 132) == 1
    assert wv.infer_ctas_per_sm(384, 132, 384 / 396) == 3
    assert wv.infer_ctas_per_sm(384, 132, 2.0) is None  # 1.45 CTAs per SM: not a clean reading
    assert wv.infer_ctas_per_sm(384, 132, 0) is None and wv.infer_ctas_per_sm(384, 132, None) is None


# ---- staircase arithmetic --------------------------------------------------------------------------

def _stairs(resident, wave_us=17.0, offset_us=3.0, step_every=None):
    every = step_every or resident
    pts = wv.staircase_ctas(resident, 3, 8, 132)
    return {c: (offset_us + wave_us * math.ceil(c / every)) * 1e-6 for c in pts}


def test_staircase_points_straddle_every_step():
    pts = wv.staircase_ctas(264, 4, 8, 132)
    for k in range(1, 5):
        assert {264 * k - 1, 264 * k, 264 * k + 1, 264 * k + 2} <= set(pts)
    assert {132, 133, 396, 397} <= set(pts)   # both sides of SM multiples inside the waves
    assert pts[0] == 1 and pts[-1] == 4 * 264 + 2


def test_fit_and_step_checks_find_the_predicted_steps():
    pts = _stairs(264)
    fit = wv.fit_staircase(pts, 264)
    assert fit.wave_s == pytest.approx(17e-6) and fit.offset_s == pytest.approx(3e-6)
    steps = wv.check_steps(pts, fit)
    assert [s.at_ctas for s in steps] == [264, 528, 792] and all(s.ok for s in steps)


def test_step_checks_fail_when_steps_sit_elsewhere():
    # the kernel really steps every 132 CTAs while the model says 264: the within-wave rise gives it away
    pts = _stairs(264, step_every=132)
    steps = wv.check_steps(pts, wv.fit_staircase(pts, 264))
    assert steps and not any(s.ok for s in steps)


# ---- occupancy on every architecture, against the toolkit's calculator (recorded) ------------------

def test_occupancy_agrees_with_the_recorded_toolkit_calculator_on_every_architecture():
    """tests/data/occupancy_calc.json holds cuda_occupancy.h's answers for sm_80 .. sm_120 over threads,
    registers, static and dynamic shared memory and carveouts (tests/test_waves.py keeps it equal to a live
    calculator); the model must give the same CTAs per SM, every limit, and the allocated shared memory."""
    with open(os.path.join(os.path.dirname(__file__), "data", "occupancy_calc.json")) as f:
        doc = json.load(f)
    assert set(doc["cases"]) == {f"{a}.{b}" for a, b in wv._SMEM_PER_SM}
    checked = 0
    for key, rows in doc["cases"].items():
        sm = wv.SmLimits.for_cc(tuple(int(x) for x in key.split(".")))
        for threads, regs, dyn, static, carve, ctas, lw, lr, ls, lb, alloc in rows:
            got = wv.occupancy(wv.CtaResources(threads, regs, static, dyn), sm, None if carve < 0 else carve)
            where = f"sm {key} threads {threads} regs {regs} dyn {dyn} static {static} carveout {carve}"
            limits = (got.limits["warps"], got.limits["registers"], got.limits["shared_memory"], got.limits["blocks"])
            assert (got.ctas_per_sm, limits) == (ctas, (lw, lr, ls, lb)), where
            if ctas:
                assert got.allocated_smem_per_cta == alloc, where
            checked += 1
    assert checked == sum(len(r) for r in doc["cases"].values()) > 4000
