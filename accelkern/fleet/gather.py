"""Rank 0's (or, after a rank died, the launcher's) view of the whole fleet: rows of every rank, the fleet
header, the flags and the verdict, and the merged files (DIR/fleet.jsonl, .csv, .md)."""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field

from accelkern import safe_io
from accelkern.fleet import outliers
from accelkern.results import ROW_FIELDS, ResultWriter, Row, RunHeader

IDENTITY_KEYS = ("rank", "local_rank", "world_size", "host", "node", "device_id")


def row_payload(row: Row) -> dict:
    return row.to_dict()


def row_from_payload(d: dict) -> Row:
    return Row(**{k: v for k, v in d.items() if k in ROW_FIELDS})


@dataclass
class Verdict:
    world_size: int
    nodes: dict                          # node -> {"host": ..., "ranks": [...]}
    tolerance_pct: float
    missing_ranks: list = field(default_factory=list)
    missing_why: dict = field(default_factory=dict)     # rank -> what is known (phase, pid, state)
    lost: dict = field(default_factory=dict)            # rank -> why its fleet suites stopped early
    flagged_ranks: list = field(default_factory=list)
    flagged_pairs: list = field(default_factory=list)
    failed_rows: int = 0
    self_test: dict | None = None       # {"factor", "rank", "flagged", "passed"}
    exit_code: int = 0
    passed: bool = True                 # the fleet's own verdict (the exit code is 1 too when files were not written)
    unwritten: bool = False             # a results file could not be written (exit code 1)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nodes"] = {str(k): v for k, v in self.nodes.items()}
        d["flagged_pairs"] = [list(p) for p in self.flagged_pairs]
        return d


def nodes_of(identities: dict) -> dict:
    out: dict = {}
    for r in sorted(identities):
        ident = identities[r]
        entry = out.setdefault(ident["node"], {"host": ident["host"], "ranks": []})
        entry["ranks"].append(r)
    return dict(sorted(out.items()))


def fleet_header(headers: dict, identities: dict, world_size: int) -> RunHeader:
    """A header for the whole fleet: the device line counts each device kind; fields that differ between
    ranks are left empty (every row keeps its own rank's device, host and driver in its config)."""
    hs = [headers[r] for r in sorted(headers)]
    first = hs[0]
    names = Counter(h["device"] for h in hs)
    n_nodes = len(nodes_of(identities)) if identities else 1
    device = ", ".join(f"{c} x {n}" for n, c in names.items())
    device += f" ({len(hs)} of {world_size} ranks reporting, {n_nodes} node{'s' if n_nodes != 1 else ''})"

    def same(key):
        vals = {h.get(key) for h in hs}
        return vals.pop() if len(vals) == 1 else None
    kw = {k: same(k) for k in ("device_kind", "sms", "compute_capability", "driver", "cuda", "torch", "cublaslt",
                                "accelkern", "extension", "spec", "spec_source", "nvml", "python")}
    kw["device_kind"] = kw["device_kind"] or first["device_kind"]
    return RunHeader(command="fleet", device=device, host=first["host"], **kw)


def judge(rows: list[Row], identities: dict, world_size: int, tolerance_pct: float, missing: dict | None = None,
          lost: dict | None = None, self_test: tuple | None = None) -> Verdict:
    """Flags the rows (in place) and decides the exit code: 1 when a rank or pair is flagged, a row failed or
    a rank is missing; with the self-test, 0 exactly when the slowed rank alone is flagged."""
    outliers.flag_rows(rows, tolerance_pct)
    missing = missing or {}
    v = Verdict(world_size=world_size, nodes=nodes_of(identities), tolerance_pct=tolerance_pct,
                missing_ranks=sorted(missing), missing_why={str(k): w for k, w in missing.items()},
                lost={str(k): w for k, w in (lost or {}).items()}, flagged_ranks=outliers.flagged_ranks(rows),
                flagged_pairs=outliers.flagged_pairs(rows),
                failed_rows=sum(1 for r in rows if r.status == "failed" or r.correct is False))
    bad = bool(v.flagged_ranks or v.flagged_pairs or v.missing_ranks or v.failed_rows)
    if self_test is not None:
        factor, rank = self_test
        slowed = sorted({r.config["rank"] for r in rows if r.suite in outliers.RANK_SUITES and r.config.get("flagged")})
        passed = slowed == [rank] and not v.missing_ranks
        v.self_test = {"factor": factor, "rank": rank, "flagged": slowed, "passed": passed}
        v.exit_code = 0 if passed else 1
    else:
        v.exit_code = 1 if bad else 0
    v.passed = v.exit_code == 0
    return v


VERDICT_FILE = "fleet.verdict.json"


def write_merged(out_dir: str, header: RunHeader, rows: list[Row], markdown: str) -> str | None:
    """Appends this fleet run to DIR/fleet.jsonl (the header, then every rank's rows with their flags),
    fleet.csv and fleet.md; returns None, or the one line saying what could not be written and what was kept."""
    w = ResultWriter(out_dir, header, stem="fleet")
    for r in rows:
        w.write(r)
    w.close(markdown)
    return w.account()


def write_verdict(directory: str, verdict: Verdict) -> None:
    """DIR/fleet.verdict.json: the exit code and why (what a launcher relays); a launcher that finds none
    names what it knows from the state files instead."""
    try:
        safe_io.atomic_write(os.path.join(directory, VERDICT_FILE), json.dumps(verdict.to_dict()))
    except OSError:
        pass
