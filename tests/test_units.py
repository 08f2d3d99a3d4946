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
    assert units.format_bytes(2 << 30) == "2GiB"
    assert units.format_bytes(1536) == "1.5KiB"
    assert units.format_bytes(100) == "100B"


def test_parse_gemm_shape():
    assert units.parse_gemm_shape("8192x4096x1024") == (8192, 4096, 1024)
    for bad in ("8192x8192", "0x8x8", "ax8x8", "8x-8x8"):
        with pytest.raises(AccelkernError):
            units.parse_gemm_shape(bad)


def test_split_list():
    assert units.split_list("bf16, fp8,,int8") == ["bf16", "fp8", "int8"]
    assert units.split_list(None) == []
