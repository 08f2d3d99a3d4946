"""`accelkern validate`: the main job, every registered suite within one budget."""
from __future__ import annotations

import click

from accelkern.commands.common import Session, common_options
from accelkern.results import progress


@click.command()
@common_options
@click.option("--budget", type=click.FloatRange(min=5), default=60.0, show_default=True,
              help="Seconds of measuring for all suites together (each gets a share).")
@click.option("--suite", "suites", default=None, metavar="NAME[,NAME]",
              help="Run only these suites (default: all registered; names are listed in the output).")
def validate(device, spec_name, as_json, as_csv, out, budget, suites):
    """The main job: every registered suite within the budget, measured vs spec in one table.

    On a machine without a GPU it measures the CPU through the torch backend and lists what it skipped.
    """
    from accelkern import validate as v
    from accelkern.units import split_list
    s = Session("validate", device, spec_name, as_json, as_csv, out)
    skipped: list[str] = []
    try:
        skipped = v.run(s.info, s.spec, budget, s.emit, only=split_list(suites) or None, progress=progress)
    except KeyboardInterrupt:
        s.finish(interrupted=True)
    footer = [f"skipped: {line}" for line in skipped]
    if s.info.kind == "cpu":
        footer.append("skipped: CUDA kernels, cuBLAS/cuBLASLt and NVML telemetry: no CUDA device in this run")
    s.finish(footer=footer)
