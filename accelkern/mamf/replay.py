"""Replay: a recorded throughput surface (a mamf-finder log or an accelkern mamf JSONL) as the device the
search runs on, so the search can be judged and tuned on a CPU.

A replayed measurement returns the recorded mean TFLOPS of that shape; a shape the recording lacks is not
available (with ranges the search never asks for one). Cost model: measuring a shape costs CALLS = 100
calls at its recorded mean throughput, 100 x 2MNK / TFLOPS seconds, each time it is measured (re-measures
included); the full lattice's cost is that sum over every recorded shape.
"""
from __future__ import annotations

from dataclasses import dataclass, field


from accelkern.errors import AccelkernError
from accelkern.mamf.budget import Measured, VirtualClock
from accelkern.mamf.candidates import Shape
from accelkern.results import Row

CALLS = 100


@dataclass(frozen=True)
class Point:
    """One recorded shape: TFLOPS from the mean, median and fastest call time, and the relative standard
    error of the median when the recording has one (ours does; mamf-finder's logs do not)."""
    mean: float
    median: float | None = None
    max: float | None = None
    spread: float | None = None


@dataclass
class Recording:
    path: str
    fmt: str                              # 'mamf-finder' or 'accelkern'
    points: dict                          # Shape -> Point, in recorded order
    dtype: str | None = None
    device: str | None = None
    sms: int | None = None
    l2_bytes: int | None = None
    tiles: tuple | None = None            # (tm, tn, cm, cn) seen in the recording's rows
    mode: str | None = None
    notes: list = field(default_factory=list)

    def values(self, what: str) -> list[int]:
        return sorted({getattr(s, what) for s in self.points})

    def cost_s(self, s: Shape) -> float:
        return shape_cost_s(s.flops, self.points[s].mean)

    def lattice_cost_s(self, shapes=None) -> float:
        return sum(self.cost_s(s) for s in (self.points if shapes is None else shapes))

    def best(self, shapes=None) -> tuple[Shape, Point]:
        pool = self.points if shapes is None else shapes
        s = max(pool, key=lambda x: self.points[x].mean)
        return s, self.points[s]


def shape_cost_s(flops, tflops):
    """The replay cost model: CALLS calls at `tflops` (seconds; works on numpy arrays)."""
    return CALLS * flops / (tflops * 1e12)


class ReplayRunner:
    """Measures by looking up the recording; every lookup charges the cost model to a VirtualClock."""

    def __init__(self, rec: Recording, emit, dtype: str | None = None, clock: VirtualClock | None = None):
        self.rec, self.emit = rec, emit
        self.dtype = dtype or rec.dtype
        self.mode = rec.mode or "recorded"
        self.clock = clock or VirtualClock()
        self.measured: dict = {}
        self.measurements = 0
        self.cost_total = 0.0

    def cost_s(self, flops, tflops):
        return shape_cost_s(flops, tflops)

    def measure(self, s: Shape, why: str = "", mode: str | None = None, phase: str = "search", rule=None,
                check: bool = False) -> Measured | None:
        p = self.rec.points.get(s)
        if p is None:
            raise AccelkernError(f"replay: {s} is not in {self.rec.path} (the search asked for a shape outside "
                                 f"the recording)")
        cost = shape_cost_s(s.flops, p.mean)
        self.clock.charge(cost)
        self.cost_total += cost
        self.measurements += 1
        row = Row(suite="mamf", name=phase, dtype=self.dtype, shape=str(s), flops=s.flops, metric="TFLOPS",
                  value=p.mean, value_best=p.max, median_rel_stderr=p.spread, backend="replay", kernel=self.rec.fmt,
                  config={"mode": self.mode, "why": why, "replay": True, "median_tflops": p.median,
                          "mean_tflops": p.mean, "cost_s": cost})
        m = Measured(s, p.mean, row, why, tflops_mean=p.mean, spread=p.spread)
        self.measured.setdefault((s, self.mode), m)
        self.emit(row)
        return m


# ---- loading a recording ------------------------------------------------------------------------

def load(path: str, dtype: str | None = None) -> Recording:
    """A recording from a mamf-finder log or an accelkern mamf JSONL (told apart by content)."""
    from accelkern.mamf import finder_log
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise AccelkernError(f"--replay {path}: cannot read it ({exc.strerror})") from None
    first = next((x.strip() for x in text.splitlines() if x.strip()), "")
    if first.startswith("{"):
        return _from_jsonl(path, text, dtype)
    parsed = finder_log.parse(text, path)
    if not parsed["points"]:
        raise AccelkernError(f"{path}: no shape lines (expected mamf-finder lines 'N | X(mean) Y(median) Z(max) "
                             f"@ MxNxK | ...' or accelkern mamf JSONL rows)")
    points: dict = {}
    dup = 0
    for m, n, k, mean, median, mx, _no in parsed["points"]:
        s = Shape(m, n, k)
        if s in points:
            dup += 1
            continue
        points[s] = Point(mean, median, mx)
    notes = parsed["notes"] + ([f"{dup} repeated shape line(s): the first kept"] if dup else [])
    return Recording(path, "mamf-finder", points, dtype=parsed["dtype"], device=parsed["device"],
                     sms=parsed["sms"], l2_bytes=parsed["l2_bytes"], mode="cold-cache", notes=notes)


def _from_jsonl(path: str, text: str, dtype: str | None) -> Recording:
    import json
    from collections import Counter
    header, rows = None, []
    for no, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AccelkernError(f"{path} line {no}: malformed JSON ({exc.msg}); expected one accelkern "
                                 f"results record per line") from None
        if not isinstance(rec, dict):
            raise AccelkernError(f"{path} line {no}: not a results record (a JSON object per line)")
        if rec.get("type") == "header":
            header = rec
        elif rec.get("type") == "row" and rec.get("suite") == "mamf" and rec.get("status") == "ok" \
                and rec.get("name") != "MAMF" and rec.get("shape"):
            rows.append((no, rec))
    dtypes = sorted({r.get("dtype") for _, r in rows if r.get("dtype")})
    if dtype is None and len(dtypes) > 1:
        raise AccelkernError(f"{path} holds dtypes {', '.join(dtypes)}: choose one with --dtype")
    want = dtype or (dtypes[0] if dtypes else None)
    rows = [(no, r) for no, r in rows if want is None or r.get("dtype") == want]
    modes = Counter((r.get("config") or {}).get("mode") for _, r in rows if r.get("name") == "search")
    mode = modes.most_common(1)[0][0] if modes else None
    acc: dict = {}
    tiles = []
    for no, r in rows:
        cfg = r.get("config") or {}
        if mode is not None and cfg.get("mode") != mode:
            continue   # the other mode's re-measures are not the searched surface
        try:
            s = Shape(*(int(v) for v in str(r["shape"]).lower().split("x")))
            mean = _mean_tflops(r)
        except (TypeError, ValueError, ZeroDivisionError):
            raise AccelkernError(f"{path} line {no}: malformed mamf row (shape {r.get('shape')!r}, value "
                                 f"{r.get('value')!r})") from None
        if not (mean and mean > 0):
            raise AccelkernError(f"{path} line {no}: {s} has no positive throughput")
        acc.setdefault(s, []).append((mean, cfg.get("median_tflops") or r.get("value"), r.get("value_best"),
                                      r.get("median_rel_stderr")))
        t = cfg.get("launch_tile") or cfg.get("tile")
        if t:
            tiles.append((t, cfg.get("launch_cluster") or cfg.get("cluster")))
    if not acc:
        raise AccelkernError(f"{path}: no shape lines (no ok mamf measurement rows"
                             + (f" of dtype {want}" if want else "") + ")")
    points = {s: Point(*(sum(x[i] or 0 for x in v) / len(v) if all(x[i] for x in v) else None
                         for i in range(4))) for s, v in acc.items()}
    h = header or {}
    return Recording(path, "accelkern", points, dtype=want, device=h.get("device"), sms=h.get("sms"),
                     tiles=_tiles(tiles), mode=mode)


def _mean_tflops(r: dict) -> float:
    """A row's mean-based TFLOPS (the replay figure): from mean_ms when timed, else the recorded value."""
    cfg = r.get("config") or {}
    if cfg.get("replay") or not r.get("mean_ms"):
        return float(r["value"])
    return float(r["flops"]) / (float(r["mean_ms"]) * 1e-3) / 1e12


def _tiles(seen: list) -> tuple | None:
    out = []
    for tile, cluster in seen:
        try:
            tm, tn = (int(v) for v in str(tile).lower().split("x")[:2])
            cm, cn = (int(v) for v in str(cluster).lower().split("x")[:2]) if cluster else (1, 1)
        except ValueError:
            continue
        out.append((tm, tn, cm, cn))
    return tuple(dict.fromkeys(out)) or None


# ---- a search on a recording ---------------------------------------------------------------------

def space_for(rec: Recording, sms: int | None = None, tiles=None):
    """The device facts of a replay: from the recording where it has them, else the options, else an
    H100/H200-class part (132 SMs, cuBLASLt's 128x128/128x256/256x128 tiles with 1x1/2x1/1x2 clusters)."""
    from accelkern.mamf.candidates import DEFAULT_SMS, DEFAULT_TILES, SearchSpace
    biggest = max(max(s.m, s.n, s.k) for s in rec.points)
    space = SearchSpace(sms=rec.sms or sms or DEFAULT_SMS, ctas_per_sm=1, tiles=rec.tiles or tiles or DEFAULT_TILES,
                        max_dim=biggest, ks=None, max_operand_bytes=1 << 62, elem_bytes=2)
    src = "the recording" if rec.sms else ("--sms" if sms else "the H100/H200-class default")
    tsrc = "the recording" if rec.tiles else ("--tile" if tiles else "the H100/H200-class default")
    return space, f"{space.sms} SMs from {src}, tiles from {tsrc}"


def run_replay(rec: Recording, emit, *, search: str = "guided", budget_s: float = 60.0, ms=None, ns=None, ks=None,
               dtype: str | None = None, sms: int | None = None, tiles=None, top: int = 3, repeats: int = 3,
               progress=lambda m: None):
    """Runs the search on the recording with the replay cost model; returns the SearchResult whose
    `replay` dict holds the replayed cost, the lattice's cost and best, and the winner's share of it."""
    from accelkern.mamf.budget import Budget
    from accelkern.mamf.job import SearchResult, candidates_for, check_ranges, winner_row
    from accelkern.mamf import job
    check_ranges(search, ms, ns, ks, available_only=True)
    space, how = space_for(rec, sms, tiles)
    # the ranges as the recording holds them (a range may be far larger than any recording)
    asked = bool(ms or ns or ks)
    ms = [v for v in ms if v in set(rec.values("m"))] if ms else rec.values("m")
    ns = [v for v in ns if v in set(rec.values("n"))] if ns else rec.values("n")
    ks = [v for v in ks if v in set(rec.values("k"))] if ks else rec.values("k")
    if asked and not (ms and ns and ks):
        ms = ns = ks = []
    cands = candidates_for(space, ms, ns, ks, available=rec.points) if ms else None
    if cands is None or len(cands) == 0:
        raise AccelkernError(f"--m/--n/--k select no recorded shape of {rec.path} (it holds M "
                             f"{_span(rec.values('m'))}, N {_span(rec.values('n'))}, K {_span(rec.values('k'))})")
    runner = ReplayRunner(rec, emit, dtype)
    lattice_cost = rec.lattice_cost_s(cands.shapes)
    best_s, best_p = rec.best(cands.shapes)
    res = SearchResult(dtype=runner.dtype, search=search, mode=runner.mode, tried=0, measuring_s=0.0, best=None,
                       candidates=len(cands))
    progress(f"replay of {rec.path} ({rec.fmt}, {len(rec.points)} shapes): {search} search over {len(cands)}; "
             f"{how}; budget {budget_s:.3g} s of replayed cost")
    budget = Budget(budget_s, runner.clock)
    winner = job.search_and_pick(runner, cands, budget, search, top, repeats, res, progress)
    res.replay = {"replay": rec.path, "replay_format": rec.fmt, "replayed_cost_s": runner.cost_total,
                  "search_cost_s": res.measuring_s, "lattice_cost_s": lattice_cost, "lattice_shapes": len(cands),
                  "lattice_best_shape": str(best_s), "lattice_best_tflops": best_p.mean,
                  "cost_share": runner.cost_total / lattice_cost if lattice_cost else None,
                  "measurements": runner.measurements, "facts": how}
    if winner is not None:
        res.winner_mean_tflops = res.winner_tflops
        res.replay["winner_share_of_best"] = res.winner_tflops / best_p.mean
        emit(winner_row(res))
    return res


def _span(vals):
    return f"{vals[0]}..{vals[-1]} ({len(vals)} values)" if len(vals) > 1 else str(vals[0])
