"""The one timing harness. Every measured figure in accelkern goes through `measure`.

CUDA: events around each call after a warm-up; samples recorded in batches and synchronised once
per batch, so back-to-back calls run as they would in a loop. Optional L2 flush before each sample
(outside the timed region), rotation over input sets (the workload is called with a slot index),
and CUDA-graph mode for short kernels (one sample = one replay of `graph_calls` captured calls).
Other devices: the host clock around each call with a device synchronise.

Stopping rule (as nvbench does): at least `min_samples` and `min_time_s` of measured time, then stop
once the relative standard error of the median falls under `target_noise`; always stop at
`max_time_s` of wall time or `max_samples`. Times are seconds unless a name says otherwise.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

# Standard error of the median of n normal samples is ~ sqrt(pi/2) * sigma / sqrt(n).
_MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)


@dataclass(frozen=True)
class StopRule:
    min_samples: int = 10
    max_samples: int = 100_000
    min_time_s: float = 0.05       # measured (summed sample) time before noise may stop the run
    max_time_s: float = 5.0        # wall-clock bound, warm-up excluded
    target_noise: float = 0.005    # relative standard error of the median

    def __post_init__(self):
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError("need 1 <= min_samples <= max_samples")
        if self.max_time_s <= 0 or self.target_noise <= 0:
            raise ValueError("max_time_s and target_noise must be positive")

    def decide(self, samples: list[float], wall_s: float) -> str | None:
        """None to go on, else why to stop: 'converged', 'max_time' or 'max_samples'."""
        n = len(samples)
        if n >= self.max_samples:
            return "max_samples"
        if n >= self.min_samples and sum(samples) >= self.min_time_s \
                and median_rel_stderr(samples) <= self.target_noise:
            return "converged"
        if wall_s >= self.max_time_s and n >= 1:
            return "max_time"
        return None


def median_rel_stderr(samples: list[float]) -> float:
    """Relative standard error of the median (inf with fewer than 2 samples)."""
    n = len(samples)
    if n < 2:
        return math.inf
    med = statistics.median(samples)
    if med <= 0:
        return math.inf
    return _MEDIAN_SE_FACTOR * statistics.stdev(samples) / math.sqrt(n) / med


@dataclass
class TimingStats:
    """Per-call times in seconds; `converged` says the noise target was met."""
    n: int
    median_s: float
    min_s: float
    max_s: float
    mean_s: float
    stddev_s: float
    rel_stddev: float
    median_rel_stderr: float
    stop_reason: str
    wall_s: float
    samples_s: list = field(default_factory=list, repr=False)

    @property
    def converged(self) -> bool:
        return self.stop_reason in ("converged", "max_samples")

    @classmethod
    def from_samples(cls, samples: list[float], stop_reason: str = "given", wall_s: float = 0.0):
        if not samples:
            raise ValueError("no samples")
        mean = statistics.fmean(samples)
        sd = statistics.stdev(samples) if len(samples) > 1 else 0.0
        return cls(n=len(samples), median_s=statistics.median(samples), min_s=min(samples),
                   max_s=max(samples), mean_s=mean, stddev_s=sd, rel_stddev=sd / mean if mean > 0 else math.inf,
                   median_rel_stderr=median_rel_stderr(samples), stop_reason=stop_reason, wall_s=wall_s,
                   samples_s=list(samples))

    def summary(self) -> dict:
        """Row fields in milliseconds (samples left out)."""
        d = asdict(self)
        d.pop("samples_s")
        return {"samples": self.n, "median_ms": self.median_s * 1e3, "min_ms": self.min_s * 1e3,
                "max_ms": self.max_s * 1e3, "mean_ms": self.mean_s * 1e3, "rel_stddev": self.rel_stddev,
                "median_rel_stderr": self.median_rel_stderr, "converged": self.converged,
                "stop_reason": self.stop_reason}


@dataclass
class Measurement:
    stats: TimingStats
    telemetry: object | None  # monitor.Telemetry on CUDA, None elsewhere
    mode: dict                # how it was timed: events/host, flush, rotation, graph


class L2Flusher:
    """Overwrites a buffer of twice the L2 size (memset via accelkern._C, else torch fill_)."""

    def __init__(self, device, l2_bytes: int | None = None):
        import torch
        self.device = torch.device(device)
        if l2_bytes is None:
            props = torch.cuda.get_device_properties(self.device)
            l2_bytes = int(getattr(props, "L2_cache_size", 0)) or 64 << 20
        self.bytes = 2 * l2_bytes
        self.buf = torch.empty(self.bytes, dtype=torch.uint8, device=self.device)
        from accelkern import _ext
        self._C = _ext.load()
        self._value = 0

    def __call__(self):
        self._value = (self._value + 1) & 0xFF  # a new value each time: no write can be skipped as a no-op
        if self._C is not None:
            self._C.l2_flush(self.buf, self._value)
        else:
            self.buf.fill_(self._value)


def _is_cuda(device) -> bool:
    return str(device).startswith("cuda")


def measure(fn: Callable[[int], object], device="cuda", *, slots: int = 1, rule: StopRule | None = None,
            warmup_s: float = 0.05, warmup_calls: int = 2, l2_flush: bool = False, flusher: L2Flusher | None = None,
            graph: bool = False, graph_calls: int | None = None, telemetry: bool = True,
            on_sample: Callable[[int, float], None] | None = None) -> Measurement:
    """Times `fn(slot)` (slot cycles over range(slots): rotating input sets) per the stop rule.

    Returns per-call statistics in seconds plus NVML telemetry sampled during the timed part.
    """
    rule = rule or StopRule()
    if slots < 1:
        raise ValueError("slots must be >= 1")
    if _is_cuda(device):
        return _measure_cuda(fn, device, slots, rule, warmup_s, warmup_calls, l2_flush, flusher,
                             graph, graph_calls, telemetry, on_sample)
    return _measure_host(fn, device, slots, rule, warmup_s, warmup_calls, on_sample)


def _sync_fn(device):
    import torch
    kind = torch.device(device).type
    mod = getattr(torch, kind, None)
    sync = getattr(mod, "synchronize", None) if kind != "cpu" else None
    return sync or (lambda: None)


def _measure_host(fn, device, slots, rule, warmup_s, warmup_calls, on_sample):
    sync = _sync_fn(device)
    clock = time.perf_counter
    t_end = clock() + warmup_s
    i = 0
    while i < warmup_calls or clock() < t_end:
        fn(i % slots)
        i += 1
    sync()
    samples: list[float] = []
    start_wall = clock()
    reason = None
    while reason is None:
        t0 = clock()
        fn(i % slots)
        sync()
        samples.append(clock() - t0)
        i += 1
        if on_sample:
            on_sample(len(samples), samples[-1])
        reason = rule.decide(samples, clock() - start_wall)
    stats = TimingStats.from_samples(samples, reason, clock() - start_wall)
    return Measurement(stats, None, {"timer": "host", "slots": slots, "l2_flush": False, "graph": False})


def _measure_cuda(fn, device, slots, rule, warmup_s, warmup_calls, l2_flush, flusher, graph, graph_calls,
                  telemetry, on_sample):
    import torch

    dev = torch.device(device)
    if dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    if l2_flush and flusher is None:
        flusher = L2Flusher(dev)
    clock = time.perf_counter
    with torch.cuda.device(dev):
        stream = torch.cuda.current_stream()
        # warm-up: module load, handle creation, clocks ramping
        t_end = clock() + warmup_s
        i = 0
        while i < warmup_calls or clock() < t_end:
            fn(i % slots)
            i += 1
            if i % 8 == 0:
                torch.cuda.synchronize()
        torch.cuda.synchronize()

        calls_per_sample = 1
        body = fn
        if graph:
            calls_per_sample, body = _capture_graph(fn, slots, graph_calls, warmup_s, dev)

        from accelkern.monitor import Monitor
        mon = Monitor(dev.index) if telemetry else None
        samples: list[float] = []
        batch = 4
        reason = None
        start_wall = clock()
        if mon:
            mon.start()
        try:
            while reason is None:
                events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                          for _ in range(batch)]
                for start, end in events:
                    if flusher is not None and l2_flush:
                        flusher()
                    start.record(stream)
                    body(i % slots)
                    end.record(stream)
                    i += 1
                events[-1][1].synchronize()
                for start, end in events:
                    samples.append(start.elapsed_time(end) * 1e-3 / calls_per_sample)
                    if on_sample:
                        on_sample(len(samples), samples[-1])
                    reason = rule.decide(samples, clock() - start_wall)
                    if reason:
                        break
                batch = min(64, batch * 2)
        finally:
            tel = mon.stop() if mon else None
        stats = TimingStats.from_samples(samples, reason, clock() - start_wall)
    mode = {"timer": "cuda_events", "slots": slots, "l2_flush": bool(l2_flush), "graph": bool(graph),
            "calls_per_sample": calls_per_sample}
    return Measurement(stats, tel, mode)


def _capture_graph(fn, slots, graph_calls, warmup_s, dev):
    """Captures `graph_calls` calls (rotating slots) into one CUDA graph; returns (calls, replay)."""
    import torch

    if graph_calls is None:
        # size the graph so one replay lasts ~1 ms, from a quick timing of single calls
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for j in range(10):
            fn(j % slots)
        end.record()
        end.synchronize()
        per_call_ms = max(start.elapsed_time(end) / 10, 1e-4)
        graph_calls = int(min(1000, max(1, round(1.0 / per_call_ms))))
    side = torch.cuda.Stream(dev)
    side.wait_stream(torch.cuda.current_stream())
    g = torch.cuda.CUDAGraph()
    with torch.cuda.stream(side):
        with torch.cuda.graph(g, stream=side):
            for j in range(graph_calls):
                fn(j % slots)
    torch.cuda.current_stream().wait_stream(side)
    g.replay()
    torch.cuda.synchronize()
    return graph_calls, lambda _slot: g.replay()


def rotation_slots(set_bytes: int, cache_bytes: int | None, budget_bytes: int | None = None,
                   min_slots: int = 2, max_slots: int = 64) -> int:
    """How many input sets to rotate so consecutive calls never find their inputs in cache:
    enough that the sets together exceed 3x the cache, at least `min_slots`, within `budget_bytes`."""
    if set_bytes <= 0:
        raise ValueError("set_bytes must be positive")
    want = max(min_slots, -(-3 * (cache_bytes or 0) // set_bytes))
    if budget_bytes is not None:
        want = min(want, max(1, budget_bytes // set_bytes))
    return int(max(1, min(want, max_slots)))
