"""Results are never lost: each data-loss case of issue 20 (a file read and written by one run, two runs in one
--out, a re-run, a request the device cannot run, a full disk, a torn tail) as the user meets it. Runs without a
device use mamf --replay of a recorded surface (no measuring); the disk is 'full' through RLIMIT_FSIZE, which
refuses writes past a size (EFBIG) without privileges."""
import glob
import json
import os
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from accelkern.cli import cli
from accelkern.results import read_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG = os.path.join(ROOT, "tests", "data", "h200-bf16-grid-192.mamf.txt")
REPLAY = ["mamf", "--replay", LOG, "--budget", "5"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def replayed_run(out) -> bytes:
    r = invoke(*REPLAY, "--out", out)
    assert r.exit_code == 0, r.output
    return (out / "mamf.jsonl").read_bytes()


def one_error_line(r, code):
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output
    errors = [ln for ln in r.output.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1, r.output
    return errors[0]


def no_temporaries(directory):
    return not [p for p in glob.glob(os.path.join(str(directory), "**", "*"), recursive=True) if ".tmp" in p] + \
        glob.glob(os.path.join(str(directory), ".*.tmp"))


def test_compare_log_never_writes_the_results_it_reads(tmp_path):
    d = tmp_path / "D"
    before = replayed_run(d)
    line = one_error_line(invoke("mamf", "--compare-log", LOG, "--results", d, "--out", d), 2)
    assert "--results" in line and "never writes a file it reads" in line
    assert (d / "mamf.jsonl").read_bytes() == before


def test_replay_never_writes_the_recording_it_replays(tmp_path):
    d = tmp_path / "D"
    before = replayed_run(d)
    line = one_error_line(invoke("mamf", "--replay", d / "mamf.jsonl", "--out", d), 2)
    assert "--replay" in line and "never writes a file it reads" in line
    assert (d / "mamf.jsonl").read_bytes() == before


def test_a_second_run_in_the_same_out_is_appended_as_a_run_of_its_own(tmp_path):
    d = tmp_path / "D"
    first = replayed_run(d)
    csv_first = (d / "mamf.csv").read_text().splitlines()
    second = replayed_run(d)
    assert second.startswith(first)                         # the earlier run, byte for byte
    f = read_results(str(d / "mamf.jsonl"))
    assert len(f.runs) == 2 and not f.problems and f.runs[1].line == first.count(b"\n") + 1
    assert [r.to_dict() for r in f.runs[0].rows] == [r.to_dict() for r in f.runs[1].rows]   # the replay repeats
    csv = (d / "mamf.csv").read_text().splitlines()
    assert csv[:len(csv_first)] == csv_first and len(csv) == 2 * len(csv_first) - 1   # one column line
    assert (d / "mamf.md").read_text().count("# accelkern mamf") == 2
    # read as two runs by compare (the latest by default, any by number) and by report
    r = invoke("compare", d, d, "--run-a", "1")
    assert r.exit_code == 0 and "run 1 of its 2" in r.output and "run 2 of its 2" in r.output, r.output
    from accelkern.report.inputs import read_sources
    assert [len(s.rows) for s in read_sources(str(d / "mamf.jsonl"))] == [len(f.runs[0].rows)] * 2


def test_a_second_writer_is_refused_naming_the_run_that_holds_the_directory(tmp_path):
    d = tmp_path / "D"
    before = replayed_run(d)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from accelkern import outdir
        sys.argv = ["accelkern", "gemm", "--out", {str(d)!r}]
        outdir.claim({str(d)!r}, "gemm")
        print("holding", flush=True)
        time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    try:
        assert holder.stdout.readline().strip() == "holding"
        line = one_error_line(invoke(*REPLAY, "--out", d), 2)
        assert f"pid {holder.pid}" in line and "accelkern gemm --out" in line and "in use by another" in line
    finally:
        holder.kill()
        holder.wait()
    assert (d / "mamf.jsonl").read_bytes() == before        # nothing interleaved, nothing truncated
    replayed_run(d)                                         # free again once the holder is gone


@pytest.mark.parametrize("args", [["hbm", "--device", "cpu", "--kernel", "ce"],
                                  ["gemm", "--device", "cpu", "--backend", "cublaslt"],
                                  ["validate", "--device", "cpu", "--suite", "gemm"],
                                  ["waves", "staircase", "--device", "cpu"]],
                         ids=["hbm-ce", "gemm-cublaslt", "validate-gemm", "waves-staircase"])
def test_a_request_the_device_cannot_run_leaves_earlier_results_alone(tmp_path, args):
    d = tmp_path / "D"
    d.mkdir()
    stem = "_".join(args[:2]) if args[0] == "waves" else args[0]
    earlier = b'{"type": "header", "command": "x", "device": "earlier", "device_kind": "cpu"}\n'
    (d / f"{stem}.jsonl").write_bytes(earlier)
    r = invoke(*args, "--out", d)
    one_error_line(r, r.exit_code)
    assert r.exit_code in (2, 3)      # 3: no device for it; 2: an option the CPU's own kernels do not take
    assert (d / f"{stem}.jsonl").read_bytes() == earlier


def test_a_torn_tail_is_trimmed_when_the_next_run_opens_the_file(tmp_path):
    d = tmp_path / "D"
    first = replayed_run(d)
    with open(d / "mamf.jsonl", "ab") as f:
        f.write(b'{"type": "row", "suite": "mamf", "na')         # a writer killed mid-line
    replayed_run(d)
    f = read_results(str(d / "mamf.jsonl"))
    assert len(f.runs) == 2 and not f.problems
    assert (d / "mamf.jsonl").read_bytes().startswith(first)


def _limited(args, limit_bytes, cwd):
    """The command line in a process whose files may not grow past limit_bytes (writes past it: EFBIG)."""
    script = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
        sys.argv = ["accelkern"] + sys.argv[1:]
        from accelkern.cli import main
        main()
    """)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    env.pop("ACCELKERN_DRY_RUN", None)
    return subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_a_full_disk_keeps_whole_rows_prints_the_table_and_says_what_was_kept(tmp_path):
    d = tmp_path / "D"
    p = _limited(REPLAY + ["--out", d], 6000, tmp_path)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and "could not write" in errors[0] and "mamf.jsonl keeps" in errors[0], p.stderr
    assert "MAMF" in p.stdout and "phase" in p.stdout                  # the table of finished rows
    data = (d / "mamf.jsonl").read_bytes()
    assert data.endswith(b"\n") and [json.loads(x) for x in data.splitlines()]   # whole lines only
    kept = int(errors[0].split("mamf.jsonl keeps ")[1].split()[0])
    assert 0 < kept == len(read_results(str(d / "mamf.jsonl")).rows)
    assert no_temporaries(d)


def test_validate_report_onto_a_full_disk_keeps_the_table_and_the_results(tmp_path, monkeypatch):
    pytest.importorskip("jinja2")
    pytest.importorskip("matplotlib")
    from accelkern import safe_io
    from accelkern import validate as v
    from accelkern.results import Row

    def two_rows(info, spec, budget, emit, only=None, progress=None):
        for n in ("copy", "read"):
            emit(Row(suite="hbm", name=n, dtype="fp32", shape="1MiB", metric="TB/s", value=0.01, correct=True))
        return []
    real = safe_io.atomic_write

    def full(path, data):
        if path.endswith((".html", ".png")):
            raise OSError(28, "No space left on device")
        return real(path, data)
    monkeypatch.setattr(v, "run", two_rows)
    monkeypatch.setattr(safe_io, "atomic_write", full)
    d = tmp_path / "D"
    r = invoke("validate", "--device", "cpu", "--suite", "hbm", "--budget", "5", "--out", d, "--report", d)
    line = one_error_line(r, 1)
    assert "could not write" in line and "No space left on device" in line
    assert "copy" in r.output and "read" in r.output                  # the table
    assert len(read_results(str(d / "validate.jsonl")).rows) == 2
    assert (d / "validate.csv").exists() and (d / "validate.md").exists() and no_temporaries(d)


def test_a_full_disk_under_a_fleet_names_what_was_not_written(tmp_path):
    d = tmp_path / "D"
    p = _limited(["fleet", "--local", "2", "--device", "cpu", "--suite", "gemm", "--budget", "1", "--gemm-shape",
                  "64x64x64", "--timeout", "60", "--tolerance", "99", "--out", d], 2500, tmp_path)
    assert p.returncode == 1, p.stderr[-3000:]
    assert "Traceback" not in p.stderr and "NCCL" not in p.stderr + p.stdout, p.stderr[-3000:]
    assert "0 node(s)" not in p.stdout and "fleet-gemm" in p.stdout        # the table of both ranks
    errors = [ln for ln in p.stderr.splitlines() if ln.startswith("Error: ")]
    assert len(errors) == 1 and "could not write" in errors[0] and "fleet.jsonl" in errors[0], p.stderr[-3000:]
    assert no_temporaries(d)
