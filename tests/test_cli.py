import json

import pytest
import torch
from click.testing import CliRunner

from accelkern.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def all_commands():
    out = [()]
    for name, cmd in cli.commands.items():
        out.append((name,))
        for sub in getattr(cmd, "commands", {}):
            out.append((name, sub))
    return out


@pytest.mark.parametrize("path", all_commands(), ids=lambda p: " ".join(p) or "accelkern")
def test_help_of_every_command(path):
    r = run(*path, "--help")
    assert r.exit_code == 0
    assert "Usage:" in r.output and len(r.output.splitlines()) > 3


def test_bad_option_is_one_clear_line():
    r = CliRunner().invoke(cli, ["info", "--bogus"])
    assert r.exit_code == 2 and "No such option" in r.output and "--bogus" in r.output
    assert "Traceback" not in r.output


def test_bad_device_is_one_line_error():
    r = CliRunner().invoke(cli, ["validate", "--device", "tpu"])
    assert r.exit_code == 2
    assert "Error: --device 'tpu': allowed are cuda, cuda:N, cpu" in r.output
    assert "Traceback" not in r.output


def test_unknown_spec_lists_known_ones():
    r = CliRunner().invoke(cli, ["info", "--device", "cpu", "--spec", "rtx9999"])
    assert r.exit_code == 2 and "unknown spec 'rtx9999'" in r.output and "h200-sxm" in r.output


def test_info_json_cpu():
    r = run("info", "--device", "cpu", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["device"]["kind"] == "cpu" and doc["device"]["sm_count"] >= 1
    assert "built" in doc["extensions"]["_cpu"] and "built" in doc["extensions"]["_C"]
    assert set(doc["peaks"]) == {"fp64", "fp32", "bf16", "fp16", "int8"}
    # the facts agree with what Linux decoded from the same CPU
    with open("/proc/cpuinfo") as f:
        info = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
    info = {k.strip(): v.strip() for k, v in info.items()}
    if "cpu family" in info:
        assert doc["cpu"]["family"] == int(info["cpu family"]) and doc["cpu"]["model"] == int(info["model"])
    flags = set(info.get("flags", "").split())
    assert set(doc["cpu"]["throughput_features"]) <= flags | {"asimd", "sve", "sve2", "bf16", "i8mm"}
    assert doc["cpu"]["physical_cores"] == doc["device"]["sm_count"]
    lat = doc["memory"]["latency"]
    if isinstance(lat, list):        # pointer chase per level: each level at least as slow as the one before
        assert [x["level"] for x in lat][-1] == "DRAM" and all(x["ns"] > 0 for x in lat)
        assert lat[-1]["ns"] >= lat[0]["ns"]


def test_info_cpu_with_a_cpu_spec_and_a_gpu_spec():
    r = run("info", "--device", "cpu", "--spec", "epyc-9654", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["spec"]["name"] == "AMD EPYC 9654"
    assert doc["memory"]["theoretical_bytes_s"] == pytest.approx(12 * 4800e6 * 8)   # 12 channels DDR5-4800
    r = run("info", "--device", "cpu", "--spec", "h200-sxm")
    assert r.exit_code == 2 and "GPU datasheet entry" in r.output and "Traceback" not in r.output


def test_list_specs():
    r = run("info", "--list-specs")
    assert r.exit_code == 0 and "h200-sxm" in r.output and "mi300x" in r.output and "gaudi2" in r.output


@pytest.fixture
def tiny_validate(monkeypatch):
    """validate's suites at test sizes: 64^3 GEMMs and 1 MiB buffers (the sizing itself is tested apart)."""
    from accelkern import validate
    from accelkern.memory import validate_suite
    monkeypatch.setattr(validate, "gemm_size", lambda dev, dtype, slice_s: (64, "test size"))
    monkeypatch.setattr(validate_suite, "validate_size", lambda info: 1 << 20)


def test_validate_cpu_end_to_end(tmp_path, tiny_validate):
    out = tmp_path / "v"
    r = CliRunner().invoke(cli, ["validate", "--device", "cpu", "--budget", "6", "--suite", "gemm-torch,hbm",
                                 "--out", str(out), "--json"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = doc["rows"]
    gemm = [x for x in rows if x["suite"] == "gemm-torch" and x["status"] == "ok"]
    assert {x["dtype"] for x in gemm} >= {"fp64", "fp32", "bf16", "int8"}
    for x in gemm:
        assert x["value"] > 0 and x["metric"] in ("TFLOPS", "TOPS") and x["correct"] is True
        assert x["shape"] == "64x64x64" and x["flops"] == 2 * 64 ** 3
        assert x["samples"] >= 1 and x["median_ms"] > 0 and x["config"]["size_choice"] == "test size"
    skipped = [x for x in rows if x["status"] == "skipped"]
    assert any(x["dtype"] == "tf32" and "tensor-core" in x["note"] for x in skipped)
    copy = [x for x in rows if x["suite"] == "hbm" and x["name"].startswith("copy")]
    assert copy and copy[0]["value"] > 0 and copy[0]["correct"] is True
    assert copy[0]["one_direction"] == pytest.approx(copy[0]["value"] / 2)
    assert (out / "validate.jsonl").exists() and (out / "validate.csv").exists() and (out / "validate.md").exists()
    table = CliRunner().invoke(cli, ["validate", "--device", "cpu", "--budget", "5", "--suite", "hbm"],
                               catch_exceptions=False)
    assert table.exit_code == 0
    assert "hbm" in table.stdout and "B/s" in table.stdout   # scaled unit: MB/s, GB/s or TB/s
    assert "skipped: CUDA kernels" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 120


def test_validate_unknown_suite():
    r = CliRunner().invoke(cli, ["validate", "--device", "cpu", "--suite", "nope"])
    assert r.exit_code == 2 and "unknown suite(s) nope" in r.output


def test_json_and_csv_are_exclusive():
    r = CliRunner().invoke(cli, ["validate", "--device", "cpu", "--json", "--csv"])
    assert r.exit_code == 2 and "exclusive" in r.output


def test_compare_two_runs(tmp_path):
    from accelkern.results import ResultWriter, Row, RunHeader
    for name, val in (("a", 1.0), ("b", 1.5)):
        with ResultWriter(str(tmp_path / name), RunHeader(command="gemm", device=name, device_kind="cpu")) as w:
            w.write(Row(suite="gemm", name="torch.mm", dtype="bf16", shape="8x8x8", backend="torch", value=val,
                        metric="TFLOPS"))
            w.write(Row(suite="gemm", name="torch.mm", dtype=f"only-{name}", shape="8x8x8", value=2.0))
    r = run("compare", str(tmp_path / "a"), str(tmp_path / "b" / "results.jsonl"), "--json")
    pairs = json.loads(r.stdout)["pairs"]
    both = [p for p in pairs if p["a"] is not None and p["b"] is not None]
    assert len(both) == 1 and both[0]["ratio"] == pytest.approx(1.5)
    assert len(pairs) == 3
    text = run("compare", str(tmp_path / "a"), str(tmp_path / "b")).stdout
    assert "1.500" in text
    bad = CliRunner().invoke(cli, ["compare", str(tmp_path), str(tmp_path / "b")])
    assert bad.exit_code == 2 and "expected one .jsonl" in bad.output


def _write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines))
    return str(path)


def test_compare_refuses_files_without_usable_rows_in_one_line(tmp_path):
    garbage = _write_lines(tmp_path / "g.jsonl", ["hello", "world"])
    csv_file = _write_lines(tmp_path / "c.jsonl", ["device,sms,suite", "x,1,gemm"])
    empty = tmp_path / "e.jsonl"
    empty.write_text("")
    good = _write_lines(tmp_path / "ok.jsonl", [json.dumps({"type": "row", "suite": "gemm", "name": "torch.mm",
                                                            "dtype": "bf16", "value": 2.0})])
    for bad, words in ((garbage, "line 1: not JSON"), (csv_file, "line 1: not JSON"), (str(empty), "no accelkern")):
        r = CliRunner().invoke(cli, ["compare", bad, good])
        assert r.exit_code == 2, r.output
        assert "no accelkern result rows" in r.output and words in r.output and "Traceback" not in r.output
        assert len(r.output.strip().splitlines()) == 1


def test_compare_names_bad_lines_and_handles_a_file_without_header(tmp_path):
    row = {"type": "row", "suite": "gemm", "name": "torch.mm", "dtype": "bf16", "shape": "8x8x8", "value": 2.0}
    a = _write_lines(tmp_path / "a.jsonl", [json.dumps(row), "{torn", json.dumps({"type": "row", "value": 1})])
    b = _write_lines(tmp_path / "b.jsonl", [json.dumps({"type": "header", "device": "B-dev", "command": "gemm"}),
                                            json.dumps({**row, "value": 3.0})])
    r = CliRunner().invoke(cli, ["compare", a, b])
    assert r.exit_code == 0, r.output
    assert "line 2: not JSON" in r.stderr and "line 3: a row without its suite and name" in r.stderr
    assert "no header line" in r.stdout and "B-dev" in r.stdout and "1.500" in r.stdout


def test_compare_keeps_repeated_measurements_apart():
    from accelkern import compare
    from accelkern.results import Row

    def rows(*vals):
        return [Row(suite="mamf", name="re-measure", dtype="bf16", shape="8x8x8", value=v) for v in vals]
    pairs = compare.compare_runs(rows(1.0, 2.0, 3.0), rows(2.0, 4.0))
    assert [(p.a.value, p.b and p.b.value) for p in pairs] == [(1.0, 2.0), (2.0, 4.0), (3.0, None)]


def _one_line_error(r, code=2):
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    return lines[0]


@pytest.mark.parametrize("command", [["validate", "--budget", "5"], ["gemm", "--dtype", "bf16", "--shape", "64x64x64"],
                                     ["hbm", "--size", "1MiB"], ["mamf", "--budget", "5"]])
def test_unwritable_out_is_refused_before_measuring(tmp_path, command):
    blocker = tmp_path / "a-file"       # a path under a regular file cannot be made, even by root
    blocker.write_text("x")
    line = _one_line_error(CliRunner().invoke(cli, [*command, "--device", "cpu", "--out", str(blocker / "x")]))
    assert "--out" in line and "cannot write there" in line
    assert blocker.read_text() == "x" and not list(tmp_path.glob("**/*.jsonl"))


def test_out_that_is_empty_or_a_file_is_refused(tmp_path):
    line = _one_line_error(CliRunner().invoke(cli, ["validate", "--device", "cpu", "--out", ""]))
    assert "--out ''" in line
    f = tmp_path / "file"
    f.write_text("x")
    line = _one_line_error(CliRunner().invoke(cli, ["validate", "--device", "cpu", "--out", str(f)]))
    assert "not a directory" in line


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU path")
def test_device_errors_name_what_is_allowed_with_their_exit_codes():
    line = _one_line_error(CliRunner().invoke(cli, ["validate", "--device", "cuda:x"]))
    assert "malformed" in line
    line = _one_line_error(CliRunner().invoke(cli, ["validate", "--device", "cuda:7"]), code=3)
    assert "no usable cuda device" in line


def test_exit_codes_are_documented_in_every_help():
    for path in all_commands():
        text = " ".join(run(*path, "--help").output.split())
        codes = text[text.index("Exit codes:"):] if "Exit codes:" in text else ""
        assert all(f"{c} " in codes for c in ("0", "1", "2", "3", "130")) and "usage or input error" in codes, path


def test_python_dash_m_accelkern_runs_the_cli():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "accelkern", "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "accelkern, version" in r.stdout


def test_dry_run_validates_options_and_exits_before_measuring(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELKERN_DRY_RUN", "1")
    r = CliRunner().invoke(cli, ["validate", "--device", "cpu", "--out", str(tmp_path / "v")])
    assert r.exit_code == 0 and "dry run: accelkern validate: options ok" in r.output
    assert not (tmp_path / "v" / "validate.jsonl").exists()
    bad = CliRunner().invoke(cli, ["validate", "--device", "cpu", "--suite", "nope"])
    assert bad.exit_code == 2
