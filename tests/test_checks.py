"""accelkern.checks: the one tolerance table and the whole-answer GEMM check, on CPU tensors (the same code
runs on the GPU's tensors, with the CPU spot-check of the device reference)."""
import math

import pytest
import torch

from accelkern import checks


def _gemm(m, n, k, batch=1, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(batch, m, k, generator=g).to(dtype)
    b = torch.randn(batch, k, n, generator=g).to(dtype)
    d = torch.stack([(a[i].double() @ b[i].double()).to(dtype) for i in range(batch)])
    return a, b, d


def _entries(a, b, d):
    return [(a[i], b[i], d[i]) for i in range(a.shape[0])]


def test_a_correct_answer_passes_with_its_rounding_error():
    a, b, d = _gemm(96, 80, 200, batch=3)
    ok, err, tol = checks.check_gemm(_entries(a, b, d), "fp32")
    assert ok and tol == checks.TOLERANCES["fp32"] == 1e-4
    assert 0 < err < 1e-6      # float32 rounding of the output, relative to rms(ref) ~ sqrt(K)


@pytest.mark.parametrize("where", ["middle", "last_row", "last_col"])
@pytest.mark.parametrize("entry", [0, 1, 2])
def test_one_wrong_element_anywhere_in_any_batch_entry_fails(where, entry):
    a, b, d = _gemm(600, 520, 64, batch=3)
    r, c = {"middle": (301, 259), "last_row": (599, 17), "last_col": (5, 519)}[where]
    d[entry, r, c] += 0.5 * float(d[entry].double().pow(2).mean().sqrt())
    ok, err, _ = checks.check_gemm(_entries(a, b, d), "fp32")
    assert not ok and 0.49 < err < 0.51


def test_an_unwritten_element_fails_as_nan_and_as_the_integer_poison():
    a, b, d = _gemm(300, 300, 32)
    checks.poison_(d[0, 150:151, 150:151])
    ok, err, _ = checks.check_gemm(_entries(a, b, d), "bf16")
    assert not ok and err == math.inf
    ai = torch.randint(-8, 8, (1, 40, 64), dtype=torch.int8)
    bi = torch.randint(-8, 8, (1, 64, 30), dtype=torch.int8)
    di = (ai[0].int() @ bi[0].int())[None].clone()
    assert checks.check_gemm(_entries(ai, bi, di), "int8") == (True, 0.0, 0.0)
    checks.poison_(di[0, 20:21, 15:16])
    ok, err, tol = checks.check_gemm(_entries(ai, bi, di), "int8")
    assert not ok and err >= 2**31 - 64 * 64 and tol == 0.0


def test_integers_must_be_exact():
    ai = torch.randint(-8, 8, (1, 33, 48), dtype=torch.int8)
    bi = torch.randint(-8, 8, (1, 48, 17), dtype=torch.int8)
    di = (ai[0].int() @ bi[0].int())[None].clone()
    di[0, 16, 8] += 1
    assert checks.check_gemm(_entries(ai, bi, di), "int8") == (False, 1.0, 0.0)


def test_the_scale_is_part_of_the_reference():
    a, b, d = _gemm(64, 48, 128)
    half = d * 0.5
    assert checks.check_gemm(_entries(a, b, half), "fp32", 0.5)[0]
    ok, err, _ = checks.check_gemm(_entries(a, b, half), "fp32", 1.0)
    assert not ok and err > 0.5


def test_blocks_cover_every_element_exactly_once():
    """Small chunks (many blocks, a ragged last one) give the same verdict and the same error as one block."""
    a, b, d = _gemm(130, 70, 40)
    d[0, 129, 69] += 1.0
    one = checks.check_gemm(_entries(a, b, d), "fp32")
    many = checks.check_gemm(_entries(a, b, d), "fp32", chunk_bytes=8 * 40 * 7)
    assert one[0] is many[0] is False and one[1] == pytest.approx(many[1], rel=1e-12)
    d[0, 129, 69] -= 1.0
    d[0, 0, 0] += 1.0
    assert checks.check_gemm(_entries(a, b, d), "fp32", chunk_bytes=8 * 40 * 7)[1] == pytest.approx(one[1], rel=1e-3)


def test_the_error_is_relative_to_the_rms_of_the_whole_reference():
    a, b, d = _gemm(50, 40, 100)
    ref = a[0].double() @ b[0].double()
    d[0, 10, 10] = float(ref[10, 10]) + 0.01
    _, err, _ = checks.check_gemm(_entries(a, b, d), "fp32")
    assert err == pytest.approx(0.01 / float(ref.pow(2).mean().sqrt()), rel=1e-3)


def test_fp8_inputs_are_read_exactly():
    if not hasattr(torch, "float8_e4m3fn"):
        pytest.skip("this torch has no float8")
    a = torch.tensor([[1.5, -2.0, 0.25]]).to(torch.float8_e4m3fn)
    b = torch.tensor([[2.0], [0.5], [-4.0]]).to(torch.float8_e4m3fn)
    d = torch.tensor([[1.0]], dtype=torch.bfloat16)           # 3 - 1 - 1
    assert checks.check_gemm([(a, b, d)], "fp8") == (True, 0.0, checks.TOLERANCES["fp8"])


def test_shapes_that_do_not_chain_are_refused():
    a, b, d = _gemm(8, 6, 4)
    with pytest.raises(ValueError, match="do not chain"):
        checks.check_gemm([(a[0], b[0], d[0].t())], "fp32")


def test_spots_are_first_middle_and_last():
    assert checks._spots(10, 64) == [(0, 10)]
    assert checks._spots(64, 64) == [(0, 64)]
    assert checks._spots(200, 64) == [(0, 64), (68, 132), (136, 200)]


def test_a_device_reference_that_disagrees_with_the_cpu_raises():
    a, b, _ = _gemm(100, 90, 70)
    checks._check_reference(a[0], b[0], 1.0, 64)          # the same product agrees
    with pytest.raises(checks.ReferenceMismatch, match=r"rows 0:64, columns 0:64"):
        checks._check_reference(a[0], b[0], 1.0, 64, to_cpu=lambda t: t * (1 + 1e-6))


def test_tolerances_come_from_the_one_table():
    assert checks.tolerance("bf16") == 5e-2 and checks.tolerance("int8") == 0.0
    with pytest.raises(KeyError, match="no tolerance for dtype 'fp4'"):
        checks.tolerance("fp4")


def test_compare_is_relative_to_rms_and_catches_nan():
    ref = torch.tensor([3.0, -4.0])                    # rms = sqrt(12.5)
    ok, err, _ = checks.compare(torch.tensor([3.0, -3.9]), ref, "fp16")
    assert not ok and err == pytest.approx(0.1 / math.sqrt(12.5))
    assert checks.compare(torch.tensor([3.0, float("nan")]), ref, "fp64")[:2] == (False, math.inf)
    with pytest.raises(ValueError, match="shape mismatch"):
        checks.compare(torch.zeros(3), ref, "fp32")
