"""Measuring GEMMs into rows: one request (dtype, shape, options) through one backend gives one row, or one
per explored cuBLASLt algorithm. Whatever a request cannot do becomes its row: a capability this device
or build lacks -> 'skipped' with the reason; a problem too large, a library error -> 'failed' with its
words. Throughput is 2*M*N*K / median time (figures.compute_row).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

from accelkern import _ext, figures, timing, torch_backend
from accelkern.errors import AccelkernError, Unavailable
from accelkern.gemm.dtypes import DEFAULT_LAYOUT, BatchedShape, gemm_dtype, layout_rule_violation
from accelkern.gemm.workloads import CublasGemm, CublasLtGemm
from accelkern.results import Row

SHORT_CALL_S = 50e-6   # calls shorter than this are timed as CUDA-graph replays (unless flushed)
SMALL_PROBLEM = 128 ** 3   # M*N*K up to this needs no call-time probe (even emulated fp8 takes ~40 ms)


@dataclass
class GemmRequest:
    """What the CLI (or a suite) asks for: one dtype, one shape, how to run it."""
    dtype: str
    m: int
    n: int
    k: int
    batch: int = 1
    layout: str = DEFAULT_LAYOUT
    out: str | None = None           # fp8 output dtype (default bf16)
    fast_accum: bool | None = None   # fp8 fast accumulation (default on), for cuBLASLt and torch alike
    workspace_bytes: int | None = None
    check: bool = True
    algo_index: int | None = None    # cublaslt: run this heuristic index instead of the first
    top_k: int | None = None         # cublaslt: explore the heuristic's top K and time each
    sized: str | None = None         # how the shape was chosen when the user gave none

    @property
    def shape(self) -> BatchedShape:
        return BatchedShape(self.m, self.n, self.k, self.batch)


def default_backends(device: str) -> list[str]:
    """cuBLASLt beside torch on a CUDA GPU with accelkern._C built; torch alone anywhere else (the
    cuBLAS paths would only add skipped rows)."""
    if str(device).startswith("cuda") and _ext.load() is not None:
        return ["cublaslt", "torch"]
    return ["torch"]


def _base_row(req: GemmRequest, backend: str, name: str, layout: str | None) -> Row:
    row = Row(suite="gemm", name=name, dtype=gemm_dtype(req.dtype).name, shape=str(req.shape), layout=layout,
              backend=backend, flops=req.shape.flops)
    if req.sized:
        row.config["sized"] = req.sized
    return row


def skipped_row(req: GemmRequest, backend: str, why: str) -> Row:
    row = _base_row(req, backend, backend, req.layout)
    row.status, row.note = "skipped", why
    return row


def failed_row(req: GemmRequest, backend: str, why: str) -> Row:
    row = _base_row(req, backend, backend, req.layout)
    row.status, row.note = "failed", why
    return row


def _library_words(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


def _spec_dtype(dtype: str, device_info) -> str:
    return torch_backend.spec_dtype(gemm_dtype(dtype).base, device_info.kind, device_info.compute_capability)


def measure_workload(w, device: str, rule: timing.StopRule | None, cache_bytes: int | None = None):
    """timing.measure with rotation, an L2 flush when the rotated sets do not exceed 3x the cache, and graph
    replay for calls under SHORT_CALL_S on CUDA (flushed short calls are timed call by call instead: a
    replay would run them back to back, without the flush)."""
    ops = getattr(w, "ops", None)
    set_bytes = ops.set_bytes if ops else 0
    cache = cache_bytes or (ops.cache_bytes if ops else None) or 0
    flush = bool(cache) and set_bytes * w.slots < 3 * cache
    short = str(device).startswith("cuda") and timing.quick_call_s(w, device, w.slots) < SHORT_CALL_S
    meas = timing.measure(w, device, slots=w.slots, rule=rule, l2_flush=flush, graph=short and not flush)
    if short and flush:
        meas.mode["graph_note"] = ("a short call with an L2 flush before each: timed call by call (a graph "
                                   "replay would run the calls back to back, unflushed)")
    return meas


def _finish_row(row: Row, meas, device_info, spec, req: GemmRequest, chk) -> Row:
    if chk is not None:
        row.correct, row.max_error, row.tolerance = chk
    row.config.setdefault("l2_flush", meas.mode.get("l2_flush"))
    row.config.setdefault("graph", meas.mode.get("graph"))
    if meas.mode.get("graph"):
        row.config["graph_calls"] = meas.mode.get("calls_per_sample")
    if meas.mode.get("graph_note"):
        row.config["graph_note"] = meas.mode["graph_note"]
    return figures.compute_row(row, meas, device_info, spec, _spec_dtype(req.dtype, device_info))


def lt_rows(req: GemmRequest, device_info, spec, rule: timing.StopRule | None = None,
            progress: Callable[[str], None] = lambda m: None) -> Iterator[Row]:
    """cuBLASLt: the heuristic's choice (or index), or with req.top_k every one of the top K, each timed
    (and checked); explorer rows come out in heuristic order, the fastest correct one marked 'best of K'.
    An algorithm the library refuses is a skipped row, a library error while running one a failed row;
    the other algorithms go on."""
    dev = device_info.torch_device
    start_algo = req.algo_index if req.top_k is None else None
    w = CublasLtGemm(req.dtype, req.m, req.n, req.k, dev, layout=req.layout, algo=start_algo,
                     workspace_bytes=req.workspace_bytes, batch=req.batch, out=req.out, fast_accum=req.fast_accum,
                     cache_bytes=device_info.l2_bytes, top_k=req.top_k or 8)
    try:
        algos = w.algos if req.top_k else [w.algo]
        rows: list[Row] = []
        try:
            for a in algos:
                progress(f"  gemm {w.dtype} {w.shape} cublasLt {a.label}")
                try:
                    w.set_algo(a)
                    chk = w.check() if req.check else None
                    meas = measure_workload(w, dev, rule)
                except Unavailable as exc:  # one algorithm the library will not run: say so, go on
                    row = skipped_row(req, "cublaslt", str(exc))
                except RuntimeError as exc:  # a CUDA/cuBLAS error with this algorithm: its words, go on
                    row = failed_row(req, "cublaslt", _library_words(exc))
                else:
                    row = _base_row(req, "cublaslt", w.name, w.layout)
                    row.config.update(w.config())
                    if req.top_k:
                        row.config["explored"] = len(algos)
                    row = _finish_row(row, meas, device_info, spec, req, chk)
                if row.status != "ok":
                    row.config.update(a.config())
                row.kernel = f"#{a.index} algo {a.algo_id}"
                rows.append(row)
        except KeyboardInterrupt:
            yield from rows  # Ctrl-C keeps the algorithms already measured
            raise
        if req.top_k and rows:
            best = max((r for r in rows if r.value is not None and r.correct is not False),
                       key=lambda r: r.value, default=None)
            if best is not None:
                best.note = f"best of {len(rows)}" + (f"; {best.note}" if best.note else "")
                best.config["best_of"] = len(rows)
        yield from rows
    finally:
        w.close()


def cublas_rows(req: GemmRequest, device_info, spec, rule=None, progress=lambda m: None) -> Iterator[Row]:
    dev = device_info.torch_device
    w = CublasGemm(req.dtype, req.m, req.n, req.k, dev, layout=req.layout, workspace_bytes=req.workspace_bytes,
                   batch=req.batch, cache_bytes=device_info.l2_bytes)
    try:
        progress(f"  gemm {w.dtype} {w.shape} {w.name}")
        chk = w.check() if req.check else None
        meas = measure_workload(w, dev, rule)
        row = _base_row(req, "cublas", w.name, w.layout)
        row.kernel = "CUBLAS_GEMM_DEFAULT"
        row.config.update(w.config())
        yield _finish_row(row, meas, device_info, spec, req, chk)
    finally:
        w.close()


def torch_call_cap(dtype: str, device: str, m: int, n: int, k: int, max_call_s: float) -> str | None:
    """Why one torch call of this shape would take longer than `max_call_s` on a device other than a CUDA
    GPU (predicted from a warmed probe), with the largest square that fits; None when it fits."""
    if str(device).startswith("cuda") or m * n * k <= SMALL_PROBLEM:
        return None
    p = torch_backend.probe(dtype, device)
    pred = p.predict_s(m, n, k)
    if pred <= max_call_s:
        return None
    fits = torch_backend.affordable_size(dtype, device, max_call_s, min_size=64)
    hint = f"at most {fits}x{fits}x{fits} fits" if fits else "even 64x64x64 does not fit"
    return (f"one call would take ~{pred:.3g} s on {device} (from {p.size}^3 calls of {p.call_s * 1e3:.3g} ms), "
            f"more than --max-time {max_call_s:g} s; {hint}")


def torch_rows(req: GemmRequest, device_info, spec, rule=None, progress=lambda m: None) -> Iterator[Row]:
    """The torch backend on the same M, N, K, timed as A[M,K] @ B[N,K].T (the layout cuBLASLt is timed in):
    torch.mm, torch._scaled_mm (fp8 e4m3, bf16 out, fast accumulation as asked) or torch._int_mm."""
    dt = gemm_dtype(req.dtype)
    dev = device_info.torch_device
    rule = rule or timing.StopRule()
    if not dt.torch:
        raise Unavailable(f"the torch backend has no {dt.name} (it times fp64, fp32, tf32, fp16, bf16, fp8 e4m3 x "
                          f"e4m3 with bf16 output, int8)")
    if req.batch > 1:
        raise Unavailable("the torch backend times single GEMMs (batch 1)")
    if dt.fp8 and (req.out or "bf16") != "bf16":
        raise Unavailable("torch._scaled_mm is timed with bf16 output only")
    why = torch_backend.gemm_unavailable(dt.name, dev)
    if why:
        raise Unavailable(why)
    torch_backend.check_fits(dt.name, req.m, req.n, req.k, dev)
    too_long = torch_call_cap(dt.name, dev, req.m, req.n, req.k, rule.max_time_s)
    if too_long:
        raise Unavailable(too_long)
    w = torch_backend.TorchGemm(dt.name, req.m, req.n, req.k, dev, cache_bytes=device_info.l2_bytes,
                                fast_accum=req.fast_accum)
    try:
        progress(f"  gemm {dt.name} {w.shape} {w.name}")
        chk = w.check() if req.check else None
        meas = timing.measure(w, dev, slots=w.slots, rule=rule)
        row = _base_row(req, "torch", w.name, w.layout)
        row.kernel = w.name
        row.config.update(w.config())
        if req.layout != w.layout:
            row.note = f"torch is timed in layout {w.layout} only (asked: {req.layout})"
        yield figures.label_cpu_torch_path(_finish_row(row, meas, device_info, spec, req, chk), device_info,
                                           dt.name)
    finally:
        w.close()


ROW_FUNCS = {"cublaslt": lt_rows, "cublas": cublas_rows, "torch": torch_rows}


def gemm_rows(req: GemmRequest, backend: str, device_info, spec, rule=None,
              progress: Callable[[str], None] = lambda m: None) -> Iterator[Row]:
    """Rows of one (request, backend): a capability this GPU/build lacks becomes a skipped row; a problem
    that does not fit or a library error a failed row with its words (the run goes on)."""
    try:
        yield from ROW_FUNCS[backend](req, device_info, spec, rule, progress)
    except Unavailable as exc:
        yield skipped_row(req, backend, str(exc))
    except AccelkernError as exc:    # too large for the free memory, or a rule only the device knows
        yield failed_row(req, backend, str(exc))
    except RuntimeError as exc:      # a CUDA/cuBLAS error mid-run: the library's words
        yield failed_row(req, backend, _library_words(exc))


def check_requests(reqs: list[GemmRequest], cc: tuple | None, strict: bool = True) -> list[tuple[GemmRequest, str]]:
    """Layout/alignment rules (for a GPU of compute capability `cc`) before anything runs: a broken rule is
    an AccelkernError naming the rule (strict) or returned as (request, rule) to be reported as a skipped
    row. The int8 rule (cuBLASLt IMMA with regular ordering: layout tn, M and K multiples of 4) and the
    fp8 rule (tn below sm_100, M and K multiples of 16) are the library's, stated in words."""
    bad = []
    for r in reqs:
        why = layout_rule_violation(r.dtype, r.m, r.n, r.k, r.layout, cc)
        if why:
            if strict:
                raise AccelkernError(f"{gemm_dtype(r.dtype).name} {r.shape}: {why}")
            bad.append((r, why))
    return bad


def default_square(dtype: str, device: str, max_time_s: float, gpu_size: int = 8192) -> tuple[int, str | None]:
    """The square size a run without --shape measures: `gpu_size` on a CUDA GPU; elsewhere the largest power
    of two (64..gpu_size) whose predicted call takes at most max_time_s / 10, so the stopping rule gets
    samples (with the words saying so). A dtype torch cannot run here keeps gpu_size: its row says why."""
    if str(device).startswith("cuda"):
        return gpu_size, None
    cap = max_time_s / 10
    try:
        n = torch_backend.affordable_size(dtype, device, cap, min_size=64, max_size=gpu_size)
    except Unavailable:
        return gpu_size, None
    n = n or 64
    return n, f"largest power-of-two square whose predicted call takes <= {cap:.3g} s (--max-time / 10)"
