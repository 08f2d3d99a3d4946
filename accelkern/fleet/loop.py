"""The one barrier-synchronised timed loop of the collectives and p2p suites.

A sample: untimed set-up (e.g. refilling an in-place buffer), a barrier of the whole group, then `reps`
back-to-back calls of the operation, timed together with CUDA events on a GPU and the host clock on a CPU,
divided by `reps`. reps is chosen so a sample lasts about SAMPLE_S (nccl-tests likewise averages a run of
back-to-back iterations), so the barrier's exit skew between ranks does not dominate small transfers.
The figure is the median over samples after a warm-up. Every rank runs the same reps and samples (a
collective that one rank skips hangs the others), so both are agreed after the warm-up: each rank proposes
what its time budget allows and one all_reduce settles them. Times in seconds.
"""
from __future__ import annotations

import math
import statistics
import time
from typing import Callable

from accelkern.timing import Measurement, TimingStats

WARMUP_CALLS = 2
SAMPLE_S = {"cuda": 1e-3, "cpu": 5e-3}     # target duration of one sample
MAX_REPS = 1000
MIN_SAMPLES, MAX_SAMPLES = 3, 100


def _barrier(device):
    import torch.distributed as dist
    if device.type == "cuda":
        dist.barrier(device_ids=[device.index])
    else:
        dist.barrier()


def timed_samples(op: Callable[[], object], samples: int, device, reps: int = 1,
                  setup: Callable[[], object] | None = None) -> list[float]:
    """Seconds per call of `op` on this rank: each sample starts right after a barrier of the group."""
    import torch
    cuda = device.type == "cuda"
    out = []
    for _ in range(samples):
        if setup is not None:
            setup()
        if cuda:
            torch.cuda.synchronize(device)
        _barrier(device)
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                op()
            end.record()
            end.synchronize()
            out.append(start.elapsed_time(end) * 1e-3 / reps)
        else:
            t0 = time.perf_counter()
            for _ in range(reps):
                op()
            out.append((time.perf_counter() - t0) / reps)
    return out


def agree(reps: int, samples: int, device) -> tuple[int, int]:
    """The largest reps and the smallest sample count any rank proposed (every rank must call this)."""
    import torch
    import torch.distributed as dist
    t = torch.tensor([-int(reps), int(samples)], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(-t[0].item()), int(t[1].item())


def plan(per_call_s: float, budget_s: float, kind: str) -> tuple[int, int]:
    """(reps, samples) proposed for a call of `per_call_s` within `budget_s`; 0 means 'no opinion'
    (a rank that only joins the barriers): reps 1, samples the most."""
    if per_call_s <= 0:
        return 1, MAX_SAMPLES
    reps = max(1, min(MAX_REPS, math.ceil(SAMPLE_S.get(kind, 5e-3) / per_call_s)))
    samples = max(MIN_SAMPLES, min(MAX_SAMPLES, int(budget_s / (reps * per_call_s))))
    return reps, samples


def measure(op: Callable[[], object], device, budget_s: float, setup: Callable[[], object] | None = None,
            active: bool = True) -> Measurement:
    """Warm-up, agreed reps and samples within `budget_s`, the timed samples; NVML telemetry on a GPU.
    `active` False: this rank only takes part in the barriers (a p2p pair it is not in)."""
    warm = timed_samples(op, WARMUP_CALLS, device, 1, setup)
    per_call = statistics.median(warm) if active else 0.0
    reps, samples = agree(*plan(per_call, budget_s, device.type), device)
    mon = None
    if device.type == "cuda" and active:
        from accelkern.monitor import Monitor
        mon = Monitor(device.index).start()
    t0 = time.perf_counter()
    try:
        times = timed_samples(op, samples, device, reps, setup)
    finally:
        tel = mon.stop() if mon else None
    stats = TimingStats.from_samples(times, "max_samples", time.perf_counter() - t0)
    mode = {"timer": "cuda_events" if device.type == "cuda" else "host",
            "barrier": "before every sample", "warmup_calls": WARMUP_CALLS, "reps_per_sample": reps,
            "samples": samples}
    return Measurement(stats, tel, mode)
