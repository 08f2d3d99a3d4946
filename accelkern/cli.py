"""accelkern command line: `accelkern <command> --help` says what each option does and its units.

This module only assembles the group; each family's command lives in accelkern/commands/<family>.py.
"""
from __future__ import annotations

import click

from accelkern import __version__
from accelkern.commands import compare, gemm, hbm, info, mamf, peak, validate, waves
from accelkern.commands.common import AkGroup


@click.group(cls=AkGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="accelkern")
def cli():
    """accelkern: measure what an accelerator really delivers, beside what its vendor claims.

    GEMM throughput per dtype, compute-only peak, tile and wave quantization, and memory bandwidth,
    each number with its dtype, shape, kernel, clocks, power and throttle state.
    Start with `accelkern info`, then `accelkern validate`.
    """


for _cmd in (info.info, validate.validate, hbm.hbm, gemm.gemm, peak.peak_cmd, waves.waves_group, mamf.mamf,
             compare.compare):
    cli.add_command(_cmd)


def main():
    cli(prog_name="accelkern")


if __name__ == "__main__":
    main()
