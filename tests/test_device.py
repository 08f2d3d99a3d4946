import pytest
import torch

from accelkern import device
from accelkern.errors import AccelkernError


def test_cpu_info():
    info = device.get_device_info("cpu")
    assert info.kind == "cpu" and info.torch_device == "cpu"
    assert info.name and info.sm_count >= 1
    assert info.threads == torch.get_num_threads()
    assert info.memory_bytes and info.memory_bytes > 1 << 30
    assert info.to_dict()["arch"] is None


def test_resolve_device_rejects_bad_names():
    with pytest.raises(AccelkernError, match="allowed are cuda, cuda:N, cpu"):
        device.resolve_device("tpu")
    assert device.resolve_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_cuda_without_gpu_is_one_clear_error():
    with pytest.raises(AccelkernError, match="no usable CUDA device"):
        device.resolve_device("cuda")
    assert device.resolve_device(None) == "cpu"


def test_theoretical_bandwidth_and_clock_peak_from_attributes():
    info = device.DeviceInfo(kind="cuda", index=0, name="NVIDIA H200", torch_device="cuda:0",
                             compute_capability=(9, 0), sm_count=132, max_sm_clock_mhz=1980,
                             mem_clock_mhz=3201, mem_bus_width_bits=6144)
    assert info.arch == "sm_90"
    assert info.theoretical_bandwidth_bytes_s() == pytest.approx(4.917e12, rel=1e-3)
    assert info.peak_at_clock_tflops("bf16") == pytest.approx(132 * 4096 * 1.98e9 / 1e12)
    assert info.peak_at_clock_tflops("bf16", 1500) == pytest.approx(132 * 4096 * 1.5e9 / 1e12)


@pytest.mark.gpu
def test_cuda_info_is_complete():
    info = device.get_device_info("cuda")
    assert info.sm_count == torch.cuda.get_device_properties(0).multi_processor_count
    assert info.max_sm_clock_mhz and info.mem_clock_mhz and info.mem_bus_width_bits and info.l2_bytes
    assert info.theoretical_bandwidth_bytes_s() > 1e11
