"""What every command shares: the error/interrupt handling group, the common options, the Session."""
from __future__ import annotations

import errno
import os
import sys

import click

from accelkern import __version__, _ext, outdir, signals, specs, tables
from accelkern.errors import EXIT_MEASUREMENT_FAILED, AccelkernError
from accelkern.outdir import check_out_dir, check_plot_path  # noqa: F401  (the commands import them from here)
from accelkern.results import ResultWriter, RunHeader, progress, to_csv, to_json
from accelkern.units import format_value

EXIT_CODES_HELP = ("Exit codes: 0 all measured, 1 some measurement failed (its row says why) or a results file "
                   "could not be written, 2 usage or input error, 3 no usable device for what was asked, 130 "
                   "interrupted by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (finished rows kept).")

# what a full, read-only or failing file system raises
WRITE_FAULTS = (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG, errno.EPIPE)


class AccelkernClickError(click.ClickException):
    """An AccelkernError as click prints it: one 'Error: ...' line, with the error's exit code."""

    def __init__(self, exc: AccelkernError):
        super().__init__(str(exc))
        self.exit_code = exc.exit_code


class _OneLine(click.ClickException):
    """A usage error said in one 'Error: ...' line (exit code 2), without click's usage lines."""
    exit_code = 2


class AkGroup(click.Group):
    """Turns AccelkernError into one 'Error: ...' line with its exit code (2 usage/input, 3 no device), a stop
    signal (Ctrl-C, SIGTERM, SIGHUP) into exit code 128 + the signal and a write the file system refused into
    one line and exit code 1: never a traceback. The output directory a command held is let go at its end."""

    def invoke(self, ctx):
        previous = signals.install()
        try:
            return super().invoke(ctx)
        except AccelkernError as exc:
            raise AccelkernClickError(exc) from None
        except click.BadParameter as exc:   # a refused option value: one line, as every input error
            raise _OneLine(exc.format_message()) from None
        except KeyboardInterrupt:
            _say(f"accelkern: {signals.describe()}")
            ctx.exit(signals.exit_code())
        except OSError as exc:
            if exc.errno not in WRITE_FAULTS:
                raise
            _say(f"Error: could not write{' ' + exc.filename if exc.filename else ''}: {exc.strerror}")
            ctx.exit(EXIT_MEASUREMENT_FAILED)
        finally:
            outdir.release_all()
            signals.restore(previous)


def _say(text: str) -> None:
    try:
        click.echo(text, err=True)
    except OSError:
        pass


def dry_run_exit(command: str) -> None:
    """With ACCELKERN_DRY_RUN=1 (scripts/device_check.sh --dry-run), a command whose options parsed and
    validated says so and exits 0 before touching a device: a renamed flag is found without a GPU.
    Every command calls this once its options are checked and before it measures (Session does too)."""
    if os.environ.get("ACCELKERN_DRY_RUN", "") not in ("", "0"):
        click.echo(f"dry run: accelkern {command}: options ok")
        sys.exit(0)


def ignored(names: tuple, why: str) -> list[str]:
    """For options (parameter names) the user gave that do not apply to this run: one line naming them and
    why (said on stderr now, returned for the footer); [] when none was given."""
    from click.core import ParameterSource
    ctx = click.get_current_context()
    given = [p.opts[0] for p in ctx.command.params if p.name in names
             and ctx.get_parameter_source(p.name) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]
    if not given:
        return []
    line = f"ignored: {', '.join(given)} ({why})"
    progress(line)
    return [line]


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
                     help="Also write DIR/<command>.jsonl (row by row, survives Ctrl-C), .csv and .md; a DIR "
                          "that holds an earlier run keeps it, this run is appended; one run at a time per DIR."),
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
        outdir.claim(out, command)
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
        self.failures: list[str] = []    # other outputs that could not be written (a plot, the report page)

    def emit(self, row):
        self.writer.write(row)
        if not (self.as_json or self.as_csv):
            what = row.dtype or row.kernel or row.name
            val = format_value(row.value, row.metric) if row.value is not None else row.status
            progress(f"  done: {row.suite} {what} {row.shape or ''} -> {val}")
        return row

    def finish(self, columns=tables.SUMMARY_COLUMNS, footer: list[str] | None = None, interrupted: bool = False,
               shown: list | None = None):
        """Closes the files (every row) and prints the table of `shown` rows (default: every row), or all rows
        as JSON/CSV. Exit code: 128 + the signal when stopped, 1 when a file could not be written or a
        measurement failed."""
        if getattr(self.info, "kind", None) == "cpu":   # a CPU row's clock is its cores'
            columns = tuple(tables.Column("core MHz", c.get, c.fmt) if c.title == "SM MHz" else c for c in columns)
        try:
            with signals.deferred():   # a stop signal now waits until the files are whole
                self.writer.close(tables.markdown_report(self.header, self.writer.rows, columns))
        except KeyboardInterrupt:
            interrupted = True
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
        finish_files(self.writer, interrupted, self.failures)
        failed = [r for r in rows if r.status == "failed" or r.correct is False]
        if failed:
            progress(f"{len(failed)} measurement(s) failed or gave a wrong result: exit code 1")
            sys.exit(EXIT_MEASUREMENT_FAILED)


def finish_files(writer: ResultWriter, interrupted: bool = False, failures: list[str] = ()) -> None:
    """After the output: where the results went (or, in one line, what could not be written and what was
    kept), then the exit for a stop signal (128 + it) or a failed write (1)."""
    lost = writer.account()
    if lost or failures:
        _say("Error: " + "; ".join(([lost] if lost else []) + list(failures)))
    elif writer.files:
        earlier = f" (appended after {writer.earlier_runs} earlier run(s))" if writer.earlier_runs else ""
        progress(f"results written to {writer.out_dir}/{writer.stem}.{{jsonl,csv,md}}{earlier}")
    if interrupted:
        progress(f"{signals.describe()}: {len(writer.rows)} finished row(s) kept")
        sys.exit(signals.exit_code())
    if lost or failures:
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
