"""Reproduces the README's example `validate` table: runs validate and prints its markdown report.

    python3 bench/validate_table.py --budget 20 --out results/validate
"""
import os

import click

from accelkern.cli import cli


@click.command()
@click.option("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available).")
@click.option("--budget", default=60.0, show_default=True, help="Seconds of measuring.")
@click.option("--out", default="results/validate", show_default=True, help="Directory for the results.")
def main(device, budget, out):
    args = ["validate", "--budget", str(budget), "--out", out] + (["--device", device] if device else [])
    cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    with open(os.path.join(out, "validate.md")) as f:
        click.echo(f.read())


if __name__ == "__main__":
    main()
