"""accelkern command line: `accelkern <command> --help` says what each option does and its units.

This module only assembles the group; each family's command lives in accelkern/commands/<family>.py.
"""
from __future__ import annotations

import click

from accelkern import __version__
from accelkern.commands import compare, gemm, hbm, info, mamf, peak, report, validate, waves
from accelkern.commands import fleet
from accelkern.commands.common import EXIT_CODES_HELP, AkGroup
from accelkern.commands.params import harden


@click.group(cls=AkGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
             epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="accelkern")
def cli():
    """accelkern: measure what an accelerator really delivers, beside what its vendor claims.

    GEMM throughput per dtype, compute-only peak, tile and wave quantization, and memory bandwidth,
    each number with its dtype, shape, kernel, clocks, power and throttle state.
    Start with `accelkern info`, then `accelkern validate`.
    """


for _cmd in (info.info, validate.validate, hbm.hbm, gemm.gemm, peak.peak_cmd, waves.waves_group, mamf.mamf,
             fleet.fleet,
             compare.compare, report.report):
    cli.add_command(_cmd)


def _with_exit_codes(cmd):
    """Every command's --help ends with the exit codes."""
    if not cmd.epilog:
        cmd.epilog = EXIT_CODES_HELP
    for sub in getattr(cmd, "commands", {}).values():
        _with_exit_codes(sub)


for _cmd in cli.commands.values():
    _with_exit_codes(_cmd)
harden(cli)   # every option: finite numbers in ASCII digits, no empty text (accelkern/commands/params.py)


def main():
    cli(prog_name="accelkern")


if __name__ == "__main__":
    main()
