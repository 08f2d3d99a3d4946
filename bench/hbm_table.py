"""Reproduces the README's memory-bandwidth table: every kernel at 2 GiB per buffer (both cache hints), the
copy engine, Tensor.copy_ and the host links, then the markdown report.

    python3 bench/hbm_table.py --out results/hbm            # add --tune to search launch shapes first
"""
import os

import click

from accelkern.cli import cli


@click.command()
@click.option("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available).")
@click.option("--size", default=None, help="Bytes per buffer (default 2GiB on a GPU).")
@click.option("--tune", is_flag=True, help="Auto-tune the launch shape of the own kernels first.")
@click.option("--out", default="results/hbm", show_default=True, help="Directory for the results.")
def main(device, size, tune, out):
    args = ["hbm", "--out", out] + (["--device", device] if device else []) + (["--size", size] if size else []) \
        + (["--tune"] if tune else [])
    cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    with open(os.path.join(out, "hbm.md")) as f:
        click.echo(f.read())


if __name__ == "__main__":
    main()
