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


# ---- every function's edges, words and fields (mutation testing found these unasserted) -------------

def test_parse_pair_forms_and_message():
    assert wv.parse_pair("128x256", "--tile") == (128, 256)
    assert wv.parse_pair("64*32", "--tile") == (64, 32) and wv.parse_pair(" 2X 3 ", "--c") == (2, 3)
    for bad in ("128", "0x5", "5x0", "axb", "1x2x3", "-1x4", ""):
        with pytest.raises(AccelkernError, match=rf"^--tile '{bad}' not understood; use AxB with positive "
                                                 r"integers, e.g. 128x256$"):
            wv.parse_pair(bad, "--tile")


def test_sm_limits_per_architecture():
    for cc, blocks, smem, threads in (((8, 0), 32, 167936, 2048), ((8, 6), 16, 102400, 1536),
                                      ((8, 7), 16, 167936, 2048), ((8, 9), 24, 102400, 1536),
                                      ((9, 0), 32, 233472, 2048), ((10, 0), 32, 233472, 2048),
                                      ((10, 3), 32, 233472, 2048), ((12, 0), 24, 102400, 1536)):
        sm = wv.SmLimits.for_cc(cc)
        assert (sm.cc, sm.max_blocks_per_sm, sm.smem_per_sm, sm.smem_per_block_optin, sm.max_threads_per_sm) == \
            (cc, blocks, smem, smem - 1024, threads)
    with pytest.raises(AccelkernError, match=r"^no built-in SM limits for compute capability 7\.5; known: 8\.0, "
                                             r"8\.6, 8\.7, 8\.9, 9\.0, 10\.0, 10\.3, 12\.0$"):
        wv.SmLimits.for_cc([7, 5])
    assert wv.SmLimits() == wv.SmLimits.for_cc((9, 0))


def test_sm_limits_from_a_device_prefer_the_driver_then_the_info_then_the_architecture():
    info = SimpleNamespace(compute_capability=(8, 0), regs_per_sm=11, max_threads_per_sm=1024, max_blocks_per_sm=None,
                           smem_per_sm_bytes=None, smem_per_block_optin_bytes=99000,
                           attrs={"regs_per_sm": 32768, "smem_per_sm_bytes": 100000, "regs_per_block": 1000,
                                  "max_threads_per_block": 512, "smem_per_block_bytes": 40000, "warp_size": 16})
    sm = wv.SmLimits.from_device(info)
    assert (sm.cc, sm.regs_per_sm, sm.max_threads_per_sm, sm.max_blocks_per_sm, sm.smem_per_sm) == \
        ((8, 0), 32768, 1024, 32, 100000)
    assert (sm.smem_per_block_optin, sm.regs_per_block, sm.max_threads_per_block, sm.smem_per_block,
            sm.warp_size) == (99000, 1000, 512, 40000, 16)
    bare = SimpleNamespace(compute_capability=None, regs_per_sm=None, max_threads_per_sm=None, max_blocks_per_sm=7,
                           smem_per_sm_bytes=5000, smem_per_block_optin_bytes=None, attrs=None)
    sm = wv.SmLimits.from_device(bare)
    assert (sm.cc, sm.regs_per_sm, sm.max_blocks_per_sm, sm.smem_per_sm, sm.smem_per_block_optin) == \
        ((9, 0), 65536, 7, 5000, 232448)
    odd = SimpleNamespace(**{**vars(bare), "compute_capability": (7, 5), "max_blocks_per_sm": None,
                             "smem_per_sm_bytes": None})
    assert wv.SmLimits.from_device(odd) == wv.SmLimits(cc=(7, 5))


def test_carveout_levels_preferences_and_overrides():
    h = wv.SmLimits.for_cc((9, 0))
    assert h.carveout_bytes(1000, None) == 228 * 1024 == h.carveout_bytes(1000, -1)
    assert h.carveout_bytes(1000, 100) == 228 * 1024
    assert h.carveout_bytes(1000, 50) == 132 * 1024           # 116736 B aligned up to 132 KiB
    assert h.carveout_bytes(1000, 0) == 8 * 1024              # 0 is a level; below the need: the smallest fitting
    assert h.carveout_bytes(64 * 1024, 0) == 64 * 1024 and h.carveout_bytes(64 * 1024 + 1, 10) == 100 * 1024
    assert h.carveout_bytes(300000, 100) == 0                 # more than the largest carveout
    assert h.carveout_bytes(1000, 150) == h.smem_per_sm        # a preference past the top: the whole SM
    plain = wv.SmLimits(cc=(7, 5))                             # no carveout table: sizes are taken as they come
    assert plain.carveout_bytes(1000, None) == plain.smem_per_sm
    assert plain.carveout_bytes(1000, 50) == plain.smem_per_sm // 2
    assert plain.carveout_bytes(200000, 50) == 200000


def test_occupancy_errors_barriers_and_explanation():
    with pytest.raises(AccelkernError, match="^a CTA needs at least one thread$"):
        wv.occupancy(wv.CtaResources(0))
    occ = wv.occupancy(wv.CtaResources(256, 128), H100)
    assert occ.ctas_per_sm == 2 and occ.limiting == ("registers",)
    assert occ.limits == {"warps": 8, "registers": 2, "shared_memory": 228, "blocks": 32, "barriers": 64}
    assert occ.allocated_regs_per_cta == 128 * 256 and occ.allocated_smem_per_cta == 1024
    assert occ.explain() == ("2 CTA(s)/SM, limited by registers (warps 8, registers 2, shared_memory 228, blocks 32, "
                             "barriers 64)")
    a100 = wv.occupancy(wv.CtaResources(256, 128), wv.SmLimits.for_cc((8, 0)))
    assert "barriers" not in a100.limits and a100.ctas_per_sm == 2
    assert wv.occupancy(wv.CtaResources(32, 0), H100).limits["registers"] == 2**31 - 1
    assert wv.occupancy(wv.CtaResources(32, 257), H100).limits["registers"] == 0
    tie = wv.occupancy(wv.CtaResources(1024, 32), H100)
    assert tie.ctas_per_sm == 2 and tie.limiting == ("warps", "registers")
    assert "shared_memory" not in wv.Occupancy(0, {"shared_memory": 2**31 - 1}, (), 0, 0).explain()


def test_smem_for_ctas_per_sm_messages():
    with pytest.raises(AccelkernError, match=r"^cannot make 0 CTA\(s\) fit per SM: without shared memory this "
                                             r"kernel fits 32 \(32 CTA\(s\)/SM, limited by blocks "):
        wv.smem_for_ctas_per_sm(0, wv.CtaResources(32, 14), H100)
    with pytest.raises(AccelkernError, match=r"allowed 1\.\.32$"):
        wv.smem_for_ctas_per_sm(33, wv.CtaResources(32, 14), H100)
    assert wv.smem_for_ctas_per_sm(1, wv.CtaResources(32, 14, max_dynamic_smem=200 * 1024), H100) % 128 == 0


def test_launch_fields_and_messages():
    L = wv.Launch(128, 256, 132, cluster_m=2, cluster_n=2)
    assert L.tile == "128x256" and L.cluster_size == 4 and L.resident_ctas == 132
    for field, text in (("tile_n", "tile-n"), ("sms", "sms"), ("ctas_per_sm", "ctas-per-sm"), ("split_k", "split-k"),
                        ("batch", "batch"), ("cluster_m", "cluster-m"), ("cluster_n", "cluster-n")):
        kw = {"tile_m": 128, "tile_n": 256, "sms": 132, field: 0}
        with pytest.raises(AccelkernError, match=rf"^{text} must be >= 1 \(got 0\)$"):
            wv.Launch(**kw)
    with pytest.raises(AccelkernError, match=r"^GPC sizes \(66, 60\) add up to 126, not 132 SMs$"):
        wv.Launch(128, 256, 132, gpc_sms=(66, 60))
    assert wv.Launch(128, 256, 132, gpc_sms=(66, 66)).resident_ctas == 132
    with pytest.raises(AccelkernError, match=r"^a 4x1 cluster does not fit on this GPU \(2 SMs x 1 CTA/SM\)$"):
        wv.analyze(128, 128, 128, wv.Launch(64, 64, 2, cluster_m=4))


def test_analysis_summary_fields():
    a = wv.analyze(1000, 600, 300, wv.Launch(128, 256, 10, ctas_per_sm=2, split_k=2, cluster_m=2))
    d = a.summary()
    assert "launch" not in d
    assert (d["tiles_m"], d["tiles_n"], d["tiles"], d["ctas"], d["resident"]) == (8, 3, 48, 48, 20)
    assert (d["tile"], d["sms"], d["ctas_per_sm"], d["split_k"], d["cluster"]) == ("128x256", 10, 2, 2, "2x1")
    assert (d["full_waves"], d["last_wave_ctas"], d["k_per_split"]) == (3, 8, 150)
    assert d["waves"] == 2.4 and d["wave_efficiency"] == 0.8 and d["last_wave_fill"] == 0.4
    assert d["efficiency"] == a.efficiency == pytest.approx((1000 * 600) / (1024 * 768) * 0.8)


def test_describe_says_every_number():
    assert wv.describe(wv.analyze(8192, 1408, 8192, wv.Launch(128, 256, 132))) == [
        "tiles       ceil(8192/128) x ceil(1408/256) = 64 x 6 = 384 tiles",
        "padding     M 8192 -> 8192, N 1408 -> 1536: 91.7% of the computed tile area is useful (8.3% wasted)",
        "resident    132 SMs x 1 CTA/SM = 132 CTAs at once",
        "waves       384 / 132 = 2.91 -> 3 wave(s); last wave 91% full (120 of 132 CTAs)",
        "efficiency  tile 91.7% x wave 97.0% = 88.9% of the busy machine's tile work is useful"]
    lines = wv.describe(wv.analyze(300, 200, 64, wv.Launch(128, 128, 4, 2, split_k=2, batch=3, cluster_m=2,
                                                            persistent=True)))
    assert lines[0] == ("tiles       ceil(300/128) x ceil(200/128) x split-K 2 x batch 3 = 3 x 2 x 6 = 36 tiles "
                        "(48 CTAs with whole 2x1 clusters)")
    assert lines[2] == "resident    4 SMs x 2 CTA/SM in 2x1 clusters = 8 CTAs at once"
    assert lines[3] == ("waves       48 / 8 = 6.00 -> 6 wave(s); last wave 100% full (8 of 8 CTAs); persistent: the "
                        "busiest CTA does 6 tiles")


def test_predictions_need_a_peak_and_fits_need_data():
    a = wv.analyze(128, 128, 128, wv.Launch(128, 128, 1))
    for bad in (None, 0, -1):
        with pytest.raises(AccelkernError, match="^a peak in TFLOPS > 0 is needed to turn waves into time$"):
            wv.per_wave_seconds(a, bad)
    assert wv.tflops(3e12, 1.5) == 2.0
    with pytest.raises(AccelkernError, match="^cannot fit the per-wave time: no positive measurements$"):
        wv.fit_scale([1.0, 2.0], [0.0, 0.0])
    with pytest.raises(AccelkernError):
        wv.fit_scale([0.0], [1.0])
    assert wv.fit_affine([1.0, 2.0], [3.0, 5.0]) == (pytest.approx(13 / 5), 0.0)      # two points: no intercept
    assert wv.fit_affine([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]) == (2.0, 0.0)             # one distinct point
    a_, b_ = wv.fit_affine([1.0, 2.0, 3.0], [3.0, 2.0, 1.0])                          # falling: no line with a > 0
    assert b_ == 0.0 and a_ == pytest.approx(10 / 14)
    assert wv.fit_affine([1.0, 2.0, 3.0], [2.0, 3.0, 4.0]) == (pytest.approx(1.0), pytest.approx(1.0))
    with pytest.raises(ValueError, match="^series of different lengths$"):
        wv.pearson([1, 2, 3], [1, 2])
    assert wv.pearson([1, 2, 3], [5, 5, 5]) is None and wv.pearson([3, 3, 3], [1, 2, 3]) is None
    assert wv.pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(0.9819805060619657)


def test_staircase_fit_predict_and_the_rule_s_knobs():
    fit = wv.fit_staircase({1: 20e-6, 8: 20e-6, 9: 37e-6, 16: 37e-6, 17: 54e-6}, 8)
    assert (fit.resident, fit.wave_s, fit.offset_s) == (8, pytest.approx(17e-6), pytest.approx(3e-6))
    assert fit.predict(24) == pytest.approx(54e-6) and fit.predict(25) == pytest.approx(71e-6)
    with pytest.raises(AccelkernError, match="^the staircase needs CTA counts spanning at least two waves$"):
        wv.fit_staircase({1: 1.0, 8: 1.0}, 8)
    pts = {1: 20e-6, 4: 22e-6, 8: 24e-6, 9: 37e-6, 16: 41e-6, 17: 54e-6}
    fit = wv.fit_staircase(pts, 8)
    steps = wv.check_steps(pts, fit)
    assert [(s.wave, s.at_ctas, s.before_s, s.after_s) for s in steps] == [(1, 8, 24e-6, 37e-6), (2, 16, 41e-6, 54e-6)]
    assert steps[0].jump_s == pytest.approx(13e-6) and steps[0].flat_rise_s == pytest.approx(4e-6)
    assert all(s.ok for s in steps)                                       # rises of 4 us < 25% of a ~16 us wave
    assert not any(s.ok for s in wv.check_steps(pts, fit, max_flat=0.2))
    assert not any(s.ok for s in wv.check_steps(pts, fit, min_jump=0.9))
    assert wv.check_steps(pts, wv.StairFit(8, -1.0, 0.0)) == []           # no wave time: nothing to judge


def test_staircase_points_with_sm_multiples():
    assert wv.staircase_ctas(8, 2, 2, 3) == [1, 3, 4, 6, 7, 8, 9, 10, 12, 13, 15, 16, 17, 18]
    assert wv.staircase_ctas(8, 2, 2) == [1, 4, 7, 8, 9, 10, 12, 15, 16, 17, 18]
    assert wv.staircase_ctas(2, 1, 4) == [1, 2, 3, 4]


def test_largest_tiles_within_is_a_bisection_with_edges():
    assert wv._largest_tiles_within(lambda t: t, 0, 10) == 0
    assert wv._largest_tiles_within(lambda t: t + 5, 3, 10) == 0
    assert wv._largest_tiles_within(lambda t: -(-t // 4), 2, 100) == 8
    assert wv._largest_tiles_within(lambda t: -(-t // 4), 50, 100) == 100
    assert wv._largest_tiles_within(lambda t: 1, 1, 1) == 1


def test_suggestions_are_capped_nearest_first_and_name_their_reason():
    L = wv.Launch(128, 128, 4)
    sugg = wv.suggest_shapes(300, 300, 64, L)
    # 300 x 300 in 128 x 128 tiles on 4 SMs: 3 x 3 = 9 tiles, 2.25 -> 3 waves
    assert [(s.dim, s.value, s.delta, s.reason) for s in sugg] == [
        ("M", 256, -44, "drops the partial wave"), ("N", 256, -44, "drops the partial wave"),
        ("M", 384, 84, "pads to the tile boundary"), ("N", 384, 84, "pads to the tile boundary"),
        ("M", 512, 212, "fills the last wave"), ("N", 512, 212, "fills the last wave")]
    assert sugg[0].shape == (256, 300, 64) and sugg[0].time_ratio == pytest.approx(2 / 3)
    assert sugg[0].gain == pytest.approx((256 * 300 / (2 * 4 * 128 * 128)) / (300 * 300 / (3 * 4 * 128 * 128)))
    assert sugg[2].time_ratio == 1.0 and sugg[4].gain == pytest.approx(512 / 300)
    assert [s.value for s in wv.suggest_shapes(300, 300, 64, L, max_results=2)] == [256, 256]
    # 128 x 640: 5 tiles, 2 waves
    grow = wv.suggest_shapes(128, 640, 64, L)
    assert [(s.dim, s.value, s.delta, s.reason) for s in grow] == [
        ("N", 512, -128, "drops the partial wave"), ("M", 256, 128, "fills one more wave"),
        ("N", 1024, 384, "fills the last wave"), ("N", 1536, 896, "fills one more wave")]


def test_infer_ctas_per_sm_edges():
    assert wv.infer_ctas_per_sm(203, 100, 1.0) == 2          # 2.03: within 2% of 2
    assert wv.infer_ctas_per_sm(205, 100, 1.0) is None       # 2.05: not a whole number of CTAs per SM
    assert wv.infer_ctas_per_sm(30, 100, 1.0) is None        # 0.3 rounds to 0
    assert wv.infer_ctas_per_sm(200, 0, 1.0) is None and wv.infer_ctas_per_sm(200, 100, -1.0) is None


def test_launch_from_algo_defaults_and_notes():
    algo = SimpleNamespace(algo_id=7, tile="64x32", tile_m=64, tile_n=32, splitk=None, cluster_m=None,
                           cluster_n=0, waves_count=4.096)   # 1024 CTAs / (4.096 x 100 SMs) = 2.5
    al = wv.launch_from_algo(algo, 1000, 1000, 100, ctas_per_sm=3, batch=2)
    assert (al.launch.split_k, al.launch.cluster_m, al.launch.cluster_n, al.launch.batch) == (1, 1, 1, 2)
    assert al.launch.ctas_per_sm == 3 and al.source == "cuBLASLt tile, CTAs/SM given"
    assert al.notes == ("wavesCount 4.1 does not read as whole CTAs per SM",)
    with pytest.raises(AccelkernError, match=r"^cuBLASLt algorithm 9 reports no tile \(None\); give --tile by hand$"):
        wv.launch_from_algo(SimpleNamespace(algo_id=9, tile=None, tile_m=0, tile_n=32), 8, 8, 1)
    clean = SimpleNamespace(algo_id=7, tile_m=64, tile_n=32, splitk=2, cluster_m=1, cluster_n=1,
                            waves_count=16 * 32 * 2 / (100 * 2))
    al = wv.launch_from_algo(clean, 1024, 1024, 100)
    assert (al.launch.tile_m, al.launch.tile_n, al.launch.split_k, al.launch.ctas_per_sm) == (64, 32, 2, 2)
    assert al.source == "cuBLASLt tile, CTAs/SM from wavesCount" and al.notes == ()


# the shared-memory capacities each architecture's SM can be configured to (KiB), as the CUDA C++
# Programming Guide lists them per compute capability
GUIDE_CARVEOUTS_KIB = {
    (8, 0): (0, 8, 16, 32, 64, 100, 132, 164), (8, 7): (0, 8, 16, 32, 64, 100, 132, 164),
    (8, 6): (0, 8, 16, 32, 64, 100), (8, 9): (0, 8, 16, 32, 64, 100), (12, 0): (0, 8, 16, 32, 64, 100),
    (9, 0): (0, 8, 16, 32, 64, 100, 132, 164, 196, 228), (10, 0): (0, 8, 16, 32, 64, 100, 132, 164, 196, 228),
    (10, 3): (0, 8, 16, 32, 64, 100, 132, 164, 196, 228)}


@pytest.mark.parametrize("cc", sorted(GUIDE_CARVEOUTS_KIB))
def test_every_carveout_level_is_chosen_for_a_need_just_above_the_one_below(cc):
    sm = wv.SmLimits.for_cc(cc)
    levels = GUIDE_CARVEOUTS_KIB[cc]
    assert sm.carveout_bytes(0, 0) == 0
    for below, level in zip(levels, levels[1:]):
        assert sm.carveout_bytes(below * 1024 + 1, 0) == level * 1024, (cc, level)
        assert sm.carveout_bytes(level * 1024, 0) == level * 1024, (cc, level)
    assert sm.carveout_bytes(levels[-1] * 1024 + 1, 0) == 0


def test_parse_pair_takes_ones():
    assert wv.parse_pair("1x1", "--tile") == (1, 1)


def test_model_records_are_frozen():
    import dataclasses
    a = wv.analyze(128, 128, 128, wv.Launch(128, 128, 1))
    things = [wv.SmLimits(), wv.CtaResources(32), wv.occupancy(wv.CtaResources(32)), wv.Launch(1, 1, 1), a,
              wv.StairFit(1, 1.0, 0.0), wv.AlgoLaunch(wv.Launch(1, 1, 1), "x")]
    for t in things:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(t, dataclasses.fields(t)[0].name, None)


def test_the_default_sm_is_an_h100_h200():
    sm = wv.SmLimits()
    assert (sm.regs_per_sm, sm.regs_per_block, sm.max_threads_per_sm, sm.max_threads_per_block) == (65536, 65536, 2048, 1024)
    assert (sm.max_blocks_per_sm, sm.smem_per_sm, sm.smem_per_block, sm.smem_per_block_optin) == (32, 233472, 49152, 232448)
    assert (sm.reserved_smem_per_block, sm.warp_size, sm.sub_partitions, sm.reg_alloc_unit) == (1024, 32, 4, 256)
    assert (sm.smem_alloc_unit, sm.max_regs_per_thread) == (128, 256)
    r = wv.CtaResources(64)
    assert (r.regs_per_thread, r.static_smem, r.dynamic_smem, r.max_dynamic_smem) == (32, 0, 0, None)


def test_limits_from_a_device_take_every_driver_attribute():
    keys = {"regs_per_sm": 1, "regs_per_block": 2, "max_threads_per_sm": 3, "max_threads_per_block": 4,
            "max_blocks_per_sm": 5, "smem_per_sm_bytes": 6, "smem_per_block_bytes": 7, "smem_per_block_optin_bytes": 8,
            "warp_size": 9}
    info = SimpleNamespace(compute_capability=(9, 0), regs_per_sm=100, max_threads_per_sm=100, max_blocks_per_sm=100,
                           smem_per_sm_bytes=100, smem_per_block_optin_bytes=100, attrs=keys)
    sm = wv.SmLimits.from_device(info)
    assert (sm.regs_per_sm, sm.regs_per_block, sm.max_threads_per_sm, sm.max_threads_per_block, sm.max_blocks_per_sm,
            sm.smem_per_sm, sm.smem_per_block, sm.smem_per_block_optin, sm.warp_size) == tuple(range(1, 10))


def test_occupancy_at_the_exact_edges():
    assert wv.occupancy(wv.CtaResources(1), H100).ctas_per_sm == 32              # one thread is a CTA
    assert wv.occupancy(wv.CtaResources(32, 256), H100).ctas_per_sm == 8         # 256 registers: still allowed
    # 9 warps of 200 registers: 57600 allocated, but the sub-partition rounding assumes 12 warps (76800 > 65536)
    occ = wv.occupancy(wv.CtaResources(288, 200), H100)
    assert occ.ctas_per_sm == 0 and occ.limits["registers"] == 0 and occ.allocated_regs_per_cta == 57600
    # more dynamic shared memory than the kernel opted in to: no CTA, even though the SM has room
    occ = wv.occupancy(wv.CtaResources(32, 16, 0, 70000, max_dynamic_smem=60000), H100)
    assert occ.limits["shared_memory"] == 0 and occ.allocated_smem_per_cta == 71040
    free = wv.occupancy(wv.CtaResources(32, 16), wv.SmLimits(reserved_smem_per_block=0))
    assert free.limits["shared_memory"] == 2**31 - 1 and free.ctas_per_sm == 32
    assert wv.SmLimits(cc=(7, 5), smem_per_sm=100001).carveout_bytes(1000, 50) == 50000   # whole bytes
    tie = wv.occupancy(wv.CtaResources(1024, 32), H100)
    assert tie.explain() == ("2 CTA(s)/SM, limited by warps and registers (warps 2, registers 2, shared_memory 228, "
                             "blocks 32, barriers 64)")
    assert wv.Occupancy(0, {"a": 10**6 - 1, "b": 10**6}, (), 0, 0).explain() == "0 CTA(s)/SM, limited by - (a 999999)"


def test_smem_for_ctas_per_sm_is_the_floored_middle_of_the_sizes_that_give_it():
    res = wv.CtaResources(32, 14)
    for c, want in ((1, 174080), (8, 26496), (32, 3072)):
        sizes = [d for d in range(0, H100.smem_per_block_optin + 1, 128)
                 if wv.occupancy(wv.replace(res, dynamic_smem=d), H100, 100).ctas_per_sm == c]
        mid = (sizes[0] + sizes[-1]) // 2
        assert wv.smem_for_ctas_per_sm(c, res, H100) == mid - mid % 128 == want, c
    # the most CTAs a kernel allows without shared memory is allowed itself, even when shared memory binds
    heavy = wv.CtaResources(32, 16, static_smem=57344)           # 58368 B a CTA: exactly 4 fit, 128 B more: 3
    assert wv.occupancy(heavy, H100).ctas_per_sm == 4
    assert wv.smem_for_ctas_per_sm(4, heavy, H100) == 0


def test_more_records_are_frozen_and_defaults_hold():
    import dataclasses
    s = wv.StepCheck(1, 8, 1.0, 2.0, 1.0, 0.0, True)
    sug = wv.Suggestion("M", 1, 1, "x", wv.analyze(1, 1, 1, wv.Launch(1, 1, 1)), 1.0, 1.0)
    for t in (s, sug):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(t, "dim" if t is sug else "ok", None)
    L = wv.Launch(128, 256, 132)
    assert (L.persistent, L.gpc_sms, L.active_clusters, L.split_k, L.batch, L.ctas_per_sm) == (False, None, None, 1, 1, 1)
    assert wv.resident_ctas(132, 1) == 132 and wv.resident_ctas(132, 2) == 264
    assert wv.Launch(128, 256, 132, ctas_per_sm=2, cluster_m=2, active_clusters=70).resident_ctas == 140
    assert wv.staircase_ctas(8) == wv.staircase_ctas(8, 4, 8)
    with pytest.raises(AccelkernError, match=r"^shape 0x1x1: M, N and K must be positive$"):
        wv.analyze(0, 1, 1, wv.Launch(1, 1, 1))


def test_predictions_and_fits_with_small_numbers():
    a = wv.analyze(128, 128, 128, wv.Launch(128, 128, 1))
    assert wv.per_wave_seconds(a, 1.0) == pytest.approx(2 * 128 ** 3 / 1e12)     # a 1 TFLOPS device is a device
    assert wv.fit_scale([0.5], [1.0]) == 2.0 and wv.fit_scale([1.0], [0.5]) == 0.5
    assert wv.fit_affine([0.0, 0.1, 0.2], [1.0, 1.1, 1.2]) == (pytest.approx(1.0), pytest.approx(1.0))
    assert wv.fit_affine([1.0, 2.0, 3.0], [1.5, 2.5, 3.5]) == (pytest.approx(1.0), pytest.approx(0.5))
    flat = wv.fit_affine([1.0, 2.0, 3.0], [2.0, 2.0, 2.0])        # slope 0 is no line: through the origin
    assert flat == (pytest.approx(12 / 14), 0.0)
    assert wv.pearson([0.0, 0.1, 0.2], [0.0, 1.0, 2.0]) == pytest.approx(1.0)
    assert wv.pearson([0.0, 1.0, 2.0], [0.0, 0.1, 0.2]) == pytest.approx(1.0)


def test_step_checks_at_their_exact_thresholds_and_with_gaps():
    fit = wv.StairFit(8, 2.0, 0.0)
    # jump exactly half a wave, rise exactly a quarter: both allowed
    (s,) = wv.check_steps({1: 0.5, 8: 1.0, 9: 2.0}, fit)
    assert s.ok and s.jump_s == 1.0 and s.flat_rise_s == 0.5
    assert wv.check_steps({1: 0.5, 8: 1.0, 9: 2.0}, wv.StairFit(8, 0.0, 0.0)) == []    # no wave time: no verdict
    # the first step's far side was not measured: it is left out, the second is still judged
    steps = wv.check_steps({1: 1.0, 8: 1.0, 16: 3.0, 17: 5.0}, fit)
    assert [(x.wave, x.at_ctas) for x in steps] == [(2, 16)]
    assert wv.check_steps({1: 1.0, 8: 1.0, 9: 3.0, 16: 3.0}, fit)[-1].at_ctas == 8      # 17 missing: no step 2


def test_a_single_tile_that_fits_is_found():
    assert wv._largest_tiles_within(lambda t: t, 1, 10) == 1


def test_a_block_register_limit_below_the_sm_s_binds_at_the_sub_partition_rounding():
    """cuda_occupancy.h: 5 warps of 160 registers take 25600, but the allocation assumes 8 warps (40960), more
    than a 32768-register block limit: no CTA (the toolkit's calculator agrees, checked on this case)."""
    occ = wv.occupancy(wv.CtaResources(160, 160), wv.SmLimits(regs_per_block=32768))
    assert occ.ctas_per_sm == 0 and occ.limits["registers"] == 0
    assert wv.occupancy(wv.CtaResources(160, 160), wv.SmLimits()).limits["registers"] == 2


def test_odd_counts_defaults_and_exact_words():
    assert wv.resident_ctas(133, 1) == 133                       # no clusters unless asked
    assert wv.staircase_ctas(100) == wv.staircase_ctas(100, 4, 8) != wv.staircase_ctas(100, 4, 9)
    assert wv.infer_ctas_per_sm(2, 1, 1.0) == 2                  # a one-SM device reads fine
    assert wv.AlgoLaunch(wv.Launch(1, 1, 1), "x").notes == ()
    assert wv.DEFAULT_TILE == (128, 256)
    got = wv.smem_for_ctas_per_sm(8, wv.CtaResources(32, 14), H100)
    assert type(got) is int and got == 26496
    with pytest.raises(AccelkernError, match=r"^cuBLASLt algorithm \? reports no tile \(64x\?\); give --tile by hand$"):
        wv.launch_from_algo(SimpleNamespace(tile="64x?", tile_m=0, tile_n=32), 8, 8, 1)
    bare = wv.launch_from_algo(SimpleNamespace(tile_m=64, tile_n=32), 1024, 1024, 100)
    assert (bare.launch.split_k, bare.launch.cluster_m, bare.launch.cluster_n) == (1, 1, 1)
    assert bare.source == "cuBLASLt tile, CTAs/SM assumed 1" and bare.notes == ()
    two = wv.launch_from_algo(SimpleNamespace(tile_m=64, tile_n=32, cluster_m=2, cluster_n=2, waves_count=None),
                              1024, 1024, 100)
    assert (two.launch.cluster_m, two.launch.cluster_n) == (2, 2)
    swapped = wv.launch_from_algo(SimpleNamespace(tile_m=256, tile_n=128, waves_count=384 / 132), 8192, 1408, 132)
    assert swapped.notes == ("tile read in cuBLASLt's column-major orientation (matches wavesCount)",)
    batch2 = wv.describe(wv.analyze(256, 256, 64, wv.Launch(128, 128, 4, batch=2)))
    assert batch2[0] == "tiles       ceil(256/128) x ceil(256/128) x batch 2 = 2 x 2 x 2 = 8 tiles"
