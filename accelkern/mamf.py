"""Maximum Achievable Matmul FLOPS (MAMF): the best GEMM throughput this device sustains for a dtype,
found by a model-guided search (or an exhaustive grid) and re-measured so the headline is reproducible.

Guided search: candidate shapes come from the device (SM count, the CTA tiles its GEMM library uses,
CTAs per SM) and the tile/wave model: M and N whole multiples of a tile, tile counts at whole waves, K
large enough to amortise the prologue and epilogue, operands within memory. Then local refinement around
the best (one tile more or less in M or N, M and N swapped, K doubled or halved) until it stops improving
or the measuring budget is spent. The top shapes are re-measured several times; the winner is reported
in both modes:

  cold-cache  L2 flushed and the output re-randomised before every call (as brute-force tables do); the
              gaps let a power-capped card's clock recover.
  sustained   back-to-back calls on rotating inputs larger than L2: what a training loop sees.

Times in seconds, throughput in TFLOPS (TOPS for int8), FLOPs = 2*M*N*K.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from accelkern import figures, timing, torch_backend, waves
from accelkern.errors import AccelkernError, Unavailable
from accelkern.results import Row

MAMF_DTYPES = ("bf16", "fp16", "tf32", "fp32", "fp8", "int8")
MODES = ("cold-cache", "sustained")
BACKENDS = ("cublaslt", "torch")


# ---- ranges and shapes --------------------------------------------------------------------------

def parse_dim_list(text: str, what: str = "range") -> list[int]:
    """'2048:16384:2048' (start:stop:step, stop EXCLUDED, like Python's range), '4096,8192' or '8192'."""
    return waves.parse_values(text, f"--{what}", stop_inclusive=False)


Shape = torch_backend.GemmShape   # M x N x K with .flops = 2MNK


# ---- the device facts the search uses -----------------------------------------------------------

@dataclass(frozen=True)
class SearchSpace:
    """What the guided search knows about the device: SMs, resident CTAs per SM of the library's GEMM
    kernels, the CTA tiles it uses as (Tm, Tn, cluster_m, cluster_n), size limits and the K values to try."""
    sms: int
    ctas_per_sm: int
    tiles: tuple
    max_dim: int
    ks: tuple
    max_operand_bytes: int
    elem_bytes: int
    out_bytes: int = 2
    max_aspect: float = 4.0

    def launch(self, tile: tuple) -> waves.Launch:
        tm, tn, cm, cn = tile
        return waves.Launch(tm, tn, self.sms, self.ctas_per_sm, cluster_m=cm, cluster_n=cn)

    def operand_bytes(self, s: Shape) -> int:
        """Two rotating input sets and the output."""
        return (s.m * s.k + s.k * s.n) * self.elem_bytes * 2 + s.m * s.n * self.out_bytes

    def fits(self, s: Shape) -> bool:
        return max(s.m, s.n, s.k) <= self.max_dim and self.operand_bytes(s) <= self.max_operand_bytes


def wave_stats(s: Shape, launch: waves.Launch) -> dict:
    """Tiles, waves and efficiencies of a shape under one launch (the waves model)."""
    a = waves.analyze(s.m, s.n, s.k, launch)
    return {"tiles": a.tiles, "waves": a.waves, "wave_eff": a.wave_efficiency, "tile_eff": a.tile_efficiency}


def _factor_pairs(t: int) -> Iterator[tuple[int, int]]:
    for a in range(1, int(math.isqrt(t)) + 1):
        if t % a == 0:
            yield a, t // a
            if a != t // a:
                yield t // a, a


def guided_candidates(space: SearchSpace, k: int | None = None, limit: int = 24) -> list[tuple[Shape, str]]:
    """Tile-aligned (M, N) whose tile count fills whole waves and whose tile grid divides into the cluster
    shape, near-square (aspect <= max_aspect), within limits, at one K; largest work first, at most
    `limit`, no duplicates."""
    k = k or space.ks[len(space.ks) // 2]
    seen: dict[Shape, str] = {}
    for tile in space.tiles:
        tm, tn, cm, cn = tile
        resident = space.launch(tile).resident_ctas
        max_tiles = (space.max_dim // tm) * (space.max_dim // tn)
        for w in range(1, max_tiles // resident + 1):
            t = w * resident
            best = None
            for a, b in _factor_pairs(t):
                if a % cm or b % cn:
                    continue
                m, n = a * tm, b * tn
                if m > space.max_dim or n > space.max_dim:
                    continue
                aspect = max(m, n) / min(m, n)
                if aspect > space.max_aspect:
                    continue
                if best is None or aspect < best[0]:
                    best = (aspect, m, n)
            if best is None:
                continue
            s = Shape(best[1], best[2], k)
            if space.fits(s) and s not in seen:
                seen[s] = (f"{w} whole wave(s) of {t} tiles {tm}x{tn}"
                           + (f" in {cm}x{cn} clusters" if cm * cn > 1 else "") if space.sms > 1
                           else f"{tm}x{tn}-aligned, {t} blocks")
    ranked = sorted(seen.items(), key=lambda kv: -kv[0].m * kv[0].n)
    return _spread(ranked, limit)


def _spread(ranked: list, limit: int) -> list:
    """Keeps the largest half of the budget's candidates and samples the rest evenly: the power cap can
    make a mid-size shape the winner, so the search must not look only at the biggest."""
    if len(ranked) <= limit:
        return ranked
    head = ranked[: limit // 2]
    rest = ranked[limit // 2:]
    step = len(rest) / (limit - len(head))
    return head + [rest[int(i * step)] for i in range(limit - len(head))]


def neighbours(s: Shape, space: SearchSpace) -> list[tuple[Shape, str]]:
    """Refinement moves around a shape: one tile more/less in M or N (for each tile), M<->N, K x2 and /2."""
    out: list[tuple[Shape, str]] = []
    for tm, tn, _cm, _cn in space.tiles:
        for dm, dn, why in ((tm, 0, f"M+{tm}"), (-tm, 0, f"M-{tm}"), (0, tn, f"N+{tn}"), (0, -tn, f"N-{tn}")):
            out.append((Shape(s.m + dm, s.n + dn, s.k), why))
    out.append((Shape(s.n, s.m, s.k), "swap M,N"))
    out.append((Shape(s.m, s.n, s.k * 2), "K x2"))
    out.append((Shape(s.m, s.n, s.k // 2), "K /2"))
    uniq: dict[Shape, str] = {}
    for c, why in out:
        if c != s and min(c.m, c.n, c.k) > 0 and space.fits(c) and c not in uniq:
            uniq[c] = why
    return list(uniq.items())


# ---- budget -------------------------------------------------------------------------------------

class Budget:
    """Measuring time spent vs allowed; `clock` is injectable so tests can drive it."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        if seconds <= 0:
            raise AccelkernError("--budget must be positive (seconds of measuring)")
        self.seconds, self.clock, self.spent = seconds, clock, 0.0
        self._t0: float | None = None

    def __enter__(self):
        self._t0 = self.clock()
        return self

    def __exit__(self, *exc):
        self.spent += self.clock() - self._t0
        self._t0 = None
        return False

    def left(self) -> float:
        running = self.clock() - self._t0 if self._t0 is not None else 0.0
        return self.seconds - self.spent - running

    def exhausted(self) -> bool:
        return self.left() <= 0


# ---- measuring one shape ------------------------------------------------------------------------

@dataclass
class Measured:
    shape: Shape
    tflops: float          # from the median call time
    row: Row
    why: str = ""


class ColdCache:
    """Before each timed call: flush L2 and re-randomise the output, so no call starts warm."""

    def __init__(self, device: str, out):
        self.flush = timing.L2Flusher(device)
        self.out = out

    def __call__(self):
        self.flush()
        if self.out is not None:
            if self.out.is_floating_point():
                self.out.normal_()
            else:
                self.out.random_(-100, 100)


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

    def workload(self, s: Shape):
        if self.backend == "torch":
            return torch_backend.TorchGemm(self.dtype, s.m, s.n, s.k, self.device.torch_device,
                                           cache_bytes=self.device.l2_bytes)
        from accelkern import gemm
        return gemm.CublasLtGemm(self.dtype, s.m, s.n, s.k, self.device.torch_device,
                                 cache_bytes=self.device.l2_bytes, top_k=max(1, self.algos))

    def _time(self, w, mode: str, rule: timing.StopRule) -> timing.Measurement:
        dev = self.device.torch_device
        if mode == "cold-cache" and self.device.kind == "cuda":
            flusher = ColdCache(dev, w.output)
            return timing.measure(w, dev, slots=w.slots, rule=rule, l2_flush=True, flusher=flusher)
        return timing.measure(w, dev, slots=w.slots, rule=rule)

    def measure(self, s: Shape, why: str = "", mode: str | None = None, phase: str = "search",
                rule: timing.StopRule | None = None, check: bool = False) -> Measured | None:
        """Measures one shape (the best of the top `algos` cuBLASLt algorithms when asked); None if it
        cannot run here (a 'skipped' row says why)."""
        mode = mode or self.mode
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
                meas = self._time(w, mode, rule or self.rule)
                figures.compute_row(row, meas, self.device, self.spec, self.spec_dtype)
                m = Measured(s, row.value, row, why)
                if best is None or m.tflops > best.tflops:
                    best = m
        finally:
            w.close()
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


# ---- search strategies --------------------------------------------------------------------------

@dataclass
class SearchResult:
    dtype: str
    search: str
    mode: str
    tried: int
    measuring_s: float
    best: Measured | None
    winner_tflops: float | None = None          # median of the re-measures
    winner_spread: float | None = None          # (max - min) / median over re-measures
    winner_rows: list = field(default_factory=list)
    other_mode: dict | None = None              # the winner in the other mode: tflops, spread, clock, power
    warmup: dict | None = None
    checked: Row | None = None                  # the re-measure that ran the correctness check


class Search:
    def __init__(self, runner: Runner, budget: Budget, progress: Callable[[str], None] = lambda m: None):
        self.r, self.budget, self.progress = runner, budget, progress
        self.best: Measured | None = None
        self.tried = 0

    def _try(self, s: Shape, why: str) -> Measured | None:
        if self.budget.exhausted() or (s, self.r.mode) in self.r.measured:
            return self.r.measured.get((s, self.r.mode))
        left = self.budget.left()
        rule = timing.StopRule(min_samples=min(10, self.r.rule.min_samples), max_time_s=max(0.05, min(
            self.r.rule.max_time_s, left)), target_noise=self.r.rule.target_noise, min_time_s=self.r.rule.min_time_s)
        with self.budget:
            m = self.r.measure(s, why, rule=rule)
        self.tried += 1
        if m is not None and (self.best is None or m.tflops > self.best.tflops):
            self.best = m
        best = f"{self.best.tflops:.4g} at {self.best.shape}" if self.best else "-"
        self.progress(f"  [{self.tried}] {s} -> {m.tflops:.4g} ({why}) | best {best} | "
                      f"{self.budget.spent:.0f} s spent, {max(0, self.budget.left()):.0f} s left"
                      if m else f"  [{self.tried}] {s} skipped")
        return m

    def guided(self, space: SearchSpace, explore: int = 24) -> Measured | None:
        # 1. whole-wave shapes at a mid K
        for s, why in guided_candidates(space, limit=explore):
            if self.budget.exhausted():
                return self.best
            self._try(s, why)
        # 2. every K for the best few (M, N)
        top = sorted((m for (s, mode), m in self.r.measured.items() if mode == self.r.mode),
                     key=lambda m: -m.tflops)[:3]
        for m in top:
            for k in space.ks:
                s = Shape(m.shape.m, m.shape.n, k)
                if space.fits(s):
                    self._try(s, f"K={k} for a top (M, N)")
        # 3. local refinement until no neighbour improves by more than the noise
        while not self.budget.exhausted() and self.best is not None:
            before = self.best
            for s, why in neighbours(before.shape, space):
                if self.budget.exhausted():
                    break
                self._try(s, f"refine {why}")
            if self.best is before or self.best.tflops < before.tflops * 1.002:
                break
        return self.best

    def grid(self, ms: Iterable[int], ns: Iterable[int], ks: Iterable[int]) -> Measured | None:
        for m in ms:
            for n in ns:
                for k in ks:
                    if self.budget.exhausted():
                        return self.best
                    self._try(Shape(m, n, k), "grid")
        return self.best


def remeasure(runner: Runner, shapes: list[Shape], repeats: int, mode: str | None = None,
              rule: timing.StopRule | None = None) -> dict:
    """Re-measures each shape `repeats` times: {shape: [Measured]} (the headline is their median)."""
    out: dict[Shape, list[Measured]] = {}
    for s in shapes:
        for i in range(repeats):
            m = runner.measure(s, f"re-measure {i + 1}/{repeats}", mode=mode, phase="re-measure", rule=rule,
                               check=(i == 0))
            if m is not None:
                out.setdefault(s, []).append(m)
    return out


def summarize(ms: list[Measured]) -> tuple[float, float]:
    """(median TFLOPS, relative spread (max-min)/median) of repeated measurements."""
    vals = [m.tflops for m in ms]
    med = statistics.median(vals)
    return med, (max(vals) - min(vals)) / med if med else math.inf


# ---- device facts -------------------------------------------------------------------------------

DEFAULT_TILES = ((128, 128, 1, 1), (128, 256, 1, 1), (256, 128, 1, 1))


def search_space(device, dtype: str, backend: str, max_dim: int | None = None, ks=None) -> tuple[SearchSpace, str]:
    """The device facts for the guided search, and a sentence on where the tiles came from."""
    esz = torch_backend.element_size(dtype)
    free = torch_backend.free_bytes(device.torch_device) or (8 << 30)
    budget_bytes = int(free * 0.6)
    cpu = device.kind == "cpu"
    max_dim = max_dim or (4096 if cpu else 20480)
    ks = _ks_within(ks or ((1024, 2048, 4096) if cpu else (4096, 8192, 16384)), max_dim, given=ks is not None)
    out_bytes = 4 if dtype in ("fp32", "tf32", "int8") or cpu else 2
    if cpu:
        space = SearchSpace(sms=1, ctas_per_sm=1, tiles=((128, 128, 1, 1),), max_dim=max_dim, ks=ks,
                            max_operand_bytes=budget_bytes, elem_bytes=esz, out_bytes=out_bytes)
        return space, "CPU: no tiles or waves; multiples of 128 up to the size bound"
    tiles, ctas, how = _library_tiles(device, dtype)
    space = SearchSpace(sms=device.sm_count, ctas_per_sm=ctas, tiles=tiles, max_dim=max_dim, ks=ks,
                        max_operand_bytes=budget_bytes, elem_bytes=esz, out_bytes=out_bytes)
    return space, how


def _ks_within(ks, max_dim: int, given: bool) -> tuple:
    kept = tuple(k for k in ks if k <= max_dim)
    if kept:
        return kept
    if given:
        raise AccelkernError(f"--k: every K is above the largest size {max_dim} (--max-dim)")
    return (max(16, max_dim // 128 * 128),)


def _library_tiles(device, dtype: str) -> tuple[tuple, int, str]:
    """CTA tiles with their cluster shapes, and CTAs/SM, that cuBLASLt uses for large problems of this dtype
    on this device, read from its heuristic (wavesCount = tiles / (SMs x CTAs per SM) gives the CTAs/SM)."""
    try:
        from accelkern import gemm
        found: dict[tuple, int] = {}
        for m, n, k in ((8192, 8192, 8192), (4096, 8192, 8192), (8192, 4096, 4096), (12288, 12288, 8192)):
            for a in gemm.heuristic_algos(dtype, m, n, k, device.torch_device, top_k=4):
                if a.tile_m and a.tile_n:
                    L = waves.launch_from_algo(a, m, n, device.sm_count).launch
                    found.setdefault((L.tile_m, L.tile_n, L.cluster_m, L.cluster_n), L.ctas_per_sm)
        if found:
            ctas = min(found.values())
            names = ", ".join(f"{t[0]}x{t[1]}" + (f" (cluster {t[2]}x{t[3]})" if t[2] * t[3] > 1 else "")
                              for t in found)
            return tuple(found), ctas, (f"tiles {names} from the cuBLASLt heuristic, {ctas} CTA(s)/SM from "
                                        f"its wavesCount")
    except Exception as exc:  # no extension, no cuBLASLt path: fall back, and say so
        return DEFAULT_TILES, 1, f"default tiles 128x128/128x256/256x128 (cuBLASLt tiles unavailable: {exc})"
    return DEFAULT_TILES, 1, "default tiles 128x128/128x256/256x128 (cuBLASLt reported none)"


def warm_up(runner: Runner, s: Shape, max_s: float = 15.0, window_s: float = 0.5, min_s: float = 2.0) -> dict:
    """Runs a large GEMM back to back until the NVML SM clock settles (two windows within 1%), at most
    max_s; returns the time it took and the clock and power reached (CPU: a short fixed warm-up)."""
    w = runner.workload(s)
    t0 = time.monotonic()
    try:
        if runner.device.kind != "cuda":
            timing.measure(w, runner.device.torch_device, slots=w.slots, warmup_s=0.2,
                           rule=timing.StopRule(min_samples=1, max_samples=3, max_time_s=0.5))
            return {"seconds": time.monotonic() - t0, "note": "CPU: short fixed warm-up"}
        last = None
        while True:
            meas = timing.measure(w, runner.device.torch_device, slots=w.slots, warmup_s=0.0, warmup_calls=1,
                                  rule=timing.StopRule(min_samples=1, max_samples=10**6, min_time_s=window_s,
                                                       max_time_s=window_s, target_noise=1e-9))
            tel = meas.telemetry
            clk = tel.sm_clock_mean_mhz if tel is not None else None
            elapsed = time.monotonic() - t0
            settled = clk is not None and last is not None and abs(clk - last) <= 0.01 * last
            if (settled and elapsed >= min_s) or elapsed >= max_s or (clk is None and elapsed >= min_s):
                return {"seconds": elapsed, "sm_clock_mhz": clk, "power_w": tel.power_mean_w if tel else None,
                        "settled": settled, "shape": str(s)}
            last = clk
    finally:
        w.close()


# ---- the whole job ------------------------------------------------------------------------------

def run(device, spec, dtype: str, emit: Callable[[Row], Row], *, search: str = "guided", backend: str | None = None,
        mode: str = "cold-cache", budget_s: float = 60.0, ms=None, ns=None, ks=None, max_dim: int | None = None,
        algos: int = 1, top: int = 3, repeats: int = 3, warmup_s: float = 15.0, explore: int = 24,
        progress: Callable[[str], None] = lambda m: None, clock: Callable[[], float] = time.monotonic) -> SearchResult:
    """Warm up, search, re-measure the top shapes, measure the winner in the other mode; rows to `emit`."""
    backend = backend or default_backend(device)
    if search not in ("guided", "grid"):
        raise AccelkernError(f"--search '{search}': allowed are guided, grid")
    if search == "grid" and not (ms and ns and ks):
        raise AccelkernError("--search grid needs --m, --n and --k (lists or start:stop:step ranges)")
    if device.kind != "cuda" and mode == "cold-cache":
        mode = "sustained"   # no L2 flush on a CPU: inputs rotate over sets larger than the last-level cache
    runner = Runner(device, spec, dtype, backend, mode, emit, algos=algos)
    space, how = search_space(device, dtype, backend, max_dim, ks if search == "guided" else None)
    if search == "grid":
        smallest = Shape(min(ms), min(ns), min(ks))
        need = space.operand_bytes(smallest)
        if need > space.max_operand_bytes:
            raise AccelkernError(f"even the smallest grid shape {smallest} needs {need / 2**30:.2f} GiB for rotating "
                                 f"operands and output; {space.max_operand_bytes / 2**30:.2f} GiB may be used on this device")
    if search == "guided" and not guided_candidates(space, limit=1):
        raise AccelkernError(f"no candidate shape fits: max size {space.max_dim} and "
                             f"{space.max_operand_bytes / 2**30:.1f} GiB for operands")
    progress(f"mamf {dtype} via {backend}, {search} search, {mode} mode, budget {budget_s:g} s; {how}")
    res = SearchResult(dtype=dtype, search=search, mode=mode, tried=0, measuring_s=0.0, best=None)
    big = max(guided_candidates(space, limit=4) or [(Shape(max(ms or [1024]), max(ns or [1024]), max(ks or [1024])),
                                                     "")], key=lambda c: c[0].flops)[0]
    if search == "grid":
        big = Shape(max(ms), max(ns), max(ks))
    res.warmup = warm_up(runner, big, max_s=warmup_s) if warmup_s > 0 else None
    if res.warmup:
        progress(f"  warm-up {res.warmup['seconds']:.1f} s on {big}"
                 + (f": SM clock {res.warmup['sm_clock_mhz']:.0f} MHz" if res.warmup.get("sm_clock_mhz") else ""))
    budget = Budget(budget_s, clock)
    finder = Search(runner, budget, progress)
    try:
        if search == "guided":
            finder.guided(space, explore=explore)
        else:
            finder.grid(ms, ns, ks)
    finally:
        res.tried, res.measuring_s, res.best = finder.tried, budget.spent, finder.best
    if res.best is None:
        return res
    ranked = sorted((m for (s, md), m in runner.measured.items() if md == mode), key=lambda m: -m.tflops)
    shapes = [m.shape for m in ranked[:top]]
    progress(f"  re-measuring the top {len(shapes)} shape(s) {repeats} times each")
    again = remeasure(runner, shapes, repeats)
    if not again:
        return res
    winner = max(again, key=lambda s: summarize(again[s])[0])
    res.winner_tflops, res.winner_spread = summarize(again[winner])
    res.winner_rows = [m.row for m in again[winner]]
    res.checked = next((r for r in res.winner_rows if r.correct is not None), None)
    res.best = max(again[winner], key=lambda m: m.tflops)
    other = "sustained" if mode == "cold-cache" else "cold-cache"
    if device.kind == "cuda":
        other_ms = remeasure(runner, [winner], repeats, mode=other).get(winner, [])
        if other_ms:
            med, spread = summarize(other_ms)
            r = other_ms[0].row
            res.other_mode = {"mode": other, "tflops": med, "spread": spread, "sm_clock_mhz": r.sm_clock_mean_mhz,
                              "power_w": r.power_mean_w, "throttle": r.throttle}
    emit(winner_row(res))
    return res


def default_backend(device) -> str:
    """cuBLASLt where this build has it and a GPU is present, else torch."""
    if device.kind != "cuda":
        return "torch"
    try:
        from accelkern import _ext, gemm  # noqa: F401
        return "cublaslt" if _ext.load() is not None else "torch"
    except ImportError:
        return "torch"


def winner_row(res: SearchResult) -> Row:
    """The headline row: the winner's median over re-measures (value), its spread, and the other mode."""
    base = res.winner_rows[len(res.winner_rows) // 2]
    row = Row(**{**base.to_dict(), "config": dict(base.config)})
    row.name = "MAMF"
    row.value = res.winner_tflops
    row.rel_stddev = res.winner_spread
    row.pct_of_spec = None if not row.spec_value else 100.0 * res.winner_tflops / row.spec_value
    if res.checked is not None:
        row.correct, row.max_error, row.tolerance = res.checked.correct, res.checked.max_error, res.checked.tolerance
    row.config.update({"search": res.search, "shapes_tried": res.tried, "measuring_s": round(res.measuring_s, 2),
                       "repeats": len(res.winner_rows)})
    if res.other_mode:
        row.config["other_mode"] = res.other_mode
    if res.warmup:
        row.config["warmup"] = res.warmup
    row.note = headline(res)
    return row


def headline(res: SearchResult) -> str:
    if res.best is None or res.winner_tflops is None:
        return f"mamf {res.dtype}: nothing measured"
    r = res.best.row
    cfg = r.config
    where = f"{res.best.shape}"
    if cfg.get("tile"):
        where += f", tile {cfg['tile']}" + (f" cluster {cfg['cluster']}" if cfg.get("cluster") else "")
        if cfg.get("waves") is not None:
            where += f", {cfg['waves']:.2f} waves"
    state = ", ".join(x for x in (
        f"SM {r.sm_clock_mean_mhz:.0f} MHz" if r.sm_clock_mean_mhz else "",
        f"{r.power_mean_w:.0f} W" if r.power_mean_w else "",
        f"throttle: {r.throttle}" if r.throttle else "") if x)
    text = (f"MAMF {res.dtype} = {res.winner_tflops:.4g} {r.metric} ({res.mode}, median of {len(res.winner_rows)} "
            f"re-measures, spread {res.winner_spread:.1%}) at {where}" + (f"; {state}" if state else ""))
    if res.other_mode:
        o = res.other_mode
        text += (f"; {o['mode']}: {o['tflops']:.4g}" + (f" at {o['sm_clock_mhz']:.0f} MHz" if o.get("sm_clock_mhz")
                                                        else "") + (f", {o['power_w']:.0f} W" if o.get("power_w") else ""))
    return text + f" [{res.search} search: {res.tried} shapes in {res.measuring_s:.0f} s of measuring]"


# ---- validate: the "achievable" figure per dtype ------------------------------------------------

def _validate_rows(ctx) -> Iterator[Row]:
    dev = ctx.device
    dtypes = ("bf16", "fp8") if dev.kind == "cuda" else ("fp32",)
    for i, dtype in enumerate(dtypes):
        why = torch_backend.gemm_unavailable(dtype, dev.torch_device)
        if why:
            yield Row(suite="mamf", name="MAMF", dtype=dtype, status="skipped", note=why)
            continue
        share = max(2.0, ctx.time_left() / (len(dtypes) - i) * 0.6)   # the rest goes to warm-up and re-measure
        res = run(dev, ctx.spec, dtype, lambda r: r, budget_s=share, warmup_s=min(5.0, share / 3),
                  top=2, repeats=2, explore=8, progress=ctx.progress,
                  max_dim=None if dev.kind == "cuda" else 2048)
        if res.winner_tflops is not None:
            yield winner_row(res)


def _register():
    from accelkern import validate
    validate.register(validate.Suite("mamf", "maximum achievable matmul FLOPS (short guided search)",
                                     _validate_rows, weight=2.0))


_register()
