"""`accelkern gemm`: GEMM throughput per dtype (logic in accelkern/gemm.py)."""
from __future__ import annotations

import click

from accelkern.commands.common import Session, common_options
from accelkern.errors import AccelkernError
from accelkern.results import progress


@click.command()
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
