"""What every command shares: the error/interrupt handling group, the common options, the Session."""
from __future__ import annotations

import os
import sys

import click

from accelkern import __version__, _ext, specs, tables
from accelkern.errors import EXIT_INTERRUPTED, EXIT_MEASUREMENT_FAILED, AccelkernError
from accelkern.results import ResultWriter, RunHeader, progress, to_csv, to_json
from accelkern.units import format_value

EXIT_CODES_HELP = ("Exit codes: 0 all measured, 1 some measurement failed (its row says why), 2 usage or input "
                   "error, 3 no usable device for what was asked, 130 interrupted (finished rows kept).")


class AccelkernClickError(click.ClickException):
    """An AccelkernError as click prints it: one 'Error: ...' line, with the error's exit code."""

    def __init__(self, exc: AccelkernError):
        super().__init__(str(exc))
        self.exit_code = exc.exit_code


class AkGroup(click.Group):
    """Turns AccelkernError into one 'Error: ...' line with its exit code (2 usage/input, 3 no device) and
    Ctrl-C into exit code 130, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except AccelkernError as exc:
            raise AccelkernClickError(exc) from None
        except KeyboardInterrupt:
            click.echo("accelkern: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)


def dry_run_exit(command: str) -> None:
    """With ACCELKERN_DRY_RUN=1 (scripts/device_check.sh --dry-run), a command whose options parsed and
    validated says so and exits 0 before touching a device: a renamed flag is found without a GPU.
    Every command calls this once its options are checked and before it measures (Session does too)."""
    if os.environ.get("ACCELKERN_DRY_RUN", "") not in ("", "0"):
        click.echo(f"dry run: accelkern {command}: options ok")
        sys.exit(0)


def check_out_dir(out: str | None) -> None:
    """Refuses an --out that cannot be written, before anything is measured: '' , a file, a missing
    parent that cannot be made, or a read-only directory."""
    if out is None:
        return
    if not str(out).strip():
        raise AccelkernError("--out '': give a directory to write the results into (it is created if missing)")
    path = os.path.abspath(out)
    if os.path.exists(path) and not os.path.isdir(path):
        raise AccelkernError(f"--out {out}: exists and is not a directory")
    probe = path
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise AccelkernError(f"--out {out}: cannot write there ({probe} is not a writable directory)")


def check_plot_path(path: str | None) -> None:
    """Refuses a --plot PNG path whose directory cannot be written, before anything is measured."""
    if not path:
        return
    d = os.path.dirname(os.path.abspath(path))
    probe = d
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if os.path.isdir(path) or not os.access(probe, os.W_OK | os.X_OK):
        raise AccelkernError(f"--plot {path}: cannot write a PNG there (give a file path in a writable directory)")


def track(items, label: str):
    """Iterates `items` showing progress: click's progress bar on a terminal, plain lines otherwise
    (stderr either way, so stdout stays the table or --json/--csv)."""
    items = list(items)
    if sys.stderr.isatty() and len(items) > 1:
        with click.progressbar(items, label=label, file=sys.stderr, show_pos=True) as bar:
            yield from bar
        return
    for i, it in enumerate(items):
        if len(items) > 1:
            progress(f"{label} [{i + 1}/{len(items)}]")
        yield it


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
        click.option("--out", default=None, metavar="DIR",
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
        check_out_dir(out)
        dry_run_exit(command)
        self.command, self.as_json, self.as_csv = command, as_json, as_csv
        self.info = get_device_info(device)
        name = self.info.name if self.info.kind in ("cuda", "cpu") else None
        self.spec, self.spec_how = specs.lookup(name, spec_name)
        if self.spec is not None and (self.spec.kind == "cpu") != (self.info.kind == "cpu"):
            raise AccelkernError(f"--spec {spec_name}: {self.spec.name} is a {self.spec.kind.upper()} datasheet entry; "
                                 f"this run is on {self.info.kind} (list: `accelkern info --list-specs`)")
        if self.info.kind == "cpu" and self.spec is None:
            self.spec_how = (f"CPU: no datasheet entry matched '{name}' (% of spec left empty; --spec NAME "
                             "compares with one, `accelkern info --list-specs` lists them)")
        st = _ext.status()
        self.header = RunHeader(
            command=command, device=self.info.name, device_kind=self.info.kind, sms=self.info.sm_count,
            compute_capability=self.info.arch, driver=self.info.driver,
            cuda=torch.version.cuda if self.info.kind == "cuda" else None, torch=torch.__version__,
            cublaslt=str(st.get("cublaslt_version")) if st.get("built") else None, accelkern=__version__,
            extension="built" if st["built"] else st["message"], spec=self.spec.name if self.spec else None,
            spec_source=self.spec_how, nvml=nvml_state(self.info.kind), cpu=cpu_summary(self.info))
        self.writer = ResultWriter(out, self.header, stem=command)

    def emit(self, row):
        self.writer.write(row)
        if not (self.as_json or self.as_csv):
            what = row.dtype or row.kernel or row.name
            val = format_value(row.value, row.metric) if row.value is not None else row.status
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
                click.echo(tables.wrap(line))
        if self.writer.out_dir:
            progress(f"results written to {self.writer.out_dir}/{self.command}.{{jsonl,csv,md}}")
        if interrupted:
            progress(f"interrupted: {len(rows)} finished row(s) kept")
            sys.exit(EXIT_INTERRUPTED)
        failed = [r for r in rows if r.status == "failed" or r.correct is False]
        if failed:
            progress(f"{len(failed)} measurement(s) failed or gave a wrong result: exit code 1")
            sys.exit(EXIT_MEASUREMENT_FAILED)


def cpu_summary(info) -> str | None:
    """The CPU facts line of a CPU run's header: microarchitecture, topology, throughput ISA, caches, clock."""
    if info.kind != "cpu":
        return None
    from accelkern.hostcpu import facts as cpu_facts
    f = cpu_facts.cpu_facts()
    parts = [f"{f.uarch_name or 'unknown microarchitecture'}"
             + (f" (family {f.family} model {f.model} stepping {f.stepping})" if f.family is not None else ""),
             f"{f.physical_cores} core(s) x {f.threads_per_core} thread(s), {f.sockets} socket(s), "
             f"{f.numa_nodes or '?'} NUMA node(s)",
             " ".join(f.throughput_features) or "no vector ISA known"]
    if f.caches is not None and f.caches.known:
        parts.append(f.caches.describe())
    if f.nominal_mhz:
        parts.append(f"nominal {f.nominal_mhz:.0f} MHz ({f.nominal_source})")
    return " | ".join(parts)


def nvml_state(kind: str) -> str | None:
    if kind != "cuda":
        return None
    from accelkern import monitor
    return "ok" if monitor.nvml() else monitor.nvml_error()


def jsonl_in(path: str) -> str:
    import glob
    if os.path.isfile(path):
        return path
    found = sorted(glob.glob(os.path.join(path, "*.jsonl")))
    if len(found) != 1:
        raise AccelkernError(f"{path}: expected one .jsonl results file in the directory, found {len(found)}")
    return found[0]
