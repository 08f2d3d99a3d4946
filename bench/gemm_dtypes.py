"""Achievable GEMM throughput per dtype: cuBLASLt's best explored algorithm beside torch, as in the README.

    python3 bench/gemm_dtypes.py --out results/gemm                      # all dtypes, 8192^3, top 8 explored
    python3 bench/gemm_dtypes.py --summary results/gemm/gemm.jsonl ...   # the short table of finished runs
    python3 bench/gemm_dtypes.py --dry-run                               # the command line parses; no device

The summary has one line per (dtype, shape): the fastest correct cuBLASLt algorithm with its tile, stages
and cluster, torch in the same run (same tn layout), their ratio, the busy fraction, and the SM clock, power
and throttle reasons seen.
"""
import os

import click

from accelkern.results import read_jsonl


def summarize(paths) -> str:
    rows = []
    for p in paths:
        if os.path.isdir(p):
            p = os.path.join(p, "gemm.jsonl")
        rows += read_jsonl(p)[1]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r.dtype, r.shape), []).append(r)
    lines = [f"{'dtype':<14}{'shape':<16}{'cuBLASLt':>10}  {'algorithm':<34}{'torch':>8}{'ratio':>7}{'busy':>6}"
             f"{'SM MHz':>8}{'W':>6}  throttle / note"]
    for (dtype, shape), grp in groups.items():
        ok = [r for r in grp if r.status == "ok" and r.value is not None and r.correct is not False]
        lt = max((r for r in ok if r.backend == "cublaslt"), key=lambda r: r.value, default=None)
        th = next((r for r in ok if r.backend == "torch"), None)
        if lt is None:
            why = next((r.note for r in grp if r.backend == "cublaslt" and r.note), "no correct cuBLASLt row")
            torch_part = f"; torch {th.value:.4g} {th.metric}" if th else ""
            lines.append(f"{dtype:<14}{shape or '-':<16}{'-':>10}  {why}{torch_part}")
            continue
        c = lt.config or {}
        algo = f"{lt.kernel} {c.get('tile') or '?'} s{c.get('stages_str') or '?'} c{c.get('cluster') or '-'}"
        if (c.get("splitk") or 1) > 1:
            algo += f" sk{c['splitk']}"
        ratio = f"{lt.value / th.value:.2f}" if th else "-"
        busy = f"{lt.busy_fraction:.2f}" if lt.busy_fraction is not None else "-"
        lines.append(f"{dtype:<14}{shape:<16}{lt.value:>10.1f}  {algo:<34}{th.value if th else float('nan'):>8.1f}"
                     f"{ratio:>7}{busy:>6}{lt.sm_clock_mean_mhz or 0:>8.0f}{lt.power_mean_w or 0:>6.0f}  "
                     f"{lt.throttle or '-'}{'; ' + lt.note if lt.note else ''}")
    return "\n".join(lines)


def run_gemm(args: list[str], dry_run: bool) -> int:
    """One `accelkern gemm` command line in this process; its exit code (a dry run only validates it)."""
    from accelkern.cli import cli
    if dry_run:
        os.environ["ACCELKERN_DRY_RUN"] = "1"
    click.echo(f"$ accelkern {' '.join(args)}", err=True)
    try:
        cli.main(args=args, prog_name="accelkern", standalone_mode=False)
    except SystemExit as exc:   # 1: a row failed, 130: interrupted (rows kept); the dry run exits 0
        return int(exc.code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    finally:
        if dry_run:
            os.environ.pop("ACCELKERN_DRY_RUN", None)
    return 0


@click.command()
@click.option("--device", default=None, help="cuda or cuda:N (default: cuda when usable, else cpu).")
@click.option("--dtypes", default="all", show_default=True, help="Comma-separated dtypes (see accelkern gemm).")
@click.option("--shape", default="8192x8192x8192", show_default=True, help="MxNxK (comma-separated for more).")
@click.option("--algos", default=8, show_default=True, help="How many of cuBLASLt's heuristic algorithms to time.")
@click.option("--max-time", default=2.0, show_default=True, help="Seconds at most per measurement.")
@click.option("--max-noise", default=0.5, show_default=True, help="Percent: nvbench's stopping noise.")
@click.option("--out", default="results/gemm", show_default=True, help="Directory for the results.")
@click.option("--summary", "summary", multiple=True, type=click.Path(exists=True),
              help="Only print the summary of these finished gemm.jsonl files (or directories holding one).")
@click.option("--dry-run", is_flag=True, envvar="ACCELKERN_DRY_RUN", help="(also ACCELKERN_DRY_RUN=1) Only check that the gemm command line parses (nothing is measured).")
def main(device, dtypes, shape, algos, max_time, max_noise, out, summary, dry_run):
    if summary:
        click.echo(summarize(summary))
        return
    args = ["gemm", "--dtype", dtypes, "--shape", shape, "--algos", str(algos), "--backend", "cublaslt,torch",
            "--max-time", str(max_time), "--max-noise", str(max_noise), "--out", out] + \
        (["--device", device] if device else [])
    code = run_gemm(args, dry_run)
    if not dry_run and code in (0, 1) and os.path.exists(os.path.join(out, "gemm.jsonl")):
        click.echo(summarize([out]))
    raise SystemExit(code)


if __name__ == "__main__":
    main()
