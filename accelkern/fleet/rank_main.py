"""One rank from start to exit: device, header, the per-device suites at the same time as every other
rank, then collectives and p2p, then the rows gathered on rank 0 over the store, flagged, printed and
written. A rank that dies or hangs costs at most the timeout: the others' rows are kept and it is named.
"""
from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from dataclasses import asdict

import click

from accelkern.errors import AccelkernError, NoDevice
from accelkern.fleet import collectives, gather, p2p, render, state, suites
from accelkern.fleet.options import DEVICE_SUITES, FleetOptions
from accelkern.fleet.ranks import MissingRanks, RankEnv, connect, cpu_share
from accelkern.results import ResultWriter, progress, to_json
from accelkern.tables import header_line

LOST_GRACE_S = 30.0


class FleetError(AccelkernError):
    """This rank could not take part in the fleet (store or process group unreachable): exit code 1."""
    exit_code = 1


def _device(env: RankEnv, kind: str | None):
    import torch
    if kind in (None, "cuda") and torch.cuda.is_available():
        n = torch.cuda.device_count()
        if env.local_rank >= n:
            raise NoDevice(f"rank {env.rank}: LOCAL_RANK {env.local_rank} but {n} GPU(s) visible on {env.host}; "
                           f"start at most {n} ranks per node")
        torch.cuda.set_device(env.local_rank)
        return torch.device("cuda", env.local_rank)
    if kind == "cuda":
        raise NoDevice("--device cuda: no usable CUDA device (torch.cuda.is_available() is False); use --device cpu")
    if env.local_world_size > 1:   # CPU ranks of one node: each on cores of its own, or said that they share
        share = cpu_share(env.local_rank, env.local_world_size)
        if share is None:
            if env.rank == 0:
                progress(f"fleet: {env.local_world_size} CPU ranks on {len(os.sched_getaffinity(0))} CPU(s): fewer "
                         "cores than ranks, so ranks share cores and measure each other")
        else:
            os.sched_setaffinity(0, [c for core in share for c in core])
            torch.set_num_threads(len(share))      # one thread per core of its own
    return torch.device("cpu")


def _cpu_list(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    spans: list[list[int]] = []
    for c in cpus:
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return ",".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)


def _device_id(info) -> str:
    if info.kind != "cuda":
        return info.name
    import torch
    uuid = str(torch.cuda.get_device_properties(info.index).uuid)
    return uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"


class Rank:
    def __init__(self, opts: FleetOptions, env: RankEnv, session):
        self.opts, self.env = opts, env
        self.device = _device(env, opts.device)
        self.info, self.spec, self.header = session(str(self.device), opts.spec_name)
        self.ident = {"rank": env.rank, "local_rank": env.local_rank, "world_size": env.world_size, "host": env.host,
                      "node": env.node, "device_id": _device_id(self.info), "device": self.info.name,
                      "driver": self.info.driver, "pid": os.getpid()}
        if self.device.type == "cpu":
            self.ident["cpus"] = _cpu_list(sorted(os.sched_getaffinity(0)))
        self.state = state.RankState(opts.state_dir, env.rank, env.host, env.node, env.local_rank)
        self.state.info["backend"] = "nccl" if self.device.type == "cuda" else "gloo"
        self.writer = ResultWriter(opts.files_dir, self.header, stem=f"fleet.rank{env.rank}")
        self.rows = []
        self.lost: str | None = None
        self.missing: dict = {}
        self.store = None

    # rank 0 alone speaks; the others print only errors
    def progress(self, msg: str):
        if self.env.rank == 0 and not self.opts.as_json:
            progress(msg)

    def emit(self, row, suite: str):
        row.suite = f"fleet-{suite}" if not row.suite.startswith("fleet-") else row.suite
        ident = {k: v for k, v in self.ident.items() if k != "pid"}
        row.config = {**ident, **(row.config or {})}
        self.rows.append(row)
        self.writer.write(row)

    def _on_stop(self, signum, frame):
        name = signal.Signals(signum).name
        self.state.set(state=state.STOPPED, signal=name,
                       message=f"stopped by {name} (torchrun sends it to every rank when one fails; a scheduler "
                               "or a user may too); its finished rows are in its file")
        os._exit(128 + signum)

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_stop)
        env, opts = self.env, self.opts
        identities = {env.rank: self.ident}
        try:
            if env.world_size > 1:
                self.state.set("rendezvous")
                try:
                    self.store = connect(env, "nccl" if self.device.type == "cuda" else "gloo", opts.timeout_s,
                                         self.device)
                except RuntimeError as exc:
                    raise FleetError(f"rank {env.rank}: could not join the fleet at {env.master_addr}:"
                                     f"{env.master_port}: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
                self.store.post_json("id", self.ident)
                identities, missing = self.store.collect_json("id", "start-up")
                if missing:
                    raise MissingRanks(missing, "start-up", opts.timeout_s)
            self.identities = identities
            self._measure()
        except MissingRanks as exc:
            self.lost = str(exc)
            self.missing.update({r: f"did not reach '{exc.what}' within {exc.timeout_s:g} s" for r in exc.missing})
            self.state.set(state=state.LOST_PEERS, message=self.lost)
        except RuntimeError as exc:    # a collective that failed or timed out: a peer is gone
            if self.store is None:
                raise
            self.lost = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            self.state.set(state=state.LOST_PEERS, message=self.lost)
        finally:
            self.writer.close()
        return self._finish()

    def _measure(self):
        env, opts = self.env, self.opts
        self.progress(f"fleet: {env.world_size} rank(s), {self.info.name}; suites {','.join(opts.suites)}, "
                      f"budget {opts.budget_s:g} s")
        share = suites.shares(opts.suites, self.info.kind, opts.budget_s)
        slowed = opts.slowed_rank(env.world_size)
        ctx = suites.FleetContext(env=env, opts=opts, info=self.info, spec=self.spec, device=self.device,
                                  identities=self.identities, progress=self.progress)
        for name in opts.suites:
            if name not in DEVICE_SUITES:
                continue
            self.state.set(name)
            if self.store:
                self.store.barrier(f"suite-{name}")     # every rank starts the suite together
            self.progress(f"[{name}] on every rank at once (budget {share[name]:.1f} s)")
            ctx.budget_s = share[name]
            factor = opts.self_test if slowed == env.rank else None
            for row in suites.run_suite(name, ctx, factor):
                if factor:
                    row.config = {**(row.config or {}), "self_test_factor": factor}
                self.emit(row, name)
        for name, fn in (("collectives", collectives.rows), ("p2p", p2p.rows)):
            if name not in opts.suites:
                continue
            if env.world_size < 2:
                from accelkern.results import Row
                self.emit(Row(suite=f"fleet-{name}", name=name, status="skipped",
                              note="needs two or more ranks (torchrun --nproc-per-node G, or --local G)"), name)
                continue
            self.state.set(name)
            self.store.barrier(f"suite-{name}")
            self.progress(f"[{name}] {env.world_size} ranks (budget {share[name]:.1f} s)")
            ctx.budget_s = share[name]
            fn(ctx, lambda row, n=name: self.emit(row, n))

    def _finish(self) -> int:
        env, opts = self.env, self.opts
        payload = {"header": asdict(self.header), "identity": self.ident, "lost": self.lost,
                   "missing": {str(k): v for k, v in self.missing.items()},
                   "write_failure": self.writer.account("sent to rank 0"),
                   "rows": [gather.row_payload(r) for r in self.rows]}
        if env.rank != 0:
            if 0 in self.missing:   # nobody will print the fleet: say so here
                where = (f"; this rank's rows are in {state.rows_path(opts.files_dir, env.rank)}"
                         if opts.files_dir and self.writer.written else "")
                click.echo(f"Error: rank {env.rank}: rank 0 {self.missing[0]}{where}", err=True)
            try:
                self.store.post_json("rows", payload)
            except Exception as exc:   # rank 0 (or the store) is gone: this rank's rows stay in its file
                click.echo(f"accelkern fleet: rank {env.rank}: could not send results to rank 0: {exc}", err=True)
                self.state.set("gather", state.LOST_PEERS, str(exc))
                return 1
            self.state.set("gather", state.DONE if not self.lost else state.LOST_PEERS, self.lost)
            if not self.lost:
                _close_group()
            return 1 if 0 in self.missing else 0
        return self._rank0(payload)

    def _rank0(self, mine: dict) -> int:
        env, opts = self.env, self.opts
        got, missing = {0: mine}, []
        if env.world_size > 1:
            self.state.set("gather")
            known = tuple(sorted(self.missing))
            # after a lost collective the survivors time out together: they post within seconds, not a timeout
            wait = min(opts.timeout_s, LOST_GRACE_S) if self.lost else opts.timeout_s
            others, missing = self.store.collect_json("rows", "result gathering", wait, skip=known + (0,))
            got.update(others)
            missing = [r for r in missing if r != 0]
        known = {int(r): w for p in got.values() for r, w in p.get("missing", {}).items()}
        known.update(self.missing)
        why = {r: known.get(r, f"sent no results within {opts.timeout_s:g} s (dead or hung)") for r in missing}
        lost = {r: p["lost"] for r, p in got.items() if p.get("lost")}
        identities = {r: p["identity"] for r, p in got.items()}
        rows = [gather.row_from_payload(d) for r in sorted(got) for d in got[r]["rows"]]
        headers = {r: p["header"] for r, p in got.items()}
        unwritten = {r: p["write_failure"] for r, p in got.items() if p.get("write_failure")}
        code = emit_fleet(opts, rows, headers, identities, env.world_size, why, lost, unwritten)
        self.state.set("done", state.DONE)
        if env.world_size > 1 and not self.lost:
            _close_group()
        return 0 if opts.relay else code


def _close_group():
    """A healthy rank leaves the process group (a lost one does not: tearing down a broken NCCL group can hang)."""
    import torch.distributed as dist
    if dist.is_initialized():
        dist.destroy_process_group()


def emit_fleet(opts: FleetOptions, rows, headers: dict, identities: dict, world_size: int, missing: dict,
               lost: dict, unwritten: dict | None = None) -> int:
    """Flags, prints (table or --json) and writes the fleet's results; returns the exit code (1 also when a
    rank's file or the merged files could not be written: `unwritten` maps a rank to what it could not write).
    Used by rank 0 and by the --local launcher when rank 0 itself did not live to do it."""
    slowed = opts.slowed_rank(world_size)
    verdict = gather.judge(rows, identities, world_size, opts.tolerance_pct, missing, lost,
                           (opts.self_test, slowed) if opts.self_test else None)
    header = gather.fleet_header(headers, identities, world_size)
    failures = [f"rank {r}: {w}" for r, w in sorted((unwritten or {}).items())]
    if opts.out:
        text = render.report(rows, verdict, header_line(header))
        merged = gather.write_merged(opts.out, header, rows, f"# accelkern fleet\n\n```\n{text}\n```\n")
        if merged:
            failures.append(merged)
    if failures:
        verdict.unwritten = True
        verdict.exit_code = max(verdict.exit_code, 1)
    if opts.as_json:
        import json
        doc = json.loads(to_json(header, rows))
        doc["fleet"] = verdict.to_dict()
        click.echo(json.dumps(doc, indent=2, default=str))
    else:
        click.echo(render.report(rows, verdict, header_line(header)))
    if opts.out and not failures:
        progress(f"results written to {opts.out}/fleet.{{jsonl,csv,md}} (per rank: fleet.rank<R>.jsonl)")
    if opts.state_dir:
        gather.write_verdict(opts.state_dir, verdict)
    errors = []
    if missing:
        names = ", ".join(str(r) for r in sorted(missing))
        per_rank = Counter(r.config.get("rank") for r in rows)
        kept = ", ".join(f"rank {r}: {per_rank.get(r, 0)}" for r in sorted(headers))
        errors.append(f"rank(s) {names} missing: " + "; ".join(f"rank {r} {w}" for r, w in sorted(missing.items()))
                      + f"; rows kept ({kept})" + (f" in {opts.out}/fleet.jsonl" if opts.out and not failures else ""))
    if errors or failures:
        click.echo("Error: " + "; ".join(errors + failures), err=True)
    return verdict.exit_code


def main(opts: FleetOptions, session) -> int:
    """The rank entry (torchrun's `-m accelkern fleet`, or a 1-rank fleet without torchrun). `session(device,
    spec_name) -> (DeviceInfo, Spec | None, RunHeader)` is the command layer's (so this one stays below it)."""
    env = RankEnv.from_env()
    try:
        opts.check_world(env.world_size)
        rank = Rank(opts, env, session)
    except AccelkernError as exc:
        if env.rank != 0 and exc.exit_code == 2:   # the same usage error on every rank: rank 0 says it
            sys.exit(exc.exit_code)
        raise
    try:
        return rank.run()
    except KeyboardInterrupt:
        rank.state.set(state=state.STOPPED, message="interrupted (Ctrl-C)")
        raise
    except BaseException as exc:
        if not isinstance(exc, SystemExit):
            rank.state.set(state=state.FAILED, message=f"{type(exc).__name__}: {exc}")
        raise
