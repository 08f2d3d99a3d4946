"""Guided MAMF search against the brute-force grid, in one run on one device:

    python3 bench/mamf_guided_vs_grid.py --dtype bf16 --out results/mamf
    python3 bench/mamf_guided_vs_grid.py --dry-run        # check both command lines only, measure nothing

The grid is m, n = 2048..16384 step 2048 and k in {4096, 8192, 16384} (192 shapes). Prints each search's
MAMF, winning shape, shapes tried and measuring time, and the ratios guided/grid.
"""
import json
import os
import sys

import click

from accelkern.cli import cli
from accelkern.results import read_jsonl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hbm_table import run_cli  # noqa: E402  (the one way bench scripts run a command line)


def _run(args):
    try:
        cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise


def _winner(path):
    _, rows = read_jsonl(path)
    wins = [r for r in rows if r.name == "MAMF"]
    return wins[-1] if wins else None


@click.command()
@click.option("--dtype", default="bf16", show_default=True)
@click.option("--device", default=None, help="cuda, cuda:N or cpu.")
@click.option("--guided-budget", default=20.0, show_default=True, help="Seconds of wall time for the guided run (its --budget).")
@click.option("--m", "m_range", default="2048:18432:2048", show_default=True, help="Grid M (stop excluded).")
@click.option("--n", "n_range", default="2048:18432:2048", show_default=True, help="Grid N (stop excluded).")
@click.option("--k", "k_range", default="4096,8192,16384", show_default=True, help="Grid K.")
@click.option("--warmup", default=5.0, show_default=True, help="Warm-up seconds before each search.")
@click.option("--out", default="results/mamf", show_default=True)
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN",
              help="(also ACCELKERN_DRY_RUN=1) Only check that both mamf command lines parse (nothing is measured).")
def main(dtype, device, guided_budget, m_range, n_range, k_range, warmup, out, dry_run):
    dev = ["--device", device] if device else []
    common = ["mamf", "--dtype", dtype, "--warmup", str(warmup)] + dev
    guided = common + ["--search", "guided", "--budget", str(guided_budget), "--out", os.path.join(out, "guided")]
    grid = common + ["--search", "grid", "--budget", "100000", "--m", m_range, "--n", n_range, "--k", k_range,
                     "--out", os.path.join(out, "grid")]
    if dry_run:
        sys.exit(run_cli(guided, dry_run=True) or run_cli(grid, dry_run=True))
    _run(guided)
    _run(grid)
    g = _winner(os.path.join(out, "guided", "mamf.jsonl"))
    b = _winner(os.path.join(out, "grid", "mamf.jsonl"))
    if not g or not b:
        raise click.ClickException("a search produced no winner; see the logs above")
    summary = {}
    click.echo(f"\n{'search':<8}{'MAMF':>10}  {'shape':<18}{'shapes':>7}{'measuring s':>13}{'SM MHz':>8}{'W':>6}")
    for name, r in (("guided", g), ("grid", b)):
        c = r.config
        click.echo(f"{name:<8}{r.value:>10.1f}  {r.shape:<18}{c['shapes_tried']:>7}{c['measuring_s']:>13.1f}"
                   f"{(r.sm_clock_mean_mhz or 0):>8.0f}{(r.power_mean_w or 0):>6.0f}")
        summary[name] = {"tflops": r.value, "shape": r.shape, "shapes": c["shapes_tried"],
                         "measuring_s": c["measuring_s"], "note": r.note}
    summary["guided_over_grid_tflops"] = g.value / b.value
    summary["guided_over_grid_time"] = g.config["measuring_s"] / b.config["measuring_s"]
    click.echo(f"guided/grid: {summary['guided_over_grid_tflops']:.3f} of the TFLOPS in "
               f"{summary['guided_over_grid_time']:.2f} of the measuring time")
    with open(os.path.join(out, "guided_vs_grid.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
