"""A short launch-shape search per own kernel: coordinate descent over unroll, threads per block, blocks per
SM and cache hint, each stage starting from the best so far. Every candidate is recorded (measured TB/s,
or why it was not run), so the pick can be checked against what was measured."""
from __future__ import annotations

from dataclasses import dataclass, field

from accelkern import timing
from accelkern.device import DeviceInfo
from accelkern.errors import AccelkernError
from accelkern.memory.kernels import THREADS_CHOICES, UNROLLS, LaunchShape, device_launch
from accelkern.memory.measure import measure_workload
from accelkern.memory.plan import plan_for
from accelkern.memory.workloads import make_workload
from accelkern.units import format_value

TUNE_RULE = timing.StopRule(min_samples=5, max_samples=200, min_time_s=0.02, max_time_s=0.25, target_noise=0.01)
STAGES = ("start", "unroll", "threads", "blocks_per_sm", "hint")


@dataclass(frozen=True)
class TuneTrial:
    stage: str                 # one of STAGES
    asked: dict                # what the stage varied: {'unroll': 4}, {'threads': 256}, ...
    shape: LaunchShape | None  # None: the candidate does not fit (registers)
    tbps: float | None         # measured TB/s (read + write counted); None when not run
    why: str | None = None     # why it was not run
    repeat: bool = False       # the same shape was measured earlier in the search: its figure reused


@dataclass
class TuneResult:
    kernel: str
    best: LaunchShape
    best_tbps: float
    default: LaunchShape
    default_tbps: float
    trials: list = field(default_factory=list)   # every TuneTrial, in search order

    @property
    def tried(self) -> list:
        """(label, hint, TB/s) of each distinct shape measured."""
        return [(t.shape.label(), t.shape.hint, t.tbps) for t in self.trials if t.tbps is not None and not t.repeat]

    def measured(self) -> dict:
        """LaunchShape.key() -> TB/s of every shape measured."""
        return {t.shape.key(): t.tbps for t in self.trials if t.tbps is not None}

    def summary(self) -> str:
        b = self.best
        gain = 100.0 * (self.best_tbps / self.default_tbps - 1) if self.default_tbps else 0.0
        return (f"tune {self.kernel}: picked {b.label()} ({b.threads} threads x {b.blocks_per_sm} blocks/SM), hint "
                f"{b.hint}: {format_value(self.best_tbps, 'TB/s')} (default {self.default.label()} "
                f"{self.default.hint}: {format_value(self.default_tbps, 'TB/s')}, {gain:+.1f}%; "
                f"{len(self.tried)} shapes measured)")


def stage_candidates(stage: str, best: LaunchShape, hints) -> list[dict]:
    """What a stage tries, given the best shape so far."""
    if stage == "unroll":
        return [dict(unroll=u) for u in UNROLLS]
    if stage == "threads":
        return [dict(threads=t) for t in THREADS_CHOICES]
    if stage == "blocks_per_sm":
        return [dict(blocks_per_sm=b) for b in sorted({1, 2, max(1, best.resident // 2), best.resident})]
    if stage == "hint":
        return [dict(hint=h) for h in hints]
    raise ValueError(stage)


def tune_kernel(kernel: str, nbytes: int, info: DeviceInfo, spec, *, vec: int = 16, hints=("default", "stream"),
                rule: timing.StopRule = TUNE_RULE, progress=lambda m: None) -> TuneResult:
    """Coordinate search (see the module doc) on one buffer set of `nbytes`; every candidate timed through
    the harness without a correctness check (the picked shape is checked when measured afterwards)."""
    _t, plan = plan_for(kernel, nbytes, info)
    start = device_launch(kernel, info, vec, hints[0])
    w = make_workload(kernel, nbytes, info, shape=start, slots=plan.slots)
    scores: dict[tuple, float] = {}
    trials: list[TuneTrial] = []
    flusher = timing.L2Flusher(info.torch_device, info.l2_bytes) if plan.l2_flush else None

    def score(stage: str, asked: dict, shape: LaunchShape) -> float:
        repeat = shape.key() in scores
        if not repeat:
            w.set_shape(shape)
            row = measure_workload(w, info, spec, rule, plan, check=False, flusher=flusher)
            scores[shape.key()] = row.value or 0.0
            progress(f"  tune {kernel}: {shape.label()} {shape.hint}: {format_value(scores[shape.key()], 'TB/s')}")
        trials.append(TuneTrial(stage, asked, shape, scores[shape.key()], repeat=repeat))
        return scores[shape.key()]

    try:
        default_tbps = score("start", {}, start)
        best, best_v = start, default_tbps
        for stage in STAGES[1:]:
            for asked in stage_candidates(stage, best, hints):
                args = dict(threads=best.threads, unroll=best.unroll, blocks_per_sm=None)
                hint = asked.get("hint", best.hint)
                args.update({k: v for k, v in asked.items() if k != "hint"})
                try:
                    cand = device_launch(kernel, info, vec, hint, **args)
                except AccelkernError as exc:  # does not fit (registers)
                    trials.append(TuneTrial(stage, asked, None, None, why=str(exc)))
                    continue
                v = score(stage, asked, cand)
                if v > best_v:
                    best, best_v = cand, v
        return TuneResult(kernel, best, best_v, start, default_tbps, trials)
    finally:
        w.close()
