"""Candidate shapes for the MAMF search and the tile/wave facts the search model uses.

Two candidate sets:
  wave-aware  (no --m/--n/--k): for each CTA tile and cluster the library uses, M x N with tile counts of
              1, 2, 3, 4 ... whole waves and just under a whole wave (within 5%), both orientations,
              tile-aligned; K from the largest that fits (memory and --max-dim) downward.
  lattice     (--m/--n/--k, or a recording's shapes): exactly those shapes; the search measures a part.
Sizes in elements, memory in bytes. The wave arithmetic is accelkern.waves' (Launch.resident_ctas and the
efficiency of waves.analyze), done on numpy arrays so a 20,000-shape lattice is featurised at once.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from accelkern import torch_backend, waves
from accelkern.errors import AccelkernError

Shape = torch_backend.GemmShape   # M x N x K with .flops = 2MNK

# cuBLASLt's large-GEMM tiles on H100/H200-class parts, each with the 1x1, 2x1 and 1x2 clusters it uses
DEFAULT_TILES = tuple((tm, tn, cm, cn) for tm, tn in ((128, 128), (128, 256), (256, 128))
                      for cm, cn in ((1, 1), (2, 1), (1, 2)))
DEFAULT_SMS = 132
JUST_UNDER = 0.05          # "just under a whole wave": tile counts within 5% below it
MAX_LATTICE = 1_000_000  # shapes of an --m/--n/--k lattice
MIN_GPU_K = 2048           # smallest K of the wave-aware set (smaller K does not amortise a tile's prologue)


def tile_label(tile: tuple) -> str:
    tm, tn, cm, cn = tile
    return f"{tm}x{tn}" + (f" cluster {cm}x{cn}" if cm * cn > 1 else "")


def parse_tiles(text: str) -> tuple:
    """'--tile 128x256' or '128x256:2x1,256x128' (TMxTN[:CMxCN], comma-separated) -> ((tm, tn, cm, cn), ...)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        tile, _, cluster = part.partition(":")
        tm, tn = waves.parse_pair(tile, "--tile")
        cm, cn = waves.parse_pair(cluster, "--tile cluster") if cluster else (1, 1)
        out.append((tm, tn, cm, cn))
    if not out:
        raise AccelkernError(f"--tile '{text}': give TMxTN[:CMxCN], e.g. 128x256 or 128x256:2x1,256x128")
    return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class SearchSpace:
    """What the search knows about the device: SMs, resident CTAs per SM of the library's GEMM kernels, the
    CTA tiles it uses as (Tm, Tn, cluster_m, cluster_n), the size bound, the K values to try (None: the
    ladder below the largest K that fits), operand memory and element sizes in bytes."""
    sms: int
    ctas_per_sm: int
    tiles: tuple
    max_dim: int
    ks: tuple | None
    max_operand_bytes: int
    elem_bytes: int
    out_bytes: int = 2
    max_aspect: float = 4.0
    min_k: int = MIN_GPU_K
    align: int = 128           # CPU candidates: multiples of this

    def launch(self, tile: tuple) -> waves.Launch:
        tm, tn, cm, cn = tile
        return waves.Launch(tm, tn, self.sms, self.ctas_per_sm, cluster_m=cm, cluster_n=cn)

    def operand_bytes(self, s: Shape) -> int:
        """Two rotating input sets and the output."""
        return (s.m * s.k + s.k * s.n) * self.elem_bytes * 2 + s.m * s.n * self.out_bytes

    def fits(self, s: Shape) -> bool:
        return max(s.m, s.n, s.k) <= self.max_dim and self.operand_bytes(s) <= self.max_operand_bytes

    def largest_k(self, m: int, n: int) -> int:
        """The largest K (a multiple of 256) within --max-dim and memory for this M x N; 0 if none."""
        room = self.max_operand_bytes - m * n * self.out_bytes
        k = min(self.max_dim, room // max(1, (m + n) * self.elem_bytes * 2)) if room > 0 else 0
        return int(k // 256 * 256)

    def k_values(self, m: int, n: int) -> list[int]:
        """K for one M x N, largest first: the given ks that fit, else the largest that fits, then the
        ladder 2^j, 1.5 x 2^j below it down to min_k."""
        top = self.largest_k(m, n)
        if self.ks is not None:
            return sorted((k for k in self.ks if k <= top), reverse=True)
        if top < self.min_k:
            return [top] if top >= 256 else []
        ladder = {top}
        j = 1 << int(math.log2(top))
        while j >= self.min_k:
            for v in (j, j + j // 2):
                if self.min_k <= v <= top:
                    ladder.add(v)
            j //= 2
        return sorted(ladder, reverse=True)


def _ceil(a, b):
    return -(-a // b)


def wave_features(m, n, space: SearchSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per shape, over the space's tiles: the best tile-and-wave efficiency (useful M*N / the busy machine's
    tile area over whole waves, as waves.analyze), the mean over tiles, and the index of the best tile."""
    m = np.asarray(m, dtype=np.int64)
    n = np.asarray(n, dtype=np.int64)
    effs = []
    for tile in space.tiles:
        tm, tn, cm, cn = tile
        resident = space.launch(tile).resident_ctas
        gm = _ceil(_ceil(m, tm), cm) * cm          # tiles along M, rounded up to whole clusters
        gn = _ceil(_ceil(n, tn), cn) * cn
        full = _ceil(gm * gn, resident)            # waves, rounded up: what the time follows
        effs.append((m * n) / (full * resident * tm * tn).astype(np.float64))
    e = np.vstack(effs)
    return e.max(axis=0), e.mean(axis=0), e.argmax(axis=0)


def wave_stats(s: Shape, launch: waves.Launch) -> dict:
    """Tiles, waves and efficiencies of one shape under one launch (the waves model)."""
    a = waves.analyze(s.m, s.n, s.k, launch)
    return {"tiles": a.tiles, "waves": a.waves, "wave_eff": a.wave_efficiency, "tile_eff": a.tile_efficiency}


def _factor_pairs(t: int):
    for a in range(1, int(math.isqrt(t)) + 1):
        if t % a == 0:
            yield a, t // a


def _squarest(t: int, tile: tuple, space: SearchSpace) -> tuple[int, int] | None:
    """The M x N closest to square whose tile grid is exactly t tiles (cluster-divisible), within limits."""
    tm, tn, cm, cn = tile
    best = None
    for a, b in _factor_pairs(t):
        for gm, gn in ((a, b), (b, a)):
            if gm % cm or gn % cn:
                continue
            m, n = gm * tm, gn * tn
            if max(m, n) > space.max_dim:
                continue
            aspect = max(m, n) / min(m, n)
            if aspect <= space.max_aspect and (best is None or aspect < best[0]):
                best = (aspect, m, n)
    return None if best is None else (best[1], best[2])


def wave_mn(space: SearchSpace) -> dict[tuple[int, int], str]:
    """The wave-aware M x N set: {(m, n): why}, both orientations."""
    if space.sms <= 1:
        return _cpu_mn(space)
    found: dict[tuple[int, int], str] = {}
    for tile in space.tiles:
        tm, tn, cm, cn = tile
        resident = space.launch(tile).resident_ctas
        max_tiles = (space.max_dim // tm) * (space.max_dim // tn)
        for w in range(1, max_tiles // resident + 1):
            whole = w * resident
            counts = [(whole, f"{w} whole wave(s) of {whole} tiles")]
            lo = math.ceil(whole * (1 - JUST_UNDER))
            counts += [(t, f"{t} of {whole} tiles ({w} wave(s), just under)") for t in range(whole - 1, lo - 1, -1)]
            kept_under = 0
            for t, why in counts:
                mn = _squarest(t, tile, space)
                if mn is None or (t != whole and kept_under >= 2):
                    continue
                kept_under += t != whole
                found.setdefault(mn, f"{why}, tile {tile_label(tile)}")
                found.setdefault(mn[::-1], f"{why}, tile {tile_label((tn, tm, cn, cm))} (the other orientation)")
    return found


def _cpu_mn(space: SearchSpace) -> dict[tuple[int, int], str]:
    """CPU: no tiles or waves; M, N on a 1.5x ladder of multiples of `align` up to the size bound."""
    sizes, v = [], space.align * 2
    while v <= space.max_dim:
        sizes.append(v)
        v = int(v * 1.5) // space.align * space.align
    sizes = sorted(set(sizes) | {space.max_dim // space.align * space.align})
    return {(m, n): f"{space.align}-aligned" for m in sizes for n in sizes
            if max(m, n) / min(m, n) <= space.max_aspect}


@dataclass
class Candidates:
    """The shapes the search may measure, as parallel numpy arrays, with why each one is there."""
    shapes: list
    why: list
    lattice: bool                     # True: given by ranges or a recording (no shape outside it is asked for)
    space: SearchSpace

    def __post_init__(self):
        self.m = np.array([s.m for s in self.shapes], dtype=np.int64)
        self.n = np.array([s.n for s in self.shapes], dtype=np.int64)
        self.k = np.array([s.k for s in self.shapes], dtype=np.int64)
        self.flops = 2.0 * self.m * self.n * self.k
        self.q_best, self.q_mean, self.best_tile = wave_features(self.m, self.n, self.space)
        self.index = {s: i for i, s in enumerate(self.shapes)}

    def __len__(self):
        return len(self.shapes)

    def neighbours(self, i: int) -> list[int]:
        """The shapes next to shape i along each axis the set varies: the nearest smaller and larger M with
        the same N and K (the next tile-aligned M of a lattice or a wave ladder), likewise N and K."""
        out = []
        axes = (self.m, self.n, self.k)
        for a, axis in enumerate(axes):
            o1, o2 = (axes[b] for b in range(3) if b != a)
            line = np.flatnonzero((o1 == o1[i]) & (o2 == o2[i]))
            below = line[axis[line] < axis[i]]
            above = line[axis[line] > axis[i]]
            if len(below):
                out.append(int(below[np.argmax(axis[below])]))
            if len(above):
                out.append(int(above[np.argmin(axis[above])]))
        return out


def wave_candidates(space: SearchSpace) -> Candidates:
    """The wave-aware set at every K that fits, largest K first per M x N."""
    shapes, why = [], []
    for (m, n), reason in sorted(wave_mn(space).items()):
        for k in space.k_values(m, n):
            s = Shape(m, n, k)
            if space.fits(s):
                shapes.append(s)
                why.append(reason)
    return Candidates(shapes, why, lattice=False, space=space)


def lattice_candidates(space: SearchSpace, ms, ns, ks, available=None) -> Candidates:
    """Every shape of ms x ns x ks that fits (and, for a recording, was recorded)."""
    total = len(ms) * len(ns) * len(ks)
    if total > MAX_LATTICE:
        raise AccelkernError(f"--m/--n/--k span {len(ms)} x {len(ns)} x {len(ks)} = {total:,} shapes; at most "
                             f"{MAX_LATTICE:,} (use a coarser STEP)")
    shapes = [Shape(m, n, k) for m in ms for n in ns for k in ks]
    shapes = [s for s in shapes if (s in available if available is not None else space.fits(s))]
    return Candidates(shapes, ["lattice"] * len(shapes), lattice=True, space=space)
