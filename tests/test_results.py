import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from accelkern import results
from accelkern.results import ResultWriter, Row, RunHeader


def header():
    return RunHeader(command="test", device="Test GPU", device_kind="cuda", sms=132, driver="1.0", cuda="13.0",
                     torch="2.x", accelkern="0.1.0")


def test_round_trip(tmp_path):
    rows = [Row(suite="gemm", name="torch.mm", dtype="bf16", shape="8x8x8", value=1.5, metric="TFLOPS",
                config={"tile": "128x256"}, correct=True),
            Row(suite="gemm", name="torch", dtype="tf32", status="skipped", note="needs sm_80")]
    from accelkern import tables
    w = ResultWriter(str(tmp_path), header(), stem="r")
    for r in rows:
        w.write(r)
    w.close(tables.markdown_report(w.header, w.rows))
    h, back = results.read_jsonl(str(tmp_path / "r.jsonl"))
    assert h["device"] == "Test GPU" and h["schema"] == results.SCHEMA_VERSION
    assert back == rows
    csv_text = (tmp_path / "r.csv").read_text()
    assert csv_text.splitlines()[0].startswith("device,sms,driver,cuda,torch,accelkern,suite,name")
    assert '"{""tile"": ""128x256""}"' in csv_text
    assert len(csv_text.splitlines()) == 3
    md = (tmp_path / "r.md").read_text()
    assert "| suite |" in md and "bf16" in md and "needs sm_80" in md


def test_every_row_carries_the_run_environment(tmp_path):
    with ResultWriter(str(tmp_path), header()) as w:
        w.write(Row(suite="s", name="n"))
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    for k in ("device", "sms", "driver", "cuda", "torch", "accelkern"):
        assert rec[k] == getattr(header(), k)


def test_nan_becomes_null(tmp_path):
    rec = results.row_record(Row(suite="s", name="n", value=float("nan")), None)
    assert rec["value"] is None


def test_torn_last_line_is_ignored(tmp_path):
    p = tmp_path / "x.jsonl"
    with ResultWriter(str(tmp_path), header(), stem="x") as w:
        w.write(Row(suite="s", name="a"))
    with open(p, "a") as f:
        f.write('{"type": "row", "suite": "s", "na')   # a writer killed mid-line
    h, rows = results.read_jsonl(str(p))
    assert [r.name for r in rows] == ["a"]


def test_killed_writer_leaves_only_complete_rows(tmp_path):
    script = textwrap.dedent(f"""
        import itertools, sys
        from accelkern.results import ResultWriter, Row, RunHeader
        w = ResultWriter({str(tmp_path)!r}, RunHeader(command="t", device="d", device_kind="cpu"))
        for i in itertools.count():
            w.write(Row(suite="s", name=str(i), note="x" * 5000))
            if i == 20:
                print("ready", flush=True)
    """)
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    p.send_signal(signal.SIGKILL)
    p.wait()
    data = (tmp_path / "results.jsonl").read_bytes()
    lines = data.split(b"\n")
    complete = [json.loads(x) for x in lines[:-1]]           # every terminated line parses
    assert complete[0]["type"] == "header"
    names = [int(r["name"]) for r in complete[1:]]
    assert names == list(range(len(names))) and len(names) > 20
    _, rows = results.read_jsonl(str(tmp_path / "results.jsonl"))
    assert len(rows) == len(names)
    assert not os.path.exists(tmp_path / "results.csv")      # never a half-written table
