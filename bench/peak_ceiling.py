"""Compute ceiling per dtype and instruction path: runs `accelkern peak --verbose`, then prints the best
rows as markdown and draws FLOP/clk/SM (at the in-kernel SM clock) against the architecture's per-clock
peak, one bar per kernel (PNG, when matplotlib is installed).

    python3 bench/peak_ceiling.py --budget 120 --out results/peak
"""
import os

import click

from accelkern.cli import cli
from accelkern.results import read_jsonl


def _plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        click.echo("matplotlib not installed: no plot", err=True)
        return
    rows = [r for r in rows if r.status == "ok" and (r.config or {}).get("arch_flop_per_clk_per_sm")]
    if not rows:
        return
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
    click.echo(f"plot written to {path}", err=True)


@click.command()
@click.option("--device", default=None, help="cuda or cuda:N (default: cuda).")
@click.option("--budget", default=120.0, show_default=True, help="Seconds of measuring for the whole sweep.")
@click.option("--dtype", "dtypes", default=None, help="Comma-separated dtypes (default: all).")
@click.option("--path", "paths", default=None, help="Comma-separated paths: simt, mma, wgmma (default: all).")
@click.option("--out", default="results/peak", show_default=True, help="Directory for the results and the plot.")
def main(device, budget, dtypes, paths, out):
    args = ["peak", "--verbose", "--budget", str(budget), "--out", out]
    for flag, v in (("--device", device), ("--dtype", dtypes), ("--path", paths)):
        if v:
            args += [flag, v]
    cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    _, rows = read_jsonl(os.path.join(out, "peak.jsonl"))
    best = [r for r in rows if r.suite == "peak"]
    click.echo("| path | dtype | instruction | launch shape | measured | % spec | FLOP/clk/SM (kernel clock) | "
               "arch FLOP/clk/SM | % arch | SM MHz (kernel / NVML) | power W | throttle | ok |")
    click.echo("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in best:
        c = r.config or {}
        if r.status != "ok":
            click.echo(f"| {r.backend} | {r.dtype} | {r.name} | - | {r.status}: {r.note} | | | | | | | | |")
            continue
        f = lambda v, fmt: "-" if v is None else fmt.format(v)
        shape = r.kernel.split("[", 1)[-1].rstrip("]") if r.kernel else "-"
        click.echo(f"| {r.backend} | {r.dtype} | {r.name} | {shape} | {r.value:.4g} {r.metric} | "
                   f"{f(r.pct_of_spec, '{:.1f}')} | {f(c.get('flop_per_clk_per_sm_kernel_clock'), '{:.0f}')} | "
                   f"{f(c.get('arch_flop_per_clk_per_sm'), '{:.0f}')} | {f(c.get('pct_of_arch_at_kernel_clock'), '{:.1f}')} | "
                   f"{f(c.get('kernel_clock_mhz'), '{:.0f}')} / {f(r.sm_clock_mean_mhz, '{:.0f}')} | "
                   f"{f(r.power_mean_w, '{:.0f}')} | {r.throttle or '-'} | {'yes' if r.correct else r.correct} |")
    _plot(best, os.path.join(out, "peak_ceiling.png"))


if __name__ == "__main__":
    main()
