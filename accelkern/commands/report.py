"""`accelkern report INPUT...`: the one-page report (logic in accelkern/report/)."""
from __future__ import annotations

import click

from accelkern.commands.common import dry_run_exit
from accelkern.results import progress


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=True), metavar="INPUT...")
@click.option("--out", default="report.html", show_default=True, metavar="HTML",
              help="The page to write; a path not ending in .html is a directory (DIR/report.html). The markdown "
                   "(report.md) and the PNGs it shows are written beside it, named after it.")
@click.option("--title", default=None, metavar="T", help="Page title (default: 'accelkern report: <device>').")
@click.option("--merge", is_flag=True,
              help="Treat every input of one device and host as one run (default: files more than 6 hours apart "
                   "are separate runs, shown side by side).")
def report(inputs, out, title, merge):
    """One page: does this accelerator deliver what its vendor claims?

    INPUT are results .jsonl files, or --out directories of any accelkern commands (validate, gemm, mamf, peak,
    hbm, waves, fleet), searched recursively. The page: the run header (device, clocks, versions, datasheet entry,
    what was skipped), claims vs measured per dtype and for memory with what explains each gap, the roofline,
    the MAMF search, tile and wave quantization, the memory sweep, telemetry and the fleet. Two runs (two
    devices or hosts, or files more than 6 hours apart) are shown side by side. The HTML is self-contained (images inline, no external URL)
    and prints; needs jinja2 and matplotlib (pip install 'accelkern[report]').
    """
    from accelkern import report as rp
    rp.require()
    rp.check_output(out)
    dry_run_exit("report")
    paths, problems = rp.build(list(inputs), out, title, merge=merge)
    for p in problems:
        progress(f"warning: {p}")
    click.echo(f"report: {paths['html']} (self-contained HTML); {paths['md']} with {len(paths['png'])} PNG(s) "
               "beside it")
