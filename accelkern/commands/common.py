"""What every command shares: the error/interrupt handling group, the common options, the Session."""
from __future__ import annotations

import sys

import click

from accelkern import __version__, _ext, specs, tables
from accelkern.errors import AccelkernError
from accelkern.results import ResultWriter, RunHeader, progress, to_csv, to_json

class AkGroup(click.Group):
    """Turns AccelkernError into one 'Error: ...' line and Ctrl-C into exit code 130, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AccelkernError as exc:
            raise click.ClickException(str(exc)) from None
        except KeyboardInterrupt:
            click.echo("accelkern: interrupted", err=True)
            ctx.exit(130)


def common_options(f):
    """--device, --spec, --json, --csv, --out: shared by every measuring command."""
    opts = [
        click.option("--device", default=None, metavar="cuda|cuda:N|cpu",
                     help="Device to measure (default: cuda when a GPU is usable, else cpu)."),
        click.option("--spec", "spec_name", default=None, metavar="NAME",
                     help="Compare against this datasheet entry instead of the one matched from the device "
                          "name (list: `accelkern info --list-specs`)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON (run header + rows) instead of the table."),
        click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of the table."),
        click.option("--out", type=click.Path(file_okay=False), default=None, metavar="DIR",
                     help="Also write DIR/<command>.jsonl (row by row, survives Ctrl-C), .csv and .md."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


class Session:
    """One command's run: device, matched spec, header, streamed results, final output."""

    def __init__(self, command: str, device: str | None, spec_name: str | None, as_json: bool, as_csv: bool,
                 out: str | None):
        import torch
        from accelkern.device import get_device_info
        if as_json and as_csv:
            raise AccelkernError("--json and --csv are exclusive; use --out DIR to get every format")
        self.command, self.as_json, self.as_csv = command, as_json, as_csv
        self.info = get_device_info(device)
        name = self.info.name if self.info.kind == "cuda" else None
        self.spec, self.spec_how = specs.lookup(name, spec_name)
        if self.info.kind == "cpu" and not spec_name:
            self.spec_how = "CPU: no datasheet entry (% of spec left empty)"
        st = _ext.status()
        self.header = RunHeader(
            command=command, device=self.info.name, device_kind=self.info.kind, sms=self.info.sm_count,
            compute_capability=self.info.arch, driver=self.info.driver,
            cuda=torch.version.cuda if self.info.kind == "cuda" else None, torch=torch.__version__,
            cublaslt=str(st.get("cublaslt_version")) if st.get("built") else None, accelkern=__version__,
            extension="built" if st["built"] else st["message"], spec=self.spec.name if self.spec else None,
            spec_source=self.spec_how, nvml=nvml_state(self.info.kind))
        self.writer = ResultWriter(out, self.header, stem=command)

    def emit(self, row):
        self.writer.write(row)
        if not (self.as_json or self.as_csv):
            what = row.dtype or row.kernel or row.name
            val = f"{row.value:.4g} {row.metric}" if row.value is not None else row.status
            progress(f"  done: {row.suite} {what} {row.shape or ''} -> {val}")
        return row

    def finish(self, columns=tables.SUMMARY_COLUMNS, footer: list[str] | None = None, interrupted: bool = False,
               shown: list | None = None):
        """Closes the files (every row) and prints the table of `shown` rows (default: every row),
        or all rows as JSON/CSV; interrupted -> exit 130 after saying how many rows were kept."""
        self.writer.close(tables.markdown_report(self.header, self.writer.rows, columns))
        rows = self.writer.rows
        if self.as_json:
            click.echo(to_json(self.header, rows))
        elif self.as_csv:
            click.echo(to_csv(rows, self.header), nl=False)
        else:
            click.echo(tables.header_line(self.header))
            click.echo(tables.text_table(rows if shown is None else shown, columns))
            for line in footer or []:
                click.echo(line)
        if self.writer.out_dir:
            progress(f"results written to {self.writer.out_dir}/{self.command}.{{jsonl,csv,md}}")
        if interrupted:
            progress(f"interrupted: {len(rows)} finished row(s) kept")
            sys.exit(130)


def nvml_state(kind: str) -> str | None:
    if kind != "cuda":
        return None
    from accelkern import monitor
    return "ok" if monitor.nvml() else monitor.nvml_error()



def jsonl_in(path: str) -> str:
    import glob
    import os
    if os.path.isfile(path):
        return path
    found = sorted(glob.glob(os.path.join(path, "*.jsonl")))
    if len(found) != 1:
        raise AccelkernError(f"{path}: expected one .jsonl results file in the directory, found {len(found)}")
    return found[0]
