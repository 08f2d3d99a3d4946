"""Compute ceiling per dtype and instruction path: runs `accelkern peak --verbose`, then prints the best
rows as markdown and draws FLOP/clk/SM (at the in-kernel SM clock) against the architecture's per-clock
peak, one bar per kernel (PNG, when matplotlib is installed).

    python3 bench/peak_ceiling.py --budget 120 --out results/peak
    python3 bench/peak_ceiling.py --from results/peak        # table and plot of an earlier run, no GPU
    python3 bench/peak_ceiling.py --dry-run                  # the command line parses; no device touched
"""
import os
import sys

import click

from accelkern.cli import cli
from accelkern.results import read_jsonl
from accelkern.units import format_value


def run_accelkern(args: list[str], dry_run: bool = False) -> int:
    """Runs one accelkern command line in this process; its exit code (a dry run only validates it)."""
    if dry_run:
        os.environ["ACCELKERN_DRY_RUN"] = "1"
    click.echo(f"$ accelkern {' '.join(args)}", err=True)
    try:
        cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    except SystemExit as exc:   # finish() exits 1 (a row failed) or 130 (interrupted); the dry run exits 0
        return int(exc.code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    finally:
        if dry_run:
            os.environ.pop("ACCELKERN_DRY_RUN", None)
    return 0


def peak_args(device, budget, dtypes, paths, out) -> list[str]:
    args = ["peak", "--verbose", "--budget", str(budget), "--out", out]
    for flag, v in (("--device", device), ("--dtype", dtypes), ("--path", paths)):
        if v:
            args += [flag, v]
    return args


def markdown(best) -> list[str]:
    """The README table of the best row per kernel."""
    f = lambda v, fmt: "-" if v is None else fmt.format(v)
    lines = ["| path | dtype | instruction | launch shape | measured | % spec | FLOP/clk/SM (kernel clock) | "
             "arch FLOP/clk/SM | % arch | SM MHz (kernel / NVML) | power W | throttle | ok |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in best:
        c = r.config or {}
        if r.status != "ok":
            lines.append(f"| {r.backend} | {r.dtype} | {r.name} | - | {r.status}: {r.note} | | | | | | | | |")
            continue
        shape = r.kernel.split("[", 1)[-1].rstrip("]") if r.kernel else "-"
        lines.append(
            f"| {r.backend} | {r.dtype} | {r.name} | {shape} | {format_value(r.value, r.metric)} | "
            f"{f(r.pct_of_spec, '{:.1f}')} | {f(c.get('flop_per_clk_per_sm_kernel_clock'), '{:.0f}')} | "
            f"{f(c.get('arch_flop_per_clk_per_sm'), '{:.0f}')} | {f(c.get('pct_of_arch_at_kernel_clock'), '{:.1f}')} | "
            f"{f(c.get('kernel_clock_mhz'), '{:.0f}')} / {f(r.sm_clock_mean_mhz, '{:.0f}')} | "
            f"{f(r.power_mean_w, '{:.0f}')} | {r.throttle or '-'} | {'yes' if r.correct else r.correct} |")
    return lines


def plot(rows, path) -> str | None:
    """Bars of measured vs architectural FLOP/clk/SM; the PNG path, or None (no matplotlib or no such rows)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        click.echo("matplotlib not installed: no plot", err=True)
        return None
    rows = [r for r in rows if r.status == "ok" and (r.config or {}).get("arch_flop_per_clk_per_sm")]
    if not rows:
        return None
    labels = [f"{r.backend} {r.name.split(' ', 1)[-1]}" for r in rows]
    got = [r.config.get("flop_per_clk_per_sm_kernel_clock") or r.flop_per_clk_per_sm or 0 for r in rows]
    arch = [r.config["arch_flop_per_clk_per_sm"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(8, 0.55 * len(rows)), 5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], arch, width=0.4, label="architecture FLOP/clk/SM", color="#bbbbbb")
    ax.bar([x + 0.2 for x in xs], got, width=0.4, label="measured (in-kernel clock)", color="#3070b0")
    ax.set_xticks(list(xs))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=8)
    ax.set_yscale("log", base=2)
    ax.set_ylabel("FLOP (int ops) per clock per SM")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    click.echo(f"plot written to {path}", err=True)
    return path


@click.command()
@click.option("--device", default=None, help="cuda or cuda:N (default: cuda).")
@click.option("--budget", default=120.0, show_default=True, help="Seconds of measuring for the whole sweep.")
@click.option("--dtype", "dtypes", default=None, help="Comma-separated dtypes (default: all).")
@click.option("--path", "paths", default=None, help="Comma-separated paths: simt, mma, wgmma (default: all).")
@click.option("--out", default="results/peak", show_default=True, help="Directory for the results and the plot.")
@click.option("--from", "from_dir", default=None, metavar="DIR",
              help="Do not measure: the table and plot from DIR/peak.jsonl of an earlier run (no GPU needed).")
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN", help="(also ACCELKERN_DRY_RUN=1) Only check that the accelkern command line parses (no device).")
def main(device, budget, dtypes, paths, out, from_dir, dry_run):
    rc = 0
    if from_dir is None:
        rc = run_accelkern(peak_args(device, budget, dtypes, paths, out), dry_run)
        if dry_run or rc not in (0, 1, 130):   # 1: some row failed, 130: interrupted; both keep their rows
            sys.exit(rc)
    src = from_dir or out
    jsonl = os.path.join(src, "peak.jsonl") if os.path.isdir(src) else src
    _, rows = read_jsonl(jsonl)
    best = [r for r in rows if r.suite == "peak"]
    for line in markdown(best):
        click.echo(line)
    plot(best, os.path.join(os.path.dirname(os.path.abspath(jsonl)), "peak_ceiling.png"))
    sys.exit(rc)


if __name__ == "__main__":
    main()
