"""Cache levels found in a bandwidth-vs-working-set sweep: the plateaus (L1, L2, L3, DRAM) and the sizes
where one gives way to the next, detected from the data alone and then set beside the sysfs cache sizes.

Method: log value vs log size is fitted piecewise constant (the weighted least-squares segmentation for every
segment count, by dynamic programming; each point weighed by the noise the curve shows, from the spread of
each point around its neighbours, plus its own uncertainty where the caller knows it); the count is the one
with the lowest chi^2 + a BIC-style penalty. Neighbouring segments closer than MIN_STEP (or than the noise
makes significant) are merged. Short segments are transitions, not plateaus: fewer than MIN_INNER_POINTS
(MIN_POINTS at either end of the sweep), or, between their neighbours' levels, up to SHORT_POINTS, or up to
TRANSITION_POINTS whose own slope covers TRANSITION_SHARE of the step; several of them in a row spanning
RUN_OCTAVES are one sloped level, and those after the last plateau the last level (_runs). A boundary is where
the measured curve has gone BOUNDARY_SHARE of the way (in log, at least MIN_STEP) from one plateau toward the
next, interpolated in log size: about where that level stops serving (with random replacement a quarter of
the way is passed within ~1.2x of the capacity for a step of 3x or 40x alike, while the halfway point of a
large step lies well past the capacity, and a point just out of the plateau's band falls before it where the
plateau itself slopes). Each
boundary is matched to the sysfs level nearest in size within MATCH_FACTOR, which names the plateau below it
(a plateau spanning levels whose boundary the data do not show is named for all of them, 'L2+L3'); the plateau
past the last-level cache is DRAM. Sizes are bytes, values any unit (bandwidth falls from level to level,
latency rises: both work).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

MIN_STEP = 1.3          # neighbouring plateaus closer than this ratio are one plateau (levels differ more)
MIN_POINTS = 2          # a plateau at either end of the sweep has at least this many points ...
MIN_INNER_POINTS = 3    # ... one in between at least this many (shorter ones are transitions) ...
SHORT_POINTS = 3        # ... one up to this long with its level between its neighbours' is a step ...
TRANSITION_POINTS = 5   # ... and so is one up to this long sloping from one neighbour's level toward the other's
TRANSITION_SHARE = 0.4  #     by this share of the gap between them
RUN_OCTAVES = 2.0       # several such steps in a row spanning this many octaves are one sloped level
BOUNDARY_SHARE = 0.25   # a level ends where the curve has gone this share of the way (log) to the next
MATCH_FACTOR = 2.0      # a boundary within this factor of a sysfs size is that level's
NOISE_FLOOR = 0.01      # relative noise assumed at least (a perfectly smooth synthetic curve)
MAX_SEGMENTS = 7
PENALTY = 3.0           # x ln(n) per segment
SIGNIFICANCE = 3.0      # standard errors two plateaus must differ by


@dataclass(frozen=True)
class Plateau:
    label: str               # 'L1', 'L2', 'L3', 'DRAM', or 'level ?' when no sysfs size matches
    lo_bytes: int            # smallest and largest size of its points
    hi_bytes: int
    value: float             # median bandwidth of its points
    points: int


@dataclass(frozen=True)
class Boundary:
    bytes: float             # where the curve crosses the mean of the two plateaus
    level: int | None        # the sysfs level it matches (None: none within MATCH_FACTOR)
    sysfs_bytes: int | None
    ratio: float | None      # bytes / sysfs_bytes


@dataclass
class Levels:
    plateaus: list = field(default_factory=list)
    boundaries: list = field(default_factory=list)
    unmatched_levels: list = field(default_factory=list)   # sysfs levels no boundary matched: (level, bytes)
    noise: float = 0.0                                       # relative noise estimated from the data
    note: str | None = None

    def lines(self, fmt_size, fmt_value) -> list[str]:
        """Footer lines: each plateau, each boundary beside its sysfs size, each level not seen."""
        if self.note and not self.plateaus:
            return [f"cache levels: {self.note}"]
        parts = [f"{p.label} {fmt_value(p.value)} ({fmt_size(p.lo_bytes)}..{fmt_size(p.hi_bytes)}, {p.points} pts)"
                 for p in self.plateaus]
        out = ["plateaus: " + "; ".join(parts)]
        for b in self.boundaries:
            if b.level is None:
                out.append(f"boundary at {fmt_size(b.bytes)}: no sysfs cache size within {MATCH_FACTOR:g}x")
            else:
                out.append(f"L{b.level} boundary at {fmt_size(b.bytes)} vs sysfs {fmt_size(b.sysfs_bytes)} "
                           f"(x{b.ratio:.2f}{'' if 1 / MATCH_FACTOR <= b.ratio <= MATCH_FACTOR else ': off'})")
        for lvl, size in self.unmatched_levels:
            out.append(f"L{lvl} ({fmt_size(size)} per sysfs): no boundary found within {MATCH_FACTOR:g}x of it "
                       "(its plateau is not distinct from its neighbour's in this data)")
        if self.note:
            out.append(self.note)
        return out


class _Curve:
    """Log size x, log value y and per-point weights w = 1 / (sigma^2 + own error^2), with prefix sums so a
    segment's weighted mean and squared deviation (chi^2) cost O(1)."""

    def __init__(self, x, y, w):
        self.x, self.y, self.w = x, y, w
        self.s0, self.s1, self.s2 = [0.0], [0.0], [0.0]
        for wi, yi in zip(w, y):
            self.s0.append(self.s0[-1] + wi)
            self.s1.append(self.s1[-1] + wi * yi)
            self.s2.append(self.s2[-1] + wi * yi * yi)

    def weight(self, seg) -> float:
        return self.s0[seg[1]] - self.s0[seg[0]]

    def mean(self, seg) -> float:
        return (self.s1[seg[1]] - self.s1[seg[0]]) / self.weight(seg)

    def cost(self, i, j) -> float:
        w = self.s0[j] - self.s0[i]
        m = (self.s1[j] - self.s1[i]) / w
        return max(0.0, (self.s2[j] - self.s2[i]) - w * m * m)


def segment(y: list[float], k: int, w: list[float] | None = None) -> tuple[float, list[tuple[int, int]]]:
    """The (weighted) least-squares split of y into k contiguous segments: (cost, [(start, end), ...]), end
    exclusive."""
    n = len(y)
    c = _Curve(list(range(n)), y, w or [1.0] * n)
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    back = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for m in range(1, k + 1):
        for j in range(m, n + 1):
            for i in range(m - 1, j):
                v = best[m - 1][i] + c.cost(i, j)
                if v < best[m][j]:
                    best[m][j], back[m][j] = v, i
    segs, j = [], n
    for m in range(k, 0, -1):
        i = back[m][j]
        segs.append((i, j))
        j = i
    return best[k][n], segs[::-1]


def noise_of(y: list[float]) -> float:
    """Relative noise of a log curve: the robust spread (MAD) of each inner point around the line through its
    two neighbours, so a steady slope or a step between levels barely counts, scaled to one point's sigma."""
    r = [y[i] - (y[i - 1] + y[i + 1]) / 2 for i in range(1, len(y) - 1)]
    if not r:
        return NOISE_FLOOR
    # y_i - mean(neighbours) has variance 1.5 sigma^2; the MAD of a normal is 0.6745 sigma
    return max(NOISE_FLOOR, statistics.median(abs(v) for v in r) / 0.6745 / math.sqrt(1.5))


def _choose(c: _Curve) -> list[tuple[int, int]]:
    """The segment count with the lowest chi^2 + PENALTY x ln(n) per segment."""
    n = len(c.y)
    best, pick = None, [(0, n)]
    for k in range(1, min(MAX_SEGMENTS, n) + 1):
        cost, segs = segment(c.y, k, c.w)
        score = cost + PENALTY * math.log(max(n, 2)) * k
        if best is None or score < best:
            best, pick = score, segs
    return pick


def _merge_close(c: _Curve, segs):
    """Neighbouring segments become one while their levels differ by less than MIN_STEP or by less than
    SIGNIFICANCE standard errors of the difference (the closest pair first)."""
    out = list(segs)
    while len(out) > 1:
        def excess(a, b):
            se = math.sqrt(1 / c.weight(a) + 1 / c.weight(b))
            return abs(c.mean(a) - c.mean(b)) - max(math.log(MIN_STEP), SIGNIFICANCE * se)
        gaps = [excess(a, b) for a, b in zip(out, out[1:])]
        i = min(range(len(gaps)), key=gaps.__getitem__)
        if gaps[i] >= 0:
            break
        out[i:i + 2] = [(out[i][0], out[i + 1][1])]
    return out


def _slope_drop(c: _Curve, seg) -> float:
    """How far the least-squares line through a segment's points moves over the segment (log units)."""
    xs, ys = c.x[seg[0]:seg[1]], c.y[seg[0]:seg[1]]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((a - mx) ** 2 for a in xs)
    if not sxx:
        return 0.0
    b = sum((a - mx) * (v - my) for a, v in zip(xs, ys)) / sxx
    return b * (xs[-1] - xs[0])


def _transition(c: _Curve, segs, i) -> bool:
    """Whether segment i is a transition rather than a plateau: too short (MIN_POINTS at either end of the
    sweep, MIN_INNER_POINTS in between), or, in between with its level between its neighbours', up to
    SHORT_POINTS long, or up to TRANSITION_POINTS with its own points falling (or rising) toward the next level
    by at least TRANSITION_SHARE of the gap: the points of one step from a level to the next."""
    n = segs[i][1] - segs[i][0]
    if i in (0, len(segs) - 1):
        return n < MIN_POINTS
    if n < MIN_INNER_POINTS:
        return True
    before, mid, after = c.mean(segs[i - 1]), c.mean(segs[i]), c.mean(segs[i + 1])
    if n > TRANSITION_POINTS or not min(before, after) < mid < max(before, after):
        return False
    if n <= SHORT_POINTS:
        return True
    move = _slope_drop(c, segs[i])
    return move * (after - before) > 0 and abs(move) >= TRANSITION_SHARE * abs(after - before)


def _runs(c: _Curve, segs, is_plateau) -> list:
    """Plateaus made of runs of non-plateau segments: a run between two plateaus that spans RUN_OCTAVES or more
    once its short edge segments (its steps in and out) are set aside is a sloped level (an L3 whose latency
    climbs with the TLB misses, a noisy memory region split in pieces), not one step; a run after the last
    plateau, once the segment next to that plateau (the step down) is set aside, is the last level when it has
    MIN_INNER_POINTS points and lies beyond MIN_STEP from that plateau."""
    out, i, n = [], 0, len(segs)
    while i < n:
        if is_plateau[i]:
            i += 1
            continue
        j = i
        while j < n and not is_plateau[j]:
            j += 1
        run = segs[i:j]
        if j == n and i > 0:                       # the tail after the last plateau
            inner = run[1:]
            if inner and inner[-1][1] - inner[0][0] >= MIN_INNER_POINTS:
                seg = (inner[0][0], inner[-1][1])
                if abs(c.mean(seg) - c.mean(segs[i - 1])) >= math.log(MIN_STEP):
                    out.append(seg)
        elif 0 < i and j < n:                      # between two plateaus
            while run and run[0][1] - run[0][0] < MIN_INNER_POINTS:
                run = run[1:]
            while run and run[-1][1] - run[-1][0] < MIN_INNER_POINTS:
                run = run[:-1]
            if run and c.x[run[-1][1] - 1] - c.x[run[0][0]] >= RUN_OCTAVES and len(run) > 1:
                out.append((run[0][0], run[-1][1]))
        i = j
    return out


def _crossing(x, y, lo_end, hi_start, level):
    """log2 size where y first passes `level` between index lo_end - 1 and hi_start (interpolated); the middle
    of that gap when it never does (a noisy transition)."""
    for i in range(lo_end - 1, hi_start):
        a, b = y[i], y[i + 1]
        if (a - level) * (b - level) <= 0 and a != b:
            f = (a - level) / (a - b)
            return x[i] + f * (x[i + 1] - x[i])
    return (x[lo_end - 1] + x[hi_start]) / 2


def detect(sizes: list[int], values: list[float], levels: list[tuple[int, int]] | None = None,
           dram_reached: bool | None = None, errors: list[float] | None = None) -> Levels:
    """Plateaus and boundaries of a sweep (sizes in bytes, values > 0), set beside sysfs `levels`
    ([(level, bytes)], ascending). dram_reached: whether the largest size is past the last-level cache by
    enough that its plateau is memory (default: largest size >= 4x the largest level). errors: each point's
    own relative uncertainty (e.g. its median's), weighing a poorly known point less than the curve's noise."""
    errs = list(errors) if errors is not None else [0.0] * len(sizes)
    pts = sorted((s, v, e or 0.0) for s, v, e in zip(sizes, values, errs) if s > 0 and v and v > 0)
    levels = sorted(levels or [], key=lambda t: t[1])
    if len(pts) < 2 * MIN_POINTS:
        return Levels(note=f"too few points ({len(pts)}) to find plateaus")
    x = [math.log2(p[0]) for p in pts]
    y = [math.log(p[1]) for p in pts]
    sigma = noise_of(y)
    c = _Curve(x, y, [1.0 / (sigma * sigma + min(p[2], 1.0) ** 2) for p in pts])
    segs = _merge_close(c, _choose(c))
    is_plateau = [not _transition(c, segs, i) for i in range(len(segs))]
    plateaus = sorted([seg for seg, ok in zip(segs, is_plateau) if ok] + _runs(c, segs, is_plateau))
    if not plateaus:
        return Levels(noise=sigma, note="no plateau of at least 2 points")
    # re-merge plateaus that became neighbours once short transitions were set aside
    plateaus = _merge_close(c, plateaus)
    raw = []
    for a, b in zip(plateaus, plateaus[1:]):
        # where the curve has gone BOUNDARY_SHARE of the way (in log) from plateau a toward b, at least
        # MIN_STEP: about where level a stops serving
        gap = c.mean(b) - c.mean(a)
        step = math.copysign(max(math.log(MIN_STEP), BOUNDARY_SHARE * abs(gap)), gap)
        raw.append(2 ** _crossing(x, y, a[1], b[0], c.mean(a) + step))
    # match boundaries to sysfs levels, closest pairs first, each used once
    pairs = sorted(((abs(math.log(b / sz)), bi, lvl, sz) for bi, b in enumerate(raw) for lvl, sz in levels),
                   key=lambda t: t[0])
    matched, used = {}, set()
    for dist, bi, lvl, sz in pairs:
        if bi in matched or lvl in used or dist > math.log(MATCH_FACTOR):
            continue
        matched[bi] = (lvl, sz)
        used.add(lvl)
    boundaries = []
    for bi, b in enumerate(raw):
        lvl, sz = matched.get(bi, (None, None))
        boundaries.append(Boundary(b, lvl, sz, b / sz if sz else None))
    llc = levels[-1][1] if levels else None
    if dram_reached is None:
        dram_reached = bool(llc) and pts[-1][0] >= 4 * llc
    out, below = [], 0    # below: the last level a boundary matched so far
    for i, seg in enumerate(plateaus):
        vals = [p[1] for p in pts[seg[0]:seg[1]]]
        if i < len(boundaries):
            lvl = boundaries[i].level
            if lvl is None:
                label = "level ?"
            else:
                spans = [n for n, _ in levels if below < n <= lvl]
                label = "+".join(f"L{n}" for n in spans) if spans else f"L{lvl}"
                below = lvl
        else:
            prev = boundaries[-1].level if boundaries else None
            last_cache = levels[-1][0] if levels else None
            if dram_reached and (prev == last_cache or (prev is None and boundaries and llc
                                                        and boundaries[-1].bytes >= llc / MATCH_FACTOR)):
                label = "DRAM"
            elif not boundaries and levels and pts[-1][0] <= levels[0][1]:
                label = f"L{levels[0][0]}"
            else:
                label = "DRAM?" if dram_reached else "beyond the last boundary"
        out.append(Plateau(label, pts[seg[0]][0], pts[seg[1] - 1][0], statistics.median(vals), seg[1] - seg[0]))
    unmatched = [(lvl, sz) for lvl, sz in levels if lvl not in used and sz <= pts[-1][0] and sz >= pts[0][0]]
    return Levels(out, boundaries, unmatched, sigma)
