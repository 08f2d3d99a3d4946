"""Runs `accelkern fleet --local G` on this node and sets its bandwidths beside what the anchor tools publish
for an 8 x H100/H200 NVLink node (their figures, not ours): nccl-tests all_reduce bus bandwidth ~480 GB/s
with NVLS, nvbandwidth device-to-device copy ~396 GB/s per direction. The fleet's own verdict and tables
are in OUT/fleet.md.

    python3 bench/fleet_anchors.py --ranks 8 --out results/fleet
    python3 bench/fleet_anchors.py --ranks 3 --device cpu --budget 10 --out /tmp/fleet   # no GPU: gloo ranks
    python3 bench/fleet_anchors.py --ranks 8 --dry-run                                   # options only
"""
import os
import statistics
import subprocess
import sys

import click

from accelkern.results import read_jsonl
from accelkern.units import format_bytes, format_value

# published by the anchor tools for an 8 x H100/H200 NVLink node, GB/s (not measured by accelkern)
ANCHORS = {"all_reduce busbw (nccl-tests, NVLS)": 480.0, "p2p intra-node, one direction (nvbandwidth D2D)": 396.0}


@click.command()
@click.option("--ranks", type=click.IntRange(min=2), default=8, show_default=True, help="Ranks (GPUs) on this node.")
@click.option("--device", type=click.Choice(["cuda", "cpu"]), default=None, help="Default: cuda when available.")
@click.option("--budget", type=float, default=60.0, show_default=True, help="Seconds of measuring (fleet --budget).")
@click.option("--out", default="results/fleet", show_default=True, help="Directory for the fleet's results.")
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN", help="(also ACCELKERN_DRY_RUN=1) Only check that the fleet command line parses (nothing runs).")
def main(ranks, device, budget, out, dry_run):
    args = [sys.executable, "-m", "accelkern", "fleet", "--local", str(ranks), "--suite", "collectives,p2p",
            "--budget", str(budget), "--out", out] + (["--device", device] if device else [])
    env = dict(os.environ, **({"ACCELKERN_DRY_RUN": "1"} if dry_run else {}))
    code = subprocess.call(args, env=env)
    if dry_run or not os.path.exists(os.path.join(out, "fleet.jsonl")):
        sys.exit(code)
    _, rows = read_jsonl(os.path.join(out, "fleet.jsonl"))
    best: dict = {}
    for r in rows:
        if r.suite == "fleet-collectives" and r.status == "ok" and r.value:
            key = (r.config["collective"], r.config["bytes"])
            best.setdefault(key, []).append(r.value)
    click.echo(f"\nmeasured here ({ranks} ranks) beside the anchors' published 8-GPU figures (not ours):")
    for coll in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast"):
        pts = [(size, statistics.median(v)) for (c, size), v in best.items() if c == coll]
        if pts:
            size, bw = max(pts, key=lambda p: p[1])
            anchor = ANCHORS.get("all_reduce busbw (nccl-tests, NVLS)") if coll == "all_reduce" else None
            click.echo(f"  {coll:15s} best busbw {format_value(bw, 'GB/s'):>12s} at {format_bytes(size):>8s}"
                       + (f"   anchor ~{anchor:g} GB/s" if anchor else ""))
    for link in ("intra-node", "inter-node"):
        v = [r.value for r in rows if r.suite == "fleet-p2p" and r.config.get("link") == link and r.value]
        if v:
            anchor = ANCHORS["p2p intra-node, one direction (nvbandwidth D2D)"] if link == "intra-node" else None
            click.echo(f"  p2p {link:11s} median {format_value(statistics.median(v), 'GB/s'):>12s} over {len(v)} "
                       f"directed pairs" + (f"   anchor ~{anchor:g} GB/s" if anchor else ""))
    sys.exit(code)


if __name__ == "__main__":
    main()
