"""What a measurement returns to the search (Measured) and what it costs (Budget, on a real or a virtual
clock: replay charges its cost model to a VirtualClock). Seconds throughout, throughput in TFLOPS."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from accelkern.errors import AccelkernError
from accelkern.results import Row
from accelkern.torch_backend import GemmShape as Shape


@dataclass
class Measured:
    shape: Shape
    tflops: float                 # the figure the search ranks by: from the median call time (replay: recorded mean)
    row: Row
    why: str = ""
    tflops_mean: float | None = None   # from the mean call time (mamf-finder's headline figure)
    spread: float | None = None        # relative standard error of the median, when measured
    seconds: float | None = None       # what the measurement took (wall; replay: its replayed cost)


class Budget:
    """Measuring time spent vs allowed, and a `deadline` (a `clock()` value) when the time between
    measurements counts too; `clock` is injectable (tests, replay's virtual clock)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic, deadline: float | None = None):
        if not seconds > 0:
            raise AccelkernError("--budget must be positive (seconds of measuring)")
        self.seconds, self.clock, self.spent, self.deadline = seconds, clock, 0.0, deadline
        self._t0: float | None = None

    def __enter__(self):
        self._t0 = self.clock()
        return self

    def __exit__(self, *exc):
        self.spent += self.clock() - self._t0
        self._t0 = None
        return False

    def left(self) -> float:
        now = self.clock()
        running = now - self._t0 if self._t0 is not None else 0.0
        left = self.seconds - self.spent - running
        return left if self.deadline is None else min(left, self.deadline - now)

    def exhausted(self) -> bool:
        return self.left() <= 0


class VirtualClock:
    """A clock that only moves when charged: replayed measurements cost what the cost model says."""

    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def charge(self, seconds: float):
        self.t += seconds
