import pytest

from accelkern import units
from accelkern.errors import AccelkernError


def test_parse_size():
    assert units.parse_size("2GiB") == 2 << 30
    assert units.parse_size("512MiB") == 512 << 20
    assert units.parse_size("1.5GB") == 1_500_000_000
    assert units.parse_size("4096") == 4096
    assert units.parse_size("64 KiB") == 65536
    for bad in ("", "-1GiB", "2 parsecs", "0", "0.5"):
        with pytest.raises(AccelkernError):
            units.parse_size(bad)


def test_format_bytes():
    assert units.format_bytes(2 << 30) == "2 GiB"
    assert units.format_bytes(1536) == "1.5 KiB"
    assert units.format_bytes(100) == "100 B"
    assert units.format_bytes(189812480) == "181 MiB"          # never '189812480B'
    assert units.format_bytes(3085448 * 1024) == "2.943 GiB"   # never '3085448KiB'


def test_format_value_scales_units_and_keeps_four_figures():
    assert units.format_value(9.84e-05, "TFLOPS") == "98.4 MFLOPS"
    assert units.format_value(0.0984, "TFLOPS") == "98.4 GFLOPS"
    assert units.format_value(0.02633, "TB/s") == "26.33 GB/s"
    assert units.format_value(1450.24, "TFLOPS") == "1450 TFLOPS"   # GPU figures stay in TFLOPS
    assert units.format_value(0.857, "TOPS") == "857 GOPS"
    assert units.format_value(4.12345, "TB/s") == "4.123 TB/s"
    assert units.format_value(None, "TFLOPS") == "-"


def test_one_range_convention_stop_excluded():
    assert units.parse_int_values("2048:16385:2048", "--m") == list(range(2048, 16385, 2048))
    assert units.parse_int_values("2048:16384:2048", "--m")[-1] == 14336   # STOP excluded, as range()
    assert units.parse_int_values("4096, 8192", "--n") == [4096, 8192]
    assert units.parse_int_values("7", "--k") == [7]
    for bad in ("", "8:4:1", "0:8:1", "1:8", "a,b", "4:4:1", "1:9:0"):
        with pytest.raises(AccelkernError):
            units.parse_int_values(bad, "--m")


def test_parse_gemm_shape():
    assert units.parse_gemm_shape("8192x4096x1024") == (8192, 4096, 1024)
    for bad in ("8192x8192", "0x8x8", "ax8x8", "8x-8x8"):
        with pytest.raises(AccelkernError):
            units.parse_gemm_shape(bad)


def test_split_list():
    assert units.split_list("bf16, fp8,,int8") == ["bf16", "fp8", "int8"]
    assert units.split_list(None) == []
