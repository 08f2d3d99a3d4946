"""SIGTERM and SIGHUP stop a command as Ctrl-C does (rows kept, table printed, CSV and markdown written, exit code
128 + the signal), and a second Ctrl-C during the clean-up leaves no traceback and no half-written file."""
import os
import signal
import subprocess
import sys

import pytest
from click.testing import CliRunner

from accelkern.cli import cli
from accelkern.results import Row, read_results

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sigterm_keeps_the_rows_prints_the_table_and_writes_every_file(tmp_path):
    sig = signal.SIGTERM
    out = tmp_path / "D"
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    env.pop("ACCELKERN_DRY_RUN", None)
    p = subprocess.Popen([sys.executable, "-m", "accelkern", "gemm", "--device", "cpu", "--dtype", "fp32,fp64",
                          "--shape", "64x64x64,96x96x96,128x128x128,160x160x160", "--max-time", "1", "--out", str(out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    for line in p.stderr:                      # the first finished row, then the signal
        if "done:" in line:
            break
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr and f"stopped by {signal.Signals(sig).name}" in stderr
    rows = read_results(str(out / "gemm.jsonl")).rows
    assert 1 <= len(rows) < 8 and "dtype" in stdout and "torch" in stdout     # the table of finished rows
    assert (out / "gemm.csv").read_text().count("\n") == len(rows) + 1 and (out / "gemm.md").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["Ctrl-C", "SIGHUP"])
def test_a_second_signal_during_the_clean_up_is_only_acknowledged(tmp_path, monkeypatch, sig):
    from accelkern import validate as v
    from accelkern.results import ResultWriter

    def stopped_run(info, spec, budget, emit, only=None, progress=None):
        emit(Row(suite="hbm", name="copy", dtype="fp32", shape="1MiB", metric="TB/s", value=0.01, correct=True))
        os.kill(os.getpid(), sig)                  # the first signal, while measuring
        raise AssertionError("the first signal did not stop the run")
    real_close = ResultWriter.close

    def close_with_a_second_signal(self, markdown=None):
        os.kill(os.getpid(), sig)                  # the second, while the files are being written
        return real_close(self, markdown)
    monkeypatch.setattr(v, "run", stopped_run)
    monkeypatch.setattr(ResultWriter, "close", close_with_a_second_signal)
    out = tmp_path / "D"
    r = CliRunner().invoke(cli, ["validate", "--device", "cpu", "--suite", "hbm", "--budget", "5", "--out", str(out)])
    assert r.exit_code == 128 + sig, r.output
    assert "Traceback" not in r.output and "still saving the finished rows" in r.output
    said = "interrupted" if sig == signal.SIGINT else f"stopped by {signal.Signals(sig).name}"
    assert "copy" in r.output and f"{said}: 1 finished row(s) kept" in r.output
    assert (out / "validate.csv").read_text().count("\n") == 2 and (out / "validate.md").exists()


def test_a_signal_inside_a_deferred_block_waits_for_its_end():
    from accelkern import signals
    previous = signals.install()
    try:
        done = []
        with pytest.raises(signals.Stopped) as stop:
            with signals.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                done.append("the block ran to its end")
        assert done and stop.value.signum == signal.SIGTERM and signals.exit_code() == 143
        assert signals.describe() == "stopped by SIGTERM"
    finally:
        signals.restore(previous)
