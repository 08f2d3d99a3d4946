"""`accelkern fleet --local G`: starts torchrun for G ranks on this node (a c10d rendezvous on a free
localhost port), waits, and exits with the fleet's verdict. When torchrun fails (a rank died, and torchrun
then stopped the others), the per-rank state files say which rank it was and where it was; its rows and
the others' are merged and shown, and the missing rank is named."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import click

from accelkern import outdir, signals
from accelkern.errors import NoDevice
from accelkern.fleet import gather, state
from accelkern.fleet.options import FleetOptions
from accelkern.results import progress, read_results

STOP_GRACE_S = 30.0
RANK_STOP_S = 5.0
VERDICT_GRACE_S = 10.0
POLL_S = 0.2


def torchrun_command(n: int, rank_argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", str(n),
            "--rdzv-backend", "c10d", "--rdzv-endpoint", "localhost:0", "--max-restarts", "0",
            "-m", "accelkern", "fleet", *rank_argv]


def _check_gpus(opts: FleetOptions) -> None:
    if opts.device == "cpu":
        return
    import torch
    if not torch.cuda.is_available():
        if opts.device == "cuda":
            raise NoDevice("--device cuda: no usable CUDA device (torch.cuda.is_available() is False); "
                           "use --device cpu")
        return
    count = torch.cuda.device_count()
    if opts.local > count:
        raise NoDevice(f"--local {opts.local}: only {count} GPU(s) visible here (one rank per GPU); "
                       f"use --local {count} or --device cpu")


def _runs_before(directory: str, n: int) -> dict:
    """{rank: runs its rows file holds now}: a rank appends this run after them (its earlier runs are kept), so
    a post-mortem reads only what comes after."""
    out = {}
    for r in range(n):
        path = state.rows_path(directory, r)
        try:
            out[r] = len(read_results(path).runs) if os.path.exists(path) else 0
        except OSError:
            out[r] = 0
    return out


def run_local(opts: FleetOptions) -> int:
    _check_gpus(opts)
    work = tempfile.mkdtemp(prefix=f"accelkern-fleet-{os.getpid()}-")   # state files and the verdict, never in --out
    rows_dir = opts.out or work
    env = dict(os.environ)
    if opts.out:
        os.makedirs(opts.out, exist_ok=True)
        env.update(outdir.held_env(opts.out))              # the ranks write in the directory this launcher holds
    before = _runs_before(rows_dir, opts.local)
    if opts.local > 1:
        env.setdefault("OMP_NUM_THREADS", "1")   # torchrun's own default, without its banner
    cmd = torchrun_command(opts.local, opts.for_ranks(work).rank_argv())
    interrupted = False
    try:
        proc = subprocess.Popen(cmd, env=env)
        try:
            rc = _wait(proc, work)
        except KeyboardInterrupt:
            interrupted = True
            rc = _stop(proc, signal.SIGINT, work)
        verdict = _read_verdict(work)
        if verdict is not None and not interrupted:
            return int(verdict["exit_code"])
        code = post_mortem(opts, work, rc, rows_dir, before, stopped_here=interrupted)
        return signals.exit_code() if interrupted else code
    finally:
        _kill_leftover_ranks(work)
        shutil.rmtree(work, ignore_errors=True)


def _wait(proc, work: str) -> int:
    """torchrun's exit code. Once rank 0 has written the verdict, a rank still running is hung (rank 0 has
    named it): torchrun, which waits for every rank, is stopped after a grace period."""
    reported = None
    while True:
        rc = proc.poll()
        if rc is not None:
            return rc
        if reported is None and os.path.exists(os.path.join(work, gather.VERDICT_FILE)):
            reported = time.monotonic()
        if reported is not None and time.monotonic() - reported > VERDICT_GRACE_S:
            progress(f"rank 0 reported {VERDICT_GRACE_S:g} s ago and ranks are still running: stopping torchrun")
            return _stop(proc, signal.SIGTERM, work)
        time.sleep(POLL_S)


def _stop(proc, sig, work: str) -> int:
    """Asks torchrun to stop its ranks; a rank that does not stop (hung) is killed by pid, then torchrun."""
    proc.send_signal(sig)
    for wait_s, then in ((RANK_STOP_S, lambda: _kill_leftover_ranks(work)), (STOP_GRACE_S, proc.kill)):
        try:
            return proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            then()
    return proc.wait()


def _kill_leftover_ranks(work: str) -> None:
    """Ranks run in sessions of their own; one torchrun could not stop (e.g. hung in the kernel) is killed
    here, by the pid its state file gives, after checking the pid is still an accelkern process."""
    for rec in state.read_states(work).values():
        pid = rec.get("pid")
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"accelkern" not in f.read():
                    continue
            os.kill(pid, signal.SIGKILL)
        except (OSError, TypeError):
            continue


def _read_verdict(directory: str) -> dict | None:
    try:
        with open(os.path.join(directory, gather.VERDICT_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _culprit(rec: dict | None, rc: int) -> str | None:
    """What a rank's state file says about how it ended; None for a rank that ended on its own or was only
    stopped by torchrun because another one failed (or because this launcher was stopped)."""
    if rec is None:
        return "never started (no state file)"
    where = f"(pid {rec.get('pid')} on {rec.get('host')}) during '{rec.get('phase')}'"
    if rec.get("state") == state.RUNNING:
        return f"died {where}: it never reported an end; torchrun exited with {rc}"
    if rec.get("state") == state.FAILED:
        return f"failed {where}: {rec.get('message')}"
    return None


def _first_stopped(states: dict) -> dict:
    """When no rank died or failed but ranks were stopped by a signal: the first one stopped (by its state file's
    time) was stopped from outside; torchrun then stopped the others."""
    stopped = sorted((rec.get("time") or 0, r) for r, rec in states.items()
                     if rec.get("state") == state.STOPPED and rec.get("signal"))
    if not stopped:
        return {}
    r = stopped[0][1]
    rec = states[r]
    return {r: f"was stopped by {rec['signal']} (pid {rec.get('pid')} on {rec.get('host')}) during "
               f"'{rec.get('phase')}'; torchrun then stopped the others"}


def _rows_since(path: str, runs_before: int) -> tuple[dict | None, list]:
    """(header, rows) of the runs a rank appended to its file in this fleet run."""
    try:
        runs = read_results(path).runs[runs_before:]
    except OSError:
        return None, []
    header = next((r.header for r in runs if r.header), None)
    return header, [row for r in runs for row in r.rows]


def post_mortem(opts: FleetOptions, work: str, rc: int, rows_dir: str, before: dict,
                stopped_here: bool = False) -> int:
    """After torchrun failed: names the rank(s) that died, failed or were stopped by a signal, shows and writes
    the rows the others (and they) finished. Exit code 1 (a missing rank fails the fleet)."""
    n = opts.local
    states = state.read_states(work)
    rows, headers, identities = [], {}, {}
    for r in range(n):
        path = state.rows_path(rows_dir, r)
        if os.path.exists(path):
            header, rs = _rows_since(path, before.get(r, 0))
            if header:
                headers[r] = header
            rows += rs
        if r in states:
            identities[r] = {"host": states[r]["host"], "node": states[r]["node"]}
        else:   # no state file: the rank's own rows say where it ran
            cfg = next((x.config for x in rows if x.config.get("rank") == r and "node" in x.config), None)
            if cfg:
                identities[r] = {"host": cfg.get("host"), "node": cfg.get("node")}
    missing = {r: why for r in range(n) if (why := _culprit(states.get(r), rc))}
    if not missing and not stopped_here:
        missing = _first_stopped(states)
    if n > 1 and len(missing) == n and len({states.get(r, {}).get("phase") for r in range(n)}) == 1 \
            and all(states.get(r, {}).get("state") == state.RUNNING for r in range(n)):
        phase = states.get(0, {}).get("phase")
        backend = states.get(0, {}).get("backend") or ("gloo" if opts.device == "cpu" else "nccl")
        ender = "NCCL's watchdog ends every rank" if backend == "nccl" else "torchrun ends every rank"
        missing = {r: f"ended during '{phase}' with every other rank: a collective failed or timed out and {ender}, "
                      f"so no single rank can be named; see torchrun's report above" for r in range(n)}
    lost = {r: rec["message"] for r, rec in states.items() if rec.get("state") in (state.LOST_PEERS, state.STOPPED)
            and r not in missing}
    if not headers:
        click.echo(f"Error: torchrun exited with {rc} before any rank started measuring"
                   + (": " + "; ".join(f"rank {r} {w}" for r, w in missing.items()) if missing else ""), err=True)
        return 1
    if not missing:
        missing = {r: f"did not finish: torchrun exited with {rc}" for r in range(n)
                   if states.get(r, {}).get("state") != state.DONE}
    progress(f"torchrun exited with {rc}; results of the ranks that reported are shown below")
    from accelkern.fleet.rank_main import emit_fleet
    return max(1, emit_fleet(opts, rows, headers, identities, n, missing, lost))
