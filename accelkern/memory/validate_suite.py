"""The `hbm` validate suite: the best kernel per direction (read, write, copy) vs the spec, within the
suite's share of the budget, set-up (allocation, random fill, checks) included. On a CPU with accelkern._cpu:
accelkern's CPU kernels (cpu_validate), with the DRAM figure and, when the budget allows, one cache level."""
from __future__ import annotations

import time
from typing import Iterator

from accelkern import _ext, timing
from accelkern.device import DeviceInfo
from accelkern.memory.kernels import COLD_HINTS, OWN_KERNELS, traffic
from accelkern.memory.measure import join, measure_workload, run_kernel, size_text
from accelkern.memory.plan import plan_for, validate_size
from accelkern.memory.workloads import TorchWorkload
from accelkern.results import Row
from accelkern.units import format_value

DIRECTIONS = (
    ("read", ["read"]),
    ("write", ["write"]),
    ("copy", ["copy", "ce"]),
)
SETUP_SHARE = 0.4               # of a CPU suite's budget that allocation, random fill and checks may take
CALIBRATION_BYTES = 16 << 20    # the copy set-up timed to estimate the set-up cost per byte
GPU_SETUP_S = 0.3               # set-up allowance per GPU candidate (allocation, fill and check of 2 GiB)
WARMUP_S = 0.1                  # warm-up allowance per measurement (the harness warms up for >= 0.05 s)
MIN_TIME_S = 0.05               # least timing per measurement


def candidates(info: DeviceInfo) -> list[tuple[str, str, str | None]]:
    """(direction, kernel, hint) of everything measured: own kernels with both cold hints and the copy engine
    on a GPU with accelkern._C; the torch ops elsewhere."""
    own_cuda = info.kind == "cuda" and _ext.load() is not None
    out = []
    for direction, kernels in DIRECTIONS:
        for k in kernels:
            if not own_cuda:
                if k in OWN_KERNELS:
                    out.append((direction, k, None))
            elif k in OWN_KERNELS:
                out += [(direction, k, h) for h in COLD_HINTS]
            else:
                out.append((direction, k, None))
    return out


def setup_seconds_per_byte(device: str) -> float:
    """Seconds of set-up (random fill, poison, one checked call) per buffer byte, from a small copy."""
    t0 = time.perf_counter()
    w = TorchWorkload("copy", CALIBRATION_BYTES, device)
    try:
        w.check()
    finally:
        w.close()
    return (time.perf_counter() - t0) / (2 * CALIBRATION_BYTES)


def budget_size(budget_s: float, per_byte_s: float, kinds: list[str]) -> int:
    """Largest buffer (bytes, whole MiB, >= 1 MiB) whose set-up for every candidate fits SETUP_SHARE of the budget."""
    buffers = sum(traffic(k, 4096).device_buffers for k in kinds) or 1
    n = int(SETUP_SHARE * budget_s / (per_byte_s * buffers))
    return max(1 << 20, n // (1 << 20) * (1 << 20))


def suite_rows(ctx) -> Iterator[Row]:
    """Per direction every candidate is measured and the best one emitted (the others named in its note);
    on a GPU then torch's own copy as the independent cross-check. Set-up counts against ctx.budget_s."""
    info = ctx.device
    if info.kind == "cpu":
        from accelkern.memory import cpu_kernels
        if cpu_kernels.available() is None:
            from accelkern.memory import cpu_validate
            yield from cpu_validate.rows(ctx, validate_size(info))
            return
    cands = candidates(info)
    cuda_ext = info.kind == "cuda" and _ext.load() is not None
    n_meas = len(cands) + (1 if cuda_ext else 0)
    nbytes, size_note, setup_s = validate_size(info), None, GPU_SETUP_S
    if info.kind != "cuda":
        per_byte = setup_seconds_per_byte(info.torch_device)
        fit = budget_size(max(0.0, ctx.time_left()), per_byte, [k for _, k, _ in cands])
        if fit < nbytes:
            nbytes, size_note = fit, f"size limited to {size_text(fit)} by the {ctx.budget_s:.0f} s validate budget"
        setup_s = per_byte * nbytes * 2

    def rule(done: int) -> timing.StopRule:
        left = n_meas - done
        spare = ctx.time_left() - left * (setup_s + WARMUP_S)
        return timing.StopRule(max_time_s=max(MIN_TIME_S, spare / max(1, left)))

    done = 0
    for direction, kernels in DIRECTIONS:
        rows = []
        for _d, k, hint in [c for c in cands if c[0] == direction]:
            ctx.progress(f"  hbm {direction}: {k}{' ' + hint if hint else ''} {size_text(nbytes)}")
            if info.kind == "cuda" and not cuda_ext:
                row = _torch_row(k, nbytes, info, ctx.spec, rule(done))
            else:
                row = run_kernel(k, nbytes, info, ctx.spec, rule(done), hint=hint or "stream")
            done += 1
            row.note = join(row.note, size_note)
            rows.append(row)
        ok = [r for r in rows if r.status == "ok" and r.value]
        if not ok:
            yield from rows
            continue
        best = max(ok, key=lambda r: r.value)
        others = [f"{_label(r)} {format_value(r.value, r.metric)}" for r in ok if r is not best]
        best.name = f"{direction}: {_label(best)}"
        what = f"{direction} direction"
        if others:
            what += f", best of {_label(best)} {format_value(best.value, best.metric)}, " + ", ".join(others)
        best.note = join(what, best.note)
        yield best
    if cuda_ext:
        # the independent cross-check: what torch's own copy reaches on the same buffers
        _t, plan = plan_for("copy", nbytes, info)
        w = TorchWorkload("copy", nbytes, info.torch_device, plan.slots)
        try:
            row = measure_workload(w, info, ctx.spec, rule(done), plan)
        finally:
            w.close()
        row.name = f"copy: {row.name} (torch cross-check)"
        yield row


def _label(r: Row) -> str:
    h = (r.config or {}).get("hint")
    base = r.name.split(": ")[-1]
    return f"{base}/{h}" if h else base


def _torch_row(kernel, nbytes, info, spec, rule) -> Row:
    _t, plan = plan_for(kernel, nbytes, info)
    w = TorchWorkload(kernel, nbytes, info.torch_device, plan.slots)
    try:
        row = measure_workload(w, info, spec, rule, plan)
        row.note = join(row.note, f"torch path: {_ext.error()}")
        return row
    finally:
        w.close()


def register():
    from accelkern import validate
    validate.register(validate.Suite("hbm", "memory bandwidth per direction (read, write, copy) vs spec",
                                     suite_rows, weight=1.0))
