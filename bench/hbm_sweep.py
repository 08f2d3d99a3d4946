"""Reproduces the README's bandwidth-vs-size plot: read and copy from 1 MiB to 4 GiB per buffer, one buffer
set reused (so the L2 plateau shows), written to DIR/hbm_sweep.png with the L2 size and the spec marked.

    python3 bench/hbm_sweep.py --out results/hbm_sweep
"""
import click

from accelkern.cli import cli


@click.command()
@click.option("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available).")
@click.option("--kernel", default="read,copy", show_default=True, help="Kernels to sweep (copy, read, write, triad).")
@click.option("--steps", default=2, show_default=True, help="Sizes per doubling.")
@click.option("--out", default="results/hbm_sweep", show_default=True, help="Directory for the results and plot.")
def main(device, kernel, steps, out):
    args = ["hbm", "--sweep", "--kernel", kernel, "--steps", str(steps), "--out", out] + \
        (["--device", device] if device else [])
    cli.main(args=args, prog_name="accelkern", standalone_mode=False)


if __name__ == "__main__":
    main()
