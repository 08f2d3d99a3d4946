import os
import re
import shutil
import subprocess

import pytest
import torch

from accelkern import device
from accelkern.errors import AccelkernError, NoDevice


def _meminfo_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no MemTotal")


@pytest.mark.skipif(not os.path.exists("/proc/meminfo"), reason="Linux /proc facts")
def test_cpu_info_agrees_with_independent_sources():
    info = device.get_device_info("cpu")
    assert info.kind == "cpu" and info.torch_device == "cpu" and info.to_dict()["arch"] is None
    # physical cores: at least one, never more than the logical CPUs the OS reports
    assert 1 <= info.sm_count <= os.cpu_count()
    # memory from sysconf against /proc/meminfo's MemTotal (a different kernel interface)
    assert info.memory_bytes == pytest.approx(_meminfo_total(), rel=0.02)
    lscpu = shutil.which("lscpu")
    if lscpu:
        out = subprocess.run([lscpu], capture_output=True, text=True).stdout
        names = [ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith("Model name:")]
        if names:
            assert info.name == names[0]


@pytest.mark.parametrize("text,want", [("cpu", ("cpu", None)), ("cuda", ("cuda", None)), ("cuda:3", ("cuda", 3)),
                                       ("xpu:1", ("xpu", 1)), ("mps", ("mps", None)), ("hpu:0", ("hpu", 0)),
                                       ("CUDA:0", ("cuda", 0))])
def test_parse_device_accepts_torch_device_types(text, want):
    assert device.parse_device(text) == want


@pytest.mark.parametrize("text,words", [("tpu", "allowed are cuda, cuda:N, cpu, xpu[:N], mps, hpu[:N]"),
                                        ("cuda:x", "malformed"), ("cuda:", "malformed"), ("cpu:2", "no index"),
                                        ("cuda:-1", "malformed")])
def test_parse_device_refuses_bad_names_in_one_line(text, words):
    with pytest.raises(AccelkernError, match=re.escape(words)) as e:
        device.parse_device(text)
    assert "\n" not in str(e.value) and e.value.exit_code == 2


def test_resolve_device_names_the_index_and_how_many_exist(monkeypatch):
    monkeypatch.setattr(device, "_available", lambda kind: kind == "cuda")
    monkeypatch.setattr(device, "_count", lambda kind: 2)
    assert device.resolve_device("cuda:1") == "cuda:1"
    with pytest.raises(NoDevice, match=re.escape("this machine has 2 cuda device(s) (cuda:0, cuda:1)")) as e:
        device.resolve_device("cuda:7")
    assert e.value.exit_code == 3


def test_resolve_device_routes_other_accelerators(monkeypatch):
    monkeypatch.setattr(device, "_available", lambda kind: kind == "xpu")
    monkeypatch.setattr(device, "_count", lambda kind: 1)
    assert device.resolve_device("xpu") == "xpu"
    with pytest.raises(NoDevice, match="no usable mps device"):
        device.resolve_device("mps")
    with pytest.raises(NoDevice, match="no usable cuda device"):
        device.resolve_device("cuda")


def test_resolve_device_rejects_bad_names():
    with pytest.raises(AccelkernError, match="allowed are cuda, cuda:N, cpu"):
        device.resolve_device("tpu")
    assert device.resolve_device("cpu") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_cuda_without_gpu_is_one_clear_error():
    with pytest.raises(NoDevice, match="no usable cuda device"):
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
@pytest.mark.smoke
def test_cuda_info_is_complete():
    info = device.get_device_info("cuda")
    assert info.sm_count == torch.cuda.get_device_properties(0).multi_processor_count
    assert info.max_sm_clock_mhz and info.mem_clock_mhz and info.mem_bus_width_bits and info.l2_bytes
    assert info.theoretical_bandwidth_bytes_s() > 1e11
