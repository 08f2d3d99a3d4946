"""The validate suite `mamf`: a short guided search per dtype, finishing within the suite's share
(ctx.budget_s): mamf's budget bounds a run's wall time, set-up, warm-up and re-measures included."""
from __future__ import annotations

import time
from typing import Iterator

from accelkern import torch_backend
from accelkern.results import Row

CPU_MAX_DIM = 1024       # CPU: small shapes, so one measurement stays well inside a validate share


def validate_rows(ctx) -> Iterator[Row]:
    from accelkern.mamf.job import run, winner_row
    dev = ctx.device
    cuda = dev.kind == "cuda"
    dtypes = ("bf16", "fp8") if cuda else ("fp32",)
    for i, dtype in enumerate(dtypes):
        why = torch_backend.gemm_unavailable(dtype, dev.torch_device)
        if why:
            yield Row(suite="mamf", name="MAMF", dtype=dtype, status="skipped", note=why)
            continue
        share = max(0.5, ctx.time_left() / (len(dtypes) - i))
        t0 = time.monotonic()
        res = run(dev, ctx.spec, dtype, lambda r: r, budget_s=share,
                  warmup_s=min(3.0, share * 0.1) if cuda else 0.0, top=2 if cuda else 1, repeats=2 if cuda else 1,
                  progress=ctx.progress, max_dim=None if cuda else CPU_MAX_DIM, deadline=t0 + share)
        if res.winner_tflops is not None:
            yield winner_row(res)


def register():
    from accelkern import validate
    validate.register(validate.Suite("mamf", "maximum achievable matmul FLOPS (short guided search)",
                                     validate_rows, weight=2.0))
