"""The one timing harness. Every measured figure in accelkern goes through `measure`.

Devices with timing events (CUDA, and xpu/mps/hpu where torch offers an Event): an event pair around
each call after a warm-up. Calls are queued in batches and batch j+1 is queued before the host waits
on batch j, so the device runs back to back while the host reads the events and decides; the row's
busy fraction (sum of call times / span from the first call's start to the last call's end) shows it.
Optional L2 flush before each call (outside the event pair), rotation over input sets (the workload is
called with a slot index), and CUDA-graph mode for short kernels (one sample = one replay of
`graph_calls` captured calls; graph mode and an L2 flush exclude each other). Devices without events
(the CPU): the host clock around each call with a device synchronise.

Stopping rule (`StopRule`), decided once per batch on incremental statistics, after at least
`min_samples` samples and `min_time_s` of measured device time, bounded by `max_time_s` of wall time
and `max_samples`:
  criterion 'nvbench' (the default, as nvbench's stdrel): stop once the relative standard deviation of
      the samples is <= `target_noise` (nvbench's --max-noise, 0.5%), or once that noise estimate has
      stopped moving (over the last half of the samples its RMS distance from the current value is
      under 5% of it, after 128 samples): an inherently noisy kernel ends 'noise_stable'.
  criterion 'median-stderr': stop once the relative standard error of the median is <= `target_noise`.
Times are seconds unless a name says otherwise.
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# Standard error of the median of n normal samples is ~ sqrt(pi/2) * sigma / sqrt(n).
_MEDIAN_SE_FACTOR = math.sqrt(math.pi / 2)

CRITERIA = ("nvbench", "median-stderr")
STABLE_MIN_SAMPLES = 128    # the noise-stopped-falling test waits for this many samples (nvbench: 64;
                            # with 64 a slow drift hidden in 1% noise passes as stable about one run in ten)
STABLE_REL_SPREAD = 0.05    # ... and the recent noise estimates within 5% (RMS) of the current one
BATCH_TARGET_S = 0.02       # a queued batch lasts about this long (bounded to 4..1024 calls)
FIRST_BATCH = 4
MAX_BATCH = 1024
GRAPH_REPLAY_S = 1e-3       # graph mode sizes one replay to about this long
MAX_GRAPH_CALLS = 1000


@dataclass(frozen=True)
class StopRule:
    """When a measurement stops. target_noise: nvbench criterion -> the largest relative stddev of the
    samples accepted (nvbench's max-noise); median-stderr -> the largest relative standard error of the
    median. min_time_s counts measured device time (a graph replay counts all its calls)."""
    min_samples: int = 10
    max_samples: int = 100_000
    min_time_s: float = 0.05       # measured (summed call) time before the noise may stop the run
    max_time_s: float = 5.0        # wall-clock bound, warm-up excluded
    target_noise: float = 0.005
    criterion: str = "nvbench"

    def __post_init__(self):
        if self.min_samples < 1 or self.max_samples < self.min_samples:
            raise ValueError("need 1 <= min_samples <= max_samples")
        if self.max_time_s <= 0 or self.target_noise <= 0:
            raise ValueError("max_time_s and target_noise must be positive")
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion '{self.criterion}' unknown; allowed: {', '.join(CRITERIA)}")

    @property
    def max_noise(self) -> float:
        """nvbench's name for target_noise."""
        return self.target_noise

    def tracker(self, calls_per_sample: int = 1) -> "SampleTracker":
        return SampleTracker(self, calls_per_sample)

    def decide(self, samples, wall_s: float, calls_per_sample: int = 1) -> str | None:
        """None to go on, else why to stop: 'converged', 'noise_stable' (nvbench: the noise stopped
        falling above the target), 'max_samples' or 'max_time'. Stateless: measure() keeps a tracker."""
        t = self.tracker(calls_per_sample)
        return t.add(samples, wall_s)


class _Growing:
    """A float64 array appended to in chunks (amortised doubling), read as a view."""

    def __init__(self):
        self._buf = np.empty(256)
        self.n = 0

    def extend(self, x: np.ndarray):
        need = self.n + x.size
        if need > self._buf.size:
            buf = np.empty(max(need, 2 * self._buf.size))
            buf[:self.n] = self._buf[:self.n]
            self._buf = buf
        self._buf[self.n:need] = x
        self.n = need

    @property
    def values(self) -> np.ndarray:
        return self._buf[:self.n]


class SampleTracker:
    """Incremental statistics of a growing sample stream and the stop decision, once per batch.

    Sums are kept about a shift (the first sample) so the variance has no cancellation; the nvbench
    noise history (relative stddev after every sample) comes from cumulative sums over each batch."""

    def __init__(self, rule: StopRule, calls_per_sample: int = 1):
        self.rule = rule
        self.calls_per_sample = int(calls_per_sample)
        self.samples = _Growing()
        self.noise = _Growing()
        self._shift = None
        self._s1 = 0.0   # sum of (x - shift)
        self._s2 = 0.0   # sum of (x - shift)^2
        self.decisions = 0
        self.reason: str | None = None

    @property
    def n(self) -> int:
        return self.samples.n

    @property
    def mean(self) -> float:
        return self._shift + self._s1 / self.n if self.n else math.nan

    @property
    def stddev(self) -> float:
        n = self.n
        if n < 2:
            return 0.0
        return math.sqrt(max(0.0, (self._s2 - self._s1 * self._s1 / n) / (n - 1)))

    @property
    def rel_stddev(self) -> float:
        m = self.mean
        return self.stddev / m if self.n >= 2 and m > 0 else math.inf

    @property
    def measured_s(self) -> float:
        """Device time measured so far: summed samples x calls per sample."""
        return (self.n * self._shift + self._s1) * self.calls_per_sample if self.n else 0.0

    def extend(self, batch):
        """Records samples without deciding (e.g. a batch already queued when the rule stopped)."""
        x = np.asarray(batch, dtype=np.float64).ravel()
        if not x.size:
            return
        if self._shift is None:
            self._shift = float(x[0])
        d = x - self._shift
        n_prefix = self.n + np.arange(1, x.size + 1)
        s1 = self._s1 + np.cumsum(d)
        s2 = self._s2 + np.cumsum(d * d)
        with np.errstate(divide="ignore", invalid="ignore"):
            var = np.maximum(0.0, (s2 - s1 * s1 / n_prefix)) / (n_prefix - 1)
            mean = self._shift + s1 / n_prefix
            noise = np.sqrt(var) / mean
        keep = np.isfinite(noise) & (n_prefix >= 2)
        self.noise.extend(noise[keep])
        self._s1, self._s2 = float(s1[-1]), float(s2[-1])
        self.samples.extend(x)

    def add(self, batch, wall_s: float) -> str | None:
        """Records one batch and decides (None: go on)."""
        self.extend(batch)
        self.decisions += 1
        self.reason = self._decide(wall_s)
        return self.reason

    def _noise_ok(self) -> str | None:
        r = self.rule
        if r.criterion == "median-stderr":
            return "converged" if self._median_rel_stderr() <= r.target_noise else None
        if not self.noise.n:
            return None
        noise = self.noise.values
        now = float(noise[-1])
        if now <= r.target_noise:
            return "converged"
        if self.n >= STABLE_MIN_SAMPLES and now > 0:
            window = noise[-max(32, self.n // 2):]
            rms = float(np.sqrt(np.mean((window - now) ** 2)))
            if rms < STABLE_REL_SPREAD * now:
                return "noise_stable"
        return None

    def _median_rel_stderr(self) -> float:
        n = self.n
        if n < 2:
            return math.inf
        med = float(np.median(self.samples.values))
        return _MEDIAN_SE_FACTOR * self.stddev / math.sqrt(n) / med if med > 0 else math.inf

    def _decide(self, wall_s: float) -> str | None:
        r = self.rule
        n = self.n
        if n >= r.min_samples and self.measured_s >= r.min_time_s:
            why = self._noise_ok()
            if why:
                return why
        if n >= r.max_samples:
            return "max_samples"
        if wall_s >= r.max_time_s and n >= 1:
            return "max_time"
        return None


def median_rel_stderr(samples) -> float:
    """Relative standard error of the median (inf with fewer than 2 samples)."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 2:
        return math.inf
    med = float(np.median(x))
    if med <= 0:
        return math.inf
    return _MEDIAN_SE_FACTOR * float(np.std(x, ddof=1)) / math.sqrt(x.size) / med


@dataclass
class TimingStats:
    """Per-call times in seconds; `converged` says the stopping criterion (not a bound) ended it.
    busy_fraction: summed call time / span of the timed part (1.0 = the device never idled)."""
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
    criterion: str | None = None
    busy_fraction: float | None = None
    samples_s: list = field(default_factory=list, repr=False)

    @property
    def converged(self) -> bool:
        return self.stop_reason in ("converged", "noise_stable", "max_samples")

    @classmethod
    def from_samples(cls, samples, stop_reason: str = "given", wall_s: float = 0.0, *,
                     criterion: str | None = None, busy_fraction: float | None = None):
        x = np.asarray(samples, dtype=np.float64)
        if not x.size:
            raise ValueError("no samples")
        mean = float(np.mean(x))
        sd = float(np.std(x, ddof=1)) if x.size > 1 else 0.0
        return cls(n=int(x.size), median_s=float(np.median(x)), min_s=float(x.min()), max_s=float(x.max()),
                   mean_s=mean, stddev_s=sd, rel_stddev=sd / mean if mean > 0 else math.inf,
                   median_rel_stderr=median_rel_stderr(x), stop_reason=stop_reason, wall_s=wall_s,
                   criterion=criterion, busy_fraction=busy_fraction, samples_s=x.tolist())

    def summary(self) -> dict:
        """Row fields, times in milliseconds (samples left out)."""
        return {"samples": self.n, "median_ms": self.median_s * 1e3, "min_ms": self.min_s * 1e3,
                "max_ms": self.max_s * 1e3, "mean_ms": self.mean_s * 1e3, "rel_stddev": self.rel_stddev,
                "median_rel_stderr": self.median_rel_stderr, "converged": self.converged,
                "stop_reason": self.stop_reason, "criterion": self.criterion, "busy_fraction": self.busy_fraction}


@dataclass
class Measurement:
    stats: TimingStats
    telemetry: object | None  # monitor.Telemetry on CUDA, None elsewhere
    mode: dict                # how it was timed: timer, flush, rotation, graph, criterion


class L2Flusher:
    """Overwrites a buffer of twice the L2 size (memset via accelkern._C on CUDA, else torch fill_),
    with a new byte value each call so no write can be skipped as a no-op."""

    def __init__(self, device, l2_bytes: int | None = None):
        import torch
        self.device = torch.device(device)
        if l2_bytes is None:
            l2_bytes = 0
            if self.device.type == "cuda":
                props = torch.cuda.get_device_properties(self.device)
                l2_bytes = int(getattr(props, "L2_cache_size", 0))
            l2_bytes = l2_bytes or 64 << 20   # unknown: assume a large (64 MiB) cache
        self.bytes = 2 * l2_bytes
        self.buf = torch.empty(self.bytes, dtype=torch.uint8, device=self.device)
        from accelkern import _ext
        self._C = _ext.load() if self.device.type == "cuda" else None
        self._value = 0
        self.calls = 0

    @property
    def value(self) -> int:
        """The byte value the last flush wrote."""
        return self._value

    def __call__(self):
        self._value = (self._value + 1) & 0xFF
        self.calls += 1
        if self._C is not None:
            self._C.l2_flush(self.buf, self._value)
        else:
            self.buf.fill_(self._value)


# ---- device layers: what the event timer uses of a device ----------------------------------------

class CudaLayer:
    """torch.cuda's events, current stream, synchronise, graphs, and NVML telemetry for one device."""

    timer = "cuda_events"
    can_capture = True

    def __init__(self, device):
        import torch
        dev = torch.device(device)
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        self.device = dev
        self._torch = torch
        self.stream = None
        self.clock = time.perf_counter

    @contextlib.contextmanager
    def scope(self):
        with self._torch.cuda.device(self.device):
            self.stream = self._torch.cuda.current_stream()
            yield self

    def event(self):
        return self._torch.cuda.Event(enable_timing=True)

    def record(self, ev):
        ev.record(self.stream)

    def synchronize(self):
        self._torch.cuda.synchronize(self.device)

    def monitor(self):
        from accelkern.monitor import Monitor
        return Monitor(self.device.index)

    def capture(self, fn: Callable[[int], object], slots: int, calls: int) -> Callable[[int], object]:
        """Captures `calls` calls (rotating slots) into one CUDA graph; returns its replay."""
        torch = self._torch
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream())
        g = torch.cuda.CUDAGraph()
        with torch.cuda.stream(side):
            with torch.cuda.graph(g, stream=side):
                for j in range(calls):
                    fn(j % slots)
        torch.cuda.current_stream().wait_stream(side)
        g.replay()
        torch.cuda.synchronize(self.device)
        return lambda _slot: g.replay()


class DeviceEventLayer:
    """Another torch device type with timing events (torch.xpu / torch.mps / torch.hpu Event, or the
    generic torch.Event): events on its current stream, its synchronise; no graphs, no NVML."""

    can_capture = False

    def __init__(self, kind: str, event_factory: Callable[[], object], synchronize: Callable[[], None]):
        self.kind = kind
        self.timer = f"{kind}_events"
        self._event = event_factory
        self._sync = synchronize
        self.clock = time.perf_counter

    @contextlib.contextmanager
    def scope(self):
        yield self

    def event(self):
        return self._event()

    def record(self, ev):
        ev.record()

    def synchronize(self):
        self._sync()

    def monitor(self):
        return None

    def capture(self, fn, slots, calls):
        raise NotImplementedError("graph replay needs CUDA")


def _device_module(kind: str):
    import torch
    return getattr(torch, kind, None)


def synchronizer(device) -> Callable[[], None]:
    """The device's synchronise (a no-op on the CPU or where torch offers none)."""
    import torch
    kind = torch.device(device).type
    if kind == "cpu":
        return lambda: None
    sync = getattr(_device_module(kind), "synchronize", None)
    return sync or (lambda: None)


def _event_factory(kind: str) -> Callable[[], object] | None:
    """A timing-event constructor for a torch device type, or None when torch offers none that works."""
    import torch
    cls = getattr(_device_module(kind), "Event", None)
    candidates = []
    if cls is not None:
        candidates.append(lambda: cls(enable_timing=True))
    generic = getattr(torch, "Event", None)
    if generic is not None:
        candidates.append(lambda: generic(device=kind, enable_timing=True))
    for make in candidates:
        try:
            ev = make()
            ev.record()
            ev.synchronize()
            return make
        except Exception:  # this torch build has no working events for the device type
            continue
    return None


def event_layer(device):
    """The event layer for a device, or None (the CPU, or a device whose torch offers no timing events:
    the host clock with a synchronise times it)."""
    import torch
    kind = torch.device(device).type
    if kind == "cpu":
        return None
    if kind == "cuda":
        return CudaLayer(device)
    make = _event_factory(kind)
    return None if make is None else DeviceEventLayer(kind, make, synchronizer(device))


# ---- measuring ---------------------------------------------------------------------------------------

def measure(fn: Callable[[int], object], device="cuda", *, slots: int = 1, rule: StopRule | None = None,
            warmup_s: float = 0.05, warmup_calls: int = 2, l2_flush: bool = False, flusher: Callable | None = None,
            graph: bool = False, graph_calls: int | None = None, telemetry: bool = True,
            on_sample: Callable[[int, float], None] | None = None, layer=None,
            self_timed: bool = False) -> Measurement:
    """Times `fn(slot)` (slot cycles over range(slots): rotating input sets) per the stop rule.

    self_timed (devices without events): `fn` times itself and returns its seconds (accelkern's CPU kernels
    time their pinned threads from release to the last one's end), which is the sample instead of the host
    span around the call. On the CPU, with telemetry, the core clock is measured right after the timed
    calls (accelkern.hostcpu.clock: every core the work used, loaded at once) and lands in the row as
    telemetry.

    Returns per-call statistics in seconds (with the busy fraction and the criterion that stopped it)
    plus NVML telemetry sampled during the timed span. `layer` replaces the device's event layer
    (event_layer(device)); graph=True with l2_flush=True is refused (a graph replays its calls back to
    back, so a flush could only sit inside the timed replay).
    """
    rule = rule or StopRule()
    if slots < 1:
        raise ValueError("slots must be >= 1")
    if graph and l2_flush:
        raise ValueError("graph mode and an L2 flush before each call exclude each other: a replay runs its "
                         "calls back to back; time flushed calls without graph=True")
    layer = layer if layer is not None else event_layer(device)
    if layer is None:
        return _measure_host(fn, device, slots, rule, warmup_s, warmup_calls, on_sample, self_timed, telemetry)
    return _measure_events(fn, layer, slots, rule, warmup_s, warmup_calls, l2_flush, flusher, graph, graph_calls,
                           telemetry, on_sample, device)


def quick_call_s(fn: Callable[[int], object], device, slots: int = 1, calls: int = 5, layer=None) -> float:
    """Mean seconds per call of `calls` back-to-back calls after one warm call (events where the device
    has them, else the host clock): a quick size estimate, not a measurement."""
    layer = layer if layer is not None else event_layer(device)
    if layer is None:
        sync = synchronizer(device)
        fn(0)
        sync()
        t0 = time.perf_counter()
        for i in range(calls):
            fn(i % slots)
        sync()
        return (time.perf_counter() - t0) / calls
    with layer.scope():
        fn(0)
        start, end = layer.event(), layer.event()
        layer.record(start)
        for i in range(calls):
            fn(i % slots)
        layer.record(end)
        end.synchronize()
        return start.elapsed_time(end) * 1e-3 / calls


def graph_calls_for(per_call_s: float) -> int:
    """Calls per graph replay so one replay lasts ~GRAPH_REPLAY_S (1..MAX_GRAPH_CALLS)."""
    return int(min(MAX_GRAPH_CALLS, max(1, round(GRAPH_REPLAY_S / max(per_call_s, 1e-7)))))


def _measure_host(fn, device, slots, rule, warmup_s, warmup_calls, on_sample, self_timed=False, telemetry=False):
    sync = synchronizer(device)
    clock = time.perf_counter
    t_end = clock() + warmup_s
    i = 0
    while i < warmup_calls or clock() < t_end:
        fn(i % slots)
        i += 1
    sync()
    tracker = rule.tracker()
    batch: list[float] = []
    size, last_decide = FIRST_BATCH, clock()
    start_wall = clock()
    end_wall = start_wall
    reason = None
    while reason is None:
        t0 = clock()
        own = fn(i % slots)
        sync()
        end_wall = clock()
        batch.append(float(own) if self_timed else end_wall - t0)
        i += 1
        if on_sample:
            on_sample(tracker.n + len(batch), batch[-1])
        # decide per batch (or every BATCH_TARGET_S of wall time): the statistics cost stays linear
        if len(batch) >= size or end_wall - last_decide >= BATCH_TARGET_S or \
                end_wall - start_wall >= rule.max_time_s or tracker.n + len(batch) >= rule.max_samples:
            reason = tracker.add(batch, end_wall - start_wall)
            batch, size, last_decide = [], min(MAX_BATCH, size * 2), clock()
    span = end_wall - start_wall
    x = tracker.samples.values
    busy = float(x.sum()) / span if span > 0 else None
    stats = TimingStats.from_samples(x, reason, clock() - start_wall, criterion=rule.criterion,
                                     busy_fraction=_clip01(busy))
    mode = {"timer": "self (pinned threads, monotonic clock)" if self_timed else "host", "slots": slots,
            "l2_flush": False, "graph": False, "calls_per_sample": 1, "criterion": rule.criterion,
            "decisions": tracker.decisions}
    tel = None
    if telemetry and str(device) == "cpu":
        tel, mode["clock_method"] = _cpu_clock_telemetry()
    return Measurement(stats, tel, mode)


def _cpu_clock_telemetry():
    """(monitor.Telemetry with the core clock measured now on the cores torch computes on, how it was
    measured); (None, why) when it cannot be measured."""
    import torch

    from accelkern import monitor
    from accelkern.hostcpu import clock as cpu_clock, topology
    cpus = topology.one_cpu_per_core(max(1, torch.get_num_threads()))
    reading = cpu_clock.measure_clock(cpus, run_s=0.005, runs=3)
    if reading.mhz is None:
        return None, reading.method
    per = [v for _, v in reading.per_cpu_mhz]
    tel = monitor.Telemetry(nvml=False, samples=len(per), sm_clock_mean_mhz=reading.mhz,
                            sm_clock_min_mhz=min(per), sm_clock_max_mhz=max(per))
    return tel, "core clock right after the timed calls: " + reading.method


def _clip01(v):
    return None if v is None else min(1.0, max(0.0, v))


class _Queue:
    """Queues calls on the device, each between an event pair (a flush, when asked, before the pair)."""

    def __init__(self, layer, body, slots, flusher, start_index):
        self.layer, self.body, self.slots, self.flusher = layer, body, slots, flusher
        self.i = start_index

    def enqueue(self, n: int) -> list:
        layer, out = self.layer, []
        for _ in range(n):
            if self.flusher is not None:
                self.flusher()
            start, end = layer.event(), layer.event()
            layer.record(start)
            self.body(self.i % self.slots)
            layer.record(end)
            self.i += 1
            out.append((start, end))
        return out


def _collect(events: list, calls_per_sample: int) -> list[float]:
    """Waits for a batch's last event; per-call seconds of each pair."""
    events[-1][1].synchronize()
    return [s.elapsed_time(e) * 1e-3 / calls_per_sample for s, e in events]


def _measure_events(fn, layer, slots, rule, warmup_s, warmup_calls, l2_flush, flusher, graph, graph_calls,
                    telemetry, on_sample, device):
    if l2_flush and flusher is None:
        flusher = L2Flusher(getattr(layer, "device", device))
    clock = layer.clock
    mode = {"timer": layer.timer, "slots": slots, "l2_flush": bool(l2_flush), "graph": False,
            "calls_per_sample": 1, "criterion": rule.criterion}
    with layer.scope():
        # warm-up: module load, handle creation, clocks ramping
        t0 = clock()
        t_end = t0 + warmup_s
        i = 0
        while i < warmup_calls or clock() < t_end:
            fn(i % slots)
            i += 1
            if i % 8 == 0:
                layer.synchronize()
        layer.synchronize()
        warm_call_s = (clock() - t0) / max(i, 1)   # host view of one call: sizes the first batch

        calls_per_sample, body = 1, fn
        if graph and layer.can_capture:
            calls_per_sample = graph_calls or graph_calls_for(quick_call_s(fn, device, slots, 10, layer))
            body = layer.capture(fn, slots, calls_per_sample)
            mode.update(graph=True, calls_per_sample=calls_per_sample)
        elif graph:
            mode["graph_note"] = f"graph replay needs CUDA: {layer.timer} time each call"

        mon = layer.monitor() if telemetry else None
        queue = _Queue(layer, body, slots, flusher if l2_flush else None, i)
        tracker = rule.tracker(calls_per_sample)
        first = last = None
        per_call_s = warm_call_s * calls_per_sample   # device seconds per body call (then: the last batch's)
        # long calls start with short batches, so a bound is overrun by at most about one call
        size = max(1, min(FIRST_BATCH, int(BATCH_TARGET_S / max(per_call_s, 1e-9))))
        reason = None
        if mon:
            mon.start()
        start_wall = clock()
        try:
            pending = queue.enqueue(size)
            first = pending[0]
            if mon:
                mon.begin_span()   # the device is busy with the first batch from here on
            while True:
                # queue the next batch before waiting on this one, unless it would overrun a bound
                nxt = None
                queued = tracker.n + len(pending)
                ahead_s = len(pending) * per_call_s
                if queued < rule.max_samples and clock() - start_wall + ahead_s < rule.max_time_s:
                    nxt = queue.enqueue(min(size, rule.max_samples - queued))
                times = _collect(pending, calls_per_sample)
                last = pending[-1]
                if on_sample:
                    for j, t in enumerate(times):
                        on_sample(tracker.n + j + 1, t)
                reason = tracker.add(times, clock() - start_wall)
                per_call_s = float(np.median(times)) * calls_per_sample
                size = max(1, min(MAX_BATCH, 2 * size, int(BATCH_TARGET_S / max(per_call_s, 1e-9))))
                if reason:
                    if nxt:  # already queued and run: its samples count, the decision stands
                        times = _collect(nxt, calls_per_sample)
                        last = nxt[-1]
                        if on_sample:
                            for j, t in enumerate(times):
                                on_sample(tracker.n + j + 1, t)
                        tracker.extend(times)
                    break
                pending = nxt if nxt else queue.enqueue(min(size, rule.max_samples - tracker.n))
        finally:
            layer.synchronize()
            tel = mon.stop() if mon else None
        wall = clock() - start_wall
        x = tracker.samples.values
        span_s = first[0].elapsed_time(last[1]) * 1e-3
        busy = float(x.sum()) * calls_per_sample / span_s if span_s > 0 else None
        stats = TimingStats.from_samples(x, reason, wall, criterion=rule.criterion, busy_fraction=_clip01(busy))
    mode["decisions"] = tracker.decisions
    mode["span_s"] = span_s
    return Measurement(stats, tel, mode)


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
