"""`accelkern gemm`: GEMM throughput per dtype (logic in accelkern/gemm/)."""
from __future__ import annotations

import click

from accelkern.commands.common import (EXIT_CODES_HELP, Session, check_out_dir, common_options, dry_run_exit,
                                       ignored, track)
from accelkern.errors import AccelkernError, NoDevice
from accelkern.results import progress

GPU_SHAPE = 8192


@click.command(epilog=EXIT_CODES_HELP)
@common_options
@click.option("--dtype", "dtypes", default="bf16", show_default=True, metavar="D[,D]",
              help="GEMM dtypes: fp64 (torch only), fp32, tf32, fp16, fp16_acc16 (fp16 accumulation), bf16, fp8 "
                   "(e4m3 x e4m3), fp8_e4m3_e5m2, fp8_e5m2_e4m3, int8 (int32 out), or 'all' (fp64 fp32 tf32 fp16 "
                   "bf16 fp8 int8).")
@click.option("--shape", "shapes", default=None, metavar="MxNxK[,MxNxK]",
              help="Problem sizes: D[M x N] = op(A)[M x K] op(B)[K x N]; FLOPs = 2*M*N*K (times --batch)  "
                   "[default: 8192x8192x8192 on a CUDA GPU; elsewhere, per dtype, the largest power-of-two square "
                   "whose call takes at most --max-time/10, from a warmed probe]. A shape whose single torch call "
                   "would exceed --max-time off the GPU is skipped with the size that fits.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True,
              help="Strided batch count (cuBLASLt and cuBLAS; the torch backend times batch 1 only).")
@click.option("--backend", "backends", default=None, metavar="B[,B]",
              help="cublaslt (cublasLtMatmul, heuristic's choice), cublas (cublasGemmEx, CUBLAS_GEMM_DEFAULT), "
                   "torch (torch.mm / _scaled_mm / _int_mm as A @ B[N,K].T, the cross-check, timed in the same run)  "
                   "[default: cublaslt,torch on a CUDA GPU with accelkern._C built, else torch].")
@click.option("--algos", "top_k", type=click.IntRange(1, 64), default=None, metavar="K",
              help="Explore cuBLASLt's algorithms: ask the heuristic for its top K, time (and check) each and print "
                   "them sorted by measured TFLOPS with id, tile, stages, cluster, split-K, swizzle, workspace and "
                   "waves (default: the heuristic's first choice only).")
@click.option("--algo-index", type=click.IntRange(min=0), default=None, metavar="I",
              help="Run the heuristic's I-th algorithm (0 = its first choice) instead of the first.")
@click.option("--layout", default="tn", show_default=True, type=click.Choice(["tn", "nn", "nt", "tt"]),
              help="op(A) op(B) in cuBLAS's column-major terms (t = transposed). tn stores A as row-major [M,K] "
                   "and B as row-major [N,K] (both K-contiguous): the only fp8 layout below sm_100 and the only "
                   "int8 one (IMMA; int8 also needs M and K multiples of 4). torch is always timed in tn.")
@click.option("--fp8-out", type=click.Choice(["bf16", "fp16", "fp32"]), default=None,
              help="Output dtype of fp8 GEMMs  [default: bf16].")
@click.option("--fp8-fast-accum/--no-fp8-fast-accum", default=True, show_default=True,
              help="fp8: fast accumulation, for cuBLASLt (CUBLASLT_MATMUL_DESC_FAST_ACCUM) and torch._scaled_mm "
                   "(use_fast_accum) alike, so the cross-check runs the same accumulation.")
@click.option("--workspace", default=None, metavar="SIZE",
              help="cuBLAS/cuBLASLt workspace, e.g. 32MiB  [default: 32MiB on sm_90+ (split-K/stream-K kernels "
                   "need it), 4MiB before].")
@click.option("--check/--no-check", default=True, show_default=True,
              help="Check every run against a float64 reference (poisoned output, first and last 256x256 block).")
@click.option("--max-time", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="Seconds at most per measurement (sampling stops earlier once the stopping criterion holds).")
@click.option("--max-noise", type=click.FloatRange(min=0.01, max=50.0), default=0.5, show_default=True,
              help="Stop sampling once the relative standard deviation of the samples is at most this many percent "
                   "(nvbench's criterion; also stops once that noise has stopped falling, after 128 samples). "
                   "With --criterion median-stderr: the relative standard error of the median instead.")
@click.option("--criterion", type=click.Choice(["nvbench", "median-stderr"]), default="nvbench", show_default=True,
              help="Stopping criterion (each row records the one used and why it stopped).")
def gemm(device, spec_name, as_json, as_csv, out, dtypes, shapes, batch, backends, top_k, algo_index, layout,
         fp8_out, fp8_fast_accum, workspace, check, max_time, max_noise, criterion):
    """GEMM throughput per dtype through cuBLASLt, cuBLAS and torch, vs the datasheet; cuBLASLt's algorithms.

    One row per (dtype, shape, backend[, algorithm]) with TFLOPS, % of spec, % of the peak at the observed
    SM clock, the algorithm's tile/stages/cluster, the busy fraction (call time / span: 1 = back to back),
    and the clocks, power and throttle reasons seen during the timed span.
    """
    from accelkern import gemm as g
    from accelkern.device import parse_device, resolve_device
    from accelkern.timing import StopRule
    from accelkern.units import parse_size, split_list
    names = g.parse_dtypes(dtypes)
    sizes = g.parse_shapes(shapes) if shapes is not None else None
    bks = g.parse_backends(backends) if backends is not None else None
    ws = parse_size(workspace) if workspace else None
    if top_k is not None and algo_index is not None:
        raise AccelkernError("--algos and --algo-index are exclusive: --algos times each of the top K")
    if fp8_out and not any(g.gemm_dtype(n).fp8 for n in names):
        raise AccelkernError("--fp8-out applies to fp8 dtypes only; add e.g. --dtype fp8")
    if as_json and as_csv:
        raise AccelkernError("--json and --csv are exclusive; use --out DIR to get every format")
    if device not in (None, "", "auto"):
        parse_device(device)
    check_out_dir(out)
    rule = StopRule(max_time_s=max_time, target_noise=max_noise / 100, criterion=criterion)
    dry_run_exit("gemm")

    dev = resolve_device(device)
    if bks and not dev.startswith("cuda") and "torch" not in bks:   # refused before any file is touched
        raise NoDevice(f"--backend {backends}: cuBLAS and cuBLASLt need a CUDA GPU; this run is on {dev} "
                       "(--backend torch measures it)")
    bks = bks or g.default_backends(dev)
    notes = []
    if not any(b in ("cublas", "cublaslt") for b in bks):
        notes += ignored(("top_k", "algo_index", "workspace"), "they choose cuBLAS/cuBLASLt algorithms; this run "
                                                                "times torch only")
        if layout != "tn":
            notes += ignored(("layout",), "torch is always timed in tn")

    def request(n, m, nn, k, sized=None):
        return g.GemmRequest(n, m, nn, k, batch=batch, layout=layout, out=fp8_out if g.gemm_dtype(n).fp8 else None,
                             fast_accum=fp8_fast_accum, workspace_bytes=ws, check=check, algo_index=algo_index,
                             top_k=top_k, sized=sized)

    cuda = dev.startswith("cuda")
    named = {g.gemm_dtype(d).name for d in split_list(dtypes) if d.lower() != "all"}
    bad: dict = {}
    if cuda and any(b != "torch" for b in bks):
        # before any output: dtypes asked by name must obey their layout rule; those from 'all' are skipped
        import torch
        cc = torch.cuda.get_device_capability(torch.device(dev))
        shape_list = sizes or [(GPU_SHAPE,) * 3]
        probe = [request(n, m, nn, k) for (m, nn, k) in shape_list for n in names]
        g.check_requests([r for r in probe if r.dtype in named], cc, strict=True)
        bad = {(r.dtype, r.m, r.n, r.k): why for r, why in g.check_requests(probe, cc, strict=False)}
    s = Session("gemm", dev, spec_name, as_json, as_csv, out)
    interrupted = False
    sized_note = None
    try:
        if sizes is not None:
            reqs = [request(n, m, nn, k) for (m, nn, k) in sizes for n in names]
        else:
            reqs = []
            for n in names:
                size, how = g.default_square(n, dev, max_time, GPU_SHAPE)
                if how:
                    progress(f"  gemm {n} on {dev}: {size}x{size}x{size}, the {how}")
                    sized_note = f"shapes: without --shape each dtype on {dev} runs the {how}"
                reqs.append(request(n, size, size, size, sized=how))
        work = [(r, b) for r in reqs for b in bks]
        for r, b in track(work, "gemm"):
            why = bad.get((r.dtype, r.m, r.n, r.k))
            if b != "torch" and why:
                s.emit(g.skipped_row(r, b, why))
                continue
            for row in g.gemm_rows(r, b, s.info, s.spec, rule, progress):
                s.emit(row)
    except KeyboardInterrupt:
        interrupted = True
    s.writer.rows[:] = g.order_rows(s.writer.rows)
    s.finish(columns=g.columns(), footer=notes + footer_lines(s.writer.rows, rule, sized_note),
             interrupted=interrupted)


def footer_lines(rows, rule, sized_note: str | None = None) -> list[str]:
    """Each skip/failure reason once (with the rows it covers), the wrong-result warning, and how to read
    the table."""
    reasons: dict[str, list] = {}
    for r in rows:
        if r.status != "ok":
            reasons.setdefault(f"{r.status}: {r.note}", []).append(f"{r.dtype} {r.shape} {r.backend}")
    footer = [f"{why} ({'; '.join(what) if len(what) <= 3 else f'{len(what)} rows'})"
              for why, what in reasons.items()]
    if any(r.correct is False for r in rows):
        footer.append("WRONG RESULT in a row above: its throughput is not a valid GEMM figure")
    if sized_note:
        footer.append(sized_note)
    from accelkern.gemm import throttle_summary
    thr = throttle_summary(rows)
    if thr:
        footer.append(thr)
    crit = (f"relative stddev <= {rule.target_noise:.2%} or noise stable" if rule.criterion == "nvbench"
            else f"relative standard error of the median <= {rule.target_noise:.2%}")
    footer.append(f"stopping: {rule.criterion} ({crit}), at most {rule.max_time_s:g} s each; busy = call time / "
                  f"span (1 = back to back)")
    footer.append("layout: op(A) op(B) in cuBLAS column-major terms (tn = A[M,K], B[N,K] row-major); "
                  "algorithm = #heuristic index, tile rows(M) x cols(N) of D per CTA, stages, cluster; "
                  "TFLOPS = 2*M*N*K / median time; % clk = of the peak at the mean SM clock (MHz) of the timed "
                  "span; W = its mean power")
    return footer
