"""Cache levels found in a bandwidth-vs-working-set sweep: the plateaus (L1, L2, L3, DRAM) and the sizes
where one gives way to the next, detected from the data alone and then set beside the sysfs cache sizes.

Method: log bandwidth vs log size is fitted piecewise constant (the least-squares segmentation for every
segment count, by dynamic programming); the count is the one with the lowest cost + a BIC-style penalty
against the noise the data show (the spread of neighbouring points); neighbouring segments closer than
MIN_STEP (or than the noise makes significant) are merged, and short segments are transitions, not plateaus
(fewer than MIN_INNER_POINTS, MIN_POINTS at either end of the sweep; between their neighbours' levels, up to
SHORT_POINTS, or up to TRANSITION_POINTS whose own slope covers TRANSITION_SHARE of the step). A boundary is where the measured curve crosses the geometric mean of two
neighbouring plateaus (interpolated in log size). Each boundary is matched to the sysfs level nearest in
size within MATCH_FACTOR, which names the plateau below it (a plateau spanning levels whose boundary the
data do not show is named for all of them, 'L2+L3'); the plateau past the last-level cache is DRAM. Sizes
are bytes (working set of all threads), bandwidth any unit.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

MIN_STEP = 1.25         # neighbouring plateaus closer than this ratio are one plateau (levels differ more)
MIN_POINTS = 2          # a plateau at either end of the sweep has at least this many points ...
MIN_INNER_POINTS = 3    # ... one in between at least this many (shorter ones are transitions) ...
SHORT_POINTS = 3        # ... one up to this long with its level between its neighbours' is a step ...
TRANSITION_POINTS = 5   # ... and so is one up to this long sloping from one neighbour's level toward the other's
TRANSITION_SHARE = 0.4  #     by this share of the gap between them
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


def _segment_costs(y: list[float]):
    """cost(i, j): squared deviation of y[i:j] from its mean, O(1) from prefix sums."""
    s1, s2 = [0.0], [0.0]
    for v in y:
        s1.append(s1[-1] + v)
        s2.append(s2[-1] + v * v)

    def cost(i, j):
        n = j - i
        m = (s1[j] - s1[i]) / n
        return max(0.0, (s2[j] - s2[i]) - n * m * m)
    return cost


def segment(y: list[float], k: int) -> tuple[float, list[tuple[int, int]]]:
    """The least-squares split of y into k contiguous segments: (cost, [(start, end), ...]) with end exclusive."""
    n = len(y)
    cost = _segment_costs(y)
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    back = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for m in range(1, k + 1):
        for j in range(m, n + 1):
            for i in range(m - 1, j):
                c = best[m - 1][i] + cost(i, j)
                if c < best[m][j]:
                    best[m][j], back[m][j] = c, i
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


def _choose(y: list[float], sigma: float) -> list[tuple[int, int]]:
    n = len(y)
    best, pick = None, [(0, n)]
    for k in range(1, min(MAX_SEGMENTS, n) + 1):
        c, segs = segment(y, k)
        score = c / (sigma * sigma) + PENALTY * math.log(max(n, 2)) * k
        if best is None or score < best:
            best, pick = score, segs
    return pick


def _mean(y, s):
    return sum(y[s[0]:s[1]]) / (s[1] - s[0])


def _merge_close(y, segs, sigma):
    """Neighbouring segments become one while their levels differ by less than MIN_STEP or by less than
    SIGNIFICANCE standard errors of the difference (the closest pair first)."""
    out = list(segs)
    while len(out) > 1:
        def excess(a, b):
            se = sigma * math.sqrt(1 / (a[1] - a[0]) + 1 / (b[1] - b[0]))
            return abs(_mean(y, a) - _mean(y, b)) - max(math.log(MIN_STEP), SIGNIFICANCE * se)
        gaps = [excess(a, b) for a, b in zip(out, out[1:])]
        i = min(range(len(gaps)), key=gaps.__getitem__)
        if gaps[i] >= 0:
            break
        out[i:i + 2] = [(out[i][0], out[i + 1][1])]
    return out


def _slope_drop(x, y, seg) -> float:
    """How far the least-squares line through a segment's points moves over the segment (log units)."""
    xs, ys = x[seg[0]:seg[1]], y[seg[0]:seg[1]]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((a - mx) ** 2 for a in xs)
    if not sxx:
        return 0.0
    b = sum((a - mx) * (c - my) for a, c in zip(xs, ys)) / sxx
    return b * (xs[-1] - xs[0])


def _transition(x, y, segs, i) -> bool:
    """Whether segment i is a transition rather than a plateau: too short (MIN_POINTS at either end of the
    sweep, MIN_INNER_POINTS in between), or, in between with its level between its neighbours', up to
    SHORT_POINTS long, or up to TRANSITION_POINTS with its own points falling (or rising) toward the next level
    by at least TRANSITION_SHARE of the gap: the points of one step from a level to the next."""
    n = segs[i][1] - segs[i][0]
    if i in (0, len(segs) - 1):
        return n < MIN_POINTS
    if n < MIN_INNER_POINTS:
        return True
    before, mid, after = _mean(y, segs[i - 1]), _mean(y, segs[i]), _mean(y, segs[i + 1])
    if n > TRANSITION_POINTS or not min(before, after) < mid < max(before, after):
        return False
    if n <= SHORT_POINTS:
        return True
    move = _slope_drop(x, y, segs[i])
    return move * (after - before) > 0 and abs(move) >= TRANSITION_SHARE * abs(after - before)


def _crossing(x, y, lo_end, hi_start, level):
    """log2 size where y first falls through `level` between index lo_end - 1 and hi_start (interpolated)."""
    for i in range(lo_end - 1, hi_start):
        a, b = y[i], y[i + 1]
        if (a - level) * (b - level) <= 0 and a != b:
            f = (a - level) / (a - b)
            return x[i] + f * (x[i + 1] - x[i])
    return (x[lo_end - 1] + x[hi_start]) / 2


def detect(sizes: list[int], values: list[float], levels: list[tuple[int, int]] | None = None,
           dram_reached: bool | None = None) -> Levels:
    """Plateaus and boundaries of a sweep (sizes in bytes, values > 0), set beside sysfs `levels`
    ([(level, bytes)], ascending). dram_reached: whether the largest size is past the last-level cache by
    enough that its plateau is memory (default: largest size >= 4x the largest level)."""
    pts = sorted((s, v) for s, v in zip(sizes, values) if s > 0 and v and v > 0)
    levels = sorted(levels or [], key=lambda t: t[1])
    if len(pts) < 2 * MIN_POINTS:
        return Levels(note=f"too few points ({len(pts)}) to find plateaus")
    x = [math.log2(s) for s, _ in pts]
    y = [math.log(v) for _, v in pts]
    sigma = noise_of(y)
    segs = _merge_close(y, _choose(y, sigma), sigma)
    plateaus = [seg for i, seg in enumerate(segs) if not _transition(x, y, segs, i)]
    if not plateaus:
        return Levels(noise=sigma, note="no plateau of at least 2 points")
    # re-merge plateaus that became neighbours once short transitions were set aside
    plateaus = _merge_close(y, plateaus, sigma)
    raw = []
    for a, b in zip(plateaus, plateaus[1:]):
        mid = (_mean(y, a) + _mean(y, b)) / 2
        raw.append(2 ** _crossing(x, y, a[1], b[0], mid))
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
        vals = [v for _, v in pts[seg[0]:seg[1]]]
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
