"""`accelkern validate`: the main job, every registered suite within one budget."""
from __future__ import annotations

import os

import click

from accelkern.commands.common import Session, common_options
from accelkern.validate import SUITE_NAMES
from accelkern.errors import AccelkernError, NoDevice
from accelkern.results import progress


@click.command()
@common_options
@click.option("--budget", type=click.FloatRange(min=5), default=60.0, show_default=True,
              help="Seconds for all suites together, set-up included; each suite gets a share by weight and "
                   "is stopped past it, so the run ends within budget x 1.1 + 10 s.")
@click.option("--suite", "suites", default=None, metavar="NAME[,NAME]",
              help="Run only these suites (default: all that can run on the device): "
                   + ", ".join(SUITE_NAMES) + ".")
@click.option("--report", "report_path", default=None, metavar="HTML|DIR",
              help="At the end, also write the one-page report of this run here (report.md and PNGs beside it; "
                   "needs accelkern[report]; see `accelkern report`).")
def validate(device, spec_name, as_json, as_csv, out, budget, suites, report_path):
    """The main job: every registered suite within the budget, measured vs spec in one table.

    On a machine without a GPU it measures the CPU through the torch backend and lists what it skipped.
    """
    from accelkern import validate as v
    from accelkern.units import split_list
    wanted = split_list(suites) or None
    unknown = [n for n in wanted or [] if n not in SUITE_NAMES]
    if unknown:
        raise AccelkernError(f"--suite: unknown suite(s) {', '.join(unknown)}; known: {', '.join(SUITE_NAMES)}")
    if report_path:  # refused before measuring: a missing extra or an unwritable path
        from accelkern import report
        report.require()
        report.check_output(report_path)
        md = report.output_paths(report_path)[1]
        if out and os.path.abspath(md) == os.path.abspath(os.path.join(out, "validate.md")):
            raise AccelkernError(f"--report {report_path}: its markdown would be {md}, the markdown of this run's "
                                 "results; give the page another name")
    s = Session("validate", device, spec_name, as_json, as_csv, out)
    if wanted and not v.runnable(wanted, s.info.kind):   # before anything is measured or written
        raise NoDevice(f"--suite {suites}: none of these suites runs on {s.info.kind} ("
                       + "; ".join(v.why_not(n, s.info.kind) for n in wanted) + ")")
    skipped: list[str] = []
    try:
        skipped = v.run(s.info, s.spec, budget, s.emit, only=wanted, progress=progress)
    except KeyboardInterrupt:
        s.finish(interrupted=True)
    footer = [f"skipped: {line}" for line in skipped]
    if s.info.kind == "cpu":
        footer.append("skipped: CUDA kernels, cuBLAS/cuBLASLt and NVML telemetry: no CUDA device in this run")
    if report_path:
        try:
            progress(f"report written to "
                     f"{report.write_run(s.header, s.writer.rows, report_path, notes=footer)['html']}")
        except AccelkernError as exc:   # the page failed (a full disk): the rows, table and files still come
            footer.append(f"REPORT NOT WRITTEN: {exc}")
            s.failures.append(f"report: {exc}")
    s.finish(footer=footer)
