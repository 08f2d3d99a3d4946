"""One checked, timed row per workload: correctness first (a wrong output is not timed), then the harness,
then the figures (accelkern.figures.memory_row). Rows with too few samples or no convergence say so."""
from __future__ import annotations

from accelkern import figures, timing
from accelkern.device import DeviceInfo
from accelkern.errors import Unavailable
from accelkern.memory.kernels import LINK_KERNELS, LaunchShape, traffic
from accelkern.memory.plan import CachePlan, plan_for, set_note
from accelkern.memory.workloads import Workload, make_workload
from accelkern.results import Row
from accelkern.units import format_bytes

_UNITS = {"TiB": 1 << 40, "GiB": 1 << 30, "MiB": 1 << 20, "KiB": 1 << 10, "B": 1}


def size_text(n: int) -> str:
    """format_bytes(n) ('256 MiB'), with the exact byte count added when the short form rounds:
    '976.6 KiB (1000003 B)'."""
    s = format_bytes(n)
    num, unit = s.split()
    return s if float(num) * _UNITS[unit] == n else f"{s} ({n} B)"


def join(*parts) -> str | None:
    return "; ".join(p for p in parts if p) or None


def timing_caveat(row: Row, rule: timing.StopRule) -> str | None:
    """Why the row's figure is not settled: fewer samples than the rule asks for, or not converged."""
    if row.samples is None:
        return None
    if row.samples < rule.min_samples:
        return (f"too few samples: {row.samples} < {rule.min_samples} within {rule.max_time_s:g} s "
                f"({row.stop_reason}); raise --time")
    if row.converged is False:
        # the noise the rule's criterion judges: relative stddev (nvbench) or the median's relative std. error
        median = getattr(row, "criterion", None) == "median-stderr"
        value = row.median_rel_stderr if median else row.rel_stddev
        noise = f"{value:.1%}" if value is not None and value == value else "?"
        return (f"not converged: {'median error' if median else 'noise'} {noise} > {rule.target_noise:.1%} after "
                f"{row.samples} samples ({row.stop_reason})")
    return None


def settled(row: Row) -> bool:
    """The row was measured and its timing met the rule (what a derived figure may be built on)."""
    return row.status == "ok" and bool(row.value) and (row.config or {}).get("timing_settled") is True


def _row(w: Workload, plan: CachePlan) -> Row:
    t = w.traffic
    cfg = {**w.config(), "cache": plan.mode}
    return Row(suite="hbm", name=w.kernel, dtype=t.dtype, shape=size_text(w.nbytes), backend=w.backend,
               kernel=w.kernel_id, config=cfg, bytes_read=t.bytes_read, bytes_written=t.bytes_written,
               note=traffic(w.kernel, w.requested).note)


def measure_workload(w: Workload, info: DeviceInfo, spec, rule: timing.StopRule, plan: CachePlan,
                     check: bool = True, flusher=None) -> Row:
    """Checks the output (unless check=False), times the calls through the harness, fills the row via
    figures.memory_row. A wrong output gives a 'failed' row and is not timed."""
    row = _row(w, plan)
    if check:
        ok, err, tol = w.check()
        row.correct, row.max_error, row.tolerance = ok, err, tol
        if not ok:
            row.status = "failed"
            row.note = join(row.note, f"output differs from the reference (error {err}); not timed")
            return row
    meas = timing.measure(w, info.torch_device, slots=w.slots, rule=rule, l2_flush=plan.l2_flush, flusher=flusher)
    figures.memory_row(row, meas, info, spec)
    if w.kernel in LINK_KERNELS:  # a host link is not HBM: no HBM spec or clock x bus figure applies
        row.spec_value = row.pct_of_spec = row.theoretical_value = row.pct_of_theoretical = None
        row.note = join(row.note, "host link: one_direction is the transfer rate")
    caveat = timing_caveat(row, rule)
    row.config["timing_settled"] = caveat is None
    row.note = join(row.note, caveat, set_note(w.traffic, plan, info))
    return row


def run_kernel(kernel: str, nbytes: int, info: DeviceInfo, spec, rule: timing.StopRule, *, vec: int = 16,
               hint: str = "stream", shape: LaunchShape | None = None, threads=None, blocks_per_sm=None,
               unroll=None, extra_config: dict | None = None) -> Row:
    """One measured (and checked) row for a kernel at a size; a capability missing here -> 'skipped' row."""
    try:
        _t, plan = plan_for(kernel, nbytes, info)
        w = make_workload(kernel, nbytes, info, vec=vec, hint=hint, shape=shape, slots=plan.slots, threads=threads,
                          blocks_per_sm=blocks_per_sm, unroll=unroll)
    except Unavailable as exc:
        return Row(suite="hbm", name=kernel, status="skipped", shape=size_text(nbytes), note=str(exc))
    try:
        row = measure_workload(w, info, spec, rule, plan)
        if extra_config:
            row.config.update(extra_config)
        return row
    finally:
        w.close()
