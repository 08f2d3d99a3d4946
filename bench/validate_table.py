"""Reproduces the README's example `validate` table: runs validate and prints its markdown report.

    python3 bench/validate_table.py --budget 20 --out results/validate
    python3 bench/validate_table.py --dry-run            # check the options only, measure nothing
"""
import os
import sys

import click

from accelkern.cli import cli

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hbm_table import run_cli  # noqa: E402  (the one way bench scripts run a command line)


@click.command()
@click.option("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available).")
@click.option("--budget", default=60.0, show_default=True, help="Seconds of measuring.")
@click.option("--out", default="results/validate", show_default=True, help="Directory for the results.")
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN",
              help="(also ACCELKERN_DRY_RUN=1) Only check that the validate command line parses (nothing is measured).")
def main(device, budget, out, dry_run):
    args = ["validate", "--budget", str(budget), "--out", out] + (["--device", device] if device else [])
    if dry_run:
        sys.exit(run_cli(args, dry_run=True))
    cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    with open(os.path.join(out, "validate.md")) as f:
        click.echo(f.read())


if __name__ == "__main__":
    main()
