"""Tile and wave quantization model: pure Python, no GPU needed.

A GEMM kernel cuts C (M x N) into tiles of Tm x Tn; each tile is one CTA (thread block), times split-K and
batch. The GPU runs SMs x CTAs-per-SM CTAs at once (a "wave"); a last, partly filled wave costs as much as a
full one. So time follows ceil(waves), not the work, and two shapes of almost the same size can differ a lot.

Units: sizes in elements, shared memory in bytes, time in seconds, throughput in TFLOPS (1e12 FLOP/s).
The occupancy arithmetic mirrors the rules of the CUDA toolkit's occupancy calculator (cuda_occupancy.h,
tested against it through accelkern._C.waves_occupancy_calc).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from accelkern.errors import AccelkernError
from accelkern.units import is_digits


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def round_up(a: int, b: int) -> int:
    return ceil_div(a, b) * b


def parse_pair(text: str, what: str) -> tuple[int, int]:
    """'128x256' -> (128, 256); both positive."""
    parts = str(text).lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(is_digits(p.strip()) and int(p) > 0 for p in parts):
        raise AccelkernError(f"{what} '{text}' not understood; use AxB with positive integers, e.g. 128x256")
    return int(parts[0]), int(parts[1])


# ---- occupancy: CTAs per SM from a kernel's resources ----------------------------------------------------

# shared-memory carveouts (KiB) the SM can be configured to, per compute capability (cuda_occupancy.h)
_CARVEOUTS_KIB = {
    (8, 0): (0, 8, 16, 32, 64, 100, 132, 164),
    (8, 7): (0, 8, 16, 32, 64, 100, 132, 164),
    (8, 6): (0, 8, 16, 32, 64, 100),
    (8, 9): (0, 8, 16, 32, 64, 100),
    (9, 0): (0, 8, 16, 32, 64, 100, 132, 164, 196, 228),
    (10, 0): (0, 8, 16, 32, 64, 100, 132, 164, 196, 228),
    (10, 3): (0, 8, 16, 32, 64, 100, 132, 164, 196, 228),
    (12, 0): (0, 8, 16, 32, 64, 100),
}
_MAX_BLOCKS = {(8, 0): 32, (8, 6): 16, (8, 7): 16, (8, 9): 24, (9, 0): 32, (10, 0): 32, (10, 3): 32, (12, 0): 24}
# shared memory per SM (bytes) and the opt-in per-block limit, for devices described by hand
_SMEM_PER_SM = {(8, 0): 167936, (8, 6): 102400, (8, 7): 167936, (8, 9): 102400, (9, 0): 233472,
                (10, 0): 233472, (10, 3): 233472, (12, 0): 102400}


@dataclass(frozen=True)
class SmLimits:
    """What one SM offers (bytes, registers, threads). Defaults: H100/H200 (sm_90)."""
    cc: tuple = (9, 0)
    regs_per_sm: int = 65536
    regs_per_block: int = 65536
    max_threads_per_sm: int = 2048
    max_threads_per_block: int = 1024
    max_blocks_per_sm: int = 32
    smem_per_sm: int = 233472
    smem_per_block: int = 49152              # without opting in
    smem_per_block_optin: int = 232448
    reserved_smem_per_block: int = 1024      # the driver's own per-CTA shared memory (sm_80+)
    warp_size: int = 32
    sub_partitions: int = 4                  # registers are allocated per sub-partition
    reg_alloc_unit: int = 256                # registers, per warp
    smem_alloc_unit: int = 128               # bytes (256 before sm_80)
    max_regs_per_thread: int = 256

    @classmethod
    def for_cc(cls, cc: tuple) -> "SmLimits":
        """Architectural limits of a compute capability (sm_80, sm_86, sm_89, sm_90, ...)."""
        cc = tuple(cc)
        if cc not in _SMEM_PER_SM:
            raise AccelkernError(f"no built-in SM limits for compute capability {cc[0]}.{cc[1]}; known: "
                                 + ", ".join(f"{a}.{b}" for a, b in _SMEM_PER_SM))
        smem = _SMEM_PER_SM[cc]
        return cls(cc=cc, max_blocks_per_sm=_MAX_BLOCKS[cc], smem_per_sm=smem, smem_per_block_optin=smem - 1024,
                   max_threads_per_sm=1536 if cc in ((8, 6), (8, 9), (12, 0)) else 2048)

    @classmethod
    def from_device(cls, info) -> "SmLimits":
        """From a CUDA DeviceInfo (values the driver reports, architectural constants by compute capability)."""
        cc = tuple(info.compute_capability or (9, 0))
        base = cls.for_cc(cc) if cc in _SMEM_PER_SM else cls(cc=cc)
        a = info.attrs or {}
        return replace(
            base,
            regs_per_sm=a.get("regs_per_sm") or info.regs_per_sm or base.regs_per_sm,
            regs_per_block=a.get("regs_per_block") or base.regs_per_block,
            max_threads_per_sm=a.get("max_threads_per_sm") or info.max_threads_per_sm or base.max_threads_per_sm,
            max_threads_per_block=a.get("max_threads_per_block") or base.max_threads_per_block,
            max_blocks_per_sm=a.get("max_blocks_per_sm") or info.max_blocks_per_sm or base.max_blocks_per_sm,
            smem_per_sm=a.get("smem_per_sm_bytes") or info.smem_per_sm_bytes or base.smem_per_sm,
            smem_per_block=a.get("smem_per_block_bytes") or base.smem_per_block,
            smem_per_block_optin=a.get("smem_per_block_optin_bytes") or info.smem_per_block_optin_bytes
            or base.smem_per_block_optin,
            warp_size=a.get("warp_size") or base.warp_size)

    def carveout_bytes(self, needed: int, carveout_percent: int | None) -> int:
        """Shared memory the SM is configured with for a kernel needing `needed` bytes per CTA."""
        levels = [k * 1024 for k in _CARVEOUTS_KIB.get(tuple(self.cc), ())]

        def align_up(size):
            if not levels:
                return size
            for lv in levels:
                if size <= lv:
                    return lv
            return None  # more than the largest carveout

        pref = self.smem_per_sm if carveout_percent is None or carveout_percent < 0 \
            else carveout_percent * self.smem_per_sm // 100
        pref = align_up(pref)
        if pref is None:
            pref = self.smem_per_sm
        if pref >= needed:
            return pref
        # a preference below one CTA's need is overridden by the smallest carveout that fits it
        return align_up(needed) or 0


@dataclass(frozen=True)
class CtaResources:
    """What one CTA of a kernel uses."""
    threads: int
    regs_per_thread: int = 32
    static_smem: int = 0                     # bytes
    dynamic_smem: int = 0                    # bytes, given at launch
    max_dynamic_smem: int | None = None      # the kernel's opt-in limit; None: the device's opt-in maximum


@dataclass(frozen=True)
class Occupancy:
    ctas_per_sm: int
    limits: dict          # warps, registers, shared_memory, blocks, barriers -> CTAs per SM each allows
    limiting: tuple       # names of the binding limits
    allocated_regs_per_cta: int
    allocated_smem_per_cta: int   # bytes, including the driver's reserved part

    def explain(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.limits.items() if v < 10**6)
        return f"{self.ctas_per_sm} CTA(s)/SM, limited by {' and '.join(self.limiting) or '-'} ({parts})"


_INF = 2**31 - 1


def occupancy(res: CtaResources, sm: SmLimits = SmLimits(), carveout_percent: int | None = None) -> Occupancy:
    """CTAs of this kernel one SM holds at once: the least of what threads (warp slots), registers,
    shared memory, the block-slot limit and (sm_90+) block barriers allow."""
    if res.threads < 1:
        raise AccelkernError("a CTA needs at least one thread")
    warps = ceil_div(res.threads, sm.warp_size)
    # warp slots
    by_warps = 0 if res.threads > sm.max_threads_per_block else (sm.max_threads_per_sm // sm.warp_size) // warps
    # registers: allocated per warp in units, warps of a CTA spread over the sub-partitions
    regs_per_warp = round_up(res.regs_per_thread * sm.warp_size, sm.reg_alloc_unit)
    regs_per_cta = regs_per_warp * warps
    regs_assumed = regs_per_warp * round_up(warps, sm.sub_partitions)
    if sm.regs_per_block < regs_assumed or sm.regs_per_block < regs_per_cta \
            or res.regs_per_thread > sm.max_regs_per_thread:
        by_regs = 0
    elif regs_per_warp == 0:
        by_regs = _INF
    else:
        warps_per_sub = (sm.regs_per_sm // sm.sub_partitions) // regs_per_warp
        by_regs = warps_per_sub * sm.sub_partitions // warps
    # shared memory: static + reserved + dynamic, in allocation units; the SM's carveout as configured
    fixed = res.static_smem + sm.reserved_smem_per_block
    smem_per_cta = round_up(fixed + res.dynamic_smem, sm.smem_alloc_unit)
    max_dyn = sm.smem_per_block_optin - res.static_smem if res.max_dynamic_smem is None else res.max_dynamic_smem
    per_block_limit = (sm.smem_per_block_optin if fixed + max_dyn > sm.smem_per_block else sm.smem_per_block) \
        + sm.reserved_smem_per_block
    if res.dynamic_smem > max_dyn or smem_per_cta > per_block_limit:
        by_smem = 0
    else:
        per_sm = sm.carveout_bytes(smem_per_cta, carveout_percent)
        by_smem = per_sm // smem_per_cta if smem_per_cta > 0 else _INF
    by_blocks = sm.max_blocks_per_sm
    limits = {"warps": by_warps, "registers": by_regs, "shared_memory": by_smem, "blocks": by_blocks}
    ctas = min(limits.values())
    if sm.cc[0] >= 9:  # Hopper on: each CTA holds a block barrier, two per block slot
        limits["barriers"] = 2 * by_blocks
        ctas = min(ctas, limits["barriers"])
    limiting = tuple(k for k, v in limits.items() if v == ctas)
    return Occupancy(ctas, limits, limiting, regs_per_cta, smem_per_cta)


def smem_for_ctas_per_sm(ctas_per_sm: int, res: CtaResources, sm: SmLimits = SmLimits(),
                         carveout_percent: int | None = 100) -> int:
    """Dynamic shared memory per CTA (bytes, a multiple of the allocation unit) that makes exactly
    `ctas_per_sm` CTAs fit on one SM: the middle of the range of sizes that do, so a few bytes of
    difference between this model and the driver cannot move the result."""
    def occ(dyn):
        return occupancy(replace(res, dynamic_smem=dyn), sm, carveout_percent).ctas_per_sm

    top = occ(0)
    if ctas_per_sm < 1 or ctas_per_sm > top:
        raise AccelkernError(f"cannot make {ctas_per_sm} CTA(s) fit per SM: without shared memory this kernel "
                             f"fits {top} ({occupancy(res, sm, carveout_percent).explain()}); allowed 1..{top}")
    max_dyn = sm.smem_per_block_optin - res.static_smem if res.max_dynamic_smem is None else res.max_dynamic_smem
    unit = sm.smem_alloc_unit
    sizes = [d for d in range(0, max_dyn + 1, unit) if occ(d) == ctas_per_sm]
    if not sizes:
        raise AccelkernError(f"no shared-memory size gives exactly {ctas_per_sm} CTA(s) per SM here")
    mid = (sizes[0] + sizes[-1]) // 2
    return mid - mid % unit


# ---- tiles and waves ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Launch:
    """How a GEMM kernel cuts the problem and how many of its CTAs the GPU holds at once."""
    tile_m: int
    tile_n: int
    sms: int
    ctas_per_sm: int = 1
    split_k: int = 1
    batch: int = 1
    cluster_m: int = 1
    cluster_n: int = 1
    persistent: bool = False                 # one CTA per slot looping over tiles (same arithmetic, per SM)
    gpc_sms: tuple | None = None             # SMs per GPC: clusters must fit inside one GPC
    active_clusters: int | None = None       # clusters resident at once as the runtime reports them
                                             # (cudaOccupancyMaxActiveClusters): overrides the estimate

    def __post_init__(self):
        for name in ("tile_m", "tile_n", "sms", "ctas_per_sm", "split_k", "batch", "cluster_m", "cluster_n"):
            if int(getattr(self, name)) < 1:
                raise AccelkernError(f"{name.replace('_', '-')} must be >= 1 (got {getattr(self, name)})")
        if self.gpc_sms is not None and sum(self.gpc_sms) != self.sms:
            raise AccelkernError(f"GPC sizes {self.gpc_sms} add up to {sum(self.gpc_sms)}, not {self.sms} SMs")

    @property
    def tile(self) -> str:
        return f"{self.tile_m}x{self.tile_n}"

    @property
    def cluster_size(self) -> int:
        return self.cluster_m * self.cluster_n

    @property
    def resident_ctas(self) -> int:
        if self.active_clusters is not None:
            return min(self.active_clusters * self.cluster_size, self.sms * self.ctas_per_sm)
        return resident_ctas(self.sms, self.ctas_per_sm, self.cluster_size, self.gpc_sms)


def resident_ctas(sms: int, ctas_per_sm: int, cluster_size: int = 1, gpc_sms: tuple | None = None) -> int:
    """CTAs running at once: SMs x CTAs-per-SM, less what cannot form whole clusters (per GPC if known)."""
    groups = gpc_sms if gpc_sms else (sms,)
    return sum((g * ctas_per_sm) // cluster_size for g in groups) * cluster_size


@dataclass(frozen=True)
class WaveAnalysis:
    """Tile and wave arithmetic of one GEMM shape under one Launch. FLOPs count an FMA as 2."""
    m: int
    n: int
    k: int
    launch: Launch
    tiles_m: int
    tiles_n: int
    tiles: int                    # ceil(M/Tm) * ceil(N/Tn) * split-K * batch
    ctas: int                     # tiles, with the grid rounded up to whole clusters
    resident: int                 # CTAs the GPU runs at once
    waves: float                  # ctas / resident
    full_waves: int               # ceil(waves): what the time follows
    wave_efficiency: float        # ctas / (full_waves * resident)
    last_wave_fill: float         # share of the last wave's CTA slots that have work
    last_wave_ctas: int
    tile_efficiency: float        # useful M*N / padded M*N
    k_per_split: int
    useful_flops: float           # 2*M*N*K*batch
    quantized_flops: float        # FLOPs the busy machine could have done: full waves x resident x tile work

    @property
    def efficiency(self) -> float:
        """Share of the machine's busy tile-time that computes useful results (tile x wave x padding)."""
        return self.useful_flops / self.quantized_flops

    @property
    def max_tiles_per_cta(self) -> int:
        """Persistent kernels: tiles the busiest CTA slot works through (= full_waves)."""
        return self.full_waves

    def summary(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "launch"}
        d.update(tile=self.launch.tile, sms=self.launch.sms, ctas_per_sm=self.launch.ctas_per_sm,
                 split_k=self.launch.split_k, cluster=f"{self.launch.cluster_m}x{self.launch.cluster_n}",
                 efficiency=self.efficiency)
        return d


def analyze(m: int, n: int, k: int, launch: Launch) -> WaveAnalysis:
    """Tiles, waves and their efficiencies for C[M,N] = A[M,K] @ B[K,N] under `launch`."""
    if min(m, n, k) < 1:
        raise AccelkernError(f"shape {m}x{n}x{k}: M, N and K must be positive")
    L = launch
    tm, tn = ceil_div(m, L.tile_m), ceil_div(n, L.tile_n)
    per_mn = L.split_k * L.batch
    tiles = tm * tn * per_mn
    ctas = round_up(tm, L.cluster_m) * round_up(tn, L.cluster_n) * per_mn
    resident = L.resident_ctas
    if resident < 1:
        raise AccelkernError(f"a {L.cluster_m}x{L.cluster_n} cluster does not fit on this GPU "
                             f"({L.sms} SMs x {L.ctas_per_sm} CTA/SM)")
    full = ceil_div(ctas, resident)
    last = ctas - (full - 1) * resident
    kps = ceil_div(k, L.split_k)
    return WaveAnalysis(
        m=m, n=n, k=k, launch=L, tiles_m=tm, tiles_n=tn, tiles=tiles, ctas=ctas, resident=resident,
        waves=ctas / resident, full_waves=full, wave_efficiency=ctas / (full * resident),
        last_wave_fill=last / resident, last_wave_ctas=last,
        tile_efficiency=(m * n) / (tm * L.tile_m * tn * L.tile_n), k_per_split=kps,
        useful_flops=2.0 * m * n * k * L.batch,
        quantized_flops=2.0 * full * resident * L.tile_m * L.tile_n * kps)


# ---- time predictions ---------------------------------------------------------------------------------

def per_wave_seconds(a: WaveAnalysis, peak_tflops: float) -> float:
    """One wave at the device's peak: every resident CTA computes one Tm x Tn x K/split tile."""
    if not peak_tflops or peak_tflops <= 0:
        raise AccelkernError("a peak in TFLOPS > 0 is needed to turn waves into time")
    return a.resident * 2.0 * a.launch.tile_m * a.launch.tile_n * a.k_per_split / (peak_tflops * 1e12)


def predicted_seconds(a: WaveAnalysis, peak_tflops: float, efficiency: float = 1.0) -> float:
    """ceil(waves) x per-wave time, the per-wave time at `efficiency` x peak."""
    return a.full_waves * per_wave_seconds(a, peak_tflops) / efficiency


def tflops(flops: float, seconds: float) -> float:
    return flops / seconds / 1e12


def fit_scale(units: list[float], measured: list[float]) -> float:
    """Least-squares a in measured ~= a * units (a line through the origin): seconds per unit of work."""
    num = sum(u * t for u, t in zip(units, measured))
    den = sum(u * u for u in units)
    if den <= 0 or num <= 0:
        raise AccelkernError("cannot fit the per-wave time: no positive measurements")
    return num / den


def fit_affine(units: list[float], measured: list[float]) -> tuple[float, float]:
    """Least-squares (a, b) in measured ~= a * units + b with b >= 0 (a fixed launch cost); through the
    origin when the free fit would give b < 0 or there are too few distinct points."""
    n = len(units)
    mu = sum(units) / n if n else 0.0
    suu = sum((u - mu) ** 2 for u in units)
    if n >= 3 and suu > 0:
        mt = sum(measured) / n
        a = sum((u - mu) * (t - mt) for u, t in zip(units, measured)) / suu
        b = mt - a * mu
        if a > 0 and b >= 0:
            return a, b
    return fit_scale(units, measured), 0.0


def pearson(x: list[float], y: list[float]) -> float | None:
    """Pearson correlation of two equally long series (None below 3 points or for a constant series)."""
    if len(x) != len(y):
        raise ValueError("series of different lengths")
    n = len(x)
    if n < 3:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 0 or syy <= 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / math.sqrt(sxx * syy)


@dataclass(frozen=True)
class StairFit:
    """time(ctas) = offset_s + wave_s * ceil(ctas / resident): the staircase of a fixed-work kernel."""
    resident: int
    wave_s: float
    offset_s: float

    def predict(self, ctas: int) -> float:
        return self.offset_s + self.wave_s * ceil_div(ctas, self.resident)


def fit_staircase(points: dict[int, float], resident: int) -> StairFit:
    """Least squares of time = offset + wave * ceil(ctas/resident) over measured {ctas: seconds}."""
    xs = [ceil_div(c, resident) for c in points]
    ys = list(points.values())
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise AccelkernError("the staircase needs CTA counts spanning at least two waves")
    wave = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return StairFit(resident, wave, my - wave * mx)


@dataclass(frozen=True)
class StepCheck:
    wave: int              # step between wave `wave` and `wave`+1
    at_ctas: int           # the predicted step: time rises from at_ctas to at_ctas + 1
    before_s: float
    after_s: float
    jump_s: float          # after - before
    flat_rise_s: float     # largest rise inside the wave before the step
    ok: bool


def check_steps(points: dict[int, float], fit: StairFit, min_jump: float = 0.5,
                max_flat: float = 0.25) -> list[StepCheck]:
    """For every k with k*R and k*R+1 measured: the time must jump by >= min_jump of a wave between them
    and rise by <= max_flat of a wave across the measured points of wave k (so no earlier step hides)."""
    R = fit.resident
    out = []
    for k in range(1, max(points) // R + 1):
        before, after = k * R, k * R + 1
        if before not in points or after not in points or fit.wave_s <= 0:
            continue
        inside = [points[c] for c in points if (k - 1) * R < c <= k * R]
        rise = max(inside) - min(inside)
        jump = points[after] - points[before]
        ok = jump >= min_jump * fit.wave_s and rise <= max_flat * fit.wave_s
        out.append(StepCheck(k, before, points[before], points[after], jump, rise, ok))
    return out


def staircase_ctas(resident: int, waves: int = 4, per_wave: int = 8, sms: int | None = None) -> list[int]:
    """CTA counts for a staircase run: `per_wave` evenly spaced points per wave plus both sides of every
    predicted step (k*R - 1, k*R, k*R + 1, k*R + 2) and, when given, of every multiple of the SM count."""
    pts = {1}
    for k in range(waves):
        for j in range(1, per_wave + 1):
            pts.add(k * resident + max(1, j * resident // per_wave))
    for k in range(1, waves + 1):
        pts.update(c for c in (k * resident - 1, k * resident, k * resident + 1, k * resident + 2) if c >= 1)
    if sms:
        pts.update(c for j in range(1, waves * resident // sms + 1) for c in (j * sms, j * sms + 1))
    return sorted(c for c in pts if 1 <= c <= waves * resident + 2)


# ---- "why is my shape slow": nearby shapes that waste less -----------------------------------------------

@dataclass(frozen=True)
class Suggestion:
    dim: str                 # 'M' or 'N'
    value: int
    delta: int
    reason: str
    analysis: WaveAnalysis
    time_ratio: float        # predicted time / the original's (same per-tile speed)
    gain: float              # predicted useful TFLOPS / the original's

    @property
    def shape(self) -> tuple[int, int, int]:
        a = self.analysis
        return a.m, a.n, a.k


def _largest_tiles_within(waves_of, w: int, top: int) -> int:
    """The largest tile count t in 1..top with waves_of(t) <= w (waves grow with t), 0 when none: a
    bisection, so shapes of millions of tiles cost a few dozen analyses."""
    if w < 1 or waves_of(1) > w:
        return 0
    lo, hi = 1, top
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if waves_of(mid) <= w:
            lo = mid
        else:
            hi = mid - 1
    return lo


def suggest_shapes(m: int, n: int, k: int, launch: Launch, max_results: int = 6) -> list[Suggestion]:
    """Nearby shapes (M or N moved to a tile or wave boundary) predicted to run at higher useful TFLOPS,
    nearest first: pad to the tile boundary (same time), fill the last wave (same time, more work), drop
    the partial wave (less time), or grow to the end of the next wave."""
    base = analyze(m, n, k, launch)
    out: list[Suggestion] = []
    for dim, tile in (("M", launch.tile_m), ("N", launch.tile_n)):
        cur = m if dim == "M" else n
        shape = (lambda v: (v, n, k)) if dim == "M" else (lambda v: (m, v, k))
        cur_tiles = ceil_div(cur, tile)
        other = base.ctas // max(1, round_up(cur_tiles, launch.cluster_m if dim == "M" else launch.cluster_n))
        reach = ceil_div((base.full_waves + 1) * base.resident, max(1, other)) + 2
        top = max(reach, cur_tiles + 1)
        by_waves: dict[int, WaveAnalysis] = {}
        for w in (base.full_waves - 1, base.full_waves, base.full_waves + 1):
            j = _largest_tiles_within(lambda t: analyze(*shape(t * tile), launch).full_waves, w, top)
            if j:
                a = analyze(*shape(j * tile), launch)
                if a.full_waves == w:
                    by_waves[w] = a  # the largest size with that many waves
        cands: list[tuple[WaveAnalysis, str]] = []
        if cur % tile:
            cands.append((analyze(*shape(cur_tiles * tile), launch), "pads to the tile boundary"))
        for w, a in by_waves.items():
            if w == base.full_waves:
                cands.append((a, "fills the last wave"))
            elif w == base.full_waves - 1:
                cands.append((a, "drops the partial wave"))
            elif w == base.full_waves + 1:
                cands.append((a, "fills one more wave"))
        seen = set()
        for a, why in cands:
            v = a.m if dim == "M" else a.n
            if v == cur or v in seen:
                continue
            seen.add(v)
            ratio = a.quantized_flops / base.quantized_flops
            gain = (a.useful_flops / a.quantized_flops) / (base.useful_flops / base.quantized_flops)
            if gain > 1.0005:
                out.append(Suggestion(dim, v, v - cur, why, a, ratio, gain))
    out.sort(key=lambda s: (abs(s.delta), -s.gain))
    return out[:max_results]


# ---- cuBLASLt algorithm -> Launch ----------------------------------------------------------------------

def infer_ctas_per_sm(ctas: int, sms: int, waves_count: float | None) -> int | None:
    """CTAs per SM implied by cuBLASLt's wavesCount (= CTAs / (SMs x CTAs-per-SM)) when it is a clean
    integer; None when wavesCount is missing or does not fit that reading."""
    if not waves_count or waves_count <= 0 or sms < 1:
        return None
    c = ctas / (waves_count * sms)
    r = round(c)
    if r >= 1 and abs(c - r) <= 0.02 * r:
        return int(r)
    return None


@dataclass(frozen=True)
class AlgoLaunch:
    launch: Launch
    source: str              # how the tile and CTAs-per-SM were found
    notes: tuple = field(default=())


def launch_from_algo(algo, m: int, n: int, sms: int, ctas_per_sm: int | None = None,
                     batch: int = 1) -> AlgoLaunch:
    """A Launch from a cuBLASLt AlgoInfo (tile_m/tile_n/splitk/cluster_m/cluster_n/waves_count).

    cuBLASLt's tile may be stated for its own (column-major) M: the orientation whose tile count matches
    the reported wavesCount is taken; CTAs per SM comes from wavesCount when it reads cleanly, else
    `ctas_per_sm` (default 1)."""
    tm, tn = getattr(algo, "tile_m", None), getattr(algo, "tile_n", None)
    if not tm or not tn:
        raise AccelkernError(f"cuBLASLt algorithm {getattr(algo, 'algo_id', '?')} reports no tile "
                             f"({getattr(algo, 'tile', None)}); give --tile by hand")
    split = max(1, int(getattr(algo, "splitk", 1) or 1))
    cm = max(1, int(getattr(algo, "cluster_m", 1) or 1))
    cn = max(1, int(getattr(algo, "cluster_n", 1) or 1))
    wc = getattr(algo, "waves_count", None)
    notes = []
    options = []
    for swap in (False, True):
        a_m, a_n, c_m, c_n = (tn, tm, cn, cm) if swap else (tm, tn, cm, cn)
        probe = Launch(a_m, a_n, sms, 1, split, batch, c_m, c_n)
        ctas = analyze(m, n, 1, probe).ctas
        options.append((swap, a_m, a_n, c_m, c_n, infer_ctas_per_sm(ctas, sms, wc)))
    chosen = options[0]
    if options[0][5] is None and options[1][5] is not None:
        chosen = options[1]
        notes.append("tile read in cuBLASLt's column-major orientation (matches wavesCount)")
    swap, a_m, a_n, c_m, c_n, inferred = chosen
    if inferred is not None:
        c, source = inferred, "cuBLASLt tile, CTAs/SM from wavesCount"
    else:
        c = ctas_per_sm or 1
        source = "cuBLASLt tile, CTAs/SM " + ("given" if ctas_per_sm else "assumed 1")
        if wc:
            notes.append(f"wavesCount {wc:.3g} does not read as whole CTAs per SM")
    return AlgoLaunch(Launch(a_m, a_n, sms, c, split, batch, c_m, c_n), source, tuple(notes))


DEFAULT_TILE = (128, 256)   # assumed for backends that do not say (torch): a common Hopper/Ampere bf16 tile


def describe(a: WaveAnalysis) -> list[str]:
    """Lines explaining one analysis (used by `accelkern waves explain`)."""
    L = a.launch
    pad_m, pad_n = a.tiles_m * L.tile_m, a.tiles_n * L.tile_n
    lines = [
        f"tiles       ceil({a.m}/{L.tile_m}) x ceil({a.n}/{L.tile_n})"
        + (f" x split-K {L.split_k}" if L.split_k > 1 else "") + (f" x batch {L.batch}" if L.batch > 1 else "")
        + f" = {a.tiles_m} x {a.tiles_n}" + (f" x {L.split_k * L.batch}" if L.split_k * L.batch > 1 else "")
        + f" = {a.tiles} tiles" + (f" ({a.ctas} CTAs with whole {L.cluster_m}x{L.cluster_n} clusters)"
                                   if a.ctas != a.tiles else ""),
        f"padding     M {a.m} -> {pad_m}, N {a.n} -> {pad_n}: {a.tile_efficiency:.1%} of the computed tile "
        f"area is useful ({1 - a.tile_efficiency:.1%} wasted)",
        f"resident    {L.sms} SMs x {L.ctas_per_sm} CTA/SM" + (f" in {L.cluster_m}x{L.cluster_n} clusters"
                                                             if L.cluster_size > 1 else "")
        + f" = {a.resident} CTAs at once",
        f"waves       {a.ctas} / {a.resident} = {a.waves:.2f} -> {a.full_waves} wave(s); last wave "
        f"{a.last_wave_fill:.0%} full ({a.last_wave_ctas} of {a.resident} CTAs)"
        + (f"; persistent: the busiest CTA does {a.max_tiles_per_cta} tiles" if L.persistent else ""),
        f"efficiency  tile {a.tile_efficiency:.1%} x wave {a.wave_efficiency:.1%} = {a.efficiency:.1%} of the "
        f"busy machine's tile work is useful",
    ]
    return lines
