"""`accelkern compare A B`: two runs side by side (logic in accelkern/compare.py)."""
from __future__ import annotations

import json

import click

from accelkern import compare as cmp
from accelkern.commands.common import jsonl_in


@click.command()
@click.argument("run_a", type=click.Path(exists=True, dir_okay=True))
@click.argument("run_b", type=click.Path(exists=True, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the pairs as JSON.")
def compare(run_a, run_b, as_json):
    """Compare two runs (a .jsonl results file, or an --out DIR holding one): value A, value B, B/A, clocks, power.

    Rows are paired by suite, kernel, dtype, shape, layout and backend; unpaired rows show '-'.
    """
    from accelkern.results import read_jsonl
    ha, ra = read_jsonl(jsonl_in(run_a))
    hb, rb = read_jsonl(jsonl_in(run_b))
    pairs = cmp.compare_runs(ra, rb)
    if as_json:
        click.echo(json.dumps({"a": ha, "b": hb, "pairs": [
            {"key": p.key, "a": p.a and p.a.value, "b": p.b and p.b.value, "ratio": p.ratio} for p in pairs]},
            indent=2, default=str))
        return
    for label, h in (("A", ha), ("B", hb)):
        click.echo(f"{label}: {(h or {}).get('device', '?')} | {(h or {}).get('command', '?')} | "
                   f"{(h or {}).get('time_utc', '?')}")
    click.echo(cmp.compare_table(pairs))
