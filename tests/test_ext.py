"""The extension builds, imports, and fails cleanly where the hardware is missing."""
import pytest
import torch

from accelkern import _ext

C = _ext.load()
needs_ext = pytest.mark.skipif(C is None, reason=f"accelkern._C not built: {_ext.error()}")


@needs_ext
def test_extension_imports_and_reports_its_build():
    info = dict(C.build_info())
    assert info["cuda_compiled"] >= 12000
    assert isinstance(info["has_sm90a"], bool)
    assert C.cublaslt_version() >= 110000
    assert C.cublas_version() // 10000 >= 11
    st = _ext.status()
    assert st["built"] and st["cublaslt_version"] == C.cublaslt_version()


@needs_ext
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error path")
def test_device_attributes_fail_cleanly_without_gpu():
    with pytest.raises(RuntimeError) as exc:
        C.device_attributes(0)
    msg = str(exc.value)
    assert "cudaGetDeviceCount" in msg and "device_query.cu:" in msg and "failed:" in msg


def test_missing_extension_is_explained(monkeypatch):
    err = _ext._diagnose(ModuleNotFoundError("No module named 'accelkern._C'"))
    assert "not built" in err and "pip install --no-build-isolation -e ." in err
    err = _ext._diagnose(ImportError("/x/_C.so: undefined symbol: _ZN3c10abc"))
    assert "another torch" in err and torch.__version__ in err
    err = _ext._diagnose(ImportError("libcublasLt.so.13: cannot open shared object file: No such file"))
    assert "libcublasLt.so.13" in err


def test_require_raises_one_line_error(monkeypatch):
    from accelkern.errors import AccelkernError
    monkeypatch.setattr(_ext._LOADER, "module", None)
    monkeypatch.setattr(_ext._LOADER, "loaded", True)
    monkeypatch.setattr(_ext._LOADER, "error_text", "accelkern._C is not built (pure-Python install); build it")
    with pytest.raises(AccelkernError, match="not built"):
        _ext.require()
    assert _ext.status() == {"built": False, "message": "accelkern._C is not built (pure-Python install); build it"}


def test_the_cpu_extension_loader_says_why_and_can_be_disabled(monkeypatch):
    from accelkern.errors import AccelkernError
    assert "is not built" in _ext.diagnose_cpu(ModuleNotFoundError("No module named 'accelkern._cpu'"))
    err = _ext.diagnose_cpu(ImportError("/x/_cpu.so: undefined symbol: foo\nmore"))
    assert "failed to import: /x/_cpu.so: undefined symbol: foo; rebuild" in err and "no CUDA" in err
    loader = _ext.Loader("accelkern._cpu", "ACCELKERN_TEST_DISABLE", _ext.diagnose_cpu)
    monkeypatch.setenv("ACCELKERN_TEST_DISABLE", "1")
    assert loader.load() is None and loader.error() == "accelkern._cpu disabled by ACCELKERN_TEST_DISABLE=1"
    with pytest.raises(AccelkernError, match="disabled by ACCELKERN_TEST_DISABLE=1"):
        loader.require()
    assert loader.status() == {"built": False, "message": "accelkern._cpu disabled by ACCELKERN_TEST_DISABLE=1"}
    monkeypatch.delenv("ACCELKERN_TEST_DISABLE")
    fresh = _ext.Loader("accelkern._cpu", "ACCELKERN_TEST_DISABLE", _ext.diagnose_cpu)
    if fresh.load() is not None:                 # built here: its status carries the build facts
        st = fresh.status()
        assert st["built"] is True and st["message"] == "accelkern._cpu loaded"


@pytest.mark.gpu
@pytest.mark.smoke
@needs_ext
def test_device_attributes_match_torch():
    props = torch.cuda.get_device_properties(0)
    a = C.device_attributes(0)
    assert a["sm_count"] == props.multi_processor_count
    assert tuple(a["compute_capability"]) == (props.major, props.minor)
    assert a["l2_bytes"] == props.L2_cache_size
    assert a["max_threads_per_sm"] == props.max_threads_per_multi_processor
    assert a["regs_per_sm"] == props.regs_per_multiprocessor
    assert a["mem_bus_width_bits"] > 0 and a["mem_clock_mhz"] > 0 and a["max_sm_clock_mhz"] > 0
    assert a["smem_per_block_optin_bytes"] >= a["smem_per_block_bytes"]


@pytest.mark.gpu
@needs_ext
def test_clock_probe_is_a_plausible_sm_clock():
    p = C.sm_clock_probe(0, 20_000_000)
    assert p["cycles"] >= 20_000_000 and p["ns"] > 0
    assert 200 < p["mhz"] < 3500


@pytest.mark.gpu
@needs_ext
def test_l2_flush_writes_the_buffer():
    buf = torch.zeros(1 << 20, dtype=torch.uint8, device="cuda")
    C.l2_flush(buf, 7)
    torch.cuda.synchronize()
    assert int(buf.min()) == 7 and int(buf.max()) == 7
    with pytest.raises(RuntimeError, match="CUDA tensor"):
        C.l2_flush(torch.zeros(8, dtype=torch.uint8))
