"""Fleet mode: the outlier detector and the nccl-tests formulas (pure Python), option checks, and real
multi-process fleets on CPU ranks (gloo) started through torchrun: 2 ranks with every suite, 3 ranks on two
"nodes" (two torchrun launches, one c10d rendezvous) with the self-test, and a rank killed mid-run.
Launches are few and small (2 cores carry every rank); each is bounded and leaves no process behind."""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from click.testing import CliRunner

from accelkern.cli import cli
from accelkern.fleet import collectives, gather, options, outliers, p2p, state
from accelkern.results import Row, read_jsonl

LAUNCH_TIMEOUT_S = 120
IDENTITY = ("rank", "local_rank", "world_size", "host", "node", "device_id")
GATHERED = ("fleet_median", "ratio_to_median", "flagged", "flag_reason")


# ---- pure: formulas, expected values, detector ------------------------------------------------------

def test_busbw_factors_are_the_nccl_tests_ones():
    assert collectives.busbw_factor("all_reduce", 2) == 1.0
    assert collectives.busbw_factor("all_reduce", 8) == 1.75
    for c in ("all_gather", "reduce_scatter", "all_to_all"):
        assert collectives.busbw_factor(c, 2) == 0.5
        assert collectives.busbw_factor(c, 8) == 0.875
    assert collectives.busbw_factor("broadcast", 8) == 1.0
    # 1 GB in 0.5 s on 8 ranks: algbw 2 GB/s, all_reduce busbw 3.5 GB/s
    assert collectives.bandwidths("all_reduce", 10**9, 0.5, 8) == (2.0, 3.5, 1.75)
    with pytest.raises(ValueError):
        collectives.busbw_factor("all_scatter", 4)
    assert collectives.elements(64 << 10, 3) == 16383 and collectives.elements(64 << 10, 3) % 3 == 0
    assert collectives.size_label(64 << 10) == "64 KiB" and collectives.size_label(65532) == "65532 B"


@pytest.mark.parametrize("n", [2, 3])
def test_expected_outputs_match_a_torch_simulation(n):
    import torch
    count = collectives.elements(1000, n)
    c = count // n
    ins = [collectives.pattern(r, count, "cpu") for r in range(n)]
    assert all(float(x.min()) >= 1 for x in ins)          # never zeros
    total = torch.stack(ins).sum(0)
    sim = {"all_reduce": lambda r: total,
           "all_gather": lambda r: torch.cat([collectives.pattern(q, c, "cpu") for q in range(n)]),
           "reduce_scatter": lambda r: total[r * c:(r + 1) * c],
           "all_to_all": lambda r: torch.cat([ins[q][r * c:(r + 1) * c] for q in range(n)]),
           "broadcast": lambda r: ins[0]}
    for coll, f in sim.items():
        for r in range(n):
            want = f(r)
            got = [collectives.expected(coll, r, n, count, j) for j in range(want.numel())]
            assert got == want.tolist(), (coll, r)


def _row(suite, rank, value, **kw):
    cfg = {"rank": rank, **kw.pop("config", {})}
    return Row(suite=suite, name=kw.pop("name", "copy"), dtype="fp32", shape="16MiB", metric="TB/s", value=value,
               config=cfg, **kw)


def test_outlier_detector_flags_only_the_slow_side():
    rows = [_row("fleet-hbm", r, v) for r, v in enumerate((3.0, 2.94, 3.03, 2.4))]
    rows.append(_row("fleet-hbm", 4, 3.6))                   # faster than the median: fine
    outliers.flag_rows(rows, tolerance_pct=5)
    assert [r.config["flagged"] for r in rows] == [False, False, False, True, False]
    assert rows[0].config["fleet_median"] == 3.0 and rows[3].config["ratio_to_median"] == pytest.approx(0.8)
    assert "20.0% below the fleet median" in rows[3].config["flag_reason"]
    assert outliers.flagged_ranks(rows) == [3]
    # with a wider tolerance nothing is flagged
    outliers.flag_rows(rows, tolerance_pct=25)
    assert not any(r.config["flagged"] for r in rows)


def test_outlier_detector_floor_failures_collectives_and_pairs():
    # a GPU at 70% of its datasheet bandwidth is below the 75% floor even when the whole fleet is as slow
    slow = [_row("fleet-hbm", r, 3.36, pct_of_spec=70.0, spec_value=4.8) for r in range(2)]
    gemm_fine = [_row("fleet-gemm", r, 700, name="cublasLt", pct_of_spec=70.8, spec_value=989.5) for r in range(2)]
    coll = [_row("fleet-collectives", r, v, config={"collective": "all_reduce", "bytes": 1024})
            for r, v in enumerate((10.0, 5.0))]                          # slow, not flagged: cannot name a rank
    coll.append(_row("fleet-collectives", 2, 10.0, correct=False, config={"collective": "all_reduce", "bytes": 1024}))
    failed = [_row("fleet-gemm", 3, None, name="cublasLt", status="failed", note="CUBLAS_STATUS_EXECUTION_FAILED")]
    pair = lambda s, d, v, link: _row("fleet-p2p", d, v, config={"src": s, "dst": d, "bytes": 1 << 20, "link": link})
    pairs = [pair(0, 1, 400, "intra-node"), pair(1, 0, 396, "intra-node"), pair(0, 2, 50, "inter-node"),
             pair(2, 0, 48, "inter-node"), pair(1, 2, 49, "inter-node"), pair(2, 1, 30, "inter-node")]
    rows = slow + gemm_fine + coll + failed + pairs
    outliers.flag_rows(rows, tolerance_pct=5)
    assert all(r.config["flagged"] and "below the 75% floor" in r.config["flag_reason"] for r in slow)
    assert not any(r.config["flagged"] for r in gemm_fine)
    assert [r.config["flagged"] for r in coll] == [False, False, True]
    assert coll[2].config["flag_reason"] == "wrong result"
    assert failed[0].config["flagged"] and "CUBLAS_STATUS_EXECUTION_FAILED" in failed[0].config["flag_reason"]
    # inter-node pairs are compared with inter-node pairs only: just 2 -> 1 is slow
    assert [r.config["flagged"] for r in pairs] == [False, False, False, False, False, True]
    assert pairs[5].config["fleet_median"] == 48.5
    assert outliers.flagged_pairs(rows) == [(2, 1)]
    assert outliers.flagged_ranks(rows) == [0, 1, 2, 3]       # hbm floor (0, 1), wrong result (2), failure (3)


def test_verdict_and_self_test_judgement():
    ids = {r: {"host": "h", "node": r // 2} for r in range(4)}
    mk = lambda: [_row("fleet-gemm", r, v, name="torch.mm") for r, v in enumerate((100, 101, 99, 30))]
    v = gather.judge(mk(), ids, 4, 5.0)
    assert v.flagged_ranks == [3] and v.exit_code == 1 and v.nodes == {0: {"host": "h", "ranks": [0, 1]},
                                                                       1: {"host": "h", "ranks": [2, 3]}}
    assert gather.judge(mk(), ids, 4, 5.0, self_test=(4, 3)).exit_code == 0      # exactly the slowed rank
    st = gather.judge(mk(), ids, 4, 5.0, self_test=(4, 2))
    assert st.exit_code == 1 and st.self_test == {"factor": 4, "rank": 2, "flagged": [3], "passed": False}
    healthy = [_row("fleet-gemm", r, 100, name="torch.mm") for r in range(4)]
    assert gather.judge(healthy, ids, 4, 5.0).exit_code == 0
    assert gather.judge(healthy, ids, 4, 5.0, missing={2: "died"}).exit_code == 1


def test_p2p_pairs_cover_both_directions_once():
    assert p2p.pairs(3) == [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)]
    ids = {0: {"host": "a", "node": 0}, 1: {"host": "a", "node": 0}, 2: {"host": "b", "node": 1}}
    assert p2p.link(ids, 0, 1) == "intra-node" and p2p.link(ids, 1, 2) == "inter-node"


# ---- options: refused before any process starts ------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--suite", "gemm,nccl"], "--suite 'gemm,nccl': allowed are gemm, mamf, hbm, peak, collectives, p2p"),
    (["--tolerance", "0"], "--tolerance 0: a percentage between 0 and 100"),
    (["--local", "2", "--self-test", "3", "--self-test-rank", "2"], "--self-test-rank 2: the fleet has ranks 0..1"),
    (["--local", "1", "--self-test", "3"], "--self-test needs two or more ranks"),
    (["--self-test", "1"], "--self-test 1: the slow-down factor is a whole number from 2 to 100"),
    (["--self-test", "2", "--suite", "collectives"], "--self-test slows the per-device suites"),
    (["--self-test-rank", "1"], "--self-test-rank needs --self-test FACTOR"),
    (["--local", "4", "--sizes", "8"], "size 8 B: collectives split it into 4 shards"),
    (["--device", "tpu"], "--device 'tpu': allowed are cuda, cpu"),
    (["--gemm-shape", "8x8"], "shape '8x8' not understood"),
])
def test_bad_options_are_one_line_and_start_nothing(args, words, tmp_path):
    r = CliRunner().invoke(cli, ["fleet", "--device", "cpu", "--out", str(tmp_path / "o")] + args)
    assert r.exit_code == 2, r.output
    assert words in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_dry_run_checks_options_without_launching(monkeypatch):
    monkeypatch.setenv("ACCELKERN_DRY_RUN", "1")
    r = CliRunner().invoke(cli, ["fleet", "--local", "3", "--device", "cpu", "--self-test", "2"])
    assert r.exit_code == 0 and "dry run: accelkern fleet: options ok" in r.output


def test_ranks_get_the_launchers_options():
    from accelkern.commands.fleet import fleet
    o = options.parse(device="cpu", suites="gemm,p2p", budget=7, tolerance=12.5, timeout=33, sizes="4KiB,1MiB",
                      p2p_size="64KiB", gemm_shape="256x128x64", gemm_dtype="bf16", self_test=3, self_test_rank=1,
                      spec_name="h200-sxm", as_json=True, out="/tmp/x", local=2)
    ranked = o.for_ranks("/tmp/work")
    ctx = fleet.make_context("fleet", ranked.rank_argv())
    again = options.parse(**{k: v for k, v in ctx.params.items()})
    assert again == ranked and again.local is None and again.relay and again.rank_dir == "/tmp/work"
    assert again.sizes == (4096, 1 << 20) and again.gemm_shape == (256, 128, 64) and again.self_test_rank == 1


# ---- real fleets: CPU ranks, gloo, torchrun ----------------------------------------------------------

def _kill_leftovers(out_dir):
    """Ranks run in sessions of their own (torchrun starts them so): kill any still alive, by pid."""
    if not os.path.isdir(out_dir):
        return
    for rec in state.read_states(out_dir).values():
        try:
            os.kill(rec["pid"], signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _start(args, env=None):
    e = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", **(env or {}))
    e.pop("ACCELKERN_DRY_RUN", None)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                            start_new_session=True)


def _stop(procs, out_dir):
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    _kill_leftovers(out_dir)


def _fleet(*args):
    return [sys.executable, "-m", "accelkern", "fleet", "--device", "cpu", *args]


def _rows(path):
    return read_jsonl(str(path))[1]


def test_two_ranks_every_suite_gathered_and_checked(tmp_path):
    out = tmp_path / "out"
    p = _start(_fleet("--local", "2", "--budget", "2", "--sizes", "4KiB,64KiB", "--p2p-size", "64KiB",
                      "--tolerance", "99", "--timeout", "60", "--json", "--out", str(out)))
    try:
        stdout, stderr = p.communicate(timeout=LAUNCH_TIMEOUT_S)
    finally:
        _stop([p], out)
    assert p.returncode == 0, stderr[-3000:]
    doc = json.loads(stdout)                       # only rank 0 printed: one JSON document
    assert doc["fleet"]["world_size"] == 2 and doc["fleet"]["exit_code"] == 0
    merged = _rows(out / "fleet.jsonl")
    assert len(merged) == len(doc["rows"])
    for r in (0, 1):                               # rank-tagged files hold that rank's rows, as they finished
        mine = _rows(out / f"fleet.rank{r}.jsonl")
        assert mine and all(x.config["rank"] == r for x in mine)
        assert len(mine) == sum(1 for x in merged if x.config["rank"] == r)
    for row in merged:
        assert set(IDENTITY + GATHERED) <= set(row.config), row
        assert row.config["world_size"] == 2 and row.config["host"] == socket.gethostname()
    suites = {r.suite for r in merged}
    assert suites == {"fleet-gemm", "fleet-mamf", "fleet-hbm", "fleet-peak", "fleet-collectives", "fleet-p2p"}
    by = lambda s: [r for r in merged if r.suite == s]
    assert all(r.status == "skipped" and "CUDA" in r.note for r in by("fleet-peak"))
    for s in ("fleet-gemm", "fleet-mamf", "fleet-hbm"):
        assert {r.config["rank"] for r in by(s)} == {0, 1}
        assert all(r.status == "ok" and r.value > 0 and r.correct is not False for r in by(s)), s
    assert all(r.correct for r in by("fleet-gemm") + by("fleet-hbm"))
    coll = by("fleet-collectives")
    assert len(coll) == 5 * 2 * 2                  # collectives x sizes x ranks
    for r in coll:
        c = r.config
        assert r.correct is True and r.metric == "GB/s" and r.value == c["busbw_gbps"] > 0
        assert c["busbw_factor"] == {"all_reduce": 1.0, "broadcast": 1.0}.get(c["collective"], 0.5)
        assert c["busbw_gbps"] == pytest.approx(c["algbw_gbps"] * c["busbw_factor"])
        assert c["algbw_gbps"] == pytest.approx(c["bytes"] / (r.median_ms * 1e-3) / 1e9)
        assert c["bytes"] in (4096, 65536) and c["elements"] % 2 == 0
    pairs = by("fleet-p2p")
    assert sorted((r.config["src"], r.config["dst"]) for r in pairs) == [(0, 1), (1, 0)]
    for r in pairs:
        assert r.config["rank"] == r.config["dst"] and r.config["link"] == "intra-node"
        assert r.correct is True and r.value > 0 and r.config["bytes"] == 65536


def _free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_three_ranks_on_two_nodes_and_the_self_test(tmp_path):
    out = tmp_path / "out"
    port = _free_port()
    procs = []
    try:
        for nproc in (2, 1):                       # two "nodes" on this machine, one c10d rendezvous
            procs.append(_start([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                                 "--nproc-per-node", str(nproc), "--rdzv-backend", "c10d", "--rdzv-endpoint",
                                 f"localhost:{port}", "--rdzv-id", "fleet-test", "--max-restarts", "0",
                                 "-m", "accelkern", "fleet", "--device", "cpu", "--suite", "gemm,collectives,p2p",
                                 "--budget", "2", "--sizes", "64KiB", "--p2p-size", "64KiB", "--self-test", "5",
                                 "--self-test-rank", "1", "--tolerance", "50", "--timeout", "60", "--out", str(out)]))
        results = [p.communicate(timeout=LAUNCH_TIMEOUT_S) for p in procs]
    finally:
        _stop(procs, out)
    assert [p.returncode for p in procs] == [0, 0], [e[-3000:] for _, e in results]
    table = "".join(o for o, _ in results)         # rank 0 printed on whichever node it was
    assert table.count("verdict:") == 1 and "self-test: rank 1 slowed 5x" in table and "PASSED" in table
    assert "fleet: 3 rank(s) on 2 node(s)" in table
    rows = _rows(out / "fleet.jsonl")
    node_of = {r.config["rank"]: r.config["node"] for r in rows}
    assert sorted(node_of) == [0, 1, 2] and sorted(set(node_of.values())) == [0, 1]
    gemm = {r.config["rank"]: r for r in rows if r.suite == "fleet-gemm"}
    assert sorted(gemm) == [0, 1, 2] and [r for r in gemm if gemm[r].config["flagged"]] == [1]
    assert gemm[1].config["ratio_to_median"] < 0.5 and gemm[1].config["self_test_factor"] == 5
    assert all(gemm[r].config["ratio_to_median"] > 0.5 and "self_test_factor" not in gemm[r].config for r in (0, 2))
    coll = [r for r in rows if r.suite == "fleet-collectives"]
    assert len(coll) == 5 * 3 and all(r.correct for r in coll)
    for r in coll:                                 # 3 ranks: 2(n-1)/n = 4/3, (n-1)/n = 2/3
        want = {"all_reduce": 4 / 3, "broadcast": 1.0}.get(r.config["collective"], 2 / 3)
        assert r.config["busbw_factor"] == pytest.approx(want) and r.config["bytes"] % 12 == 0
    pairs = {(r.config["src"], r.config["dst"]): r for r in rows if r.suite == "fleet-p2p"}
    assert len(pairs) == 6
    for (s, d), r in pairs.items():
        assert r.config["link"] == ("intra-node" if node_of[s] == node_of[d] else "inter-node") and r.correct
    # the gemm table lists its ranks grouped by node
    lines = table.split("fleet-gemm:")[1].splitlines()[3:6]
    assert [int(line.split()[0]) for line in lines] == sorted(node_of[r] for r in range(3))


def test_a_killed_rank_is_named_and_the_others_rows_are_kept(tmp_path):
    out = tmp_path / "out"
    timeout_s = 30
    p = _start(_fleet("--local", "2", "--suite", "gemm,collectives", "--budget", "3", "--sizes", "4KiB",
                      "--timeout", str(timeout_s), "--out", str(out)))
    try:
        deadline = time.monotonic() + LAUNCH_TIMEOUT_S
        while time.monotonic() < deadline:          # both ranks finished their gemm row: kill rank 1
            done = [os.path.exists(state.rows_path(out, r)) and _rows(state.rows_path(out, r)) for r in (0, 1)]
            work = glob.glob(os.path.join(tempfile.gettempdir(), f"accelkern-fleet-{p.pid}-*"))   # the launcher's
            st = state.read_states(work[0]) if work else {}
            if all(done) and st.get(1, {}).get("phase") == "collectives":
                break
            assert p.poll() is None, p.communicate()[1][-3000:]
            time.sleep(0.1)
        pid = st[1]["pid"]
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        stdout, stderr = p.communicate(timeout=LAUNCH_TIMEOUT_S)
        took = time.monotonic() - killed
    finally:
        _stop([p], out)
    assert p.returncode == 1
    assert took < timeout_s
    assert f"rank(s) 1 missing: rank 1 died (pid {pid}" in stderr and "during 'collectives'" in stderr
    assert "MISSING rank 1" in stdout and "verdict: FAIL" in stdout
    rows = _rows(out / "fleet.jsonl")
    gemm = {r.config["rank"]: r for r in rows if r.suite == "fleet-gemm"}
    assert sorted(gemm) == [0, 1] and all(r.status == "ok" and r.correct for r in gemm.values())


# ---- GPU: a 1-rank fleet ---------------------------------------------------------------------------------

def _expected_flags(rows) -> set:
    """What the detector must flag in a one-rank fleet, from the rows' own facts and the documented rule: a
    failed or wrong row, or a per-device figure under its suite's floor (% of the datasheet). A median of
    one value flags nothing by speed."""
    out = set()
    for r in rows:
        floor = outliers.FLOORS_PCT.get(r.suite)
        if r.status == "failed" or r.correct is False or (
                floor is not None and r.pct_of_spec is not None and r.pct_of_spec < floor):
            out.add((r.suite, r.name))
    return out


def _one_rank_fleet_facts(rows, returncode, stderr):
    expected = _expected_flags(rows)
    assert {(r.suite, r.name) for r in rows if r.config["flagged"]} == expected, \
        [(r.suite, r.name, r.pct_of_spec, r.config["flag_reason"]) for r in rows]
    assert returncode == (1 if expected else 0), stderr[-3000:]


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_one_rank_fleet(tmp_path):
    out = tmp_path / "out"
    p = _start([sys.executable, "-m", "accelkern", "fleet", "--device", "cuda", "--suite", "gemm,hbm",
                "--gemm-shape", "4096x4096x4096", "--budget", "2", "--json", "--out", str(out)])
    try:
        stdout, stderr = p.communicate(timeout=LAUNCH_TIMEOUT_S)
    finally:
        _stop([p], out)
    rows = _rows(out / "fleet.jsonl")
    gemm = [r for r in rows if r.suite == "fleet-gemm"]
    assert len(gemm) == 1 and gemm[0].shape.startswith("4096x4096x4096"), stderr[-3000:]
    assert gemm[0].correct is True and gemm[0].value > 0 and gemm[0].config["device_id"].startswith("GPU-")
    hbm = {r.name: r for r in rows if r.suite == "fleet-hbm"}
    assert set(hbm) == {"copy", "read"} and all(r.correct is True and r.value > 0 for r in hbm.values())
    assert json.loads(stdout)["fleet"]["world_size"] == 1
    _one_rank_fleet_facts(rows, p.returncode, stderr)


@pytest.mark.gpu
def test_one_rank_fleet_on_the_gpu(tmp_path):
    out = tmp_path / "out"
    p = _start([sys.executable, "-m", "accelkern", "fleet", "--device", "cuda", "--suite", "gemm,hbm,peak",
                "--budget", "12", "--json", "--out", str(out)])
    try:
        stdout, stderr = p.communicate(timeout=LAUNCH_TIMEOUT_S)
    finally:
        _stop([p], out)
    doc = json.loads(stdout)
    rows = _rows(out / "fleet.jsonl")
    gemm = [r for r in rows if r.suite == "fleet-gemm"]
    assert len(gemm) == 1 and gemm[0].dtype == "bf16" and gemm[0].shape.startswith("8192x8192x8192")
    assert gemm[0].correct is True and gemm[0].value > 0 and gemm[0].config["device_id"].startswith("GPU-")
    hbm = {r.name: r for r in rows if r.suite == "fleet-hbm"}
    assert set(hbm) == {"copy", "read"} and all(r.correct and r.value > 0 for r in hbm.values())
    peak = [r for r in rows if r.suite == "fleet-peak"]
    assert peak and all(r.correct is True for r in peak if r.status == "ok")
    assert doc["fleet"]["world_size"] == 1
    _one_rank_fleet_facts(rows, p.returncode, stderr)


@pytest.mark.gpu
def test_local_launcher_on_the_gpu(tmp_path):
    out = tmp_path / "out"
    p = _start([sys.executable, "-m", "accelkern", "fleet", "--local", "1", "--device", "cuda", "--suite",
                "gemm,collectives", "--budget", "5", "--out", str(out)])
    try:
        stdout, stderr = p.communicate(timeout=LAUNCH_TIMEOUT_S)
    finally:
        _stop([p], out)
    rows = _rows(out / "fleet.jsonl")
    assert "fleet-collectives: skipped: needs two or more ranks" in stdout, stderr[-3000:]
    assert [r.config["local_rank"] for r in rows if r.suite == "fleet-gemm"] == [0]
    _one_rank_fleet_facts(rows, p.returncode, stderr)
