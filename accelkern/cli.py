"""accelkern command line: `accelkern <command> --help` says what each option does and its units."""
from __future__ import annotations

import json
import sys
from dataclasses import asdict

import click

from accelkern import __version__, _ext, report, specs
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
            spec_source=self.spec_how, nvml=_nvml_state(self.info.kind))
        self.writer = ResultWriter(out, self.header, stem=command)

    def emit(self, row):
        self.writer.write(row)
        if not (self.as_json or self.as_csv):
            what = row.dtype or row.kernel or row.name
            val = f"{row.value:.4g} {row.metric}" if row.value is not None else row.status
            progress(f"  done: {row.suite} {what} {row.shape or ''} -> {val}")
        return row

    def finish(self, columns=report.SUMMARY_COLUMNS, footer: list[str] | None = None, interrupted: bool = False):
        self.writer.close(columns)
        rows = self.writer.rows
        if self.as_json:
            click.echo(to_json(self.header, rows))
        elif self.as_csv:
            click.echo(to_csv(rows, self.header), nl=False)
        else:
            click.echo(report.header_line(self.header))
            click.echo(report.text_table(rows, columns))
            for line in footer or []:
                click.echo(line)
        if self.writer.out_dir:
            progress(f"results written to {self.writer.out_dir}/{self.command}.{{jsonl,csv,md}}")
        if interrupted:
            progress(f"interrupted: {len(rows)} finished row(s) kept")
            sys.exit(130)


def _nvml_state(kind: str) -> str | None:
    if kind != "cuda":
        return None
    from accelkern import monitor
    return "ok" if monitor.nvml() else monitor.nvml_error()


@click.group(cls=AkGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="accelkern")
def cli():
    """accelkern: measure what an accelerator really delivers, beside what its vendor claims.

    GEMM throughput per dtype, compute-only peak, tile and wave quantization, and memory bandwidth,
    each number with its dtype, shape, kernel, clocks, power and throttle state.
    Start with `accelkern info`, then `accelkern validate`.
    """


@cli.command()
@click.option("--device", default=None, metavar="cuda|cuda:N|cpu",
              help="Device to describe (default: cuda when a GPU is usable, else cpu).")
@click.option("--spec", "spec_name", default=None, metavar="NAME", help="Datasheet entry to use instead of the matched one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--list-specs", is_flag=True, help="List every datasheet entry (key, name, peaks) and exit.")
def info(device, spec_name, as_json, list_specs):
    """Device, extension status, matched datasheet, theoretical peaks (at spec and at the current clock), NVML."""
    if list_specs:
        _list_specs(as_json)
        return
    from accelkern import monitor
    from accelkern.device import get_device_info
    dev = get_device_info(device)
    spec, how = specs.lookup(dev.name if dev.kind == "cuda" else None, spec_name)
    snap = monitor.snapshot(dev.index) if dev.kind == "cuda" else {}
    probe = _clock_probe(dev)
    cur_clock = snap.get("sm_clock_mhz")
    peaks = {}
    for d in specs.DTYPES:
        peaks[d] = {
            "spec_tflops": spec.peak(d) if spec else None,
            "at_max_clock_tflops": dev.peak_at_clock_tflops(d) if dev.kind == "cuda" else None,
            "at_current_clock_tflops": dev.peak_at_clock_tflops(d, cur_clock) if cur_clock else None,
            "flop_per_clk_per_sm": specs.per_clock_per_sm(dev.arch, d),
        }
    theo_bw = dev.theoretical_bandwidth_bytes_s()
    doc = {
        "device": dev.to_dict(),
        "extension": _ext.status(),
        "spec": asdict(spec) if spec else None,
        "spec_match": how,
        "peaks": peaks,
        "memory": {"spec_bytes_s": spec.memory_bw_bytes_s if spec else None, "theoretical_bytes_s": theo_bw},
        "nvml": {"status": "ok" if monitor.nvml() else monitor.nvml_error(), **snap} if dev.kind == "cuda" else None,
        "sm_clock_probe": probe,
    }
    if as_json:
        doc["spec"] = None if spec is None else {k: v for k, v in doc["spec"].items() if k != "match"}
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    _print_info(dev, spec, how, doc, cur_clock)


def _clock_probe(dev):
    if dev.kind != "cuda" or _ext.load() is None:
        return None
    try:
        return dict(_ext.load().sm_clock_probe(dev.index))
    except RuntimeError as exc:
        return {"error": str(exc)}


def _print_info(dev, spec, how, doc, cur_clock):
    e = click.echo
    e(f"device      {dev.name} ({dev.kind}{', ' + dev.arch if dev.arch else ''})")
    if dev.kind == "cuda":
        e(f"SMs         {dev.sm_count}   max SM clock {dev.max_sm_clock_mhz or '?'} MHz   "
          f"memory {dev.memory_bytes / 2**30:.1f} GiB   L2 {(dev.l2_bytes or 0) / 2**20:.0f} MiB")
        if dev.mem_clock_mhz:
            e(f"memory bus  {dev.mem_bus_width_bits} bit at {dev.mem_clock_mhz:.0f} MHz -> "
              f"{doc['memory']['theoretical_bytes_s'] / 1e12:.2f} TB/s theoretical (clock x width x 2)")
        e(f"driver      {dev.driver or '?'}   CUDA (torch) {dev.cuda_runtime}")
        if doc["sm_clock_probe"]:
            p = doc["sm_clock_probe"]
            e(f"SM clock    {p.get('mhz', 0):.0f} MHz by in-kernel probe (clock64 / globaltimer)"
              if "mhz" in p else f"SM clock    probe failed: {p['error']}")
    else:
        e(f"cores       {dev.sm_count} physical, torch uses {dev.threads} threads, ISA {dev.cpu_capability}")
        e(f"memory      {(dev.memory_bytes or 0) / 2**30:.1f} GiB   last-level cache {(dev.l2_bytes or 0) / 2**20:.0f} MiB")
    ext = doc["extension"]
    e(f"extension   {'built' + (' (sm_90a kernels included)' if ext.get('has_sm90a') else '') if ext['built'] else ext['message']}")
    if ext.get("built"):
        e(f"cuBLASLt    {ext['cublaslt_version']}")
    if dev.kind == "cuda":
        nv = doc["nvml"]
        e(f"NVML        {nv['status']}" + (f"   now: {nv.get('sm_clock_mhz')} MHz, {nv.get('power_w', 0):.0f} W "
                                          f"of {nv.get('power_limit_w', 0):.0f} W, {nv.get('temp_c')} C, "
                                          f"throttle: {nv.get('throttle')}" if nv['status'] == 'ok' else ""))
    e(f"spec        {spec.name + ' (' + spec.source + ')' if spec else 'none'} - {how}")
    if spec and spec.unpublished:
        e(f"            {spec.unpublished}")
    if spec or dev.kind == "cuda":
        e("")
        e(f"{'dtype':<12}{'spec TFLOPS':>12}{'@max clock':>12}{'@now':>10}{'FLOP/clk/SM':>13}")
        for d, p in doc["peaks"].items():
            if all(v is None for v in p.values()):
                continue
            f = lambda v: "-" if v is None else f"{v:.1f}"
            e(f"{d:<12}{f(p['spec_tflops']):>12}{f(p['at_max_clock_tflops']):>12}{f(p['at_current_clock_tflops']):>10}"
              f"{f(p['flop_per_clk_per_sm']):>13}")
        if spec:
            e(f"{'memory':<12}{spec.memory_bw_gbps / 1000:>11.2f} TB/s spec ({spec.memory_gb:g} GB {spec.memory_type}, TDP {spec.tdp_w} W)")
    for n in dev.notes:
        e(f"note        {n}")


def _list_specs(as_json):
    rows = specs.all_specs()
    if as_json:
        click.echo(json.dumps([{k: v for k, v in asdict(s).items() if k != "match"} for s in rows], indent=2))
        return
    click.echo(f"{'key':<16}{'name':<34}" + "".join(f"{d:>12}" for d in specs.DTYPES) + f"{'TB/s':>7}")
    for s in rows:
        f = lambda v: "-" if v is None else f"{v:g}"
        click.echo(f"{s.key:<16}{s.name:<34}" + "".join(f"{f(s.peak(d)):>12}" for d in specs.DTYPES)
                   + f"{s.memory_bw_gbps / 1000:>7.2f}")
    click.echo("peaks: dense TFLOPS (TOPS for int8) from the vendor datasheets; '-' = not published / not supported")


@cli.command()
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


# ---- capability commands: each capability's command block goes under its marker ----------------

# -- hbm (accelkern/memory.py)


# -- gemm (accelkern/gemm.py)


# -- peak (accelkern/peak.py)

def _peak_columns():
    from accelkern.report import Column

    def cfg(key):
        return lambda r: (r.config or {}).get(key)

    def config_label(r):
        c = r.config or {}
        if not c:
            return None
        if "n" in c:
            return (f"N={c['n']} {'RS' if c['a_source'] == 'registers' else 'SS'} {c['warpgroups']}wg "
                    f"x{c['ctas_per_sm']}/SM c{c['chains']}")
        return f"{c['warps_per_cta']}w x{c['ctas_per_sm']}/SM c{c['chains']}"

    return (
        Column("path", lambda r: r.backend),
        Column("dtype", lambda r: r.dtype),
        Column("instruction", lambda r: r.name),
        Column("launch shape", config_label),
        Column("measured", lambda r: None if r.value is None else f"{r.value:.4g} {r.metric or ''}".strip()),
        Column("spec", lambda r: r.spec_value, "{:.4g}"),
        Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
        Column("FLOP/clk/SM", lambda r: r.flop_per_clk_per_sm, "{:.0f}"),
        Column("@kernel clk", cfg("flop_per_clk_per_sm_kernel_clock"), "{:.0f}"),
        Column("arch/clk", cfg("arch_flop_per_clk_per_sm"), "{:.0f}"),
        Column("% arch", lambda r: r.pct_of_clock_peak, "{:.1f}"),
        Column("% arch @kernel clk", cfg("pct_of_arch_at_kernel_clock"), "{:.1f}"),
        Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
        Column("kernel MHz", cfg("kernel_clock_mhz"), "{:.0f}"),
        Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
        Column("throttle", lambda r: r.throttle),
        Column("ok", lambda r: r.correct),
        Column("note", lambda r: f"{r.status}: {r.note or ''}".strip() if r.status != "ok" else r.note),
    )


@cli.command("peak")
@common_options
@click.option("--dtype", "dtypes", default=None, metavar="LIST",
              help="Comma-separated dtypes (default: all): fp32, fp64, fp16, bf16, tf32, fp8 (e4m3 and e5m2), "
                   "int8, int32.")
@click.option("--path", "paths", default=None, metavar="LIST",
              help="Comma-separated instruction paths (default: all): simt (FFMA, DFMA, HFMA2, IMAD), "
                   "mma (mma.sync, sm_80+), wgmma (sm_90 only).")
@click.option("--verbose", is_flag=True,
              help="Also list every launch shape of the sweep (warps per CTA, CTAs per SM, accumulator "
                   "chains, wgmma N and A source), not only the best per kernel.")
@click.option("--budget", type=click.FloatRange(min=5), default=120.0, show_default=True,
              help="Seconds of measuring for all kernels together (each kernel's sweep gets a share).")
@click.option("--quick", is_flag=True, help="Sweep only a few known-good launch shapes per kernel.")
def peak_cmd(device, spec_name, as_json, as_csv, out, dtypes, paths, verbose, budget, quick):
    """Compute-only peak ("speed of light") per dtype and instruction path.

    Register-resident loops of one instruction (no memory traffic) on every SM, swept over the launch
    shape; the best shape is re-measured. Each tensor-core path is first checked against a float64
    reference (column ok). Reported: TFLOPS (TOPS for integers), % of the datasheet, FLOP/clk/SM at the
    SM clock NVML saw and at the clock measured inside the kernel (clock64 over %globaltimer), and the
    architecture's FLOP/clk/SM for the dtype, so a power-capped card and a slow instruction path are
    told apart. A path this GPU lacks (wgmma below sm_90, fp8 below sm_89) is listed as skipped.
    """
    from accelkern import peak as pk
    from accelkern.units import split_list
    from accelkern.device import resolve_device
    kernels = pk.select_kernels(split_list(dtypes), split_list(paths))
    where = resolve_device(device)
    if not where.startswith("cuda"):
        raise AccelkernError(f"accelkern peak times CUDA kernels; this run is on {where} (use a machine with an "
                             f"NVIDIA GPU, or `accelkern validate` for the CPU)")
    s = Session("peak", device, spec_name, as_json, as_csv, out)
    grid_rows = []
    try:
        for res in pk.run(kernels, s.info, s.spec, budget, quick=quick, progress=progress):
            if verbose:
                for r in res.grid:
                    s.emit(r)
                    grid_rows.append(r)
            s.emit(res.best)
    except KeyboardInterrupt:
        s.finish(columns=_peak_columns(), interrupted=True)
    footer = ["FLOP/clk/SM: measured TFLOPS / (SMs x SM clock); arch/clk: what the architecture allows per SM "
              "per clock for that dtype; % arch uses the NVML mean clock, % arch @kernel clk the in-kernel one."]
    bad = [r for r in s.writer.rows if r.correct is False]
    if bad:
        footer.append(f"WRONG RESULTS: {len(bad)} row(s) failed the check against the float64 reference")
    s.finish(columns=_peak_columns(), footer=footer)


# -- waves (accelkern/waves.py)


# -- mamf (accelkern/mamf.py)


# -- compare (accelkern/report.py)


def main():
    cli(prog_name="accelkern")


if __name__ == "__main__":
    main()
