"""Reproduces the README's wave-quantization figures: the staircase (1, 2 and 4 CTAs per SM), the
fixed-algorithm and the default-algorithm cuBLASLt bf16 N-sweeps at M=K=8192, and one `explain`.

    python3 bench/waves_study.py --out results/waves            # about 3 minutes on an H100/H200
    python3 bench/waves_study.py --out results/waves --quick    # N step 256, fewer staircase points

Writes OUT/<study>/ (JSONL, CSV, markdown, PNG, waves_sweep_summary.json) and prints each study's footer.
"""
import json
import os

import click

from accelkern.cli import cli


def _run(args):
    click.echo(f"\n$ accelkern {' '.join(args)}", err=True)
    try:
        cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    except SystemExit as exc:  # finish(interrupted=True) exits 130
        if exc.code not in (0, None):
            raise


@click.command()
@click.option("--device", default=None, help="cuda or cuda:N (default: cuda).")
@click.option("--out", default="results/waves", show_default=True, help="Directory for the results.")
@click.option("--quick", is_flag=True, help="Coarser sweeps (N step 256) and fewer staircase points.")
@click.option("--backend", default="cublaslt", show_default=True, type=click.Choice(["cublaslt", "torch"]),
              help="GEMM backend of the sweeps (torch: tile assumed 128x256, no --fixed-algo study).")
def main(device, out, quick, backend):
    dev = ["--device", device] if device else []
    step = 256 if quick else 128
    _run(["waves", "staircase", "--ctas-per-sm", "1,2,4", "--waves", "4", "--per-wave", "4" if quick else "8",
          "--out", os.path.join(out, "staircase")] + dev)
    sweeps = {"fixed": ["--fixed-algo"], "default": []} if backend == "cublaslt" else {"torch": ["--tile", "128x256"]}
    for name, extra in sweeps.items():
        _run(["waves", "sweep", "--m", "8192", "--k", "8192", "--n", f"{step}:8192:{step}", "--dtype", "bf16",
              "--backend", backend, "--max-time", "0.3", "--out", os.path.join(out, f"sweep_{name}")] + extra + dev)
    for name in sweeps:
        path = os.path.join(out, f"sweep_{name}", "waves_sweep_summary.json")
        if os.path.exists(path):
            s = json.load(open(path))["summary"]
            click.echo(f"{name:>8}: Pearson r time {s['pearson_time']}, TFLOPS {s['pearson_tflops']}, "
                       f"{len(s['algo_switches'])} algorithm switch(es), {len(s['dips'])} dip(s)")
    _run(["waves", "explain", "--shape", "8192x1408x8192", "--dtype", "bf16"] + dev)


if __name__ == "__main__":
    main()
