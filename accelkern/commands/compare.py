"""`accelkern compare A B`: two runs side by side (logic in accelkern/compare.py)."""
from __future__ import annotations

import json

import click

from accelkern import compare as cmp
from accelkern.commands.common import jsonl_in
from accelkern.errors import AccelkernError
from accelkern.results import RecordedRun, ResultsFile, progress, read_results


def load_run(path: str, which: int | None = None) -> tuple[ResultsFile, RecordedRun]:
    """A results file and one run of it (`which`, 1 = its first; default the latest), refused in one line when
    that run holds no usable accelkern row."""
    f = jsonl_in(path)
    try:
        res = read_results(f)
    except OSError as exc:
        raise AccelkernError(f"{f}: cannot read ({exc.strerror})") from None
    if which is not None and not 1 <= which <= len(res.runs):
        raise AccelkernError(f"{f}: run {which} asked, the file holds {len(res.runs)} run(s)")
    run = res.runs[which - 1] if which is not None else res.latest
    if not run.rows:
        first = f" ({res.problems[0]}{', ...' if len(res.problems) > 1 else ''})" if res.problems else ""
        raise AccelkernError(f"{f}: no accelkern result rows{first}; expected a .jsonl written by --out DIR")
    return res, run


@click.command()
@click.argument("run_a", type=click.Path(exists=True, dir_okay=True))
@click.argument("run_b", type=click.Path(exists=True, dir_okay=True))
@click.option("--run-a", "which_a", type=click.IntRange(min=1), default=None, metavar="N",
              help="Which run of A's file (1 = the first; a file gets a run appended each time a command writes "
                   "into its --out DIR)  [default: the latest].")
@click.option("--run-b", "which_b", type=click.IntRange(min=1), default=None, metavar="N",
              help="Which run of B's file, as --run-a.")
@click.option("--json", "as_json", is_flag=True, help="Print the pairs as JSON.")
def compare(run_a, run_b, which_a, which_b, as_json):
    """Compare two runs (a .jsonl results file, or an --out DIR holding one): value A, value B, B/A, clocks, power.

    Rows are paired by suite, kernel, dtype, shape, layout and backend (a key measured several times pairs in
    order); unpaired rows show '-'. Unusable lines are named with their line number on stderr. Of a file holding
    several runs the latest is compared unless --run-a/--run-b pick another (said on stderr).
    """
    (a, run_a_), (b, run_b_) = load_run(run_a, which_a), load_run(run_b, which_b)
    ha, ra, hb, rb = run_a_.header, run_a_.rows, run_b_.header, run_b_.rows
    for f, run in ((a, run_a_), (b, run_b_)):
        for p in f.problems:
            progress(f"{f.path}: {p} (left out)")
        if len(f.runs) > 1:
            number = next(i for i, r in enumerate(f.runs, 1) if r is run)
            progress(f"{f.path}: run {number} of its {len(f.runs)} (line {run.line})")
    pairs = cmp.compare_runs(ra, rb)
    if as_json:
        click.echo(json.dumps({"a": ha, "b": hb, "pairs": [
            {"key": p.key, "a": p.a and p.a.value, "b": p.b and p.b.value, "ratio": p.ratio} for p in pairs]},
            indent=2, default=str))
        return
    for label, f, h in (("A", a, ha), ("B", b, hb)):
        click.echo(f"{label}: {h.get('device', '?')} | {h.get('command', '?')} | {h.get('time_utc', '?')}" if h
                   else f"{label}: {f.path} (no header line: device and date unknown)")
    click.echo(cmp.compare_table(pairs))
