import pytest
import torch

from accelkern import checks, torch_backend
from accelkern.errors import AccelkernError, Unavailable


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
    assert "torch's mps device has no tf32" in torch_backend.gemm_unavailable("tf32", "mps")
    assert "not supported" in torch_backend.gemm_unavailable("fp4", "cpu")


def test_spec_dtype_mapping():
    assert torch_backend.spec_dtype("fp64", "cuda", (9, 0)) == "fp64_tensor"
    assert torch_backend.spec_dtype("fp64", "cpu", None) == "fp64"
    assert torch_backend.spec_dtype("bf16", "cuda", (9, 0)) == "bf16"


def test_too_large_gemm_is_one_clear_error():
    with pytest.raises(torch_backend.DoesNotFit, match="GiB free") as exc:
        torch_backend.TorchGemm("fp64", 1 << 20, 1 << 20, 1 << 20, "cpu")
    assert isinstance(exc.value, AccelkernError) and "\n" not in str(exc.value)
    assert torch_backend.check_fits("fp32", 64, 64, 64, "cpu") > 0


def test_timed_in_the_cublaslt_layout_a_times_b_nk_transposed():
    g = torch_backend.TorchGemm("fp32", 48, 40, 56, "cpu", slots=1)
    try:
        assert g.layout == "tn"
        b_nk = g.b[0].t()                               # stored as B[N, K], row-major: K-contiguous
        assert b_nk.shape == (40, 56) and b_nk.is_contiguous() and g.a[0].is_contiguous()
        g(0)
        want = g.a[0].double() @ b_nk.double().t()
        assert torch.allclose(g.out.double(), want, rtol=1e-5, atol=1e-4)
        assert g.config()["float32_matmul_precision"] == "highest"
    finally:
        g.close()


def test_fp8_accumulation_mode_is_recorded(monkeypatch):
    seen = []
    real = torch._scaled_mm
    monkeypatch.setattr(torch, "_scaled_mm", lambda *a, **kw: seen.append(kw["use_fast_accum"]) or real(*a, **kw))
    for fast in (True, False):
        try:
            g = torch_backend.TorchGemm("fp8", 32, 32, 32, "cpu", slots=1, fast_accum=fast)
        except Unavailable as exc:
            pytest.skip(str(exc))
        assert g.config()["fast_accum"] is fast
        g.close()
    assert seen[0] is True and seen[-1] is False
    g = torch_backend.TorchGemm("fp8", 32, 32, 32, "cpu", slots=1)   # default: fast, as cuBLASLt's default
    assert g.fast_accum is True
    g.close()


def test_matmul_precision_is_restored_on_close():
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")
        g = torch_backend.TorchGemm("fp32", 16, 16, 16, "cpu", slots=1)
        g(0)
        assert torch.get_float32_matmul_precision() == "highest"   # fp32 is timed at full precision
        g.close()
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)


# ---- sizing from a warmed probe ------------------------------------------------------------------------

def _fake_times(monkeypatch, s_per_flop, overhead_s=0.0, jitter=()):
    """Call times of a device doing `s_per_flop` after `overhead_s` per call, each rung's median scaled by the
    next jitter factor (another process, another run)."""
    jit = iter(jitter)
    asked = []

    def times(dtype, n, device, repeats):
        asked.append(n)
        t = (overhead_s + s_per_flop * 2 * n ** 3) * next(jit, 1.0)
        return t, t
    monkeypatch.setattr(torch_backend, "_call_times", times)
    monkeypatch.setattr(torch_backend, "_RATES", {})
    return asked


def test_probe_climbs_to_a_representative_rung(monkeypatch):
    asked = _fake_times(monkeypatch, 1e-11, overhead_s=2e-3)       # ~100 GFLOPS plus 2 ms per call
    p = torch_backend.probe("fp32", "cpu")
    # 512^3 takes 2 ms + 2.7 ms; 1024^3 (predicted 37 ms < 0.25 s) is probed and takes 23.5 ms < 50 ms: the top
    assert asked == [64, 128, 256, 512, 1024] and p.size == 1024
    assert p.call_s == pytest.approx(2e-3 + 1e-11 * 2 * 1024 ** 3)
    assert torch_backend.predict_call_s("fp32", "cpu", 2048, 2048, 2048) == pytest.approx(8 * p.call_s)
    asked = _fake_times(monkeypatch, 1e-8)                          # emulated fp8: 10 ns per FLOP
    p = torch_backend.probe("fp8", "cpu")
    # 64^3: 5.2 ms -> 128^3 predicted 42 ms: probed; 256^3 predicted 0.34 s > 0.25 s: not probed
    assert asked == [64, 128] and p.size == 128


def test_affordable_size_is_the_largest_power_of_two_that_fits_and_is_stable(monkeypatch):
    _fake_times(monkeypatch, 1e-10)
    # 2 n^3 1e-10 <= 1 s -> n <= 1709 -> 1024
    assert torch_backend.affordable_size("fp32", "cpu", 1.0) == 1024
    assert torch_backend.affordable_size("fp32", "cpu", 1.0, max_size=512) == 512
    assert torch_backend.affordable_size("fp32", "cpu", 1e-4) is None               # not even 256^3
    assert torch_backend.affordable_size("fp32", "cpu", 1e-4, min_size=64) == 64
    picks = set()
    for jitter in ([1.0] * 5, [1.15] * 5, [0.87] * 5, [1.1, 0.9, 1.2, 0.95, 1.05]):  # run-to-run noise of +-15%
        _fake_times(monkeypatch, 1e-10, jitter=jitter)
        picks.add(torch_backend.affordable_size("fp32", "cpu", 1.0))
    assert picks == {1024}
    with pytest.raises(ValueError):
        torch_backend.affordable_size("fp32", "cpu", 0)


def test_affordable_size_stops_where_memory_runs_out(monkeypatch):
    _fake_times(monkeypatch, 1e-15)
    monkeypatch.setattr(torch_backend, "free_bytes", lambda device: 100 << 20)
    # fp32: 2 x n^2 x 4 B inputs + n^2 x 4 B output <= 80 MiB -> n = 2048 (48 MiB) fits, 4096 (192 MiB) does not
    assert torch_backend.affordable_size("fp32", "cpu", 10.0) == 2048


def test_probe_on_the_cpu_is_real_and_cached():
    torch_backend._RATES.pop(("int8", "cpu"), None)
    p = torch_backend.probe("int8", "cpu")
    assert p.size in torch_backend.PROBE_SIZES and p.call_s > 0
    assert torch_backend.probe("int8", "cpu") is p
    with pytest.raises(Unavailable, match="tensor-core"):
        torch_backend.probe("tf32", "cpu")


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
@pytest.mark.parametrize("dtype", [pytest.param(d, marks=[pytest.mark.smoke] if d == "bf16" else [])
                                   for d in torch_backend.GEMM_DTYPES])
def test_cuda_gemm_correct(dtype):
    why = torch_backend.gemm_unavailable(dtype, "cuda")
    if why:
        pytest.skip(why)
    before = torch.get_float32_matmul_precision()
    try:
        for m, n, k in ((128, 128, 128), (1000, 512, 4112)):
            g = torch_backend.TorchGemm(dtype, m, n, k, "cuda", slots=2)
            try:
                ok, err, tol = g.check()
                assert ok, (dtype, m, n, k, err, tol)
            finally:
                g.close()
    finally:
        torch.set_float32_matmul_precision(before)
