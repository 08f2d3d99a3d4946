import pytest
import torch

from accelkern import checks, torch_backend
from accelkern.errors import AccelkernError


@pytest.mark.parametrize("dtype", ["fp64", "fp32", "bf16", "int8"])
def test_cpu_gemm_is_correct_on_odd_shapes(dtype):
    g = torch_backend.TorchGemm(dtype, 67, 45, 129, "cpu", slots=2)
    ok, err, tol = g.check()
    assert ok, (dtype, err, tol)
    assert g.shape.flops == 2 * 67 * 45 * 129
    g.close()


def test_gemm_check_catches_a_wrong_result(monkeypatch):
    g = torch_backend.TorchGemm("fp32", 64, 64, 64, "cpu", slots=1)
    real = g.__call__

    class Wrong(torch_backend.TorchGemm):
        def __call__(self, slot):
            out = real(slot)
            self.out[3, 5] += 1.0   # one wrong element
            return out

    g.__class__ = Wrong
    ok, err, tol = g.check()
    assert not ok and err > tol


def test_gemm_check_catches_unwritten_output():
    g = torch_backend.TorchGemm("bf16", 32, 32, 32, "cpu", slots=1)
    g.__class__ = type("NoWrite", (torch_backend.TorchGemm,), {"__call__": lambda self, slot: None})
    ok, err, _ = g.check()
    assert not ok


def test_inputs_are_random_not_zero():
    g = torch_backend.TorchGemm("fp16", 64, 64, 64, "cpu", slots=2)
    assert g.a[0].float().abs().sum() > 0 and not torch.equal(g.a[0], g.a[1])
    i8 = torch_backend.TorchGemm("int8", 64, 64, 64, "cpu", slots=1)
    assert int(i8.a[0].abs().sum()) > 0 and int(i8.a[0].abs().max()) <= 8


def test_tf32_unavailable_on_cpu_with_reason():
    assert "tensor-core" in torch_backend.gemm_unavailable("tf32", "cpu")
    assert "not supported" in torch_backend.gemm_unavailable("fp4", "cpu")


def test_spec_dtype_mapping():
    assert torch_backend.spec_dtype("fp64", "cuda", (9, 0)) == "fp64_tensor"
    assert torch_backend.spec_dtype("fp64", "cpu", None) == "fp64"
    assert torch_backend.spec_dtype("bf16", "cuda", (9, 0)) == "bf16"


def test_too_large_gemm_is_one_clear_error():
    with pytest.raises(AccelkernError, match="GiB free"):
        torch_backend.TorchGemm("fp64", 1 << 20, 1 << 20, 1 << 20, "cpu")


def test_tolerance_table_and_compare():
    assert checks.tolerance("int8") == 0.0
    with pytest.raises(KeyError, match="known"):
        checks.tolerance("fp4")
    ref = torch.randn(16, 16, dtype=torch.float64)
    assert checks.compare(ref.to(torch.bfloat16), ref, "bf16")[0]
    assert not checks.compare(ref.to(torch.bfloat16), ref, "fp32")[0]   # bf16 rounding is too coarse for fp32
    out = ref.clone().float()
    checks.poison_(out)
    assert not checks.compare(out, ref, "fp32")[0]
    i = torch.randint(-5, 5, (4, 4), dtype=torch.int32)
    j = i.clone()
    j[0, 0] += 1
    assert checks.compare(i, i, "int8")[0] and not checks.compare(j, i, "int8")[0]


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", torch_backend.GEMM_DTYPES)
def test_cuda_gemm_correct(dtype):
    why = torch_backend.gemm_unavailable(dtype, "cuda")
    if why:
        pytest.skip(why)
    for m, n, k in ((128, 128, 128), (1000, 512, 4112)):
        g = torch_backend.TorchGemm(dtype, m, n, k, "cuda", slots=2)
        ok, err, tol = g.check()
        assert ok, (dtype, m, n, k, err, tol)
        g.close()
