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


# -- waves (accelkern/waves.py)


# -- mamf (accelkern/mamf.py)


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
