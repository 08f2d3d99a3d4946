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

    def finish(self, columns=report.SUMMARY_COLUMNS, footer: list[str] | None = None, interrupted: bool = False,
               shown: list | None = None):
        """Closes the files (every row) and prints the table of `shown` rows (default: every row),
        or all rows as JSON/CSV; interrupted -> exit 130 after saying how many rows were kept."""
        self.writer.close(columns)
        rows = self.writer.rows
        if self.as_json:
            click.echo(to_json(self.header, rows))
        elif self.as_csv:
            click.echo(to_csv(rows, self.header), nl=False)
        else:
            click.echo(report.header_line(self.header))
            click.echo(report.text_table(rows if shown is None else shown, columns))
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

@cli.command()
@common_options
@click.option("--dtype", "dtypes", default="bf16", show_default=True, metavar="D[,D]",
              help="GEMM dtypes: fp32, tf32, fp16, fp16_acc16 (fp16 accumulation), bf16, fp8 (e4m3 x e4m3), "
                   "fp8_e4m3_e5m2, fp8_e5m2_e4m3, int8 (int32 out), or 'all' (fp32 tf32 fp16 bf16 fp8 int8).")
@click.option("--shape", "shapes", default="8192x8192x8192", show_default=True, metavar="MxNxK[,MxNxK]",
              help="Problem sizes: D[M x N] = op(A)[M x K] op(B)[K x N]; FLOPs = 2*M*N*K (times --batch).")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Strided batch count (cuBLASLt and cuBLAS; the torch backend times batch 1 only).")
@click.option("--backend", "backends", default="cublaslt,torch", show_default=True, metavar="B[,B]",
              help="cublaslt (cublasLtMatmul, heuristic's choice), cublas (cublasGemmEx, CUBLAS_GEMM_DEFAULT), "
                   "torch (torch.mm / _scaled_mm / _int_mm: the cross-check, timed in the same run).")
@click.option("--algos", "top_k", type=click.IntRange(1, 64), default=None, metavar="K",
              help="Explore cuBLASLt's algorithms: ask the heuristic for its top K, time (and check) each and print "
                   "them sorted by measured TFLOPS with id, tile, stages, cluster, split-K, swizzle, workspace and "
                   "waves (default: the heuristic's first choice only).")
@click.option("--algo-index", type=click.IntRange(min=0), default=None, metavar="I",
              help="Run the heuristic's I-th algorithm (0 = its first choice) instead of the first.")
@click.option("--layout", default="tn", show_default=True, type=click.Choice(["tn", "nn", "nt", "tt"]),
              help="op(A) op(B) in cuBLAS's column-major terms (t = transposed). tn stores A as row-major [M,K] "
                   "and B as row-major [N,K] (both K-contiguous): the only fp8 layout below sm_100.")
@click.option("--fp8-out", type=click.Choice(["bf16", "fp16", "fp32"]), default=None,
              help="Output dtype of fp8 GEMMs  [default: bf16].")
@click.option("--fp8-fast-accum/--no-fp8-fast-accum", default=True, show_default=True,
              help="fp8: cuBLASLt's fast accumulation (CUBLASLT_MATMUL_DESC_FAST_ACCUM; torch's _scaled_mm "
                   "default is off).")
@click.option("--workspace", default=None, metavar="SIZE",
              help="cuBLAS/cuBLASLt workspace, e.g. 32MiB  [default: 32MiB on sm_90+ (split-K/stream-K kernels "
                   "need it), 4MiB before].")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Check every run against a float64 reference (poisoned output, first and last 256x256 block).")
@click.option("--max-time", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds at most per measurement (sampling stops earlier once the median is stable).")
def gemm(device, spec_name, as_json, as_csv, out, dtypes, shapes, batch, backends, top_k, algo_index, layout,
         fp8_out, fp8_fast_accum, workspace, check, max_time):
    """GEMM throughput per dtype through cuBLASLt, cuBLAS and torch, vs the datasheet; cuBLASLt's algorithms.

    One row per (dtype, shape, backend[, algorithm]) with TFLOPS, % of spec, % of the peak at the observed
    SM clock, the algorithm's tile/stages/cluster, and the clocks, power and throttle reasons seen.
    """
    from accelkern import gemm as g
    from accelkern.device import resolve_device
    from accelkern.timing import StopRule
    from accelkern.units import parse_size, split_list
    names = g.parse_dtypes(dtypes)
    sizes = g.parse_shapes(shapes)
    bks = g.parse_backends(backends)
    ws = parse_size(workspace) if workspace else None
    if top_k is not None and algo_index is not None:
        raise AccelkernError("--algos and --algo-index are exclusive: --algos times each of the top K")
    if fp8_out and not any(g.gemm_dtype(n).fp8 for n in names):
        raise AccelkernError("--fp8-out applies to fp8 dtypes only; add e.g. --dtype fp8")
    reqs = [g.GemmRequest(n, m, nn, k, batch=batch, layout=layout, out=fp8_out if g.gemm_dtype(n).fp8 else None,
                          fast_accum=fp8_fast_accum, workspace_bytes=ws, check=check, algo_index=algo_index,
                          top_k=top_k)
            for (m, nn, k) in sizes for n in names]
    bad = {}
    dev = resolve_device(device)
    if any(b != "torch" for b in bks) and dev.startswith("cuda"):
        # before any output: dtypes asked by name must obey their layout rule; those from 'all' are skipped
        import torch
        cc = torch.cuda.get_device_capability(torch.device(dev))
        named = {g.gemm_dtype(d).name for d in split_list(dtypes) if d.lower() != "all"}
        g.check_requests([r for r in reqs if r.dtype in named], cc, strict=True)
        bad = {id(r): why for r, why in g.check_requests(reqs, cc, strict=False)}
    s = Session("gemm", dev, spec_name, as_json, as_csv, out)
    rule = StopRule(max_time_s=max_time)
    interrupted = False
    try:
        for r in reqs:
            for b in bks:
                if b != "torch" and id(r) in bad:
                    s.emit(g.skipped_row(r, b, bad[id(r)]))
                    continue
                for row in g.gemm_rows(r, b, s.info, s.spec, rule, progress):
                    s.emit(row)
    except KeyboardInterrupt:
        interrupted = True
    s.writer.rows[:] = g.order_rows(s.writer.rows)
    reasons: dict[str, list] = {}
    for r in s.writer.rows:
        if r.status != "ok":
            reasons.setdefault(f"{r.status}: {r.note}", []).append(f"{r.dtype} {r.shape} {r.backend}")
    footer = [f"{why} ({'; '.join(what) if len(what) <= 3 else f'{len(what)} rows'})"
              for why, what in reasons.items()]
    if any(r.correct is False for r in s.writer.rows):
        footer.append("WRONG RESULT in a row above: its throughput is not a valid GEMM figure")
    footer.append("layout: op(A) op(B) in cuBLAS column-major terms (tn = A[M,K], B[N,K] row-major); "
                  "tile = rows(M) x cols(N) of D per CTA; TFLOPS = 2*M*N*K / median time")
    s.finish(columns=g.columns(), footer=footer, interrupted=interrupted)


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

@cli.group("waves")
def waves_group():
    """Tile and wave quantization: why one GEMM shape runs slower than a slightly larger one.

    \b
    explain    tiles, waves, padding waste and nearby faster shapes for one shape (works without a GPU
               when --tile and --sms are given)
    sweep      measure GEMM TFLOPS along M, N or K (or two of them: a heat map) beside the model
    staircase  a synthetic fixed-work kernel: time vs CTA count steps at SMs x CTAs-per-SM
    """


_BACKEND_HELP = ("GEMM backend: cublaslt (the algorithm and its tile are recorded per point), torch (tile unknown: "
                 "the model uses --tile or 128x256), auto = cublaslt on a GPU when built, else torch.")


@waves_group.command("sweep")
@common_options
@click.option("--m", "m_text", default="8192", show_default=True, metavar="VALUES",
              help="M: one value, a list (1024,2048) or START:STOP:STEP with STOP included when on the grid.")
@click.option("--n", "n_text", default="128:8192:128", show_default=True, metavar="VALUES", help="N, as --m.")
@click.option("--k", "k_text", default="8192", show_default=True, metavar="VALUES", help="K, as --m.")
@click.option("--dtype", default="bf16", show_default=True,
              type=click.Choice(["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8"]), help="GEMM input type.")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "cublaslt", "torch"]),
              help=_BACKEND_HELP)
@click.option("--fixed-algo", is_flag=True,
              help="cuBLASLt: hold one algorithm (the best non-split-K one at the largest shape) across the sweep "
                   "so pure quantization shows; default: what cuBLASLt picks per shape, as users get.")
@click.option("--tile", default=None, metavar="TMxTN",
              help="Tile for the model instead of the backend's (torch reports none; default then 128x256).")
@click.option("--ctas-per-sm", type=click.IntRange(min=1), default=None,
              help="CTAs per SM for the model (default: from cuBLASLt's wavesCount, else 1).")
@click.option("--sms", type=click.IntRange(min=1), default=None, help="SM count for the model (default: the device's).")
@click.option("--cluster", default="1x1", show_default=True, metavar="CMxCN",
              help="Thread-block cluster for the model when --tile is given.")
@click.option("--split-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split-K factor for the model when --tile is given.")
@click.option("--max-time", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Seconds of measuring per point at most (stops earlier at 1% noise of the median).")
@click.option("--plot", "plot_path", default=None, metavar="PNG",
              help="Write the plot here (default: DIR/waves_sweep.png with --out, else no plot).")
@click.option("--no-check", is_flag=True, help="Skip the correctness check (run on each algorithm change).")
def waves_sweep(device, spec_name, as_json, as_csv, out, m_text, n_text, k_text, dtype, backend, fixed_algo, tile,
                ctas_per_sm, sms, cluster, split_k, max_time, plot_path, no_check):
    """Measure GEMM throughput along M, N or K beside the tile/wave model.

    Each point records the algorithm used (tile, cluster, stages, split-K, wavesCount), the model's tiles and
    waves, and its predicted time: ceil(waves) x a per-wave time fitted over the sweep. The footer gives the
    Pearson r of predicted vs measured time (and TFLOPS), algorithm switches and dips; --out DIR writes
    JSONL/CSV/MD, waves_sweep_summary.json and the PNG. JSONL rows are streamed as measured (tiles, waves,
    time at peak); the fitted predictions, known only at the end, are in the CSV/MD and the summary.
    """
    import os
    from accelkern import timing
    from accelkern import waves as wv
    from accelkern import waves_sweep as ws
    ms, ns, ks = (wv.parse_values(t, f"--{d}") for t, d in ((m_text, "m"), (n_text, "n"), (k_text, "k")))
    shapes, varying = ws.sweep_shapes(ms, ns, ks)
    s = Session("waves_sweep", device, spec_name, as_json, as_csv, out)
    setup = ws.gemm_setup(s.info, dtype, backend, tile, ctas_per_sm, sms, cluster, split_k)
    if fixed_algo:
        if setup.backend != "cublaslt":
            raise AccelkernError("--fixed-algo holds one cuBLASLt algorithm; it needs --backend cublaslt")
        big = max(shapes, key=lambda x: x[0] * x[1] * x[2])
        setup.hold(ws.pick_fixed_algo(dtype, *big, s.info.torch_device), big[0], big[1])
        progress(f"fixed algorithm: {ws.algo_label(setup.fixed_algo)} (chosen at {big[0]}x{big[1]}x{big[2]})")
    peak = ws.peak_for(s.info, s.spec, dtype)
    rule = timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=max_time, target_noise=0.01)
    # correctness: every torch point; cuBLASLt once per algorithm met (its check runs a reference GEMM)
    checked = None if setup.backend == "torch" else set()
    points, interrupted = [], False
    try:
        for i, (m, n, k) in enumerate(shapes):
            progress(f"[{i + 1}/{len(shapes)}] {m}x{n}x{k}")
            p = ws.measure_gemm_point(setup, s.info, s.spec, m, n, k, rule, check=not no_check, checked=checked,
                                      peak_tflops=peak)
            points.append(p)
            s.emit(p.row)
    except KeyboardInterrupt:
        interrupted = True
    summary = ws.summarize(points, varying, peak)
    footer = [f"model: {points[0].row.config.get('model_source')}" if points and points[0].ok else ""]
    footer = [f for f in footer if f] + summary.lines()
    meta = {"dtype": dtype, "backend": setup.backend, "fixed_algo": ws.algo_label(setup.fixed_algo)
            if setup.fixed_algo else None, "varying": varying, "device": s.info.name, "sms": setup.sms,
            "peak_tflops": peak}
    if s.writer.out_dir:
        ws.write_summary(os.path.join(s.writer.out_dir, "waves_sweep_summary.json"), summary, points, meta)
    plot_path = plot_path or (os.path.join(s.writer.out_dir, "waves_sweep.png") if s.writer.out_dir else None)
    if plot_path and summary.points >= 2 and varying:
        title = (f"{s.info.name}: {dtype} GEMM " + "x".join(d if d in varying else str(v[0])
                                                             for d, v in (("M", ms), ("N", ns), ("K", ks)))
                 + f", {setup.backend}" + (f", fixed {ws.algo_label(setup.fixed_algo)}" if setup.fixed_algo
                                           else ", per-shape algorithm"))
        try:
            if len(varying) == 1:
                ws.plot_sweep(points, varying[0], summary, plot_path, title)
            else:
                ws.plot_heatmap(points, varying, summary, plot_path, title)
            footer.append(f"plot: {plot_path}")
        except AccelkernError as exc:
            footer.append(f"no plot: {exc}")
    s.finish(columns=ws.table_columns("sweep"), footer=footer, interrupted=interrupted)


@waves_group.command("staircase")
@common_options
@click.option("--ctas-per-sm", "ctas_text", default="1,2,4", show_default=True, metavar="LIST",
              help="CTAs per SM to force (by dynamic shared memory per CTA), comma-separated.")
@click.option("--waves", "n_waves", type=click.IntRange(min=2, max=64), default=4, show_default=True,
              help="Waves to cover: CTA counts up to waves x SMs x CTAs-per-SM.")
@click.option("--per-wave", type=click.IntRange(min=1, max=256), default=8, show_default=True,
              help="Evenly spaced CTA counts per wave, besides both sides of every predicted step.")
@click.option("--iters", type=click.IntRange(min=1), default=8192, show_default=True,
              help="Dependent FFMAs per thread (the fixed work of one CTA; ~4 clock cycles each).")
@click.option("--max-time", type=click.FloatRange(min=0.01), default=0.15, show_default=True,
              help="Seconds of measuring per CTA count at most.")
@click.option("--plot", "plot_path", default=None, metavar="PNG",
              help="Write the plot here (default: DIR/waves_staircase.png with --out, else no plot).")
def waves_staircase(device, spec_name, as_json, as_csv, out, ctas_text, n_waves, per_wave, iters, max_time,
                    plot_path):
    """Time vs CTA count of a fixed-work kernel: a staircase whose steps sit at multiples of SMs x CTAs-per-SM.

    Each CTA is one warp running a dependent FFMA chain (no memory traffic), so co-resident CTAs do not slow
    each other: a wave costs one CTA's time. The model's CTAs per SM is checked against the runtime's
    (cudaOccupancyMaxActiveBlocksPerMultiprocessor) and every step against its predicted CTA count.
    """
    import os
    from accelkern import waves_sweep as ws
    from accelkern.units import split_list
    try:
        settings = [int(x) for x in split_list(ctas_text)]
    except ValueError:
        raise AccelkernError(f"--ctas-per-sm '{ctas_text}': give whole numbers like 1,2,4") from None
    if not settings or min(settings) < 1:
        raise AccelkernError(f"--ctas-per-sm '{ctas_text}': give whole numbers >= 1, like 1,2,4")
    s = Session("waves_staircase", device, spec_name, as_json, as_csv, out)
    if s.info.kind != "cuda":
        raise AccelkernError("the staircase runs a CUDA kernel; no CUDA device in this run "
                             "(`accelkern waves explain` works without one)")
    results, footer, interrupted = [], [], False
    try:
        for c in settings:
            results.append(ws.run_staircase(s.info, c, waves_count=n_waves, per_wave=per_wave, iters=iters,
                                            max_time_s=max_time, emit=s.emit, progress=progress))
    except KeyboardInterrupt:
        interrupted = True
    for r in results:
        p = r.plan
        agree = "=" if p.model.ctas_per_sm == p.runtime_ctas_per_sm else "!="
        line = (f"{p.ctas_per_sm} CTA/SM: {p.dynamic_smem} B dynamic smem per CTA; model {p.model.ctas_per_sm} "
                f"{agree} runtime {p.runtime_ctas_per_sm} CTAs/SM; resident {p.resident}")
        if r.fit:
            line += f"; wave {r.fit.wave_s * 1e6:.2f} us, offset {r.fit.offset_s * 1e6:.2f} us"
        footer.append(line)
        for st in r.steps:
            footer.append(f"  step {st.wave}->{st.wave + 1} at {st.at_ctas}|{st.at_ctas + 1} CTAs: "
                          f"+{st.jump_s * 1e6:.2f} us (rise inside the wave {st.flat_rise_s * 1e6:.2f} us) "
                          f"{'at the predicted CTA count' if st.ok else 'NOT as predicted'}")
        footer.append(f"  verdict: {'every step at the predicted CTA count' if r.steps_ok else 'STEPS DIFFER'}"
                      f"{'' if r.correct else '; CHECK FAILED'}")
    plot_path = plot_path or (os.path.join(s.writer.out_dir, "waves_staircase.png") if s.writer.out_dir else None)
    if plot_path and results:
        try:
            ws.plot_staircase(results, plot_path, f"{s.info.name}: staircase kernel ({iters} dependent FFMAs "
                                                  f"per thread, 32 threads per CTA)")
            footer.append(f"plot: {plot_path}")
        except AccelkernError as exc:
            footer.append(f"no plot: {exc}")
    s.finish(columns=ws.table_columns("staircase"), footer=footer, interrupted=interrupted)


@waves_group.command("explain")
@click.option("--shape", required=True, metavar="MxNxK", help="GEMM shape: C[M,N] = A[M,K] @ B[K,N].")
@click.option("--dtype", default="bf16", show_default=True,
              type=click.Choice(["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8"]), help="GEMM input type.")
@click.option("--tile", default=None, metavar="TMxTN",
              help="Explain this tile (no GPU needed with --sms); default: the tile cuBLASLt picks on this GPU.")
@click.option("--sms", type=click.IntRange(min=1), default=None, help="SM count (default: the GPU's).")
@click.option("--ctas-per-sm", type=click.IntRange(min=1), default=None,
              help="CTAs per SM (default: from cuBLASLt's wavesCount, else 1).")
@click.option("--cluster", default="1x1", show_default=True, metavar="CMxCN", help="Thread-block cluster (with --tile).")
@click.option("--split-k", type=click.IntRange(min=1), default=1, show_default=True, help="Split-K factor (with --tile).")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch count.")
@click.option("--persistent", is_flag=True, help="Describe a persistent kernel (one CTA per slot looping over tiles).")
@click.option("--peak", "peak_tflops", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak TFLOPS for predicted times (default: the GPU's peak at its max clock, if any).")
@click.option("--measure", is_flag=True, help="Also measure the shape and the suggested ones (needs a GPU).")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "cublaslt", "torch"]),
              help="Backend for --measure. " + _BACKEND_HELP)
@click.option("--max-time", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Seconds of measuring per shape at most (with --measure).")
@click.option("--device", default=None, metavar="cuda|cuda:N|cpu", help="Device (default: cuda when usable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def waves_explain(shape, dtype, tile, sms, ctas_per_sm, cluster, split_k, batch, persistent, peak_tflops, measure,
                  backend, max_time, device, as_json):
    """Why is my shape slow? Tiles, waves, last-wave fill, tile padding waste and nearby faster shapes.

    Without a GPU give the kernel by hand: --tile 128x256 --sms 132 [--ctas-per-sm 1].
    """
    from accelkern import waves as wv
    from accelkern import waves_sweep as ws
    from accelkern.units import parse_gemm_shape
    m, n, k = parse_gemm_shape(shape)
    algo, source, notes, s = None, "given by hand", (), None
    want_gpu = measure or tile is None or sms is None
    if want_gpu:
        import torch
        if device in (None, "", "auto") and not torch.cuda.is_available() or (device or "").startswith("cpu"):
            missing = [o for o, v in (("--tile TMxTN", tile), ("--sms N", sms)) if v is None]
            if missing or measure:
                raise AccelkernError("no CUDA device here: " + ("--measure needs one" if measure and not missing
                                                               else "give " + " and ".join(missing)
                                                               + " (and --ctas-per-sm) to explain by hand"))
        else:
            s = Session("waves_explain", device, None, False, False, None)
            sms = sms or s.info.sm_count
    if tile:
        tm, tn = wv.parse_pair(tile, "--tile")
        cm, cn = wv.parse_pair(cluster, "--cluster")
        launch = wv.Launch(tm, tn, sms, ctas_per_sm or 1, split_k, batch, cm, cn, persistent)
    else:
        gemm = ws._gemm_module()
        algos = gemm.heuristic_algos(dtype, m, n, k, device=s.info.torch_device)
        if not algos:
            raise AccelkernError(f"cuBLASLt offers no {dtype} algorithm for {m}x{n}x{k} here")
        algo = algos[0]
        al = wv.launch_from_algo(algo, m, n, sms, ctas_per_sm, batch)
        launch, source, notes = al.launch, al.source + f" ({ws.algo_label(algo)})", al.notes
        from dataclasses import replace
        launch = replace(launch, persistent=persistent)
        if launch.cluster_size > 1:
            n_cl = ws.active_clusters(s.info, launch.cluster_size, launch.ctas_per_sm)
            if n_cl:
                launch = replace(launch, active_clusters=n_cl)
                notes = tuple(notes) + (f"{n_cl} clusters of {launch.cluster_size} fit at once "
                                        "(cudaOccupancyMaxActiveClusters)",)
    a = wv.analyze(m, n, k, launch)
    if peak_tflops is None and s is not None:
        peak_tflops = ws.peak_for(s.info, s.spec, dtype)
    sugg = wv.suggest_shapes(m, n, k, launch)
    measured = ws.explain_measure(s.info, s.spec, dtype, backend, max_time, a, sugg, progress) if measure else {}
    doc = {"shape": {"m": m, "n": n, "k": k}, "dtype": dtype, "source": source, "notes": list(notes),
           "analysis": a.summary(), "peak_tflops": peak_tflops,
           "predicted_ms": wv.predicted_seconds(a, peak_tflops) * 1e3 if peak_tflops else None,
           "suggestions": [{"dim": x.dim, "value": x.value, "delta": x.delta, "reason": x.reason,
                            "shape": "x".join(map(str, x.shape)), "tiles": x.analysis.tiles,
                            "waves": x.analysis.waves, "time_ratio": x.time_ratio, "gain": x.gain,
                            **measured.get(x.shape, {})} for x in sugg],
           "measured": measured.get((m, n, k))}
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    e = click.echo
    e(f"shape       {m}x{n}x{k} (M x N x K) {dtype}" + (f", batch {batch}" if batch > 1 else ""))
    e(f"kernel      tile {launch.tile}" + (f", split-K {launch.split_k}" if launch.split_k > 1 else "")
      + (f", cluster {launch.cluster_m}x{launch.cluster_n}" if launch.cluster_size > 1 else "")
      + f" - {source}")
    for note in notes:
        e(f"note        {note}")
    for line in wv.describe(a):
        e(line)
    if peak_tflops:
        t = wv.predicted_seconds(a, peak_tflops)
        e(f"predicted   {t * 1e3:.4g} ms at {peak_tflops:.0f} TFLOPS peak per wave -> "
          f"{wv.tflops(a.useful_flops, t):.0f} TFLOPS useful (the quantization ceiling)")
    base_meas = measured.get((m, n, k))
    if base_meas:
        e(f"measured    {base_meas['measured_ms']:.4g} ms, {base_meas['measured_tflops']:.1f} TFLOPS "
          f"({base_meas['algorithm']})")
    if not sugg:
        e("nearby      no shape within one wave does better: tiles and waves are already well filled")
        return
    e("")
    e("nearest faster shapes (same per-tile speed assumed; gain = useful TFLOPS vs this shape):")
    head = f"  {'dim':<4}{'value':>7}{'change':>8}{'tiles':>7}{'waves':>7}{'time':>8}{'gain':>7}"
    if measured:
        head += f"{'meas time':>11}{'meas gain':>11}"
    e(head + "  why")
    for x in sugg:
        line = (f"  {x.dim:<4}{x.value:>7}{x.delta:>+8}{x.analysis.tiles:>7}{x.analysis.waves:>7.2f}"
                f"{'x%.2f' % x.time_ratio:>8}{'x%.3f' % x.gain:>7}")
        mm = measured.get(x.shape)
        if measured:
            line += (f"{'x%.2f' % mm['measured_time_ratio']:>11}{'x%.3f' % mm['measured_gain']:>11}"
                     if mm and mm.get("measured_gain") else f"{'-':>11}{'-':>11}")
        e(line + f"  {x.reason}")


# -- mamf (accelkern/mamf.py)

MAMF_COLUMNS = (
    report.Column("phase", lambda r: r.name),
    report.Column("dtype", lambda r: r.dtype),
    report.Column("shape", lambda r: r.shape),
    report.Column("backend", lambda r: r.backend),
    report.Column("TFLOPS", lambda r: r.value, "{:.4g}"),
    report.Column("best", lambda r: r.value_best, "{:.4g}"),
    report.Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
    report.Column("tile", lambda r: (r.config or {}).get("tile")),
    report.Column("cluster", lambda r: (r.config or {}).get("cluster")),
    report.Column("waves", lambda r: (r.config or {}).get("waves"), "{:.2f}"),
    report.Column("mode", lambda r: (r.config or {}).get("mode")),
    report.Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
    report.Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
    report.Column("throttle", lambda r: r.throttle),
    report.Column("ok", lambda r: r.correct),
)


@cli.command()
@common_options
@click.option("--dtype", "dtypes", default="bf16", show_default=True, metavar="DTYPE[,DTYPE]",
              help="bf16, fp16, tf32, fp32, fp8 (e4m3), int8; each searched in turn with the full budget.")
@click.option("--search", type=click.Choice(["guided", "grid"]), default="guided", show_default=True,
              help="guided: candidates from the tile/wave model, then local refinement; grid: every "
                   "(M, N, K) of --m/--n/--k.")
@click.option("--backend", type=click.Choice(["cublaslt", "torch"]), default=None,
              help="GEMM path (default: cublaslt when built and on a GPU, else torch).")
@click.option("--mode", type=click.Choice(["cold-cache", "sustained"]), default="cold-cache", show_default=True,
              help="cold-cache: L2 flushed and output re-randomised before each call; sustained: back-to-back "
                   "calls on rotating inputs. The winner is reported in both.")
@click.option("--budget", type=float, default=60.0, show_default=True,
              help="Seconds of measuring for the search (warm-up and re-measures come on top).")
@click.option("--m", "m_range", default=None, metavar="RANGE",
              help="M sizes: start:stop:step (stop excluded), a list 4096,8192, or one size. Grid: required.")
@click.option("--n", "n_range", default=None, metavar="RANGE", help="N sizes, as --m.")
@click.option("--k", "k_range", default=None, metavar="RANGE",
              help="K sizes, as --m (guided: the K values to try; default 4096,8192,16384 on a GPU).")
@click.option("--max-dim", type=click.IntRange(min=16), default=None,
              help="Largest M, N or K the guided search may use (default 20480 on a GPU, 4096 on a CPU).")
@click.option("--algos", type=click.IntRange(min=1), default=1, show_default=True,
              help="cuBLASLt: time the heuristic's top K algorithms per shape and keep the best.")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True,
              help="Shapes re-measured at the end.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Re-measures per top shape; the headline is their median.")
@click.option("--warmup", type=click.FloatRange(min=0), default=15.0, show_default=True,
              help="Most seconds of back-to-back GEMMs before measuring, until the SM clock settles.")
def mamf(device, spec_name, as_json, as_csv, out, dtypes, search, backend, mode, budget, m_range, n_range,
         k_range, max_dim, algos, top, repeats, warmup):
    """Maximum achievable matmul FLOPS: the best GEMM throughput this device sustains, per dtype.

    Every measured shape is appended to the JSONL as it finishes; Ctrl-C prints what was measured and
    exits 130 with the file intact.
    """
    from accelkern import mamf as mf
    from accelkern.units import split_list
    ms = mf.parse_dim_list(m_range, "m") if m_range else None
    ns = mf.parse_dim_list(n_range, "n") if n_range else None
    ks = mf.parse_dim_list(k_range, "k") if k_range else None
    wanted = split_list(dtypes)
    bad = [d for d in wanted if d not in mf.MAMF_DTYPES]
    if not wanted or bad:
        raise AccelkernError(f"--dtype '{dtypes}': allowed are {', '.join(mf.MAMF_DTYPES)}")
    s = Session("mamf", device, spec_name, as_json, as_csv, out)
    headlines: list[str] = []
    try:
        for d in wanted:
            try:
                res = mf.run(s.info, s.spec, d, s.emit, search=search, backend=backend, mode=mode, budget_s=budget,
                             ms=ms, ns=ns, ks=ks, max_dim=max_dim, algos=algos, top=top, repeats=repeats,
                             warmup_s=warmup, progress=progress)
                headlines.append(mf.headline(res))
            except mf.Unavailable as exc:
                s.emit(mf.Row(suite="mamf", name="MAMF", dtype=d, status="skipped", note=str(exc)))
                headlines.append(f"mamf {d}: skipped: {exc}")
    except KeyboardInterrupt:
        _mamf_finish(s, headlines, interrupted=True)
    _mamf_finish(s, headlines)


def _mamf_finish(s, headlines, interrupted=False):
    rows = s.writer.rows
    winners = [r for r in rows if r.name == "MAMF"]
    measured = sorted((r for r in rows if r.status == "ok" and r.name != "MAMF"), key=lambda r: -(r.value or 0))
    if interrupted and measured:
        headlines = headlines + [f"interrupted after {len(measured)} measurement(s); best so far: "
                                 f"{measured[0].value:.4g} at {measured[0].shape} ({measured[0].dtype})"]
    # the table shows the winners and the 10 best measurements; the files and --json/--csv keep every row
    s.finish(columns=MAMF_COLUMNS, footer=headlines, interrupted=interrupted, shown=winners + measured[:10])


# -- compare (accelkern/report.py)

@cli.command()
@click.argument("run_a", type=click.Path(exists=True, dir_okay=True))
@click.argument("run_b", type=click.Path(exists=True, dir_okay=True))
@click.option("--json", "as_json", is_flag=True, help="Print the pairs as JSON.")
def compare(run_a, run_b, as_json):
    """Compare two runs (a .jsonl results file, or an --out DIR holding one): value A, value B, B/A, clocks, power.

    Rows are paired by suite, kernel, dtype, shape, layout and backend; unpaired rows show '-'.
    """
    from accelkern.results import read_jsonl
    ha, ra = read_jsonl(_jsonl_in(run_a))
    hb, rb = read_jsonl(_jsonl_in(run_b))
    pairs = report.compare_runs(ra, rb)
    if as_json:
        click.echo(json.dumps({"a": ha, "b": hb, "pairs": [
            {"key": p.key, "a": p.a and p.a.value, "b": p.b and p.b.value, "ratio": p.ratio} for p in pairs]},
            indent=2, default=str))
        return
    for label, h in (("A", ha), ("B", hb)):
        click.echo(f"{label}: {(h or {}).get('device', '?')} | {(h or {}).get('command', '?')} | "
                   f"{(h or {}).get('time_utc', '?')}")
    click.echo(report.compare_table(pairs))


def _jsonl_in(path: str) -> str:
    import glob
    import os
    if os.path.isfile(path):
        return path
    found = sorted(glob.glob(os.path.join(path, "*.jsonl")))
    if len(found) != 1:
        raise AccelkernError(f"{path}: expected one .jsonl results file in the directory, found {len(found)}")
    return found[0]


def main():
    cli(prog_name="accelkern")


if __name__ == "__main__":
    main()
