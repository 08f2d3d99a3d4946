"""Reproduces the README's bandwidth-vs-size plot: read and copy from 1 MiB to 4 GiB per buffer, one buffer
set reused (so the L2 plateau shows), written to DIR/hbm_sweep.png with the L2 size and the spec marked.
Then one verdict line per kernel: is the cache -> memory transition (settled points only) within a factor
2 of the cache size? A verdict is reported, never a failure: the exit code is the sweep's own.

    python3 bench/hbm_sweep.py --out results/hbm_sweep
    python3 bench/hbm_sweep.py --dry-run                    # check the options only, measure nothing
"""
import os
import sys

import click

from accelkern.cli import cli

TRANSITION_FACTOR = 2.0     # the transition must lie within [cache / 2, 2 x cache] of working set


def run_cli(args: list[str], dry_run: bool) -> int:
    """Runs `accelkern ARGS` as the console script would (one-line errors, exit codes); returns the code."""
    before = os.environ.get("ACCELKERN_DRY_RUN")
    if dry_run:
        os.environ["ACCELKERN_DRY_RUN"] = "1"
    try:
        cli.main(args=args, prog_name="accelkern")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        if before is None:
            os.environ.pop("ACCELKERN_DRY_RUN", None)
        else:
            os.environ["ACCELKERN_DRY_RUN"] = before
    return 0


def verdicts(jsonl: str, cache_bytes, cache_name: str) -> list[str]:
    """'verdict hbm_sweep <kernel>: ...' per kernel in the results: PASS / FAIL / NONE (no transition)."""
    from accelkern import memory as mem
    from accelkern.results import read_jsonl
    from accelkern.units import format_bytes
    _header, rows = read_jsonl(jsonl)
    series = {}
    for r in rows:
        if r.status == "ok" and r.value:
            label = r.name if r.config.get("vec", 16) == 16 else f"{r.name} v{r.config['vec']}"
            series.setdefault(label, []).append(
                mem.SweepPoint(r.config["bytes_per_buffer"], r.config["working_set_bytes"], r.value, mem.settled(r)))
    out = []
    for label, pts in series.items():
        tr = mem.cache_transition(pts)
        if tr is None or not cache_bytes:
            why = "no transition derived" if tr is None else f"{cache_name} size unknown"
            out.append(f"verdict hbm_sweep {label}: NONE ({why}; {sum(p.settled for p in pts)} of {len(pts)} "
                       "sizes settled)")
            continue
        lo, hi = cache_bytes / TRANSITION_FACTOR, cache_bytes * TRANSITION_FACTOR
        ok = lo <= tr <= hi
        out.append(f"verdict hbm_sweep {label}: {'PASS' if ok else 'FAIL'} (transition at {format_bytes(tr)} working "
                   f"set, {cache_name} {format_bytes(cache_bytes)}, allowed {format_bytes(lo)} .. {format_bytes(hi)})")
    return out


@click.command()
@click.option("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available).")
@click.option("--kernel", default="read,copy", show_default=True, help="Kernels to sweep (copy, read, write, triad).")
@click.option("--steps", default=2, show_default=True, help="Sizes per doubling.")
@click.option("--sweep-min", default=None, help="Smallest size per buffer (hbm --sweep-min; default 1MiB).")
@click.option("--sweep-max", default=None, help="Largest size per buffer (hbm --sweep-max; default 4GiB on a GPU).")
@click.option("--time", "time_s", type=float, default=None, help="hbm --time (a size gets a quarter of it).")
@click.option("--out", default="results/hbm_sweep", show_default=True, help="Directory for the results and plot.")
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN", help="(also ACCELKERN_DRY_RUN=1) Only check that the hbm command line parses (nothing is measured).")
def main(device, kernel, steps, sweep_min, sweep_max, time_s, out, dry_run):
    args = ["hbm", "--sweep", "--kernel", kernel, "--steps", str(steps), "--out", out] + \
        (["--device", device] if device else []) + (["--sweep-min", sweep_min] if sweep_min else []) + \
        (["--sweep-max", sweep_max] if sweep_max else []) + (["--time", str(time_s)] if time_s else [])
    code = run_cli(args, dry_run)
    if dry_run or code not in (0, 1):
        sys.exit(code)
    from accelkern import memory as mem
    from accelkern.device import get_device_info
    info = get_device_info(device)
    for line in verdicts(os.path.join(out, "hbm_sweep.jsonl"), mem.cache_bytes(info),
                         "L2" if info.kind == "cuda" else "CPU caches"):
        click.echo(line)
    sys.exit(code)


if __name__ == "__main__":
    main()
