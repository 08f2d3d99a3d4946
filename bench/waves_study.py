"""Reproduces the README's wave-quantization figures: the staircase (1, 2 and 4 CTAs per SM), the
fixed-algorithm and the default-algorithm cuBLASLt bf16 N-sweeps at M=K=8192, and one `explain`.

    python3 bench/waves_study.py --out results/waves            # about 3 minutes on an H100/H200
    python3 bench/waves_study.py --out results/waves --quick    # N step 256, fewer staircase points
    python3 bench/waves_study.py --dry-run                      # every command line parses; no device touched

Writes OUT/<study>/ (JSONL, CSV, markdown, PNG, waves_sweep_summary.json) and prints each study's footer.
"""
import json
import os
import sys

import click

from accelkern.cli import cli


def run_accelkern(args: list[str], dry_run: bool = False) -> int:
    """Runs one accelkern command line in this process; its exit code (a dry run only validates it)."""
    if dry_run:
        os.environ["ACCELKERN_DRY_RUN"] = "1"
    click.echo(f"\n$ accelkern {' '.join(args)}", err=True)
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


def sweep_names(backend: str) -> dict:
    """Study name -> extra sweep flags."""
    return {"fixed": ["--fixed-algo"], "default": []} if backend == "cublaslt" else {"torch": ["--tile", "128x256"]}


def command_lines(out: str, quick: bool, backend: str, device: str | None) -> list[list[str]]:
    """The accelkern command lines of the study, in order (N ranges STOP excluded: 8193 ends at 8192)."""
    dev = ["--device", device] if device else []
    step = 256 if quick else 128
    lines = [["waves", "staircase", "--ctas-per-sm", "1,2,4", "--waves", "4", "--per-wave", "4" if quick else "8",
              "--out", os.path.join(out, "staircase")] + dev]
    for name, extra in sweep_names(backend).items():
        lines.append(["waves", "sweep", "--m", "8192", "--k", "8192", "--n", f"{step}:8193:{step}", "--dtype", "bf16",
                      "--backend", backend, "--max-time", "0.3", "--out", os.path.join(out, f"sweep_{name}")]
                     + extra + dev)
    lines.append(["waves", "explain", "--shape", "8192x1408x8192", "--dtype", "bf16"] + dev)
    return lines


def summary_lines(out: str, names) -> list[str]:
    """One line per sweep that wrote its summary: Pearson r of the model, algorithm switches, dips."""
    lines = []
    for name in names:
        path = os.path.join(out, f"sweep_{name}", "waves_sweep_summary.json")
        if not os.path.exists(path):
            lines.append(f"{name:>8}: no summary ({path} missing)")
            continue
        with open(path) as f:
            s = json.load(f)["summary"]
        r = lambda v: "-" if v is None else f"{v:.4f}"
        lines.append(f"{name:>8}: Pearson r time {r(s['pearson_time'])}, TFLOPS {r(s['pearson_tflops'])}, "
                     f"{len(s['algo_switches'])} algorithm switch(es), {len(s['dips'])} dip(s), {s['points']} points")
    return lines


@click.command()
@click.option("--device", default=None, help="cuda or cuda:N (default: cuda).")
@click.option("--out", default="results/waves", show_default=True, help="Directory for the results.")
@click.option("--quick", is_flag=True, help="Coarser sweeps (N step 256) and fewer staircase points.")
@click.option("--backend", default="cublaslt", show_default=True, type=click.Choice(["cublaslt", "torch"]),
              help="GEMM backend of the sweeps (torch: tile assumed 128x256, no --fixed-algo study).")
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN", help="(also ACCELKERN_DRY_RUN=1) Only check that every accelkern command line parses (no device).")
def main(device, out, quick, backend, dry_run):
    worst = 0
    for args in command_lines(out, quick, backend, device):
        rc = run_accelkern(args, dry_run)
        if rc not in (0, 1):        # a usage error, no device or an interrupt stops the study
            sys.exit(rc)
        worst = max(worst, rc)
    if dry_run:
        click.echo(f"dry run: {len(command_lines(out, quick, backend, device))} command lines ok")
        return
    for line in summary_lines(out, sweep_names(backend)):
        click.echo(line)
    sys.exit(worst)


if __name__ == "__main__":
    main()
