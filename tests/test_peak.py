"""accelkern peak: fragment maps (against CuTe's independent (thread, value) layouts), shared-memory layouts
and descriptors, operand packing, the kernel catalogue and the CLI on the CPU; the built extension's SASS
(cuobjdump); the host side end to end against an emulated extension; every tensor-core path against a
float64 reference and a short sweep on a GPU (marked gpu)."""
import os
import re
import shutil
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from accelkern import checks, specs
from accelkern import peak as P
from accelkern.cli import cli
from accelkern.peak import kernels as peak_kernels

CUOBJDUMP_DIRS = [os.path.join(os.path.dirname(__import__("triton").__file__), "backends", "nvidia", "bin")] \
    if __import__("importlib").util.find_spec("triton") else []


def _ext():
    try:
        import accelkern._C as C
        return C
    except Exception:
        return None


# ---- fragment maps, checked against CuTe's layouts ---------------------------------------------------------
# CuTe (cute/atom/mma_traits_sm80.hpp, _sm90.hpp) states each fragment as a layout (thread, value) -> flat
# column-major index of the (M, K), (N, K) or (M, N) tile: thread = (threadID_in_group, groupID), strides
# below. A second description of the same PTX ISA tables, so a slip in either shows.

CUTE = {
    "m16n8k16": {"A": ((4, 8), (32, 1), (2, 2, 2), (16, 8, 128), 16), "B": ((4, 8), (16, 1), (2, 2), (8, 64), 8),
                 "C": ((4, 8), (32, 1), (2, 2), (16, 8), 16)},
    "m16n8k8": {"A": ((4, 8), (16, 1), (2, 2), (8, 64), 16), "B": ((4, 8), (8, 1), (2,), (32,), 8),
                "C": ((4, 8), (32, 1), (2, 2), (16, 8), 16)},
    "m16n8k32": {"A": ((4, 8), (64, 1), (4, 2, 2), (16, 8, 256), 16), "B": ((4, 8), (32, 1), (4, 2), (8, 128), 8),
                 "C": ((4, 8), (32, 1), (2, 2), (16, 8), 16)},
    "m8n8k4": {"A": ((4, 8), (8, 1), (1,), (0,), 8), "B": ((4, 8), (8, 1), (1,), (0,), 8),
               "C": ((4, 8), (16, 1), (2,), (8,), 8)},
    "m16n8k16.f64": {"A": ((4, 8), (16, 1), (2, 4), (8, 64), 16), "B": ((4, 8), (8, 1), (4,), (32,), 8),
                     "C": ((4, 8), (32, 1), (2, 2), (16, 8), 16)},
}


def _split(x, shape):
    out = []
    for s in shape:
        out.append(x % s)
        x //= s
    return out


def _cute_index(layout, thread, value):
    """(row, col) of a CuTe (thread, value) layout over a column-major tile with `rows` rows."""
    tshape, tstride, vshape, vstride, rows = layout
    idx = sum(c * s for c, s in zip(_split(thread, tshape), tstride)) + \
        sum(c * s for c, s in zip(_split(value, vshape), vstride))
    return idx % rows, idx // rows


def cute_a(family, lane, i):
    return _cute_index(CUTE[family]["A"], lane, i)


def cute_b(family, lane, i):   # CuTe gives B as (n, k): the (k, n) pair of the PTX tables
    n, k = _cute_index(CUTE[family]["B"], lane, i)
    return k, n


def cute_c(family, lane, i):
    return _cute_index(CUTE[family]["C"], lane, i)


def cute_wgmma_d(thread, r, n):
    """CuTe's GMMA accumulator layout CLayout_64xN: ((4, 8, 4), (2, 2, N/8)) : ((128, 1, 16), (64, 8, 512))."""
    return _cute_index(((4, 8, 4), (128, 1, 16), (2, 2, n // 8), (64, 8, 512), 64), thread, r)


def cute_wgmma_a(family, thread, i):
    """A in registers: warp w of the warpgroup holds rows 16w..16w+15 as the mma.sync A fragment."""
    r, c = cute_a(family, thread & 31, i)
    return 16 * (thread >> 5) + r, c


@pytest.mark.parametrize("family", P.MMA_FAMILIES)
def test_mma_fragment_maps_agree_with_cute_layouts(family):
    na, nb, nc = P.FAMILY_ELEMS[family]
    for lane in range(32):
        assert [P.mma_a_index(family, lane, i) for i in range(na)] == [cute_a(family, lane, i) for i in range(na)]
        assert [P.mma_b_index(family, lane, i) for i in range(nb)] == [cute_b(family, lane, i) for i in range(nb)]
        assert [P.mma_c_index(family, lane, i) for i in range(nc)] == [cute_c(family, lane, i) for i in range(nc)]


@pytest.mark.parametrize("family", P.MMA_FAMILIES)
def test_mma_fragment_maps_cover_each_element_once(family):
    m, n, k = P.FAMILY_MNK[family]
    na, nb, nc = P.FAMILY_ELEMS[family]
    for fn, count, shape in ((P.mma_a_index, na, (m, k)), (P.mma_b_index, nb, (k, n)), (P.mma_c_index, nc, (m, n))):
        seen = Counter(fn(family, lane, i) for lane in range(32) for i in range(count))
        assert len(seen) == shape[0] * shape[1] and set(seen.values()) == {1}
        assert all(0 <= r < shape[0] and 0 <= c < shape[1] for r, c in seen)


def test_mma_fragment_maps_match_ptx_formulas():
    # lane 5: groupID 1, threadID_in_group 1; lane 7: groupID 1, threadID_in_group 3
    assert P.mma_a_index("m16n8k16", 0, 0) == (0, 0)
    assert P.mma_a_index("m16n8k16", 5, 3) == (9, 3)       # a2,a3: row groupID+8
    assert P.mma_a_index("m16n8k16", 5, 6) == (9, 10)      # a6: +8 rows, +8 cols
    assert P.mma_b_index("m16n8k16", 5, 2) == (10, 1)      # b2: k = 2t + 8
    assert P.mma_a_index("m16n8k8", 6, 1) == (9, 2)        # tf32 a1: (g+8, t)
    assert P.mma_a_index("m16n8k8", 6, 2) == (1, 6)        # tf32 a2: (g, t+4)
    assert P.mma_b_index("m16n8k8", 6, 1) == (6, 1)        # tf32 b1: k = t+4
    assert P.mma_a_index("m16n8k32", 7, 5) == (9, 13)      # 8-bit a5: (g+8, 4t+1)
    assert P.mma_a_index("m16n8k32", 7, 10) == (1, 30)     # 8-bit a10: (g, 4t+2+16)
    assert P.mma_b_index("m16n8k32", 7, 6) == (30, 1)      # 8-bit b6: k = 4t+2+16
    assert P.mma_c_index("m16n8k32", 7, 3) == (9, 7)
    assert P.mma_c_index("m8n8k4", 7, 1) == (1, 7)
    assert P.mma_a_index("m8n8k4", 7, 0) == (1, 3) and P.mma_b_index("m8n8k4", 7, 0) == (3, 1)
    # f64 m16n8k16: a_i at (g + 8*(i%2), t + 4*(i//2)), b_i at k = t + 4i
    assert P.mma_a_index("m16n8k16.f64", 5, 3) == (9, 5)   # a3: (g+8, t+4)
    assert P.mma_a_index("m16n8k16.f64", 5, 6) == (1, 13)  # a6: (g, t+12)
    assert P.mma_b_index("m16n8k16.f64", 5, 3) == (13, 1)  # b3: k = t+12
    assert P.mma_c_index("m16n8k16.f64", 5, 2) == (9, 2)


@pytest.mark.parametrize("n", [64, 128, 256])
def test_wgmma_accumulator_map_covers_tile_as_cute_says(n):
    seen = Counter(P.wgmma_d_index(t, r) for t in range(128) for r in range(n // 2))
    assert len(seen) == 64 * n and set(seen.values()) == {1}
    assert all(P.wgmma_d_index(t, r) == cute_wgmma_d(t, r, n) for t in range(128) for r in range(n // 2))
    assert P.wgmma_d_index(37, 6) == (25, 10)   # warp 1, lane 5, d6: second n8 block, row +8


@pytest.mark.parametrize("family", ["m16n8k16", "m16n8k8", "m16n8k32"])
def test_wgmma_a_register_map_covers_64_rows(family):
    m, _, k = P.FAMILY_MNK[family]
    na = P.FAMILY_ELEMS[family][0]
    seen = Counter(P.wgmma_a_index(family, t, i) for t in range(128) for i in range(na))
    assert len(seen) == 64 * k and set(seen.values()) == {1}
# ---- packing and encodings -----------------------------------------------------------------------------

def test_pack_words_low_element_first():
    assert P.pack_words(np.array([[1, 2]], dtype=np.uint64), 16).tolist() == [[0x00020001]]
    assert P.pack_words(np.array([[1, 2, 3, 0xFF]], dtype=np.uint64), 8).tolist() == [[0xFF030201]]
    assert P.pack_words(np.array([[0x1122334455667788]], dtype=np.uint64), 64).tolist() == [[0x55667788, 0x11223344]]


@pytest.mark.parametrize("acc", ["f32", "f16", "s32", "f64"])
def test_accumulator_words_round_trip(acc):
    g = torch.Generator().manual_seed(3)
    vals = P.random_values((4, 8), acc, g)
    bits, exact = P.encode(vals, acc)
    words = P.pack_words(bits, P.ELEM_BITS[acc])
    back = P.unpack_words(words, acc)
    assert np.array_equal(back, exact.numpy())


def test_encodings_are_exact_values_of_the_element_type():
    x = torch.tensor([1.0 + 2 ** -12, -3.3, 1000.7], dtype=torch.float64)
    bits, exact = P.encode(x, "tf32")
    assert np.all(bits & 0x1FFF == 0)                      # no mantissa bits below tf32's 10
    assert exact[0].item() == 1.0                          # 1 + 2^-12 is not a tf32 value
    for elem in ("e4m3", "e5m2", "f16", "bf16"):
        b, e = P.encode(x, elem)
        b2, e2 = P.encode(e, elem)
        assert np.array_equal(b, b2) and torch.equal(e, e2)
    assert P.encode(torch.tensor([-1.0, 7.0]), "s8")[0].tolist() == [0xFF, 7]


def test_poison_is_nan_for_every_float_accumulator_and_int_min_for_s32():
    words = P.poisoned_words(8, "cpu", integer=False).numpy().view(np.uint32).reshape(1, 8)
    for acc in ("f32", "f16", "f64"):
        assert np.isnan(P.unpack_words(words, acc)).all()
    iw = P.poisoned_words(4, "cpu", integer=True).numpy().view(np.uint32).reshape(1, 4)
    assert (P.unpack_words(iw, "s32") == -2**31).all()
    ok, err, _ = checks.compare(torch.from_numpy(P.unpack_words(words, "f32")), torch.ones(1, 8, dtype=torch.float64),
                                "fp32")
    assert not ok


# ---- shared-memory layouts and descriptors ---------------------------------------------------------------

@pytest.mark.parametrize("layout", ["sw128", "none"])
@pytest.mark.parametrize("rows", [64, 128, 256])
def test_layout_is_a_bijection_with_16_byte_core_rows(layout, rows):
    L = P.SmemLayout(layout)
    r, kb = np.meshgrid(np.arange(rows), np.arange(128), indexing="ij")
    off = L.offset(rows, r, kb)
    assert sorted(off.ravel().tolist()) == list(range(rows * 128))
    # within a 16-byte chunk bytes stay contiguous: what a core-matrix row needs
    assert np.all(off[:, 1::16] - off[:, 0::16] == 1) and np.all(off[:, 15::16] - off[:, 0::16] == 15)


def test_sw128_layout_xors_chunks_with_the_row():
    L = P.SmemLayout("sw128")
    for r in range(16):
        for chunk in range(8):
            off = int(L.offset(64, r, chunk * 16))
            assert off // 1024 == r // 8 and (off % 1024) // 128 == r % 8
            assert (off % 128) // 16 == chunk ^ (r % 8)


def test_descriptor_encoding_known_value_and_round_trip():
    assert P.encode_descriptor(1024, 16, 1024, 1) == 0x4000004000010040
    rng = np.random.default_rng(5)
    for _ in range(200):
        f = dict(addr=int(rng.integers(0, 1 << 14)) * 16, lbo=int(rng.integers(0, 1 << 14)) * 16,
                 sbo=int(rng.integers(0, 1 << 14)) * 16, base_offset=int(rng.integers(0, 8)),
                 swizzle=int(rng.integers(0, 4)))
        assert P.decode_descriptor(P.encode_descriptor(**f)) == f


@pytest.mark.skipif(_ext() is None, reason="accelkern._C not built (pure-Python install)")
def test_descriptor_encoding_matches_the_kernels_function():
    C = _ext()
    rng = np.random.default_rng(9)
    for _ in range(200):
        a, l, s = (int(rng.integers(0, 1 << 14)) * 16 for _ in range(3))
        sw, bo = int(rng.integers(0, 4)), int(rng.integers(0, 8))
        assert C.wgmma_descriptor(a, l, s, sw, bo) == P.encode_descriptor(a, l, s, sw, bo)
    assert C.wgmma_descriptor(0x3FFF0 + 0x40000, 16, 16, 0) == P.encode_descriptor(0x3FFF0, 16, 16, 0)


@pytest.mark.parametrize("layout", ["sw128", "none"])
@pytest.mark.parametrize("rows", [64, 256])
def test_descriptors_read_back_the_image(layout, rows):
    L = P.SmemLayout(layout)
    rng = np.random.default_rng(rows)
    bits = rng.integers(0, 256, size=(rows, 128)).astype(np.uint64)
    img = P.build_image(bits, 8, L)
    assert np.array_equal(P.read_through_descriptors(img, 4096, rows, L), bits.astype(np.uint8))


def test_descriptor_model_catches_a_wrong_stride():
    L = P.SmemLayout("sw128")
    bits = np.arange(64 * 128, dtype=np.uint64).reshape(64, 128) % 251
    img = P.build_image(bits, 8, L)
    bad = P.SmemLayout("sw128")
    p = bad.params(64)
    desc = P.encode_descriptor(0, p["lbo"], 512, p["swizzle"])   # SBO of 512 instead of 1024
    r, kb = np.meshgrid(np.arange(64), np.arange(32), indexing="ij")
    assert not np.array_equal(img[P.descriptor_address(desc, r, kb) % img.size], bits[:, :32].astype(np.uint8))


@pytest.mark.parametrize("kernel", P.WGMMA_KERNELS, ids=lambda k: k.op)
def test_wgmma_operands_timing_tile_sums_to_zero(kernel):
    ops = P.wgmma_operands(kernel, 128, "sw128", timing_mode=True)
    A, B = ops.ref["A"], ops.ref["B"]
    assert A.shape == (64, P.wgmma_kelems(kernel)) and B.shape == (128, P.wgmma_kelems(kernel))
    assert torch.count_nonzero(A).item() > A.numel() // 2           # random, not zeros
    assert float((A @ B.T).abs().max()) < 1e-9 * float((A.abs() @ B.abs().T).max())
    lay = ops.ref["layout"]
    assert lay["a_bytes"] == 64 * 128 and lay["b_bytes"] == 128 * 128 and lay["swizzle"] == 1
    assert ops.tensors["a_frags"].numel() == 128 * 16 and ops.tensors["c_frags"].numel() == 128 * 64


@pytest.mark.parametrize("kernel", P.MMA_KERNELS, ids=lambda k: k.op)
def test_mma_operands_words_per_lane(kernel):
    ops = P.mma_operands(kernel, timing_mode=True)
    assert torch.equal(ops.ref["B1"], -ops.ref["B0"])
    na, nb, nc = P.FAMILY_ELEMS[kernel.family]
    eb, cb = P.ELEM_BITS[kernel.elem], P.ELEM_BITS[kernel.acc]
    words = (na * eb + 2 * nb * eb + nc * cb) // 32
    assert ops.tensors["frags"].numel() == 32 * words
    C = _ext()
    if C is not None:
        a, b, c = C.peak_mma_fragment_words(kernel.op)
        assert (a, b, c) == (na * eb // 32, nb * eb // 32, nc * cb // 32)


def test_mma_decode_inverts_the_c_packing():
    k = next(x for x in P.MMA_KERNELS if x.op == "f16.f16")
    ops = P.mma_operands(k)
    words = ops.tensors["frags"].numpy().view(np.uint32).reshape(32, -1)[:, -2:]   # the C words
    got = P.mma_decode(k, words[None], ops.ref["c_index"])
    assert torch.equal(got[0], ops.ref["C"])


def test_simt_reference_int32_wraps_like_the_hardware():
    k = next(x for x in P.SIMT_KERNELS if x.op == "int32")
    ops = P.simt_operands(k, 4)
    got = P.simt_reference(k, ops, 5)
    m, c = int(ops.ref["m"][0]), int(ops.ref["c"][0])
    for ch in range(4):
        x = int(ops.ref["x0"][ch, 0])
        for _ in range(5):
            x = (x * m + c) & 0xFFFFFFFF
        x = x - 2**32 if x >= 2**31 else x
        assert int(got[ch, 0]) == x


@pytest.mark.parametrize("kernel", [k for k in P.SIMT_KERNELS if k.elem != "s32"], ids=lambda k: k.op)
def test_simt_chains_stay_bounded(kernel):
    ops = P.simt_operands(kernel, 4)
    x = P.simt_reference(kernel, ops, 300)
    assert torch.isfinite(x).all() and float(x.abs().max()) < 4


# ---- catalogue, grids, work counting, availability -------------------------------------------------------

def test_catalogue_covers_the_issue():
    have = {(k.path, k.dtype, k.elem) for k in P.ALL_KERNELS}
    for need in [("simt", "fp32", "f32"), ("simt", "fp64", "f64"), ("simt", "fp16", "f16"), ("simt", "bf16", "bf16"),
                 ("simt", "int32", "s32"), ("mma", "fp16", "f16"), ("mma", "bf16", "bf16"), ("mma", "tf32", "tf32"),
                 ("mma", "int8", "s8"), ("mma", "fp8", "e4m3"), ("mma", "fp8", "e5m2"), ("wgmma", "fp16", "f16"),
                 ("wgmma", "bf16", "bf16"), ("wgmma", "tf32", "tf32"), ("wgmma", "fp8", "e4m3"),
                 ("wgmma", "fp8", "e5m2"), ("wgmma", "int8", "s8"), ("mma", "fp64", "f64")]:
        assert need in have, need
    assert {k.family for k in P.MMA_KERNELS if k.dtype == "fp64"} == {"m8n8k4", "m16n8k16.f64"}
    for k in P.ALL_KERNELS:
        assert specs.per_clock_per_sm("sm_90", k.clock_key), k
        assert k.tol_dtype in checks.TOLERANCES
        if k.path == "mma":
            m, n, kk = P.FAMILY_MNK[k.family]
            assert k.flop_per_instr == 2 * m * n * kk
    assert {k.op for k in P.MMA_KERNELS if k.acc == "f16"} == {"f16.f16"}


def test_grids_respect_the_hardware_limits():
    for k in P.ALL_KERNELS:
        full, quick = P.grid(k), P.grid(k, quick=True)
        assert quick and set(quick) <= set(full)
        for c in full:
            assert 32 <= c.threads <= 1024 and c.threads * c.ctas_per_sm <= 2048
            if k.path == "wgmma":
                assert c.warps % 4 == 0 and (c.n, c.chains) in P.WGMMA_NC and c.layout == "sw128"
            elif k.path == "mma":
                assert c.chains in P.MMA_CHAINS
            else:
                assert c.chains in P.SIMT_CHAINS


def test_launch_flops_counts_every_instruction():
    bf16 = next(k for k in P.WGMMA_KERNELS if k.op == "bf16")
    cfg = P.Config(8, 1, 1, 256, False, "sw128")
    assert P.launch_flops(bf16, cfg, 132, 10, 4) == 132 * 2 * 10 * 4 * 1 * (2 * 64 * 256 * 16)
    mma = next(k for k in P.MMA_KERNELS if k.op == "bf16.f32")
    assert P.launch_flops(mma, P.Config(8, 2, 4), 264, 3, 8) == 264 * 8 * 3 * 8 * 4 * (2 * 16 * 8 * 16)
    ffma = P.SIMT_KERNELS[0]
    assert P.launch_flops(ffma, P.Config(16, 4, 8), 528, 5, 32) == 528 * 512 * 5 * 32 * 8 * 2
    # DMMA.16x8x16: 16 x 8 x 16 FMAs = 4096 FLOP per warp-instruction, 8x the m8n8k4 one (512)
    k16 = next(k for k in P.MMA_KERNELS if k.op == "f64.f64.k16")
    k4 = next(k for k in P.MMA_KERNELS if k.op == "f64.f64")
    assert (k16.flop_per_instr, k4.flop_per_instr) == (4096, 512)
    assert P.launch_flops(k16, P.Config(4, 2, 8), 264, 7, 8) == 264 * 4 * 7 * 8 * 8 * 4096
    assert k16.clock_key == k4.clock_key == "fp64_tensor"
    assert next(k for k in P.MMA_KERNELS if k.op == "f16.f16").clock_key == "fp16_acc16"


def test_select_kernels():
    assert {k.path for k in P.select_kernels(["fp8"], None)} == {"mma", "wgmma"}
    assert [k.op for k in P.select_kernels(["fp32"], ["simt"])] == ["fp32"]
    with pytest.raises(P.AccelkernError, match="allowed"):
        P.select_kernels(["fp4"], None)
    with pytest.raises(P.AccelkernError, match="tf32 exists on mma, wgmma"):
        P.select_kernels(["tf32"], ["simt"])


def _dev(cc):
    return SimpleNamespace(kind="cuda", compute_capability=cc, arch=f"sm_{cc[0]}{cc[1]}")


def test_paths_a_gpu_lacks_are_named_not_crashed(monkeypatch):
    wg = P.WGMMA_KERNELS[0]
    assert P.unavailable(wg, _dev((8, 0))) == "not available on this GPU (needs sm_90; this is sm_80)"
    assert "needs sm_90" in P.unavailable(wg, _dev((10, 0)))
    fp8 = next(k for k in P.MMA_KERNELS if k.op == "e4m3.f32")
    assert P.unavailable(fp8, _dev((8, 0))) == "not available on this GPU (needs sm_89; this is sm_80)"
    assert P.unavailable(P.SIMT_KERNELS[0], _dev((8, 0))) is None
    assert P.kernel_note(fp8, _dev((9, 0))).startswith("sm_90 has no fp8 mma.sync")
    k16 = next(k for k in P.MMA_KERNELS if k.op == "f64.f64.k16")
    assert P.unavailable(k16, _dev((8, 6))) == "not available on this GPU (needs sm_90; this is sm_86)"
    monkeypatch.setattr(peak_kernels, "binary_version", lambda k: 80)   # e.g. an sm_89 GPU running the sm_80 binary
    if _ext() is not None:
        assert "runs the sm_80 binary" in P.unavailable(fp8, _dev((8, 9)))
        why = P.unavailable(k16, _dev((9, 0)))
        assert "runs the sm_80 binary" in why and "m16n8k16 f64" in why and "sm_90+" in why
        monkeypatch.setattr(peak_kernels, "binary_version", lambda k: 90)
        assert P.unavailable(k16, _dev((9, 0))) is None


def test_validate_picks_one_kernel_per_dtype(monkeypatch):
    monkeypatch.setattr(peak_kernels, "binary_version", lambda k: 90)   # no GPU here to ask
    C = _ext()
    if C is not None and C.build_info().get("has_sm90a"):
        ks = P.validate_kernels(_dev((9, 0)))
        assert [k.path for k in ks] == ["simt", "mma", "wgmma", "wgmma", "wgmma", "wgmma", "wgmma"]
        assert ks[1].op == "f64.f64.k16"      # the full-rate fp64 tensor shape where it exists
    ks = P.validate_kernels(_dev((8, 0)))
    assert [k.dtype for k in ks] == list(P.VALIDATE_DTYPES)
    assert [k.path for k in ks][2:5] == ["mma", "mma", "mma"]
    assert ks[1].op == "f64.f64"


# ---- CLI --------------------------------------------------------------------------------------------------

def test_cli_help_and_bad_input(tmp_path):
    r = CliRunner().invoke(cli, ["peak", "--help"])
    assert r.exit_code == 0 and "--dtype" in r.output and "--verbose" in r.output and "default" in r.output
    r = CliRunner().invoke(cli, ["peak", "--dtype", "fp4"])
    assert r.exit_code == 2 and r.output.strip().splitlines() == [
        "Error: --dtype fp4: unknown; allowed: fp32, fp64, fp16, bf16, tf32, fp8, int8, int32"]
    r = CliRunner().invoke(cli, ["peak", "--path", "tensor"])
    assert r.exit_code == 2 and "allowed: simt, mma, wgmma" in r.output
    r = CliRunner().invoke(cli, ["peak", "--device", "cuda:x"])
    assert r.exit_code == 2 and "malformed" in r.output
    # no CUDA device for what was asked (the default device here is the CPU): exit 3, and nothing written
    r = CliRunner().invoke(cli, ["peak", "--out", str(tmp_path / "o")])
    assert r.exit_code == 3 and "times CUDA kernels" in r.output and "--device cpu" in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_run_refuses_a_device_without_cuda():
    from accelkern.device import get_device_info
    from accelkern.errors import NoDevice
    with pytest.raises(NoDevice, match="times CUDA kernels; this run is on cpu"):
        next(P.run(P.SIMT_KERNELS[:1], get_device_info("cpu"), None, 5.0))


def test_cli_dry_run_validates_options_without_a_device(monkeypatch):
    monkeypatch.setenv("ACCELKERN_DRY_RUN", "1")
    r = CliRunner().invoke(cli, ["peak", "--budget", "20", "--quick", "--dtype", "bf16,fp32", "--path", "wgmma,simt"])
    assert r.exit_code == 0 and r.output.strip() == "dry run: accelkern peak: options ok"
    r = CliRunner().invoke(cli, ["peak", "--dtype", "fp4"])
    assert r.exit_code == 2 and "fp4" in r.output   # a bad option still fails in a dry run


def test_ctrl_c_keeps_the_finished_rows(tmp_path, monkeypatch):
    """Interrupted after two kernels: exit 130, both rows in the JSONL and the CSV."""
    from accelkern import device as dev_mod
    from accelkern.results import Row, read_jsonl

    def fake_run(kernels, info, spec, budget, quick=False, progress=None):
        for k in kernels[:2]:
            row = Row(suite="peak", name=k.instruction, dtype=k.dtype, backend=P.PATH_LABEL[k.path],
                      kernel=k.instruction, metric="TFLOPS", value=1.5, correct=True)
            yield P.KernelResult(k, row, [row])
        raise KeyboardInterrupt

    cpu = dev_mod.get_device_info("cpu")
    monkeypatch.setattr(dev_mod, "resolve_device", lambda d: "cuda:0")   # past the CUDA check ...
    monkeypatch.setattr(dev_mod, "get_device_info", lambda d=None: cpu)  # ... with the CPU for the run header
    monkeypatch.setattr(P, "run", fake_run)
    out = tmp_path / "o"
    r = CliRunner().invoke(cli, ["peak", "--dtype", "fp32,fp64", "--path", "simt", "--out", str(out)])
    assert r.exit_code == 130, r.output
    _, rows = read_jsonl(str(out / "peak.jsonl"))
    assert [x.dtype for x in rows] == ["fp32", "fp64"] and all(x.value == 1.5 for x in rows)
    assert len((out / "peak.csv").read_text().strip().splitlines()) >= 3


# ---- SASS of the built extension (the peak cubins only: seconds, not the whole library) --------------------

PEAK_CUBINS = ("mma_peak", "simt_peak", "wgmma_16bit_sm90a", "wgmma_8bit_sm90a", "wgmma_tf32_sm90a")
OPCODE = re.compile(r"/\*[0-9a-f]{4,}\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Za-z0-9_.]+)")   # DMMA.16x8x16 has lowercase x
GMMA_LINE = re.compile(r"\b([HQI]GMMA)\.\S+\s+(.*?);")


def _cuobjdump():
    for d in CUOBJDUMP_DIRS + os.environ.get("PATH", "").split(os.pathsep):
        p = os.path.join(d, "cuobjdump")
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return shutil.which("cuobjdump")


@pytest.fixture(scope="module")
def sass(tmp_path_factory):
    C = _ext()
    if C is None:
        pytest.skip("accelkern._C not built (pure-Python install): no SASS to inspect")
    tool = _cuobjdump()
    if tool is None:
        pytest.skip("cuobjdump not found (it ships in triton's package: triton/backends/nvidia/bin)")
    run = lambda *a, **kw: subprocess.run([tool, *a], capture_output=True, text=True, check=True, **kw).stdout
    cubins = [n for n in re.findall(r"ELF file\s+\d+:\s+(\S+\.cubin)", run("-lelf", C.__file__))
              if n.split(".")[0] in PEAK_CUBINS]
    d = tmp_path_factory.mktemp("sass")
    for name in cubins:
        run("-xelf", name, C.__file__, cwd=d)
    with ThreadPoolExecutor(max_workers=2) as pool:   # one cuobjdump per cubin, two at a time
        dumps = list(pool.map(lambda n: (n, run("-sass", str(d / n)), run("-res-usage", str(d / n))), cubins))
    funcs, res = {}, []   # (arch, mangled name) -> Counter of opcodes
    for name, text, usage in dumps:
        arch = name.split(".")[-2]
        res.append(usage)
        for f in re.split(r"Function : ", text)[1:]:
            fname = f.split()[0]
            if "_peak_kernel" in fname:
                funcs[(arch, fname)] = Counter(OPCODE.findall(f))
                funcs[(arch, fname)]["_text"] = f
    return SimpleNamespace(funcs=funcs, res="\n".join(res), archs={a for a, _ in funcs})


def _ops(sass, arch, *parts):
    hits = [c for (a, n), c in sass.funcs.items() if a == arch and all(p in n for p in parts)]
    assert hits, f"no kernel {parts} in the {arch} SASS"
    return hits


def _top(counter):
    return Counter({k: v for k, v in counter.items() if k != "_text"}).most_common(5)


def _has(counter, prefix):
    return sum(v for k, v in counter.items() if k != "_text" and k.startswith(prefix))


def test_sass_has_both_targets(sass):
    assert {"sm_80", "sm_90a"} <= sass.archs


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("tag,opcode", [("SimtFp32E", "FFMA"), ("SimtFp64E", "DFMA"), ("SimtWordILi0E", "HFMA2"),
                                        ("SimtWordILi1E", "HFMA2"), ("SimtWordILi2E", "IMAD")])
def test_sass_simt_loops(sass, arch, tag, opcode):
    for c in _ops(sass, arch, "simt_peak_kernel", tag):
        assert _has(c, opcode) >= 256, (tag, _top(c))
    if tag == "SimtWordILi1E":
        assert all(any("BF16" in k for k in c) for c in _ops(sass, arch, "simt_peak_kernel", tag))


@pytest.mark.parametrize("arch", ["sm_80", "sm_90a"])
@pytest.mark.parametrize("tag,opcode", [("MmaF16F32E", "HMMA.16816.F32"), ("MmaF16F16E", "HMMA.16816.F16"),
                                        ("MmaBf16F32E", "HMMA.16816.F32.BF16"), ("MmaTf32F32E", "HMMA.1688.F32.TF32"),
                                        ("MmaS8S32E", "IMMA.16832.S8.S8"), ("MmaF64F64E", "DMMA")])
def test_sass_mma_sync_loops(sass, arch, tag, opcode):
    for c in _ops(sass, arch, "mma_peak_kernel", tag):
        assert _has(c, opcode) >= 16, (tag, _top(c))
        if tag == "MmaF64F64E":   # m8n8k4: DMMA.884 (sm_80 naming) / DMMA.8x8x4 (sm_90), never the k16 shape
            assert _has(c, "DMMA.16x8x16") == 0


def test_sass_fp64_m16n8k16_is_dmma_16x8x16_on_sm90(sass):
    # 8 mma per chain per iteration: chains 2, 4, 8 -> at least 16, 32, 64 DMMA.16x8x16, and no other shape
    for chains in (2, 4, 8):
        (c,) = _ops(sass, "sm_90a", "mma_peak_kernel", f"MmaF64F64K16ELi{chains}E")
        assert _has(c, "DMMA.16x8x16") >= 8 * chains and _has(c, "DMMA.8x8x4") == 0, _top(c)
    for c in _ops(sass, "sm_80", "mma_peak_kernel", "MmaF64F64K16"):
        assert _has(c, "DMMA") == 0   # the sm_80 binary traps; the host never launches it


def test_sass_fp8_mma_sync_is_emulated_on_sm90(sass):
    # documented in the rows: Hopper has no fp8 mma.sync, ptxas converts to f16 and uses HMMA
    for c in _ops(sass, "sm_90a", "mma_peak_kernel", "MmaF8F32"):
        assert _has(c, "HMMA.16816.F32") >= 32 and _has(c, "F2FP") > 0 and _has(c, "QMMA") == 0
    for c in _ops(sass, "sm_80", "mma_peak_kernel", "MmaF8F32"):
        assert _has(c, "HMMA") == 0   # the sm_80 binary traps; the host never launches it


@pytest.mark.parametrize("tag,opcode", [("WgF16E", "HGMMA"), ("WgBf16E", "HGMMA"), ("WgTf32E", "HGMMA"),
                                        ("WgE4m3E", "QGMMA"), ("WgE5m2E", "QGMMA"), ("WgS8E", "IGMMA")])
def test_sass_wgmma_loops_are_pipelined(sass, tag, opcode):
    kernels = _ops(sass, "sm_90a", "wgmma_peak_kernel", tag)
    assert len(kernels) == 2 * len(P.WGMMA_NC)             # SS and RS for every (N, chains)
    for c in kernels:
        lines = [l for l in c["_text"].splitlines() if opcode + "." in l]
        assert len(lines) >= 8, tag
        # only the last wgmma of each committed group waits on the scoreboard: no serialization
        assert sum("gsb0" not in l for l in lines) >= len(lines) // 2, tag
        assert _has(c, "LDL") == 0 and _has(c, "STL") == 0
    assert not [n for (ar, n) in sass.funcs if ar == "sm_80" and "wgmma_peak_kernel" in n]


def test_sass_no_dummy_gmma_through_a_null_descriptor(sass):
    """An empty wgmma.commit_group makes ptxas emit HGMMA.64x8x16 RZ, gdesc[URZ] (shared address 0): every
    GMMA of every wgmma kernel must read real descriptors and write real accumulators, and after the
    loop's last branch only the final wait remains before the clock is read."""
    kernels = [(n, c["_text"]) for (a, n), c in sass.funcs.items() if a == "sm_90a" and "wgmma_peak_kernel" in n]
    assert len(kernels) == len(P.WGMMA_KERNELS) * 2 * len(P.WGMMA_NC)
    for name, text in kernels:
        gmma = GMMA_LINE.findall(text)
        assert gmma, name
        for _, operands in gmma:
            assert "URZ" not in operands and not operands.startswith("RZ"), (name, operands)
        body = text.split("SR_CLOCKLO")   # clock read before the loop, then after it
        assert len(body) >= 3, name
        tail = body[1][body[1].rfind("BRA"):]          # from the loop's last branch to the second clock read
        assert not GMMA_LINE.search(tail) and "DEPBAR.LE gsb0, 0x0" in tail, (name, tail[:400])


def test_no_peak_kernel_uses_local_memory(sass):
    blocks = re.split(r"\n(?=\s*Function )", sass.res)
    seen = 0
    for b in blocks:
        if "_peak_kernel" in b.split("\n", 1)[0]:
            seen += 1
            m = re.search(r"STACK:(\d+)", b)
            assert m and int(m.group(1)) == 0, b[:200]
            m = re.search(r"LOCAL:(\d+)", b)
            assert m is None or int(m.group(1)) == 0, b[:200]
    per_arch = len(P.SIMT_KERNELS) * len(P.SIMT_CHAINS) + len(P.MMA_KERNELS) * len(P.MMA_CHAINS)
    assert seen == 2 * per_arch + len(P.WGMMA_KERNELS) * 2 * len(P.WGMMA_NC)


# ---- on a GPU ------------------------------------------------------------------------------------------------

def _device_info():
    from accelkern.device import get_device_info
    return get_device_info("cuda")


def _check_or_skip(kernel, cfg):
    why = P.unavailable(kernel, _device_info())
    if why:
        pytest.skip(why)
    r = P.check_kernel(kernel, cfg, "cuda")
    assert r.ok, (r.error, r.tolerance, r.what)


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_wgmma_bf16_check():
    _check_or_skip(next(k for k in P.WGMMA_KERNELS if k.op == "bf16"), P.Config(8, 1, 1, 256, False, "sw128"))


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_mma_bf16_check():
    _check_or_skip(next(k for k in P.MMA_KERNELS if k.op == "bf16.f32"), P.Config(2, 1, 4))


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_dmma_16x8x16_check():
    _check_or_skip(next(k for k in P.MMA_KERNELS if k.op == "f64.f64.k16"), P.Config(2, 1, 4))


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_simt_fp32_check():
    r = P.check_kernel(next(k for k in P.SIMT_KERNELS if k.op == "fp32"), P.Config(2, 1, 8), "cuda")
    assert r.ok, (r.error, r.tolerance, r.what)


def _timed_launcher(op, cfg):
    from accelkern.peak.sweep import Launcher
    info = _device_info()
    k = next(x for x in P.ALL_KERNELS if x.op == op)
    why = P.unavailable(k, info)
    if why:
        pytest.skip(why)
    return Launcher(k, cfg, info.torch_device, info.sm_count)


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_timed_launch_is_checked():
    """The launch that is timed (every SM, many iterations) is checked, and a planted wrong word fails it."""
    from accelkern.peak.timed_check import check_timed_launch
    L = _timed_launcher("int32", P.Config(8, 2, 8))
    L.launch(200)
    r = check_timed_launch(L, 200)
    assert r.ok and r.error == 0.0, r.what
    L.launch(201)                                  # the words of another iteration count
    assert not check_timed_launch(L, 200).ok
    L.launch(200)
    L.out[L.out.numel() // 2] ^= 1                 # one thread's word in the middle of the grid
    bad = check_timed_launch(L, 200)
    assert not bad.ok and "not the XOR" in bad.what


_TIMED = [("fp32", P.Config(8, 2, 8)), ("fp64", P.Config(4, 2, 4)), ("bf16x2", P.Config(8, 2, 16)),
          ("bf16.f32", P.Config(8, 2, 4)), ("s8.s32", P.Config(8, 2, 4)), ("f64.f64.k16", P.Config(4, 2, 4)),
          ("bf16", P.Config(8, 1, 1, 256, False, "sw128")), ("e4m3", P.Config(8, 1, 2, 128, True, "sw128")),
          ("s8", P.Config(4, 2, 1, 256, False, "sw128"))]


@pytest.mark.gpu
@pytest.mark.parametrize("op,cfg", _TIMED, ids=[o for o, _ in _TIMED])
def test_gpu_timed_launch_checked(op, cfg):
    """Each path's timed launch (all SMs, the calibrated iteration count) against its closed-form reference."""
    from accelkern.peak.sweep import calibrate_iters
    from accelkern.peak.timed_check import check_timed_launch
    L = _timed_launcher(op, cfg)
    if L.infeasible():
        pytest.skip(L.infeasible())
    iters = calibrate_iters(L, 0.003)
    L.launch(iters)
    r = check_timed_launch(L, iters)
    assert r.ok, (r.error, r.tolerance, r.what)


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", P.SIMT_KERNELS, ids=lambda k: k.op)
@pytest.mark.parametrize("chains", P.SIMT_CHAINS)
def test_gpu_simt_check(kernel, chains):
    r = P.check_kernel(kernel, P.Config(2, 1, chains), "cuda")
    assert r.ok, (r.error, r.tolerance, r.what)


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", P.MMA_KERNELS, ids=lambda k: k.op)
@pytest.mark.parametrize("chains", P.MMA_CHAINS)
def test_gpu_mma_sync_check(kernel, chains):
    _check_or_skip(kernel, P.Config(2, 1, chains))


@pytest.mark.gpu
@pytest.mark.parametrize("kernel", P.WGMMA_KERNELS, ids=lambda k: k.op)
@pytest.mark.parametrize("n,chains", P.WGMMA_NC)
@pytest.mark.parametrize("a_in_regs", [False, True], ids=["SS", "RS"])
@pytest.mark.parametrize("layout", ["sw128", "none"])
def test_gpu_wgmma_check(kernel, n, chains, a_in_regs, layout):
    _check_or_skip(kernel, P.Config(8, 1, chains, n, a_in_regs, layout))


@pytest.mark.gpu
def test_gpu_wgmma_refused_off_sm90():
    info = _device_info()
    if tuple(info.compute_capability) == (9, 0):
        pytest.skip("this is an sm_90 GPU")
    k = P.WGMMA_KERNELS[0]
    with pytest.raises(RuntimeError, match="sm_90"):
        P.check_kernel(k, P.Config(8, 1, 1, 128, False, "sw128"), "cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("op", ["fp32", "bf16.f32", "f64.f64.k16", "bf16"])
def test_gpu_short_sweep_rows(op, record_property):
    """Structure only (speed goes to device_check verdicts): every shape tried, the best checked, its FLOPs
    the instruction count times FLOP per instruction, its per-clock figures from this product's table."""
    info = _device_info()
    k = next(x for x in P.ALL_KERNELS if x.op == op)
    why = P.unavailable(k, info)
    if why:
        pytest.skip(why)
    res = P.run_kernel(k, info, None, budget_s=3.0, quick=True)
    row = res.best
    assert row.status == "ok" and row.correct is True and row.value > 0
    assert row.config["timed_check"]["ok"] is True and "units identical" in row.config["timed_check"]["what"]
    c = row.config
    cfg = P.Config(**{x: y for x, y in P.sweep._config_fields(c).items()})
    assert row.flops == P.launch_flops(k, cfg, c["ctas"], c["iters"], int(_steps(k, cfg)))
    assert c["flop_per_instruction"] == k.flop_per_instr * (cfg.n or 1)
    assert c["regs"] == _info(k, cfg)["regs"] > 0               # what the runtime says the kernel uses
    # clock64 cycles over %globaltimer ns cannot exceed the GPU's top clock (rounding aside)
    assert 100 < c["kernel_clock_mhz"] <= 1.02 * info.max_sm_clock_mhz, (c["kernel_clock_mhz"], info.max_sm_clock_mhz)
    record_property(f"peak_busy_fraction_{op}", c["busy_fraction"])   # a verdict: 0.5 .. 1.05
    assert c["arch_flop_per_clk_per_sm"] == specs.per_clock_per_sm(info.arch, k.clock_key, product=info.name)
    assert all(r.suite == "peak-grid" for r in res.grid) and len(res.grid) == len(P.grid(k, quick=True))


def _info(kernel, cfg):
    C, info = _ext(), _device_info()
    if kernel.path == "simt":
        return C.peak_simt_info(kernel.op, cfg.chains, cfg.threads)
    if kernel.path == "mma":
        return C.peak_mma_info(kernel.op, cfg.chains, cfg.warps)
    layout = P.wgmma_operands(kernel, cfg.n, cfg.layout, timing_mode=True).ref["layout"]
    return C.peak_wgmma_info(kernel.op, cfg.n, bool(cfg.a_in_regs), cfg.chains, cfg.warps // 4, layout, info.index)


def _steps(kernel, cfg):
    C = _ext()
    if kernel.path == "simt":
        return C.peak_simt_info(kernel.op, cfg.chains, cfg.threads)["steps_per_iter"]
    if kernel.path == "mma":
        return C.peak_mma_info(kernel.op, cfg.chains, cfg.warps)["steps_per_iter"]
    return P.K_STEPS


@pytest.mark.gpu
def test_gpu_cli_rows(tmp_path):
    from accelkern.results import read_jsonl
    r = CliRunner().invoke(cli, ["peak", "--dtype", "fp32,bf16", "--path", "simt,mma", "--quick", "--budget", "5",
                                 "--verbose", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    _, rows = read_jsonl(str(tmp_path / "peak.jsonl"))
    best = [x for x in rows if x.suite == "peak"]
    assert {(x.dtype, x.backend) for x in best} == {("fp32", "simt"), ("bf16", "simt"), ("bf16", "mma.sync")}
    assert all(x.status == "ok" and x.value > 0 for x in best)
    assert any(x.suite == "peak-grid" for x in rows)


# ---- the host side end to end, against an emulated extension --------------------------------------------
# EmulatedExt does what csrc/peak/peak.h documents (word layouts in and out, B0/B1 alternation, k-steps read
# through the descriptors) on the CPU in float64, with its own description of every map and encoding: the
# fragment maps from CuTe's layouts above, element bits through numpy/torch dtypes, descriptors decoded
# from the PTX ISA bit fields, the SIMT chains stepped in numpy. So accelkern.peak's packing, images,
# decoding and references are checked against a second implementation before a GPU sees them.

def _elems_from_words(words, elem, count):
    """(..., n_words) uint32 -> (..., count) float64 values of `elem`, element 0 in the low bits."""
    w = np.asarray(words, dtype=np.uint64)
    bits = {"f16": 16, "bf16": 16, "tf32": 32, "f32": 32, "s32": 32, "e4m3": 8, "e5m2": 8, "s8": 8, "f64": 64}[elem]
    if bits == 64:
        pairs = w.reshape(*w.shape[:-1], -1, 2)
        raw = pairs[..., 0] | (pairs[..., 1] << np.uint64(32))
    else:
        per = 32 // bits
        shifts = np.arange(per, dtype=np.uint64) * np.uint64(bits)
        raw = ((w[..., None] >> shifts) & np.uint64((1 << bits) - 1)).reshape(*w.shape[:-1], -1)
    raw = raw[..., :count]
    t = torch.from_numpy(raw.astype(np.int64))
    if elem == "f16":
        return t.to(torch.int16).view(torch.float16).double()
    if elem == "bf16":
        return t.to(torch.int16).view(torch.bfloat16).double()
    if elem in ("f32", "tf32"):
        return t.to(torch.int32).view(torch.float32).double()
    if elem in ("e4m3", "e5m2"):
        return t.to(torch.uint8).view(torch.float8_e4m3fn if elem == "e4m3" else torch.float8_e5m2).double()
    if elem == "s8":
        return t.to(torch.uint8).view(torch.int8).double()
    if elem == "s32":
        return t.to(torch.int32).double()
    return t.view(torch.float64)


def _acc_words(values, acc):
    """float64 results -> accumulator words as the GPU stores them (f32/s32 one a word, f16 two, f64 lo/hi)."""
    v = np.asarray(values, dtype=np.float64)
    if acc == "f32":
        return v.astype(np.float32).view(np.uint32)
    if acc == "s32":
        return (v.astype(np.int64) & 0xFFFFFFFF).astype(np.uint32)
    if acc == "f64":
        return v.view(np.uint32)            # little endian: low word first
    if acc == "f16":
        return v.astype(np.float16).view(np.uint32)
    raise ValueError(acc)


def _words(t):
    return t.numpy().view(np.uint32)


def _smem_address(desc, r, kb):
    """Byte address the tensor core reads for (row r, K byte kb) of a K-major operand, from the descriptor's
    PTX ISA fields: start address bits 0-13, LBO 16-29, SBO 32-45 (all >> 4), layout type bits 62-63."""
    start, lbo, sbo = [((desc >> s) & 0x3FFF) << 4 for s in (0, 16, 32)]
    swizzle = (desc >> 62) & 3
    core = (r // 8) * sbo + (r % 8) * (128 if swizzle == 1 else 16)
    if swizzle == 0:   # interleaved 8 x 16-byte core matrices: K-adjacent ones LBO apart
        return start + core + (kb // 16) * lbo + kb % 16
    assert swizzle == 1     # 128-byte swizzle: 16-byte chunk index xor-ed with the row inside the 1024-byte atom
    a = start + core + kb
    return a ^ (((a >> 7) & 7) << 4)


class EmulatedExt:
    """CPU stand-in for accelkern._C's peak entry points (contract of csrc/peak/peak.h)."""

    def __init__(self):
        self.by_op = {k.op: k for k in P.SIMT_KERNELS + P.MMA_KERNELS}
        self.wg = {k.op: k for k in P.WGMMA_KERNELS}

    def build_info(self):
        return {"has_sm90a": True}

    def peak_simt_info(self, op, chains, threads):
        return {"steps_per_iter": 256 // chains, "binary_version": 90, "regs": 32, "local_bytes": 0,
                "max_active_ctas": 2048 // threads}

    def peak_mma_info(self, op, chains, warps):
        return {"steps_per_iter": 8, "binary_version": 90, "regs": 64, "local_bytes": 0, "max_active_ctas": 2}

    def peak_mma_fragment_words(self, op):
        k = self.by_op[op]
        na, nb, nc = P.FAMILY_ELEMS[k.family]
        width = {"f16": 16, "bf16": 16, "tf32": 32, "e4m3": 8, "e5m2": 8, "s8": 8, "f64": 64}
        acc = {"f32": 32, "f16": 16, "s32": 32, "f64": 64}[k.acc]
        return na * width[k.elem] // 32, nb * width[k.elem] // 32, nc * acc // 32

    def peak_simt(self, op, chains, ctas, threads, iters, check, params, out, clocks=None):
        k = self.by_op[op]
        w = 2 if k.elem == "f64" else 1
        lanes = 2 if k.elem in ("f16", "bf16") else 1
        vals = _elems_from_words(_words(params).reshape(chains + 2, w), k.elem, lanes).numpy()
        x, m, c = vals[:chains].copy(), vals[chains], vals[chains + 1]
        for _ in range(iters * 256 // chains):   # one fused multiply-add per step, rounded to the element type
            if k.elem == "s32":
                x = np.array([[((int(a) * int(m[0]) + int(c[0]) + 2**31) % 2**32) - 2**31] for a in x[:, 0]],
                             dtype=np.float64)
            elif k.elem == "f32":
                x = (x * m + c).astype(np.float32).astype(np.float64)
            elif k.elem == "f16":
                x = (x * m + c).astype(np.float16).astype(np.float64)
            elif k.elem == "bf16":
                x = torch.from_numpy(x * m + c).to(torch.bfloat16).double().numpy()
            else:
                x = x * m + c
        if k.elem in ("f16", "bf16"):
            half = torch.from_numpy(x).to(torch.float16 if k.elem == "f16" else torch.bfloat16)
            h = half.view(torch.int16).numpy().astype(np.uint16).astype(np.uint32)
            res = (h[:, 0] | (h[:, 1] << np.uint32(16))).reshape(chains, 1)
        else:
            res = _acc_words(x.reshape(chains), {"f32": "f32", "s32": "s32", "f64": "f64"}[k.elem]).reshape(chains, w)
        o = _words(out)
        for t in range(ctas * threads):
            o[t * chains * w:(t + 1) * chains * w] = res.reshape(-1)

    def peak_mma(self, op, chains, ctas, warps, iters, check, frags, out, clocks=None):
        k = self.by_op[op]
        fam = k.family
        m, n, kk = P.FAMILY_MNK[fam]
        na, nb, nc = P.FAMILY_ELEMS[fam]
        aw, bw, cw = self.peak_mma_fragment_words(op)
        f = _words(frags).reshape(32, aw + 2 * bw + cw)
        A, B0, B1, Cm = (torch.full(s, float("nan"), dtype=torch.float64) for s in ((m, kk), (kk, n), (kk, n), (m, n)))
        for lane in range(32):
            a = _elems_from_words(f[lane, :aw], k.elem, na)
            b0 = _elems_from_words(f[lane, aw:aw + bw], k.elem, nb)
            b1 = _elems_from_words(f[lane, aw + bw:aw + 2 * bw], k.elem, nb)
            c = _elems_from_words(f[lane, aw + 2 * bw:], k.acc, nc)
            for i in range(na):
                A[cute_a(fam, lane, i)] = a[i]
            for i in range(nb):
                B0[cute_b(fam, lane, i)], B1[cute_b(fam, lane, i)] = b0[i], b1[i]
            for i in range(nc):
                Cm[cute_c(fam, lane, i)] = c[i]
        D = (Cm + 4 * iters * (A @ B0 + A @ B1)).numpy()   # 8 steps per iteration: B0, B1, B0, ...
        lane_words = np.stack([_acc_words(np.array([D[cute_c(fam, lane, i)] for i in range(nc)]), k.acc)
                               for lane in range(32)])
        o = _words(out).reshape(-1, 32, cw)
        o[:ctas * warps * chains] = lane_words

    def peak_wgmma(self, op, n, a_in_regs, chains, ctas, warpgroups, iters, check, image, layout, a_frags, c_frags,
                   out, clocks=None):
        k = self.wg[op]
        img = image.numpy()
        ebytes = {"f16": 2, "bf16": 2, "tf32": 4, "e4m3": 1, "e5m2": 1, "s8": 1}[k.elem]
        ks = 32 // ebytes                       # elements of K per 32-byte k-step
        na = P.FAMILY_ELEMS[k.family][0]

        def read(rows, base, lbo, sbo, kstep, s):   # the k-step's operand through its descriptor, as elements
            addr = base + s * kstep
            desc = ((addr >> 4) & 0x3FFF) | (((lbo >> 4) & 0x3FFF) << 16) | (((sbo >> 4) & 0x3FFF) << 32) \
                | ((layout["swizzle"] & 3) << 62)
            rr, kb = np.meshgrid(np.arange(rows), np.arange(32), indexing="ij")
            raw = img[_smem_address(desc, rr, kb)].reshape(rows, ks, ebytes).astype(np.uint64)
            bits = sum(raw[..., j] << np.uint64(8 * j) for j in range(ebytes))          # little endian
            per = max(1, 4 // ebytes)
            words = sum(bits.reshape(rows, -1, per)[..., j] << np.uint64(8 * ebytes * j) for j in range(per))
            return _elems_from_words(words.astype(np.uint32), k.elem, ks)

        D = torch.full((64, n), float("nan"), dtype=torch.float64)
        cv = _elems_from_words(_words(c_frags).reshape(128, n // 2), k.acc, n // 2)
        for t in range(128):
            for r in range(n // 2):
                D[cute_wgmma_d(t, r, n)] = cv[t, r]
        af = _words(a_frags).reshape(128, 16) if a_in_regs else None
        for _ in range(iters):
            for s in range(P.K_STEPS):
                if a_in_regs:
                    As = torch.full((64, ks), float("nan"), dtype=torch.float64)
                    av = _elems_from_words(af[:, 4 * s:4 * s + 4], k.elem, na)
                    for t in range(128):
                        for i in range(na):
                            As[cute_wgmma_a(k.family, t, i)] = av[t, i]
                else:
                    As = read(64, 0, layout["a_lbo"], layout["a_sbo"], layout["a_kstep"], s)
                Bs = read(n, layout["a_bytes"], layout["b_lbo"], layout["b_sbo"], layout["b_kstep"], s)
                D = D + As @ Bs.T
        Dn = D.numpy()
        words = np.stack([_acc_words(np.array([Dn[cute_wgmma_d(t, r, n)] for r in range(n // 2)]), k.acc)
                          for t in range(128)]).reshape(-1)
        o = _words(out)
        for blk in range(ctas * warpgroups * chains):
            o[blk * words.size:(blk + 1) * words.size] = words


@pytest.fixture
def emulated_ext(monkeypatch):
    fake = EmulatedExt()
    monkeypatch.setattr(P._ext, "require", lambda: fake)
    monkeypatch.setattr(P._ext, "load", lambda: fake)
    return fake


@pytest.mark.parametrize("kernel", P.SIMT_KERNELS, ids=lambda k: k.op)
def test_emulated_extension_simt_check(emulated_ext, kernel):
    r = P.check_kernel(kernel, P.Config(2, 1, 8), "cpu")
    assert r.ok, r


@pytest.mark.parametrize("kernel", P.MMA_KERNELS, ids=lambda k: k.op)
def test_emulated_extension_mma_check(emulated_ext, kernel):
    r = P.check_kernel(kernel, P.Config(2, 1, 4), "cpu")
    assert r.ok, r
    assert r.tolerance == checks.tolerance(kernel.tol_dtype)


@pytest.mark.parametrize("kernel", P.WGMMA_KERNELS, ids=lambda k: k.op)
@pytest.mark.parametrize("a_in_regs", [False, True], ids=["SS", "RS"])
@pytest.mark.parametrize("layout", ["sw128", "none"])
def test_emulated_extension_wgmma_check(emulated_ext, kernel, a_in_regs, layout):
    r = P.check_kernel(kernel, P.Config(8, 1, 2, 64, a_in_regs, layout), "cpu")
    assert r.ok, r


def test_emulated_descriptor_reads_match_the_package_model():
    # the two descriptions of the canonical layouts give the same address for every (row, K byte)
    for swizzle, lbo, sbo in ((0, 1024, 128), (1, 16, 1024)):
        desc = P.encode_descriptor(4096, lbo, sbo, swizzle)
        r, kb = np.meshgrid(np.arange(64), np.arange(32), indexing="ij")
        assert np.array_equal(_smem_address(desc, r, kb), P.descriptor_address(desc, r, kb))


class WrongLayoutExt(EmulatedExt):
    """A 'GPU' whose accumulator layout differs from the PTX one (pairs of columns swapped) and whose
    wgmma ignores the k-step advance of the descriptors: the checks must fail on it."""

    def peak_mma(self, *args, **kw):
        super().peak_mma(*args, **kw)
        out = args[7]
        cw = self.peak_mma_fragment_words(args[0])[2]
        w = _words(out).reshape(-1, cw)
        w[:, [0, 1]] = w[:, [1, 0]].copy()

    def peak_wgmma(self, op, n, a_in_regs, chains, ctas, warpgroups, iters, check, image, layout, *rest):
        stuck = dict(layout, a_kstep=0, b_kstep=0)
        super().peak_wgmma(op, n, a_in_regs, chains, ctas, warpgroups, iters, check, image, stuck, *rest)


def test_checks_fail_on_a_wrong_layout(monkeypatch):
    fake = WrongLayoutExt()
    monkeypatch.setattr(P._ext, "require", lambda: fake)
    for op in ("bf16.f32", "s8.s32", "f16.f16", "f64.f64.k16"):
        r = P.check_kernel(next(x for x in P.MMA_KERNELS if x.op == op), P.Config(2, 1, 2), "cpu")
        assert not r.ok and r.error > r.tolerance, (op, r)
    r = P.check_kernel(next(x for x in P.WGMMA_KERNELS if x.op == "e4m3"), P.Config(4, 1, 2, 64, False, "sw128"),
                       "cpu")
    assert not r.ok, r


def test_peak_table_columns_render():
    from accelkern import tables as report
    from accelkern.commands.peak import peak_columns as _peak_columns
    from accelkern.results import Row
    rows = [Row(suite="peak", name="wgmma.m64nNk16 bf16->f32", dtype="bf16", backend="wgmma", metric="TFLOPS",
                value=901.5, correct=True, flop_per_clk_per_sm=3890.0, pct_of_clock_peak=95.0,
                config={"n": 256, "a_source": "shared", "warpgroups": 2, "ctas_per_sm": 1, "chains": 1,
                        "warps_per_cta": 8, "flop_per_clk_per_sm_kernel_clock": 3950.0,
                        "arch_flop_per_clk_per_sm": 4096, "pct_of_arch_at_kernel_clock": 96.4,
                        "kernel_clock_mhz": 1720.0}),
            Row(suite="peak", name="FFMA (fma.rn.f32)", dtype="fp32", backend="simt", metric="TFLOPS",
                value=9.84e-05, correct=True, config={"warps_per_cta": 16, "ctas_per_sm": 4, "chains": 8}),
            Row(suite="peak", name="wgmma.m64nNk32 e4m3->f32", dtype="fp8", backend="wgmma", status="skipped",
                note="not available on this GPU (needs sm_90; this is sm_80)")]
    text = report.text_table(rows, _peak_columns())
    assert "N=256 SS 2wg x1/SM c1" in text and "901.5 TFLOPS" in text and "3950" in text and "4096" in text
    assert "98.4 MFLOPS" in text and "e-05" not in text          # scaled unit, not an exponent
    assert "not available on this GPU (needs sm_90; this is sm_80)" in text


def test_validate_registers_the_compute_ceiling_suite():
    from accelkern import validate
    names = {s.name: s for s in validate.load_suites()}
    assert "peak" in names and names["peak"].devices == ("cuda", "cpu") and "compute ceiling" in names["peak"].title


# ---- bench/peak_ceiling.py (device_check's study script) on the CPU: a crash there must not cost GPU time --

def _bench(name):
    import importlib.util
    path = os.path.join(os.path.dirname(__file__), "..", "bench", f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_peak_ceiling_dry_run_checks_its_command_line():
    bench = _bench("peak_ceiling")
    r = CliRunner().invoke(bench.main, ["--dry-run", "--budget", "20", "--dtype", "bf16,fp64", "--path", "mma"])
    assert r.exit_code == 0 and "dry run: accelkern peak: options ok" in r.output, r.output
    r = CliRunner().invoke(bench.main, ["--dry-run", "--dtype", "fp4"])
    assert r.exit_code == 2 and "--dtype fp4: unknown" in r.output
    assert "ACCELKERN_DRY_RUN" not in os.environ


def test_bench_peak_ceiling_renders_an_earlier_run_without_a_gpu(tmp_path):
    from accelkern.results import ResultWriter, Row, RunHeader
    bench = _bench("peak_ceiling")
    w = ResultWriter(str(tmp_path), RunHeader(command="peak", device="NVIDIA H200", device_kind="cuda", sms=132),
                     stem="peak")
    cfg = {"n": 256, "a_source": "shared", "warpgroups": 2, "ctas_per_sm": 1, "chains": 1, "warps_per_cta": 8,
           "flop_per_clk_per_sm_kernel_clock": 3950.0, "arch_flop_per_clk_per_sm": 4096,
           "pct_of_arch_at_kernel_clock": 96.4, "kernel_clock_mhz": 1720.0}
    w.write(Row(suite="peak", name="wgmma.m64nNk16 bf16->f32", dtype="bf16", backend="wgmma", metric="TFLOPS",
                value=901.5, correct=True, kernel="wgmma.m64nNk16 bf16->f32 [N=256 SS 2wg x1/SM, 1 chain, sw128]",
                config=cfg))
    w.write(Row(suite="peak-grid", name="wgmma.m64nNk16 bf16->f32", dtype="bf16", backend="wgmma", value=880.0,
                metric="TFLOPS", config=cfg))
    w.write(Row(suite="peak", name="mma.sync.m16n8k16 f64 (DMMA.16x8x16)", dtype="fp64", backend="mma.sync",
                status="skipped", note="not available on this GPU (needs sm_90; this is sm_80)"))
    w.close("")
    r = CliRunner().invoke(bench.main, ["--from", str(tmp_path)])
    assert r.exit_code == 0, r.output
    table = [l for l in r.output.splitlines() if l.startswith("| ")]
    assert len(table) == 3     # header and the two best rows (the grid row is not a best row)
    assert "| wgmma | bf16 | wgmma.m64nNk16 bf16->f32 | N=256 SS 2wg x1/SM, 1 chain, sw128 | 901.5 TFLOPS |" in table[1]
    assert "| 3950 | 4096 | 96.4 | 1720 / - |" in table[1] and "skipped: not available" in table[2]
    if __import__("importlib").util.find_spec("matplotlib"):
        assert (tmp_path / "peak_ceiling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
