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

def _hbm_launch(r):
    c = r.config or {}
    if "threads" not in c:
        return r.backend if r.status == "ok" else None
    return f"v{c['vec']} {c['blocks']}x{c['threads']} u{c['unroll']}"


def _hbm_note(r):
    if r.status != "ok":
        return f"{r.status}: {r.note or ''}".strip()
    return r.note or ""


HBM_COLUMNS = (
    report.Column("kernel", lambda r: r.name),
    report.Column("hint", lambda r: (r.config or {}).get("hint")),
    report.Column("size", lambda r: r.shape),
    report.Column("launch", _hbm_launch),
    report.Column("rd+wr TB/s", lambda r: r.value, "{:.3f}"),
    report.Column("1-dir TB/s", lambda r: r.one_direction, "{:.3f}"),
    report.Column("best TB/s", lambda r: r.value_best, "{:.3f}"),
    report.Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
    report.Column("% theo", lambda r: r.pct_of_theoretical, "{:.1f}"),
    report.Column("spread", lambda r: r.rel_stddev, "{:.1%}"),
    report.Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
    report.Column("mem MHz", lambda r: r.mem_clock_mean_mhz, "{:.0f}"),
    report.Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
    report.Column("throttle", lambda r: r.throttle),
    report.Column("ok", lambda r: r.correct),
    report.Column("note", _hbm_note),
)

HBM_SWEEP_COLUMNS = HBM_COLUMNS[:3] + (
    report.Column("working set", lambda r: (r.config or {}).get("working_set_bytes"), "{}"),
    report.Column("passes", lambda r: (r.config or {}).get("passes")),
) + HBM_COLUMNS[3:]


@cli.command()
@common_options
@click.option("--kernel", "kernels", default=None, metavar="NAME[,NAME]",
              help="Kernels to run: copy, read, write, triad (own kernels; torch ops on a CPU), ce (cudaMemcpyAsync "
                   "device-to-device), torch (Tensor.copy_, the reference), h2d / d2h (pinned host <-> device). "
                   "Default: all on a GPU, copy,read,write,triad on a CPU; with --sweep: read.")
@click.option("--size", default=None, metavar="SIZE",
              help="Bytes per buffer, e.g. 2GiB, 512MiB, 1000003 (default 2GiB on a GPU; on a CPU 8x the last-level "
                   "cache, >= 256MiB, <= 1/8 of RAM). Any byte count: the part past the last whole vector is done by "
                   "scalar code; triad rounds down to whole fp32 elements and says so in the row.")
@click.option("--vec", "vecs", default="16", show_default=True, metavar="4|8|16[,..]",
              help="Bytes each thread moves per access (own kernels on a GPU); several run one after another.")
@click.option("--hint", "hints", default="default,stream", show_default=True, metavar="default|stream[,..]",
              help="Cache hint of the own kernels: default (plain ld/st) and/or stream (ld/st.global.cs, "
                   "evict-first). The sweep uses the first one listed.")
@click.option("--threads", type=int, default=None, help="Threads per block, a multiple of 32 up to 1024 (default 512).")
@click.option("--blocks-per-sm", type=int, default=None,
              help="Blocks per SM; grid = SMs x this (default: as many as are resident at once, from the occupancy API).")
@click.option("--unroll", type=int, default=None,
              help="Independent accesses in flight per thread and input: 1, 2, 4 or 8 (default: the smallest >= 2 "
                   "that puts 128 KiB of loads in flight per SM).")
@click.option("--tune", is_flag=True,
              help="First search the launch shape per own kernel (unroll, threads, blocks per SM, hint; a few seconds "
                   "each), then measure with the shape picked; the picks are printed below the table "
                   "(--threads, --blocks-per-sm and --unroll are not used then).")
@click.option("--sweep", is_flag=True,
              help="Bandwidth vs size from --sweep-min to --sweep-max for the chosen kernel(s), one buffer set reused "
                   "('hot'), so sizes within the L2 show the L2 plateau and larger ones HBM; writes a PNG plot.")
@click.option("--sweep-min", default="1MiB", show_default=True, metavar="SIZE", help="Smallest sweep size per buffer.")
@click.option("--sweep-max", default=None, metavar="SIZE",
              help="Largest sweep size per buffer (default 4GiB on a GPU; on a CPU 1/16 of RAM, at most 4GiB).")
@click.option("--steps", type=click.IntRange(1, 16), default=2, show_default=True, help="Sweep sizes per doubling.")
@click.option("--plot", "plot_path", default=None, metavar="PATH",
              help="Sweep plot PNG (default DIR/hbm_sweep.png with --out, else ./hbm_sweep.png).")
@click.option("--time", "time_s", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Most seconds of timing per measurement (it stops earlier once the median is known within "
                   "0.5%; a sweep size gets a quarter of it, at least 0.1 s).")
def hbm(device, spec_name, as_json, as_csv, out, kernels, size, vecs, hints, threads, blocks_per_sm, unroll, tune,
        sweep, sweep_min, sweep_max, steps, plot_path, time_s):
    """Memory bandwidth: copy, read, write and triad kernels, the copy engine and host links, vs the spec.

    Every row gives bytes read and written per call, TB/s counting both (STREAM style), the one-direction rate
    (nvbandwidth style), % of the datasheet and % of memory clock x bus width x 2. Buffers default to 2 GiB and
    are rotated or flushed so that no call is served from the L2 (except in --sweep, on purpose).
    """
    import os

    from accelkern import memory as mem
    from accelkern import timing
    from accelkern.device import resolve_device
    from accelkern.units import format_bytes, parse_size

    dev = resolve_device(device)
    kind = dev.split(":")[0]
    names = mem.parse_kernels(kernels, kind, sweep=sweep)
    vec_list = mem.parse_choices(vecs, mem.VECS, "--vec", [16])
    hint_list = mem.parse_choices(hints, tuple(mem.HINTS), "--hint", ["default", "stream"])
    if tune and sweep:
        raise AccelkernError("--tune and --sweep are separate runs; pick one")
    nbytes = parse_size(size) if size else None
    lo = parse_size(sweep_min)
    hi = parse_size(sweep_max) if sweep_max else None
    if kind == "cuda" and hi is None:
        hi = 4 << 30
    if kind == "cuda" and nbytes is None:
        nbytes = mem.DEFAULT_SIZE
    if sweep and hi is not None:
        mem.sweep_sizes(lo, hi, steps)  # a bad range is refused here, before any file is opened
    check_size = hi if sweep else nbytes
    if check_size is not None:  # refuse before anything is measured or written
        for k in names:
            mem.require_memory(k, mem.traffic(k, check_size), dev)

    s = Session("hbm_sweep" if sweep else "hbm", device, spec_name, as_json, as_csv, out)
    info = s.info
    if nbytes is None:
        nbytes = mem.DEFAULT_SIZE if info.kind == "cuda" else mem.validate_size(info)
    own_cuda = info.kind == "cuda" and _ext.load() is not None
    if not own_cuda:
        vec_list, hint_list = vec_list[:1], hint_list[:1]
    rule = timing.StopRule(max_time_s=time_s)
    footer = []
    if not own_cuda and (tune or threads or blocks_per_sm or unroll):
        footer.append("--tune, --threads, --blocks-per-sm and --unroll apply to the own CUDA kernels: not used here "
                      f"({'torch backend on ' + info.kind if info.kind != 'cuda' else _ext.error()})")
    try:
        if sweep:
            if hi is None:
                hi = min(4 << 30, (info.memory_bytes or 16 << 30) // 16)
            sizes = mem.sweep_sizes(lo, hi, steps)
            srule = timing.StopRule(min_samples=5, min_time_s=0.02, max_time_s=max(0.1, time_s / 4), target_noise=0.01)
            series = {}
            for k in names:
                for v in vec_list:
                    label = k if own_cuda is False or len(vec_list) == 1 else f"{k} v{v}"
                    pts = mem.run_sweep(k, sizes, info, s.spec, srule, vec=v, hint=hint_list[0], threads=threads,
                                        blocks_per_sm=blocks_per_sm, unroll=unroll, emit=s.emit)
                    series[label] = pts
                    tr = mem.cache_transition(pts)
                    cache = "L2" if info.kind == "cuda" else "last-level cache"
                    footer.append(f"{label}: cache -> memory transition at {format_bytes(tr)} working set"
                                  if tr else f"{label}: no clear cache plateau found in this range")
                    if info.l2_bytes:
                        footer[-1] += f" ({cache} {format_bytes(info.l2_bytes)})"
            path = plot_path or os.path.join(out or ".", "hbm_sweep.png")
            title = (f"{info.name}: bandwidth vs working set (hot: one set reused), "
                     f"{'hint ' + hint_list[0] if own_cuda else 'torch'}")
            spec_tbps = s.spec.memory_bw_bytes_s / 1e12 if s.spec and info.kind == "cuda" else None
            written = mem.plot_sweep(series, info.l2_bytes, spec_tbps, path, title,
                                     "L2" if info.kind == "cuda" else "LLC")
            if written:
                footer.append(f"plot: {written}")
            footer.append("sweep mode: hot (one buffer set reused, passes per call so each call moves ~"
                          f"{format_bytes(mem.HOT_TARGET_BYTES.get(info.kind, 64 << 20))}); TB/s counts read + write")
            s.finish(columns=HBM_SWEEP_COLUMNS, footer=footer)
            return
        for k in names:
            if k in mem.OWN_KERNELS and own_cuda:
                for v in vec_list:
                    if tune:
                        progress(f"tuning {k} v{v} at {format_bytes(nbytes)} ...")
                        tr = mem.tune_kernel(k, nbytes, info, s.spec, vec=v, hints=tuple(hint_list), progress=progress)
                        footer.append(tr.summary())
                        s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule, shape=tr.best,
                                              extra_config={"tuned": True, "tune_tried": len(tr.tried)}))
                        continue
                    for h in hint_list:
                        s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule, vec=v, hint=h, threads=threads,
                                              blocks_per_sm=blocks_per_sm, unroll=unroll))
            else:
                s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule))
    except KeyboardInterrupt:
        s.finish(columns=HBM_SWEEP_COLUMNS if sweep else HBM_COLUMNS, footer=footer, interrupted=True)
        return
    footer += mem.summary_lines(s.writer.rows, info)
    s.finish(columns=HBM_COLUMNS, footer=footer)


# -- gemm (accelkern/gemm.py)


# -- peak (accelkern/peak.py)


# -- waves (accelkern/waves.py)


# -- mamf (accelkern/mamf.py)


# -- compare (accelkern/report.py)


def main():
    cli(prog_name="accelkern")


if __name__ == "__main__":
    main()
