"""Measuring one shape on the device for the MAMF search: workloads per backend, the two modes, warm-up,
and the device facts (tiles, CTAs per SM, memory) the candidates are built from.

  cold-cache  as mamf-finder v2: before every timed call, flush max(2 x L2, 256 MiB) and refill the output
              by copying from a buffer randomised once at set-up; the gaps let a power-capped clock recover.
  sustained   back-to-back calls on rotating inputs larger than L2: what a training loop sees. The headline
              figure in this mode runs >= 1 s untimed after set-up, then >= 2 s timed (SUSTAINED_*).
Seconds throughout; throughput in TFLOPS (TOPS for int8) from the median call time, and from the mean.
"""
from __future__ import annotations

import time
from typing import Callable

from accelkern import figures, timing, torch_backend, waves
from accelkern.errors import AccelkernError, Unavailable
from accelkern.mamf.budget import Measured
from accelkern.mamf.candidates import DEFAULT_TILES, SearchSpace, Shape, tile_label, wave_stats
from accelkern.results import Row

MAMF_DTYPES = ("bf16", "fp16", "tf32", "fp32", "fp8", "int8")
MODES = ("cold-cache", "sustained")
BACKENDS = ("cublaslt", "torch")
FLUSH_MIN_BYTES = 256 << 20        # mamf-finder v2 flushes max(2 x L2, 256 MiB)
SUSTAINED_WARM_S = 1.0             # untimed back-to-back calls after set-up
SUSTAINED_TIMED_S = 2.0            # timed back-to-back calls
SETUP_S = 0.05                     # per-shape set-up estimate (allocation, first call), for the cost model
TIMING_WARMUP_S = 0.05             # timing.measure's default warm-up before the timed calls


class ColdCache:
    """Before each timed call: flush max(2 x L2, 256 MiB) and copy a pre-randomised buffer into the output."""

    def __init__(self, device: str, out, l2_bytes: int | None):
        self.flush = timing.L2Flusher(device, l2_bytes=max(int(l2_bytes or 0), FLUSH_MIN_BYTES // 2))
        self.out = out
        self.src = None
        if out is not None:
            self.src = out.clone()
            if self.src.is_floating_point():
                self.src.normal_()
            else:
                self.src.random_(-100, 100)

    @property
    def bytes(self) -> int:
        return self.flush.bytes

    def __call__(self):
        self.flush()
        if self.out is not None:
            self.out.copy_(self.src)


class Runner:
    """Builds workloads for a backend and measures shapes in a mode; every result goes to `emit`."""

    def __init__(self, device, spec, dtype: str, backend: str, mode: str, emit: Callable[[Row], Row],
                 rule: timing.StopRule | None = None, algos: int = 1):
        if dtype not in MAMF_DTYPES:
            raise AccelkernError(f"dtype '{dtype}' not supported by mamf; allowed: {', '.join(MAMF_DTYPES)}")
        if mode not in MODES:
            raise AccelkernError(f"--mode '{mode}': allowed are {', '.join(MODES)}")
        if backend not in BACKENDS:
            raise AccelkernError(f"--backend '{backend}': allowed are {', '.join(BACKENDS)}")
        why = torch_backend.gemm_unavailable(dtype, device.torch_device)
        if why:
            raise Unavailable(why)
        self.device, self.spec, self.dtype, self.backend, self.mode = device, spec, dtype, backend, mode
        self.emit, self.algos = emit, algos
        self.rule = rule or timing.StopRule(min_samples=10, max_time_s=1.0, target_noise=0.005)
        self.spec_dtype = torch_backend.spec_dtype(dtype, device.kind, device.compute_capability)
        self.measured: dict[tuple, Measured] = {}
        self.sustained_s = (SUSTAINED_WARM_S, SUSTAINED_TIMED_S)   # the job shortens them to fit --budget
        self.overhead_s = SETUP_S + TIMING_WARMUP_S   # a measurement's wall time beyond its timed calls (seen)

    # the search asks these two: the rule for one screening measurement, and its predicted cost
    def search_rule(self, left_s: float) -> timing.StopRule:
        r = self.rule
        timed = left_s - self.overhead_s          # what is left once set-up and warm-up are paid
        return timing.StopRule(min_samples=min(10, r.min_samples), max_time_s=max(0.02, min(r.max_time_s, timed)),
                               target_noise=r.target_noise, min_time_s=min(r.min_time_s, max(0.01, timed / 2)))

    def cost_s(self, flops, tflops):
        """Predicted seconds to measure shapes of `flops` at `tflops`: the samples the rule needs, or its
        minimum time, plus set-up (works on numpy arrays)."""
        call = flops / (tflops * 1e12)
        import numpy as np
        return SETUP_S + np.minimum(self.rule.max_time_s, np.maximum(self.rule.min_time_s,
                                                                       call * self.rule.min_samples))

    def least_s(self, m: Measured) -> float:
        """The least wall time a measurement of m's shape can take: the overhead seen so far (set-up, warm-up,
        telemetry) and three calls (two warm-up calls and one sample)."""
        return self.overhead_s + 3.0 * m.shape.flops / (m.tflops * 1e12)

    def workload(self, s: Shape):
        if self.backend == "torch":
            return torch_backend.TorchGemm(self.dtype, s.m, s.n, s.k, self.device.torch_device,
                                           cache_bytes=self.device.l2_bytes)
        from accelkern import gemm
        return gemm.CublasLtGemm(self.dtype, s.m, s.n, s.k, self.device.torch_device,
                                 cache_bytes=self.device.l2_bytes, top_k=max(1, self.algos))

    def _time(self, w, mode: str, rule: timing.StopRule, headline: bool) -> tuple[timing.Measurement, dict]:
        dev = self.device.torch_device
        if mode == "cold-cache" and self.device.kind == "cuda":
            flusher = ColdCache(dev, w.output, self.device.l2_bytes)
            meas = timing.measure(w, dev, slots=w.slots, rule=rule, l2_flush=True, flusher=flusher)
            return meas, {"flush_bytes": flusher.bytes, "output_refill": "copy from a pre-randomised buffer"}
        if headline and self.device.kind == "cuda":
            # sustained: >= 1 s untimed, then >= 2 s timed, back to back (less when --budget is short)
            warm, timed = self.sustained_s
            rule = timing.StopRule(min_samples=rule.min_samples, max_samples=10 ** 7, min_time_s=timed,
                                   max_time_s=max(rule.max_time_s, timed * 2),
                                   target_noise=rule.target_noise, criterion=rule.criterion)
            meas = timing.measure(w, dev, slots=w.slots, rule=rule, warmup_s=warm)
            return meas, {"untimed_s": warm, "timed_min_s": timed}
        return timing.measure(w, dev, slots=w.slots, rule=rule), {}

    def measure(self, s: Shape, why: str = "", mode: str | None = None, phase: str = "search",
                rule: timing.StopRule | None = None, check: bool = False) -> Measured | None:
        """Measures one shape (the best of the top `algos` cuBLASLt algorithms when asked); None if it
        cannot run here (a 'skipped' row says why)."""
        mode = mode or self.mode
        t0 = time.monotonic()
        try:
            w = self.workload(s)
        except (Unavailable, AccelkernError) as exc:
            self.emit(Row(suite="mamf", name=phase, status="skipped", dtype=self.dtype, shape=str(s),
                          backend=self.backend, note=str(exc)))
            return None
        best: Measured | None = None
        try:
            n_algos = 1 if self.backend == "torch" else self.algos
            for idx in range(n_algos):
                if idx > 0:
                    try:
                        w.set_algo(idx)
                    except Unavailable:
                        break   # the heuristic offers fewer algorithms for this shape
                row = Row(suite="mamf", name=phase, dtype=self.dtype, shape=str(s), layout=w.layout,
                          backend=self.backend, kernel=getattr(w, "name", None), flops=s.flops,
                          config=self._config(s, w, mode, why))
                if check:
                    row.correct, row.max_error, row.tolerance = w.check()
                meas, how = self._time(w, mode, rule or self.rule, headline=phase != "search")
                figures.compute_row(row, meas, self.device, self.spec, self.spec_dtype)
                st = meas.stats
                mean = s.flops / st.mean_s / 1e12 if st.mean_s else None
                row.config.update(how, mean_tflops=mean)
                m = Measured(s, row.value, row, why, tflops_mean=mean, spread=row.median_rel_stderr)
                if best is None or m.tflops > best.tflops:
                    best = m
        finally:
            w.close()
        best.seconds = time.monotonic() - t0
        timed = (best.row.samples or 0) * (best.row.mean_ms or 0.0) * 1e-3
        if n_algos == 1:
            self.overhead_s = max(self.overhead_s, best.seconds - timed)
        self.emit(best.row)
        key = (best.shape, mode)
        if key not in self.measured or best.tflops > self.measured[key].tflops:
            self.measured[key] = best
        return best

    def _config(self, s: Shape, w, mode: str, why: str) -> dict:
        cfg = {"mode": mode, "why": why, "slots": getattr(w, "slots", None)}
        algo = getattr(w, "algo", None)
        if algo is not None:
            for k in ("algo_id", "tile", "stages", "cluster", "splitk", "waves_count"):
                cfg[k] = getattr(algo, k, None)
            try:
                launch = waves.launch_from_algo(algo, s.m, s.n, self.device.sm_count or 1).launch
                cfg.update(wave_stats(s, launch), ctas_per_sm=launch.ctas_per_sm)
            except AccelkernError:
                pass   # an algorithm without a tile: no wave figures for it
        return cfg


# ---- device facts -------------------------------------------------------------------------------

CPU_MAX_DIM = 2048
GPU_MAX_DIM = 20480


def search_space(device, dtype: str, max_dim: int | None = None, ks=None, tiles=None) -> tuple[SearchSpace, str]:
    """The device facts for the guided search, and a sentence on where the tiles came from."""
    esz = torch_backend.element_size(dtype)
    free = torch_backend.free_bytes(device.torch_device) or (8 << 30)
    budget_bytes = int(free * 0.6)
    cpu = device.kind != "cuda"
    max_dim = max_dim or (CPU_MAX_DIM if cpu else GPU_MAX_DIM)
    out_bytes = 4 if dtype in ("fp32", "tf32", "int8") or cpu else 2
    if cpu:
        space = SearchSpace(sms=1, ctas_per_sm=1, tiles=((128, 128, 1, 1),), max_dim=max_dim, ks=ks,
                            max_operand_bytes=min(budget_bytes, 2 << 30), elem_bytes=esz, out_bytes=out_bytes,
                            min_k=256)
        return space, "CPU: no tiles or waves; multiples of 128 up to the size bound"
    if tiles:
        found, ctas, how = tuple(tiles), 1, "tiles from --tile"
    else:
        found, ctas, how = library_tiles(device, dtype)
    space = SearchSpace(sms=device.sm_count, ctas_per_sm=ctas, tiles=found, max_dim=max_dim, ks=ks,
                        max_operand_bytes=budget_bytes, elem_bytes=esz, out_bytes=out_bytes)
    return space, how


def library_tiles(device, dtype: str) -> tuple[tuple, int, str]:
    """CTA tiles with their cluster shapes, and CTAs/SM, that cuBLASLt uses for large problems of this dtype
    on this device, read from its heuristic (wavesCount = tiles / (SMs x CTAs per SM) gives the CTAs/SM)."""
    try:
        from accelkern import gemm
        found: dict[tuple, int] = {}
        for m, n, k in ((8192, 8192, 8192), (4096, 8192, 8192), (8192, 4096, 4096), (2048, 2048, 16384)):
            for a in gemm.heuristic_algos(dtype, m, n, k, device.torch_device, top_k=4):
                if a.tile_m and a.tile_n:
                    L = waves.launch_from_algo(a, m, n, device.sm_count).launch
                    found.setdefault((L.tile_m, L.tile_n, L.cluster_m, L.cluster_n), L.ctas_per_sm)
        if found:
            ctas = min(found.values())
            names = ", ".join(tile_label(t) for t in found)
            return (tuple(found), ctas,
                    f"tiles {names} from the cuBLASLt heuristic, {ctas} CTA(s)/SM from its wavesCount")
    except Exception as exc:  # no extension, no cuBLASLt path: fall back, and say so
        return DEFAULT_TILES, 1, f"default tiles 128x128/128x256/256x128 (cuBLASLt tiles unavailable: {exc})"
    return DEFAULT_TILES, 1, "default tiles 128x128/128x256/256x128 (cuBLASLt reported none)"


def default_backend(device) -> str:
    """cuBLASLt where this build has it and a GPU is present, else torch."""
    if device.kind != "cuda":
        return "torch"
    try:
        from accelkern import _ext, gemm  # noqa: F401
        return "cublaslt" if _ext.load() is not None else "torch"
    except ImportError:
        return "torch"


def warm_up(runner: Runner, s: Shape, max_s: float = 15.0, window_s: float = 0.5, min_s: float = 2.0) -> dict:
    """Runs a large GEMM back to back until the NVML SM clock settles (two windows within 1%), at most
    max_s; returns the time it took and the clock and power reached (CPU: a short fixed warm-up)."""
    w = runner.workload(s)
    t0 = time.monotonic()
    try:
        if runner.device.kind != "cuda":
            timing.measure(w, runner.device.torch_device, slots=w.slots, warmup_s=min(0.2, max_s),
                           rule=timing.StopRule(min_samples=1, max_samples=3, max_time_s=max(0.05, min(0.5, max_s))))
            return {"seconds": time.monotonic() - t0, "note": "CPU: short fixed warm-up", "shape": str(s)}
        last = None
        while True:
            meas = timing.measure(w, runner.device.torch_device, slots=w.slots, warmup_s=0.0, warmup_calls=1,
                                  rule=timing.StopRule(min_samples=1, max_samples=10 ** 6, min_time_s=window_s,
                                                       max_time_s=window_s, target_noise=1e-9))
            tel = meas.telemetry
            clk = tel.sm_clock_mean_mhz if tel is not None else None
            elapsed = time.monotonic() - t0
            settled = clk is not None and last is not None and abs(clk - last) <= 0.01 * last
            if (settled and elapsed >= min(min_s, max_s)) or elapsed >= max_s or (clk is None and elapsed >= min_s):
                return {"seconds": elapsed, "sm_clock_mhz": clk, "power_w": tel.power_mean_w if tel else None,
                        "settled": settled, "shape": str(s)}
            last = clk
    finally:
        w.close()
