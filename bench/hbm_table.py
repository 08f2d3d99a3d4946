"""Reproduces the README's memory-bandwidth table: every kernel at 2 GiB per buffer (both cache hints), the
copy engine, Tensor.copy_ and the host links, then the markdown report.

    python3 bench/hbm_table.py --out results/hbm            # add --tune to search launch shapes first
    python3 bench/hbm_table.py --dry-run                    # check the options only, measure nothing
"""
import os
import sys

import click

from accelkern.cli import cli


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


@click.command()
@click.option("--device", default=None, help="cuda, cuda:N or cpu (default: cuda when available).")
@click.option("--size", default=None, help="Bytes per buffer (default 2GiB on a GPU).")
@click.option("--time", "time_s", type=float, default=None, help="Most seconds of timing per row (hbm --time).")
@click.option("--tune", is_flag=True, help="Auto-tune the launch shape of the own kernels first.")
@click.option("--out", default="results/hbm", show_default=True, help="Directory for the results.")
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN", help="(also ACCELKERN_DRY_RUN=1) Only check that the hbm command line parses (nothing is measured).")
def main(device, size, time_s, tune, out, dry_run):
    args = ["hbm", "--out", out] + (["--device", device] if device else []) + (["--size", size] if size else []) \
        + (["--time", str(time_s)] if time_s else []) + (["--tune"] if tune else [])
    code = run_cli(args, dry_run)
    if code or dry_run:
        sys.exit(code)
    with open(os.path.join(out, "hbm.md")) as f:
        click.echo(f.read())


if __name__ == "__main__":
    main()
