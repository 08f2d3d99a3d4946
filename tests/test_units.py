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


# ---- every unit, boundary and message (mutation testing found these unasserted) -------------------------

@pytest.mark.parametrize("unit,scale", [("", 1), ("b", 1), ("B", 1), ("k", 10**3), ("kb", 10**3), ("KB", 10**3),
                                        ("m", 10**6), ("mb", 10**6), ("g", 10**9), ("gb", 10**9), ("t", 10**12),
                                        ("tb", 10**12), ("kib", 1 << 10), ("KiB", 1 << 10), ("mib", 1 << 20),
                                        ("gib", 1 << 30), ("tib", 1 << 40), ("TiB", 1 << 40)])
def test_every_size_unit(unit, scale):
    assert units.parse_size(f"3{unit}") == 3 * scale
    assert units.parse_size(f" 2 {unit} ") == 2 * scale


def test_size_boundaries_and_messages():
    assert units.parse_size("1") == 1 and units.parse_size("1.0") == 1 and units.parse_size("0.001k") == 1
    with pytest.raises(AccelkernError, match=r"^size '2 parsecs' not understood; use e.g. 4096, 512MiB, 2GiB, "
                                             r"1.5GB$"):
        units.parse_size("2 parsecs")
    with pytest.raises(AccelkernError, match=r"^size '0.5' must be a positive whole number of bytes$"):
        units.parse_size("0.5")
    with pytest.raises(AccelkernError, match=r"^size '1.5' must be a positive whole number of bytes$"):
        units.parse_size("1.5")
    with pytest.raises(AccelkernError, match="not understood"):
        units.parse_size("1.5.2GB")


@pytest.mark.parametrize("n,text", [(1 << 40, "1 TiB"), ((1 << 40) - (1 << 30), "1023 GiB"), (1 << 30, "1 GiB"),
                                    ((1 << 30) - 1, "1024 MiB"), (1 << 20, "1 MiB"), (1 << 10, "1 KiB"),
                                    (1023, "1023 B"), (0, "0 B"), (2.7, "2 B"), (12345678, "11.77 MiB")])
def test_format_bytes_at_every_boundary(n, text):
    assert units.format_bytes(n) == text


@pytest.mark.parametrize("value,metric,text", [
    (1.0, "TFLOPS", "1 TFLOPS"), (1e-3, "TFLOPS", "1 GFLOPS"), (1e-6, "TFLOPS", "1 MFLOPS"),
    (1e-9, "TFLOPS", "1 kFLOPS"), (1e-12, "TFLOPS", "1 FLOPS"), (5e-13, "TFLOPS", "0.5 FLOPS"),
    (2.5, "TOPS", "2.5 TOPS"), (1e-3, "TOPS", "1 GOPS"), (1e-3, "TB/s", "1 GB/s"), (3.35, "TB/s", "3.35 TB/s"),
    (1.0, "GB/s", "1 GB/s"), (1500.0, "GB/s", "1500 GB/s"), (0.25, "GB/s", "250 MB/s"),
    (-0.002, "TB/s", "-2 GB/s"), (0, "TFLOPS", "0 TFLOPS"), (12.3456, "us", "12.35 us"), (7.0, None, "7"),
    (123.456789, "", "123.5"), (1.23456, "TFLOPS", "1.235 TFLOPS")])
def test_format_value_every_metric_and_prefix(value, metric, text):
    assert units.format_value(value, metric) == text


def test_format_value_digits():
    assert units.format_value(1.23456, "TFLOPS", digits=2) == "1.2 TFLOPS"
    assert units.format_value(12.3456, "us", digits=3) == "12.3 us"


def test_range_messages_and_limits():
    with pytest.raises(AccelkernError, match=r"^--m: empty; use N, N1,N2,... or START:STOP:STEP \(STOP excluded\)$"):
        units.parse_int_values("  ", "--m")
    with pytest.raises(AccelkernError, match=r"^--n '1:8': a range is START:STOP:STEP with positive integers, "
                                             r"STOP excluded, e.g. 2048:16385:2048$"):
        units.parse_int_values("1:8", "--n")
    with pytest.raises(AccelkernError, match=r"^--k '0:8:1': START and STEP must be >= 1$"):
        units.parse_int_values("0:8:1", "--k")
    with pytest.raises(AccelkernError, match=r"^--k '1:8:0': START and STEP must be >= 1$"):
        units.parse_int_values("1:8:0", "--k")
    with pytest.raises(AccelkernError, match=r"^--k '5:5:1': STOP must be > START \(STOP is excluded\)$"):
        units.parse_int_values("5:5:1", "--k")
    assert units.parse_int_values("5:6:1") == [5] and units.parse_int_values("1:100001:1")[-1] == 100000
    with pytest.raises(AccelkernError, match=r"^--m '1:100002:1': 100001 points; at most 100000$"):
        units.parse_int_values("1:100002:1", "--m")
    assert len(units.parse_int_values("1:200001:2")) == 100000
    with pytest.raises(AccelkernError, match=r"^value '1, 0': '0' is not a positive integer; use N, N1,N2,... or "
                                             r"START:STOP:STEP \(STOP excluded\)$"):
        units.parse_int_values("1, 0")
    with pytest.raises(AccelkernError, match=r"^--m ',,': no values$"):
        units.parse_int_values(",,", "--m")
    assert units.parse_int_values("3,,5,") == [3, 5] and units.parse_int_values(" 1 : 4 : 2 ") == [1, 3]


def test_gemm_shape_forms_and_messages():
    assert units.parse_gemm_shape("4X8x16") == (4, 8, 16) and units.parse_gemm_shape("4*8*16") == (4, 8, 16)
    assert units.parse_gemm_shape(" 1 x 2 x 3 ") == (1, 2, 3)
    with pytest.raises(AccelkernError, match=r"^shape '8x8' not understood; use MxNxK with positive integers, "
                                             r"e.g. 8192x8192x8192$"):
        units.parse_gemm_shape("8x8")
    for zero in ("0x8x8", "8x0x8", "8x8x0"):
        with pytest.raises(AccelkernError, match=rf"^shape '{zero}': M, N and K must be positive$"):
            units.parse_gemm_shape(zero)


def test_split_list_strips_and_drops_empties():
    assert units.split_list("") == [] and units.split_list(" a ,b ") == ["a", "b"] and units.split_list(",") == []


def test_only_short_ascii_digit_runs_are_numbers():
    assert units.is_digits("0") and units.is_digits("123456789012345678")              # 18 digits
    assert units.MAX_DIGITS == 18
    for bad in ("", "1234567890123456789", "²56", "٣", "1_000", "-1", "1.5", " 1", "1e3"):
        assert not units.is_digits(bad), bad
    with pytest.raises(AccelkernError, match="not understood"):
        units.parse_size("٣GiB")                                   # non-ASCII digits are no size
    with pytest.raises(AccelkernError, match="a range is START:STOP:STEP"):
        units.parse_int_values("1:1234567890123456789:1", "--m")
    assert units.parse_size("123456789012") == 123456789012
    assert units.parse_size("2.5kib") == 2560 and units.parse_size("1." + "0" * 29 + "KB") == 1000
    with pytest.raises(AccelkernError, match="not understood"):
        units.parse_size("1" * 31)                                 # past 30 digits: not a size
