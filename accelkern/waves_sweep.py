"""Measurements and plots of the wave lab: the synthetic staircase kernel, GEMM sweeps (cuBLASLt or torch)
beside the model of accelkern/waves.py, and measured speedups of suggested shapes.

Times in seconds (rows in ms / us as named), throughput in TFLOPS. Plots through matplotlib (Agg), imported
only when a plot is drawn.
"""
from __future__ import annotations

import io
import json
import math
import os
from dataclasses import dataclass, field
from typing import Callable

from accelkern import _ext, figures, safe_io, timing, torch_backend, waves
from accelkern.errors import AccelkernError, Unavailable
from accelkern.results import Row
from accelkern.units import format_value

SUITE = "waves"


# ---- the staircase kernel ---------------------------------------------------------------------------

STAIRCASE_THREADS = 32
DEFAULT_ITERS = 8192        # dependent FFMAs per thread: ~4 cycles each, about 17 us per wave at 1.98 GHz


def _require_cuda(info, what: str):
    if info.kind != "cuda":
        raise AccelkernError(f"{what} runs a CUDA kernel; this run has no CUDA device (device: {info.name})")
    return _ext.require()


def staircase_sm_limits(info, attrs: dict) -> waves.SmLimits:
    """The model's SM limits for this device, with the reserved per-CTA shared memory the driver reports."""
    sm = waves.SmLimits.from_device(info)
    from dataclasses import replace
    return replace(sm, reserved_smem_per_block=int(attrs["reserved_smem_per_block"]))


def staircase_resources(attrs: dict) -> waves.CtaResources:
    return waves.CtaResources(threads=int(attrs["threads_per_cta"]), regs_per_thread=int(attrs["num_regs"]),
                              static_smem=int(attrs["static_smem_bytes"]),
                              max_dynamic_smem=int(attrs["max_dynamic_smem_bytes"]))


@dataclass
class StaircasePlan:
    """How one CTAs-per-SM setting is forced and what the model and the runtime say about it."""
    ctas_per_sm: int
    dynamic_smem: int
    model: waves.Occupancy
    runtime_ctas_per_sm: int
    resident: int                # SMs x the model's CTAs per SM
    attrs: dict

    @property
    def agrees(self) -> bool:
        return self.model.ctas_per_sm == self.runtime_ctas_per_sm == self.ctas_per_sm


def plan_staircase(info, ctas_per_sm: int) -> StaircasePlan:
    """Dynamic shared memory forcing `ctas_per_sm`, the model's occupancy for it and the runtime's."""
    C = _require_cuda(info, "the staircase")
    attrs0 = dict(C.waves_staircase_attributes(info.index, 0))
    sm = staircase_sm_limits(info, attrs0)
    res = staircase_resources(attrs0)
    smem = waves.smem_for_ctas_per_sm(ctas_per_sm, res, sm, carveout_percent=attrs0["carveout_percent"])
    attrs = dict(C.waves_staircase_attributes(info.index, smem))
    from dataclasses import replace
    model = waves.occupancy(replace(res, dynamic_smem=smem), sm, carveout_percent=attrs["carveout_percent"])
    return StaircasePlan(ctas_per_sm, smem, model, int(attrs["ctas_per_sm"]),
                         info.sm_count * model.ctas_per_sm, attrs)


def active_clusters(info, cluster_size: int, ctas_per_sm: int) -> int | None:
    """Clusters of `cluster_size` CTAs resident at once when `ctas_per_sm` CTAs fit per SM, as the runtime
    reports for the staircase kernel sized to that occupancy; None where the GPU or build cannot say."""
    if info.kind != "cuda" or cluster_size <= 1 or (info.compute_capability or (0, 0))[0] < 9:
        return None
    C = _ext.load()
    if C is None or not hasattr(C, "waves_max_active_clusters"):
        return None
    key = (info.index, cluster_size, ctas_per_sm)
    if key not in _CLUSTER_CACHE:
        try:
            smem = plan_staircase(info, ctas_per_sm).dynamic_smem
            _CLUSTER_CACHE[key] = int(C.waves_max_active_clusters(info.index, cluster_size, smem))
        except (RuntimeError, AccelkernError):
            _CLUSTER_CACHE[key] = None
    return _CLUSTER_CACHE[key]


_CLUSTER_CACHE: dict = {}


class StaircaseWorkload:
    """fn(slot) for timing.measure: one staircase launch of `ctas` CTAs (no memory traffic)."""

    def __init__(self, device_index: int, ctas: int, iters: int, dynamic_smem: int):
        import torch
        self.C = _ext.require()
        self.ctas, self.iters, self.smem = ctas, iters, dynamic_smem
        self.out = torch.empty(1, dtype=torch.float32, device=f"cuda:{device_index}")

    def __call__(self, slot: int):
        self.C.waves_staircase(self.out, self.ctas, self.iters, self.smem)


def staircase_check(device_index: int, ctas: int, iters: int, dynamic_smem: int) -> tuple[bool, float]:
    """Check mode: poisoned output, every thread of every CTA stores its x; exact integer reference
    x = tid%16 + iters*((tid+cta)%7) (a = b = 1). Returns (all equal, max abs error)."""
    import torch
    from accelkern import checks
    C = _ext.require()
    out = torch.empty(ctas * STAIRCASE_THREADS, dtype=torch.float32, device=f"cuda:{device_index}")
    checks.poison_(out)
    C.waves_staircase(out, ctas, iters, dynamic_smem, 1.0, 1.0, True)
    torch.cuda.synchronize(out.device)
    tid = torch.arange(STAIRCASE_THREADS, dtype=torch.int64).repeat(ctas)
    cta = torch.arange(ctas, dtype=torch.int64).repeat_interleave(STAIRCASE_THREADS)
    ref = (tid % 16 + iters * ((tid + cta) % 7)).to(torch.float64)
    got = out.cpu().to(torch.float64)
    err = (got - ref).abs()
    err = torch.where(torch.isnan(err), torch.full_like(err, math.inf), err)
    return bool((err == 0).all()), float(err.max())


def staircase_rule(max_time_s: float) -> timing.StopRule:
    return timing.StopRule(min_samples=5, min_time_s=0.005, max_time_s=max_time_s, target_noise=0.003)


def measure_staircase_point(info, plan: StaircasePlan, ctas: int, iters: int, rule: timing.StopRule):
    w = StaircaseWorkload(info.index, ctas, iters, plan.dynamic_smem)
    return timing.measure(w, info.torch_device, rule=rule, graph=True)


@dataclass
class StaircaseResult:
    plan: StaircasePlan
    points: dict                 # ctas -> median seconds
    fit: waves.StairFit | None
    steps: list
    rows: list = field(default_factory=list)
    correct: bool | None = None

    @property
    def steps_ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)


def run_staircase(info, ctas_per_sm: int, *, waves_count: int = 4, per_wave: int = 8, iters: int = DEFAULT_ITERS,
                  max_time_s: float = 0.15, emit: Callable[[Row], Row] = lambda r: r,
                  progress: Callable[[str], None] = lambda m: None, ctas_list: list[int] | None = None
                  ) -> StaircaseResult:
    """Times the staircase kernel over CTA counts around the predicted steps for one CTAs-per-SM setting."""
    plan = plan_staircase(info, ctas_per_sm)
    R = plan.resident
    counts = ctas_list or waves.staircase_ctas(R, waves_count, per_wave, info.sm_count)
    ok, err = staircase_check(info.index, max(counts[-1], 2 * R + 1), 256, plan.dynamic_smem)
    result = StaircaseResult(plan, {}, None, [], correct=ok)
    progress(f"staircase {ctas_per_sm} CTA/SM: {plan.dynamic_smem} B dynamic smem per CTA, model "
             f"{plan.model.ctas_per_sm} / runtime {plan.runtime_ctas_per_sm} CTAs per SM, steps predicted every "
             f"{R} CTAs; check {'ok' if ok else f'FAILED (max error {err})'}")
    rule = staircase_rule(max_time_s)
    for c in counts:
        meas = measure_staircase_point(info, plan, c, iters, rule)
        result.points[c] = meas.stats.median_s
        row = Row(suite=SUITE, name="staircase", dtype="fp32", shape=f"{c} CTAs", backend="accelkern",
                  kernel="staircase_ffma", flops=2.0 * c * STAIRCASE_THREADS * iters, correct=ok,
                  config={"ctas": c, "ctas_per_sm": ctas_per_sm, "model_ctas_per_sm": plan.model.ctas_per_sm,
                          "runtime_ctas_per_sm": plan.runtime_ctas_per_sm, "resident": R,
                          "dynamic_smem_bytes": plan.dynamic_smem, "threads_per_cta": STAIRCASE_THREADS,
                          "regs_per_thread": plan.attrs["num_regs"], "iters": iters, "waves": c / R,
                          "full_waves": waves.ceil_div(c, R), "limiting": list(plan.model.limiting)})
        figures.apply_measurement(row, meas)
        row.metric, row.value = "us", meas.stats.median_s * 1e6
        row.value_best = meas.stats.min_s * 1e6
        result.rows.append(emit(row))
    if len({waves.ceil_div(c, R) for c in result.points}) >= 2:
        result.fit = waves.fit_staircase(result.points, R)
        result.steps = waves.check_steps(result.points, result.fit)
        for row in result.rows:
            row.config["predicted_us"] = result.fit.predict(row.config["ctas"]) * 1e6
    return result


# ---- GEMM sweeps -----------------------------------------------------------------------------------

def _gemm_module():
    try:
        import accelkern.gemm as gemm  # the cuBLASLt backend
    except ImportError as exc:
        raise AccelkernError(f"the cuBLASLt backend (accelkern.gemm) is not in this install ({exc}); use "
                             "--backend torch, or give the kernel by hand with --tile") from None
    return gemm


def cublaslt_available() -> bool:
    try:
        _gemm_module()
        return _ext.load() is not None
    except AccelkernError:
        return False


def algo_label(algo) -> str:
    if algo is None:
        return "cuBLASLt (algorithm not reported)"
    bits = [f"algo {getattr(algo, 'algo_id', '?')}"]
    for name, key in (("tile", "tile"), ("stages", "stages"), ("cluster", "cluster"), ("splitK", "splitk")):
        v = getattr(algo, key, None)
        if v not in (None, "", 0):
            bits.append(f"{name} {v}")
    return " ".join(bits)


def algo_config(algo) -> dict:
    if algo is None:
        return {}
    keys = ("index", "algo_id", "tile", "stages", "cluster", "splitk", "reduction", "swizzle", "custom_option",
            "workspace_bytes", "waves_count")
    return {f"algo_{k}" if k in ("index",) else k: getattr(algo, k, None) for k in keys}


@dataclass
class GemmSetup:
    """What the sweep (or explain --measure) runs, and how the model learns each point's launch."""
    backend: str                         # 'cublaslt' | 'torch'
    dtype: str
    device: str
    sms: int
    tile: tuple | None = None            # given by hand: used for the model (torch: else DEFAULT_TILE)
    ctas_per_sm: int | None = None
    cluster: tuple = (1, 1)
    split_k: int = 1
    fixed_algo: object = None            # AlgoInfo held across the sweep (cublaslt)
    layout: str | None = None
    cache_bytes: int | None = None
    fixed_launch: waves.AlgoLaunch | None = None

    def hold(self, algo, m: int, n: int):
        """Holds `algo` for every shape; its launch (tile orientation, CTAs per SM) is read once, at the shape
        it was chosen for: its wavesCount describes that shape only."""
        self.fixed_algo = algo
        if self.tile is None and getattr(algo, "tile_m", None):
            self.fixed_launch = waves.launch_from_algo(algo, m, n, self.sms, self.ctas_per_sm)

    info: object = None                  # DeviceInfo: lets the runtime say how many clusters fit

    def launch_for(self, m: int, n: int, algo) -> tuple[waves.Launch, str, tuple]:
        launch, source, notes = self._launch_for(m, n, algo)
        if launch.cluster_size > 1 and launch.active_clusters is None and self.info is not None:
            n_cl = active_clusters(self.info, launch.cluster_size, launch.ctas_per_sm)
            if n_cl:
                from dataclasses import replace
                launch = replace(launch, active_clusters=n_cl)
                notes = tuple(notes) + (f"{n_cl} clusters of {launch.cluster_size} fit at once "
                                        "(cudaOccupancyMaxActiveClusters)",)
        return launch, source, notes

    def _launch_for(self, m: int, n: int, algo) -> tuple[waves.Launch, str, tuple]:
        if self.fixed_launch is not None:
            fl = self.fixed_launch
            return fl.launch, fl.source + " (read at the shape the algorithm was chosen for)", fl.notes
        if self.tile is not None:
            return (waves.Launch(self.tile[0], self.tile[1], self.sms, self.ctas_per_sm or 1, self.split_k, 1,
                                 self.cluster[0], self.cluster[1]), "tile given by hand", ())
        if algo is not None and getattr(algo, "tile_m", None):
            al = waves.launch_from_algo(algo, m, n, self.sms, self.ctas_per_sm)
            return al.launch, al.source, al.notes
        tm, tn = waves.DEFAULT_TILE
        why = "torch does not report its kernel's tile" if self.backend == "torch" else "cuBLASLt reported no tile"
        return (waves.Launch(tm, tn, self.sms, self.ctas_per_sm or 1, self.split_k, 1, *self.cluster),
                f"tile {tm}x{tn} assumed ({why}; give --tile)", ())

    def workload(self, m: int, n: int, k: int):
        if self.backend == "torch":
            w = torch_backend.TorchGemm(self.dtype, m, n, k, self.device, cache_bytes=self.cache_bytes)
            return w, None
        gemm = _gemm_module()
        w = gemm.CublasLtGemm(self.dtype, m, n, k, self.device, layout=self.layout, algo=self.fixed_algo,
                              cache_bytes=self.cache_bytes)
        return w, getattr(w, "algo", None)


def pick_fixed_algo(dtype: str, m: int, n: int, k: int, device: str, layout=None):
    """The algorithm held by --fixed-algo: cuBLASLt's best non-split-K choice at the sweep's largest shape
    (split-K would change the tile count with K, hiding the pure tile/wave steps)."""
    gemm = _gemm_module()
    algos = gemm.heuristic_algos(dtype, m, n, k, device=device, layout=layout, top_k=8)
    if not algos:
        raise Unavailable(f"cuBLASLt offers no {dtype} algorithm for {m}x{n}x{k}")
    for a in algos:
        if (getattr(a, "splitk", 1) or 1) <= 1 and getattr(a, "tile_m", None):
            return a
    return algos[0]


def _check(w) -> tuple[bool | None, float | None, float | None]:
    r = w.check()
    if isinstance(r, dict):
        ok = r.get("ok", r.get("correct"))
        return (None if ok is None else bool(ok)), r.get("max_error"), r.get("tolerance")
    if isinstance(r, tuple):
        ok = bool(r[0])
        return ok, (float(r[1]) if len(r) > 1 and r[1] is not None else None), \
            (float(r[2]) if len(r) > 2 and r[2] is not None else None)
    return bool(r), None, None


@dataclass
class SweepPoint:
    m: int
    n: int
    k: int
    row: Row
    analysis: waves.WaveAnalysis | None = None
    algo: str | None = None

    @property
    def ok(self) -> bool:
        return self.row.status == "ok" and self.row.median_ms is not None and self.analysis is not None


def measure_gemm_point(setup: GemmSetup, info, spec, m: int, n: int, k: int, rule: timing.StopRule,
                       check: bool = True, checked: set | None = None, peak_tflops: float | None = None,
                       name: str = "sweep") -> SweepPoint:
    """One GEMM shape: measured (through timing.measure / figures.compute_row) beside the model.
    With `checked` (a set of algorithm labels) the correctness check runs only for an algorithm not in it."""
    sd = torch_backend.spec_dtype(setup.dtype, info.kind, info.compute_capability)
    row = Row(suite=SUITE, name=name, dtype=setup.dtype, shape=f"{m}x{n}x{k}", backend=setup.backend)
    try:
        w, algo = setup.workload(m, n, k)
    except AccelkernError as exc:  # Unavailable here (an algorithm invalid for this shape), or too big
        row.status, row.note = "skipped", str(exc)
        return SweepPoint(m, n, k, row)
    try:
        launch, source, notes = setup.launch_for(m, n, algo)
        a = waves.analyze(m, n, k, launch)
        row.layout = getattr(w, "layout", setup.layout)
        row.kernel = algo_label(algo) if setup.backend == "cublaslt" else getattr(w, "name", "torch.mm")
        row.flops = w.shape.flops
        cfg = {**algo_config(algo), "model_tile": launch.tile, "model_source": source,
               "model_ctas_per_sm": launch.ctas_per_sm, "model_split_k": launch.split_k,
               "model_cluster": f"{launch.cluster_m}x{launch.cluster_n}", "sms": launch.sms,
               "tiles": a.tiles, "ctas": a.ctas, "resident": a.resident, "waves": a.waves,
               "full_waves": a.full_waves, "wave_efficiency": a.wave_efficiency,
               "last_wave_fill": a.last_wave_fill, "tile_efficiency": a.tile_efficiency,
               "quantized_flops": a.quantized_flops, "fixed_algo": setup.fixed_algo is not None}
        if notes:
            cfg["model_notes"] = list(notes)
        if peak_tflops:
            cfg["predicted_ms_at_peak"] = waves.predicted_seconds(a, peak_tflops) * 1e3
            cfg["peak_tflops"] = peak_tflops
        row.config = cfg
        if check and (checked is None or row.kernel not in checked):
            row.correct, row.max_error, row.tolerance = _check(w)
            if checked is not None:
                checked.add(row.kernel)
        meas = timing.measure(w, setup.device, slots=getattr(w, "slots", 1), rule=rule)
        figures.compute_row(row, meas, info, spec, sd)
        return SweepPoint(m, n, k, row, a, row.kernel)
    except Unavailable as exc:
        row.status, row.note = "skipped", str(exc)
        return SweepPoint(m, n, k, row)
    except RuntimeError as exc:  # a CUDA / cuBLAS error at this point: recorded, the sweep goes on
        row.status, row.note = "failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return SweepPoint(m, n, k, row)
    finally:
        close = getattr(w, "close", None)
        if close:
            close()


def sweep_shapes(ms: list[int], ns: list[int], ks: list[int]) -> tuple[list[tuple[int, int, int]], list[str]]:
    """All (M, N, K) of the grid and the names of the dimensions that vary (at most two)."""
    varying = [d for d, v in (("M", ms), ("N", ns), ("K", ks)) if len(v) > 1]
    if len(varying) > 2:
        raise AccelkernError("sweep at most two of --m, --n, --k at once (one: a line plot, two: a heat map)")
    return [(m, n, k) for m in ms for n in ns for k in ks], varying


@dataclass
class SweepSummary:
    points: int
    scale_s_per_flop: float | None       # fitted: measured time ~= scale * quantized FLOPs + offset
    offset_s: float | None               # fitted fixed cost per call (launch, epilogue), >= 0
    fitted_pct_of_peak: float | None     # 1 / (scale x peak): the within-wave speed the fit found
    pearson_time: float | None           # predicted vs measured time
    pearson_tflops: float | None         # predicted vs measured TFLOPS (the harder test: no size trend)
    algo_switches: list
    dips: list

    def lines(self) -> list[str]:
        out = []
        if self.pearson_time is not None:
            out.append(f"model vs measured: Pearson r = {self.pearson_time:.4f} on time, "
                       f"{self.pearson_tflops:.4f} on TFLOPS ({self.points} points)"
                       if self.pearson_tflops is not None else
                       f"model vs measured: Pearson r = {self.pearson_time:.4f} on time ({self.points} points)")
        if self.fitted_pct_of_peak is not None:
            out.append(f"fit: per-wave speed {self.fitted_pct_of_peak:.1f}% of the clock peak, fixed cost "
                       f"{(self.offset_s or 0) * 1e6:.1f} us (predicted time = ceil(waves) x per-wave time + fixed)")
        for s in self.algo_switches:
            out.append(f"algorithm switch at {s['at']}: {s['from']} -> {s['to']}")
        for d in self.dips:
            out.append(f"dip at {d['at']}: {format_value(d['tflops'], 'TFLOPS')}, {d['tiles']} tiles, "
                       f"{d['waves']:.2f} waves "
                       f"(last wave {d['last_wave_fill']:.0%} full)")
        return out


def predicted_tflops_series(points: list[SweepPoint], scale: float, offset: float = 0.0) -> list[float]:
    return [p.analysis.useful_flops / (scale * p.analysis.quantized_flops + offset) / 1e12 for p in points]


def find_dips(points: list[SweepPoint], varying: str, min_drop: float = 0.03) -> list[dict]:
    """Local minima of measured TFLOPS at least `min_drop` below both neighbours."""
    out = []
    vals = [p.row.value for p in points]
    for i in range(1, len(points) - 1):
        left, right = vals[i - 1], vals[i + 1]
        if vals[i] < left and vals[i] < right and vals[i] <= (1 - min_drop) * min(left, right):
            a = points[i].analysis
            out.append({"at": f"{varying}={_dim(points[i], varying)}", "index": i, "tflops": vals[i],
                        "tiles": a.tiles, "waves": a.waves, "last_wave_fill": a.last_wave_fill})
    return out


def _dim(p: SweepPoint, d: str) -> int:
    return {"M": p.m, "N": p.n, "K": p.k}[d]


def summarize(points: list[SweepPoint], varying: list[str], peak_tflops: float | None) -> SweepSummary:
    good = [p for p in points if p.ok]
    if not good:
        return SweepSummary(0, None, None, None, None, None, [], [])
    units = [p.analysis.quantized_flops for p in good]
    times = [p.row.median_ms * 1e-3 for p in good]
    scale, offset = waves.fit_affine(units, times)
    pred_t = [scale * u + offset for u in units]
    pred_f = predicted_tflops_series(good, scale, offset)
    meas_f = [p.row.value for p in good]
    for p, t, f in zip(good, pred_t, pred_f):
        p.row.config["predicted_ms_fitted"] = t * 1e3
        p.row.config["predicted_tflops_fitted"] = f
    switches, dips = [], []
    if len(varying) == 1:
        d = varying[0]
        for prev, cur in zip(good, good[1:]):
            if prev.algo != cur.algo:
                switches.append({"at": f"{d}={_dim(cur, d)}", "from": prev.algo, "to": cur.algo})
        dips = find_dips(good, d)
    pct = 100.0 / (scale * peak_tflops * 1e12) if peak_tflops else None
    return SweepSummary(len(good), scale, offset, pct, waves.pearson(pred_t, times), waves.pearson(pred_f, meas_f),
                        switches, dips)


def write_summary(path: str, summary: SweepSummary, points: list[SweepPoint], meta: dict):
    doc = {"meta": meta, "summary": {k: v for k, v in summary.__dict__.items()},
           "points": [{"m": p.m, "n": p.n, "k": p.k, "status": p.row.status, "algo": p.algo,
                       "measured_ms": p.row.median_ms, "measured_tflops": p.row.value,
                       **{k: p.row.config.get(k) for k in ("tiles", "waves", "full_waves", "model_tile",
                                                           "predicted_ms_fitted", "predicted_tflops_fitted")}}
                      for p in points]}
    safe_io.atomic_write(path, json.dumps(doc, indent=2, default=str))


# ---- command helpers ------------------------------------------------------------------------------

def table_columns(kind: str):
    """Columns of the staircase or sweep table."""
    from accelkern.tables import Column
    cfg = lambda key: (lambda r: r.config.get(key))
    if kind == "staircase":
        return (Column("CTA/SM", cfg("ctas_per_sm")), Column("CTAs", cfg("ctas")),
                Column("waves", cfg("waves"), "{:.2f}"), Column("full", cfg("full_waves")),
                Column("measured", lambda r: None if r.value is None else format_value(r.value, "us")),
                Column("predicted", lambda r: None if r.config.get("predicted_us") is None
                       else format_value(r.config["predicted_us"], "us")),
                Column("spread", lambda r: r.rel_stddev, "{:.1%}"),
                Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"), Column("ok", lambda r: r.correct),
                Column("note", lambda r: r.note if r.status == "ok" else f"{r.status}: {r.note}"))
    return (Column("shape", lambda r: r.shape), Column("algorithm", lambda r: r.kernel),
            Column("tile", cfg("model_tile")), Column("tiles", cfg("tiles")),
            Column("waves", cfg("waves"), "{:.2f}"), Column("last wave", cfg("last_wave_fill"), "{:.0%}"),
            Column("ms", lambda r: r.median_ms, "{:.4g}"),
            Column("measured", lambda r: None if r.value is None else format_value(r.value, r.metric)),
            Column("predicted", lambda r: None if r.config.get("predicted_tflops_fitted") is None
                   else format_value(r.config["predicted_tflops_fitted"], r.metric or "TFLOPS")),
            Column("% clk peak", lambda r: r.pct_of_clock_peak, "{:.1f}"),
            Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
            Column("power W", lambda r: r.power_mean_w, "{:.0f}"), Column("ok", lambda r: r.correct),
            Column("note", lambda r: r.note if r.status == "ok" else f"{r.status}: {r.note}"))


def gemm_setup(info, dtype, backend, tile=None, ctas_per_sm=None, sms=None, cluster="1x1", split_k=1) -> GemmSetup:
    """The GemmSetup of a command's options (backend 'auto': cuBLASLt on a GPU when built, else torch)."""
    if backend == "auto":
        backend = "cublaslt" if info.kind == "cuda" and cublaslt_available() else "torch"
    if backend == "cublaslt" and info.kind != "cuda":
        raise AccelkernError("--backend cublaslt needs a CUDA device; use --backend torch on the CPU")
    n_sms = sms or info.sm_count
    if not n_sms:
        raise AccelkernError("the SM count is unknown here; give --sms")
    return GemmSetup(backend=backend, dtype=dtype, device=info.torch_device, sms=n_sms,
                     tile=waves.parse_pair(tile, "--tile") if tile else None, ctas_per_sm=ctas_per_sm,
                     cluster=waves.parse_pair(cluster, "--cluster"), split_k=split_k,
                     cache_bytes=info.l2_bytes, info=info if info.kind == "cuda" else None)


def peak_for(info, spec, dtype) -> float | None:
    """TFLOPS one wave is predicted at: the GPU's peak at its max clock, else the datasheet's."""
    sd = torch_backend.spec_dtype(dtype, info.kind, info.compute_capability)
    if info.kind == "cuda":
        p = info.peak_at_clock_tflops(sd)
        if p:
            return p
    return spec.peak(sd) if spec else None


def explain_measure(info, spec, dtype, backend, max_time, base, suggestions,
                    progress: Callable[[str], None] = lambda m: None) -> dict:
    """Measured time and TFLOPS of the shape and each suggestion (per-shape algorithm, as users get it),
    keyed by (M, N, K); suggestions also get measured time ratio and gain against the shape."""
    setup = gemm_setup(info, dtype, backend, sms=base.launch.sms)
    rule = timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=max_time, target_noise=0.01)
    out = {}
    shapes = [(base.m, base.n, base.k)] + [x.shape for x in suggestions]
    for shp in shapes:
        progress(f"measuring {'x'.join(map(str, shp))}")
        p = measure_gemm_point(setup, info, spec, *shp, rule, check=True, name="explain")
        if p.row.status == "ok":
            out[shp] = {"measured_ms": p.row.median_ms, "measured_tflops": p.row.value, "algorithm": p.row.kernel,
                        "correct": p.row.correct}
    b = out.get(shapes[0])
    if b:
        for shp in shapes[1:]:
            if shp in out:
                out[shp]["measured_time_ratio"] = out[shp]["measured_ms"] / b["measured_ms"]
                out[shp]["measured_gain"] = out[shp]["measured_tflops"] / b["measured_tflops"]
    return out


# ---- plots ---------------------------------------------------------------------------------------

def pyplot():
    """matplotlib.pyplot on the Agg backend, or a clear error naming the extra to install."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AccelkernError("plots need matplotlib: pip install 'accelkern[plot]' (results were still "
                             "written as JSONL/CSV)") from None
    return plt


def _series(ax) -> dict:
    return {ln.get_label(): ([float(x) for x in ln.get_xdata()], [float(y) for y in ln.get_ydata()])
            for ln in ax.get_lines() if not ln.get_label().startswith("_")}


def plot_sweep(points: list[SweepPoint], varying: str, summary: SweepSummary, path: str, title: str) -> dict:
    """Measured and predicted TFLOPS along one dimension, dips annotated with tiles and waves, algorithm
    switches marked. Returns the plotted series {label: (x, y)}."""
    plt = pyplot()
    good = [p for p in points if p.ok]
    xs = [_dim(p, varying) for p in good]
    fig, ax = plt.subplots(figsize=(11, 5.5))
    ax.plot(xs, [p.row.value for p in good], "o-", ms=3, lw=1.2, label="measured")
    if summary.scale_s_per_flop:
        ax.plot(xs, predicted_tflops_series(good, summary.scale_s_per_flop, summary.offset_s or 0.0), "-", lw=1.2,
                label="predicted (ceil(waves) x fitted per-wave time)")
    for s in summary.algo_switches:
        x = int(s["at"].split("=")[1])
        ax.axvline(x, color="grey", ls=":", lw=0.8)
        ax.annotate(str(s["to"]).replace("algo ", "a"), (x, ax.get_ylim()[0]), rotation=90, fontsize=6,
                    va="bottom", ha="right", color="grey")
    for d in summary.dips:
        p = good[d["index"]]
        ax.annotate(f"{d['tiles']} tiles\n{d['waves']:.2f} waves", (xs[d["index"]], p.row.value),
                    textcoords="offset points", xytext=(0, -24), ha="center", fontsize=6,
                    arrowprops={"arrowstyle": "-", "lw": 0.5})
    ax.set_xlabel(varying)
    ax.set_ylabel("TFLOPS (2·M·N·K / median time)")
    r = summary.pearson_time
    ax.set_title(title + (f"\nPearson r (time) = {r:.4f}" if r is not None else ""), fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    series = _series(ax)
    _save(fig, path)
    return series


def plot_heatmap(points: list[SweepPoint], varying: list[str], summary: SweepSummary, path: str,
                 title: str) -> dict:
    """Two-dimensional sweep: measured and predicted TFLOPS side by side. Returns {name: 2-D list}."""
    plt = pyplot()
    d0, d1 = varying
    good = [p for p in points if p.ok]
    xs = sorted({_dim(p, d1) for p in good})
    ys = sorted({_dim(p, d0) for p in good})
    nan = float("nan")
    meas = [[nan] * len(xs) for _ in ys]
    pred = [[nan] * len(xs) for _ in ys]
    pf = (predicted_tflops_series(good, summary.scale_s_per_flop, summary.offset_s or 0.0)
          if summary.scale_s_per_flop else [nan] * len(good))
    for p, f in zip(good, pf):
        i, j = ys.index(_dim(p, d0)), xs.index(_dim(p, d1))
        meas[i][j], pred[i][j] = p.row.value, f
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    vmax = max([v for r in meas + pred for v in r if v == v] or [1])
    for ax, data, name in ((axes[0], meas, "measured"), (axes[1], pred, "predicted")):
        im = ax.imshow(data, origin="lower", aspect="auto", vmin=0, vmax=vmax,
                       extent=(xs[0], xs[-1], ys[0], ys[-1]) if len(xs) > 1 and len(ys) > 1 else None)
        ax.set_xlabel(d1)
        ax.set_ylabel(d0)
        ax.set_title(f"{name} TFLOPS", fontsize=9)
        fig.colorbar(im, ax=ax)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)
    return {"measured": meas, "predicted": pred, "x": xs, "y": ys}


def plot_staircase(results: list[StaircaseResult], path: str, title: str) -> dict:
    """Time vs CTA count per CTAs-per-SM setting: measured points and the predicted staircase."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(11, 5.5))
    for r in results:
        cs = sorted(r.points)
        (pts,) = ax.plot(cs, [r.points[c] * 1e6 for c in cs], "o", ms=3,
                         label=f"measured, {r.plan.ctas_per_sm} CTA/SM")
        if r.fit:
            grid = list(range(1, cs[-1] + 1))
            ax.plot(grid, [r.fit.predict(c) * 1e6 for c in grid], "-", lw=1, color=pts.get_color(),
                    label=f"predicted, steps every {r.plan.resident} CTAs")
    ax.set_xlabel("CTAs launched")
    ax.set_ylabel("kernel time (us, median)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    series = _series(ax)
    _save(fig, path)
    return series


def _save(fig, path: str):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    finally:
        plt.close(fig)
    safe_io.atomic_write(path, buf.getvalue())
