"""`accelkern compare A B`: two runs side by side (logic in accelkern/compare.py)."""
from __future__ import annotations

import json

import click

from accelkern import compare as cmp
from accelkern.commands.common import jsonl_in
from accelkern.errors import AccelkernError
from accelkern.results import ResultsFile, progress, read_results


def load_run(path: str) -> ResultsFile:
    """A run's results file, refused in one line when it holds no usable accelkern row."""
    f = jsonl_in(path)
    try:
        res = read_results(f)
    except OSError as exc:
        raise AccelkernError(f"{f}: cannot read ({exc.strerror})") from None
    if not res.rows:
        first = f" ({res.problems[0]}{', ...' if len(res.problems) > 1 else ''})" if res.problems else ""
        raise AccelkernError(f"{f}: no accelkern result rows{first}; expected a .jsonl written by --out DIR")
    return res


@click.command()
@click.argument("run_a", type=click.Path(exists=True, dir_okay=True))
@click.argument("run_b", type=click.Path(exists=True, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the pairs as JSON.")
def compare(run_a, run_b, as_json):
    """Compare two runs (a .jsonl results file, or an --out DIR holding one): value A, value B, B/A, clocks, power.

    Rows are paired by suite, kernel, dtype, shape, layout and backend (a key measured several times pairs in
    order); unpaired rows show '-'. Unusable lines are named with their line number on stderr.
    """
    a, b = load_run(run_a), load_run(run_b)
    ha, ra, hb, rb = a.header, a.rows, b.header, b.rows
    for f in (a, b):
        for p in f.problems:
            progress(f"{f.path}: {p} (left out)")
    pairs = cmp.compare_runs(ra, rb)
    if as_json:
        click.echo(json.dumps({"a": ha, "b": hb, "pairs": [
            {"key": p.key, "a": p.a and p.a.value, "b": p.b and p.b.value, "ratio": p.ratio} for p in pairs]},
            indent=2, default=str))
        return
    for label, f in (("A", a), ("B", b)):
        h = f.header
        click.echo(f"{label}: {h.get('device', '?')} | {h.get('command', '?')} | {h.get('time_utc', '?')}" if h
                   else f"{label}: {f.path} (no header line: device and date unknown)")
    click.echo(cmp.compare_table(pairs))
