"""Property tests: no input to a parser or reader raises anything but the project's own error (AccelkernError),
and what the one results reader lets through is safe for every consumer (compare, --compare-log, --replay,
report): finite numbers where numbers belong, texts where texts belong."""
import json
import math
import os
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accelkern.errors import AccelkernError
from accelkern.results import ROW_FIELDS, parse_results
from accelkern.results.fields import CONFIG_KINDS, ROW_KINDS

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# text that looks like what users type: digits (some not ASCII), separators, units, letters
TOKENS = st.sampled_from(["0", "1", "7", "64", "128", "4096", "99999999999999999999", "²", "٣", "１", "x", "X", "*",
                          ":",
                          ",", ".", "e", "-", "+", " ", "KiB", "MiB", "GB", "b", "nan", "inf", "bf16", "fp32", "fp8",
                          "all", "torch", "cublaslt", "copy", "ce", "cuda", "cpu", "simt", "mma", "_", "\x00", "é"])
TYPED = st.one_of(st.text(max_size=40), st.lists(TOKENS, max_size=12).map("".join))


def only_ours(fn, *args):
    """Calls fn; any exception but AccelkernError fails the property."""
    try:
        return fn(*args)
    except AccelkernError:
        return None


@FAST
@given(TYPED)
def test_sizes_shapes_ranges_and_lists(text):
    from accelkern import units
    for fn in (units.parse_size, units.parse_gemm_shape, units.split_list):
        only_ours(fn, text)
    values = only_ours(units.parse_int_values, text, "--m")
    assert values is None or all(isinstance(v, int) and v >= 1 for v in values)


@FAST
@given(TYPED, TYPED)
def test_dtype_backend_kernel_and_tile_lists(a, b):
    from accelkern import gemm, memory, peak, waves
    from accelkern.device import parse_device
    from accelkern.mamf.candidates import parse_tiles
    from accelkern.units import split_list
    for fn in (gemm.parse_dtypes, gemm.parse_shapes, gemm.parse_backends, parse_tiles, parse_device):
        only_ours(fn, a)
    only_ours(memory.parse_kernels, a, "cpu")
    from accelkern.memory import cpu_hbm
    only_ours(cpu_hbm.parse_ops, a, bool(b))
    only_ours(cpu_hbm.parse_stores, b)
    only_ours(memory.parse_choices, a, memory.VECS, "--vec", [16])
    only_ours(memory.parse_choices, b, tuple(memory.HINTS), "--hint", ["default"])
    only_ours(peak.select_kernels, split_list(a), split_list(b))
    only_ours(waves.parse_pair, a, "--tile")


@FAST
@given(TYPED, TYPED, TYPED, st.one_of(st.none(), TYPED))
def test_fleet_options(suites, sizes, shape, device):
    from accelkern.fleet import options
    only_ours(lambda: options.parse(device=device, suites=suites or None, sizes=sizes or None,
                                    p2p_size=sizes or None, gemm_shape=shape or None, local=2))


# ---- mamf-finder logs ------------------------------------------------------------------------------------

NUM = st.one_of(st.sampled_from(["807.9", "nan", "inf", "-1", "0", "1e400", "x", "", "١٢", "9" * 30]),
                st.floats(allow_nan=True, allow_infinity=True).map(repr))
DIM = st.one_of(st.integers(0, 70000).map(str), st.sampled_from(["", "٣", "9" * 5000, "-4"]))
SHAPE_LINE = st.builds(lambda i, a, b, c, m, n, k, tail: f"{i} | {a}(mean) {b}(median) {c}(max) @ {m}x{n}x{k}{tail}",
                       st.integers(0, 999), NUM, NUM, NUM, DIM, DIM, DIM, st.sampled_from(["", " | best", "\r"]))
LOG_LINE = st.one_of(SHAPE_LINE, st.text(max_size=60), st.sampled_from([
    "** Dtype: torch.bfloat16", "** Dtype: torch.frob", "name='NVIDIA H200', multi_processor_count=132, "
    "L2_cache_size=60MB", "multi_processor_count=" + "9" * 40, "mean: 1 | ", "3 |"]))


@FAST
@given(st.lists(LOG_LINE, max_size=30))
def test_mamf_finder_logs_never_raise_and_keep_only_finite_points(lines):
    from accelkern.mamf import finder_log
    parsed = finder_log.parse("\n".join(lines), "log")
    for m, n, k, mean, median, mx, _no in parsed["points"]:
        assert min(m, n, k) > 0 and mean > 0 and all(math.isfinite(v) for v in (mean, median, mx))


# ---- results files ---------------------------------------------------------------------------------------

JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10 ** 40, 10 ** 40),
                                 st.floats(), st.text(max_size=12)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3),
                                               st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=8)
GOOD_NUMBER = st.one_of(st.none(), st.floats(0.001, 1e6), st.integers(1, 10 ** 6))
SUITES = ["gemm", "gemm-torch", "hbm", "hbm-sweep", "peak", "mamf", "waves", "validate", "fleet-gemm", "fleet-hbm",
          "fleet-p2p", "fleet-collectives", "fleet-mamf", "fleet-peak", "other"]
NAMES = ["cublasLt", "torch.mm", "copy", "read", "MAMF", "search", "re-measure", "compare", "staircase", "ffma"]


def _value(kind):
    good = {"float": GOOD_NUMBER, "int": st.one_of(st.none(), st.integers(0, 10 ** 6)), "bool": st.booleans(),
            "str": st.one_of(st.none(), st.text(max_size=10), st.sampled_from(["bf16", "fp32", "8192x8192x8192",
                                                                                "TFLOPS", "TB/s", "ok", "skipped"])),
            "dict": st.just({})}[kind]
    return st.one_of(*[good] * 12, JSONISH)     # mostly what a writer writes, sometimes anything


CONFIG = st.lists(st.sampled_from(sorted(CONFIG_KINDS) + ["tile", "cluster", "x"]), max_size=6, unique=True).flatmap(
    lambda ks: st.fixed_dictionaries({k: _value(CONFIG_KINDS.get(k, "str")) for k in ks}))
CORE = {"type": st.just("row"), "suite": st.sampled_from(SUITES), "name": st.sampled_from(NAMES), "config": CONFIG,
        "status": st.sampled_from(["ok", "ok", "skipped", "failed"]), "value": _value("float"),
        "shape": st.sampled_from(["8192x8192x8192", "2048x2048x16384", "1MiB", "64^3", "x", "0x0x0"]),
        "dtype": st.sampled_from(["bf16", "fp32", "fp8", None]), "metric": st.sampled_from(["TFLOPS", "TB/s", None])}
OTHER = sorted(k for k in ROW_KINDS if k not in CORE)
ROW = st.lists(st.sampled_from(OTHER), max_size=6, unique=True).flatmap(
    lambda ks: st.fixed_dictionaries({**CORE, **{k: _value(ROW_KINDS[k]) for k in ks}}))
HEADER = st.fixed_dictionaries({"type": st.just("header"), "command": st.sampled_from(["gemm", "mamf", "fleet"]),
                                "device": st.one_of(st.sampled_from(["NVIDIA H200", "AMD EPYC"]), JSONISH),
                                "device_kind": st.sampled_from(["cuda", "cpu"])},
                               optional={"sms": _value("int"), "time_utc": _value("str"), "host": _value("str")})
LINE = st.one_of(ROW.map(lambda r: json.dumps(r)), HEADER.map(json.dumps), JSONISH.map(json.dumps),
                 st.text(max_size=30), st.just("[" * 50_000 + "]" * 50_000), st.just('{"type": "row", "suite": "ge'))


@FAST
@given(st.lists(LINE, max_size=12))
def test_the_reader_never_raises_and_lets_through_only_sound_rows(lines):
    res = parse_results("x.jsonl", "\n".join(lines).encode())
    for run in res.runs:
        for row in run.rows:
            for name in ROW_FIELDS:
                v = getattr(row, name)
                kind = ROW_KINDS[name]
                if v is None or kind == "dict":
                    continue
                if kind in ("float", "int"):
                    assert isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                else:
                    assert isinstance(v, {"str": str, "bool": bool}[kind])
            for k, v in row.config.items():
                if k in CONFIG_KINDS and v is not None and CONFIG_KINDS[k] in ("float", "int"):
                    assert math.isfinite(v) and not isinstance(v, bool)


@FAST
@given(st.lists(ROW.map(json.dumps), min_size=1, max_size=6), st.lists(ROW.map(json.dumps), min_size=1, max_size=6))
def test_compare_takes_whatever_the_reader_lets_through(a, b):
    from accelkern import compare
    ra = parse_results("a", "\n".join(a).encode()).rows
    rb = parse_results("b", "\n".join(b).encode()).rows
    compare.compare_table(compare.compare_runs(ra, rb))


@FAST
@given(st.lists(ROW.map(json.dumps), min_size=1, max_size=10))
def test_compare_log_takes_whatever_the_reader_lets_through(lines):
    from accelkern.mamf import replay
    from accelkern.mamf.compare import compare_rows
    log = replay.load(os.path.join(os.path.dirname(__file__), "data", "h200-bf16-grid-192.mamf.txt"))
    rows = parse_results("ours", "\n".join(lines).encode()).rows
    only_ours(compare_rows, log, rows)


@FAST
@given(st.lists(st.one_of(ROW.map(json.dumps), HEADER.map(json.dumps), st.text(max_size=20)), max_size=10))
def test_replay_of_a_damaged_jsonl_names_and_skips_or_refuses_in_one_line(lines):
    from accelkern.commands.mamf import _load_replay
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("{}\n" + "\n".join(lines) + "\n")
    try:
        only_ours(_load_replay, f.name, "bf16")
    finally:
        os.unlink(f.name)


@SLOW
@given(st.lists(HEADER.map(json.dumps), max_size=2), st.lists(ROW.map(json.dumps), min_size=1, max_size=12))
def test_the_report_takes_whatever_the_reader_lets_through(headers, rows):
    pytest.importorskip("matplotlib")
    lines = headers[:1] + rows[:6] + headers[1:] + rows[6:]
    from accelkern import report
    from accelkern.report.inputs import Source, group_runs
    res = parse_results("r.jsonl", "\n".join(lines).encode())
    sources = [Source(f"r.jsonl run {i}", run.header, run.rows, [], run.env) for i, run in enumerate(res.runs)]
    runs = only_ours(group_runs, sources, True)
    if runs:
        only_ours(report.sections, runs)
