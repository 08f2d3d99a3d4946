"""Measuring the peak kernels: timing-mode launches on every SM, the launch-shape sweep, the re-measured
best shape and its Row (TFLOPS or TOPS, % of the datasheet, FLOP/clk/SM at the NVML and the in-kernel
SM clock beside the architecture's per-clock rate). Times in seconds, clocks in MHz.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from accelkern import _ext, figures, specs, timing
from accelkern.errors import NoDevice
from accelkern.peak.check import CheckResult, check_kernel
from accelkern.peak.kernels import (PATH_LABEL, Config, PeakKernel, grid, kernel_note, launch_flops,
                                    unavailable)
from accelkern.peak.operands import Operands, mma_operands, simt_operands, torch_module, wgmma_operands
from accelkern.peak.timed_check import check_timed_launch
from accelkern.results import Row

_TIMING_OPERANDS: dict = {}

def _timing_operands(kernel: PeakKernel, cfg: Config) -> Operands:
    """Host-side timing operands, built once per compiled variant."""
    key = (kernel.key, cfg.chains if kernel.path == "simt" else None, cfg.n, cfg.layout)
    if key not in _TIMING_OPERANDS:
        if kernel.path == "simt":
            _TIMING_OPERANDS[key] = simt_operands(kernel, cfg.chains)
        elif kernel.path == "mma":
            _TIMING_OPERANDS[key] = mma_operands(kernel, timing_mode=True)
        else:
            _TIMING_OPERANDS[key] = wgmma_operands(kernel, cfg.n, cfg.layout, timing_mode=True)
    return _TIMING_OPERANDS[key]


class Launcher:
    """Timing-mode buffers and launches of one kernel at one launch shape on all SMs."""

    def __init__(self, kernel: PeakKernel, cfg: Config, device, sm_count: int):
        torch = torch_module()
        self.C = _ext.require()
        self.kernel, self.cfg = kernel, cfg
        self.dev = torch.device(device)
        self.ctas = sm_count * cfg.ctas_per_sm
        k = kernel
        if k.path == "simt":
            self.info = dict(self.C.peak_simt_info(k.op, cfg.chains, cfg.threads))
            self.ops = _timing_operands(k, cfg)
            self.params = self.ops.tensors["params"].to(self.dev)
        elif k.path == "mma":
            self.info = dict(self.C.peak_mma_info(k.op, cfg.chains, cfg.warps))
            self.ops = _timing_operands(k, cfg)
            self.frags = self.ops.tensors["frags"].to(self.dev)
        else:
            self.ops = _timing_operands(k, cfg)
            self.layout = self.ops.ref["layout"]
            self.info = dict(self.C.peak_wgmma_info(k.op, cfg.n, bool(cfg.a_in_regs), cfg.chains, cfg.warps // 4,
                                                    self.layout, self.dev.index or 0))
            t = self.ops.tensors
            self.image, self.a_frags, self.c_frags = (t["image"].to(self.dev), t["a_frags"].to(self.dev),
                                                      t["c_frags"].to(self.dev))
        self.c_words = int(self.C.peak_mma_fragment_words(k.op)[2]) if k.path == "mma" else 0
        # poisoned: a thread that never stores leaves a word the timed-launch check cannot mistake for a result
        self.out = torch.full((self.ctas * cfg.threads,), -1, dtype=torch.int32, device=self.dev)
        self.clocks = torch.zeros((self.ctas, 4), dtype=torch.int64, device=self.dev)

    def infeasible(self) -> str | None:
        """Why this launch shape cannot put ctas_per_sm CTAs on every SM at once, or None."""
        if self.info.get("local_bytes"):
            return f"kernel uses {self.info['local_bytes']} bytes of local memory (spills)"
        active = int(self.info.get("max_active_ctas") or 0)
        if active < self.cfg.ctas_per_sm:
            return (f"only {active} CTA(s) of {self.cfg.threads} threads fit per SM "
                    f"({self.info.get('regs')} registers/thread)")
        return None

    def launch(self, iters: int):
        k, cfg, C = self.kernel, self.cfg, self.C
        if k.path == "simt":
            C.peak_simt(k.op, cfg.chains, self.ctas, cfg.threads, iters, False, self.params, self.out, self.clocks)
        elif k.path == "mma":
            C.peak_mma(k.op, cfg.chains, self.ctas, cfg.warps, iters, False, self.frags, self.out, self.clocks)
        else:
            C.peak_wgmma(k.op, cfg.n, bool(cfg.a_in_regs), cfg.chains, self.ctas, cfg.warps // 4, iters, False,
                         self.image, self.layout, self.a_frags, self.c_frags, self.out, self.clocks)

    def flops(self, iters: int) -> float:
        return launch_flops(self.kernel, self.cfg, self.ctas, iters, int(self.info["steps_per_iter"]))

    def kernel_clock(self) -> dict:
        """SM clock from the last launch: clock64 cycles over %globaltimer ns per CTA, averaged (MHz), and
        the mean CTA duration (s)."""
        c = self.clocks.cpu().numpy().astype(np.float64)
        cycles, ns = c[:, 1] - c[:, 0], c[:, 3] - c[:, 2]
        ok = (ns > 0) & (cycles > 0)
        if not ok.any():
            return {}
        return {"mhz": float(np.mean(1e3 * cycles[ok] / ns[ok])), "cta_s": float(np.mean(ns[ok]) * 1e-9),
                "span_s": float((c[:, 3].max() - c[:, 2].min()) * 1e-9)}


def calibrate_iters(launcher: Launcher, target_s: float) -> int:
    """Loop iterations for one launch to last about target_s (timed with CUDA events)."""
    torch = torch_module()
    iters = 16 if launcher.kernel.path != "simt" else 32
    for _ in range(4):
        launcher.launch(iters)   # warm (and the shape of the real call)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        launcher.launch(iters)
        end.record()
        end.synchronize()
        t = start.elapsed_time(end) * 1e-3
        if t >= target_s / 4:
            break
        iters = int(min(2**31 - 1, max(iters * 2, iters * target_s / max(t, 1e-6) / 4)))
    per_iter = t / iters
    return int(max(1, min(2**31 - 1, round(target_s / per_iter))))


SWEEP_TARGET_S = 0.003    # one launch during the sweep
FINAL_TARGET_S = 0.005    # one launch of the best shape, re-measured


def sweep_rule(max_time_s: float) -> timing.StopRule:
    return timing.StopRule(min_samples=3, min_time_s=0.01, max_time_s=max_time_s, target_noise=0.01)


def final_rule(max_time_s: float) -> timing.StopRule:
    return timing.StopRule(min_samples=10, min_time_s=0.2, max_time_s=max_time_s, target_noise=0.005)


def _shape_str(kernel: PeakKernel, cfg: Config) -> str | None:
    """The instruction's shape: m64nNkK (wgmma), m16n8kK (mma.sync), the packed pair (SIMT f16x2/bf16x2)."""
    if kernel.path == "wgmma":
        k = {"f16": 16, "bf16": 16, "tf32": 8}.get(kernel.elem, 32)
        return f"m64n{cfg.n}k{k}"
    if kernel.path == "mma":
        return kernel.family
    return f"{kernel.elem}x2" if kernel.elem in ("f16", "bf16") else None


def measure_config(kernel: PeakKernel, cfg: Config, device_info, spec, rule: timing.StopRule, target_s: float,
                   check: CheckResult | None, warmup_s: float = 0.02, check_timed: bool = False) -> Row:
    """Times one launch shape on all SMs and returns its Row (status 'skipped' when it does not fit).
    check_timed: the timed launch itself is then checked too (timed_check), and the row is correct only
    when both that and the one-CTA `check` are."""
    row = Row(suite="peak", name=kernel.instruction, dtype=kernel.dtype, shape=_shape_str(kernel, cfg),
              backend=PATH_LABEL[kernel.path], kernel=f"{kernel.instruction} [{cfg.label()}]",
              config=cfg.as_dict())
    L = Launcher(kernel, cfg, device_info.torch_device, device_info.sm_count)
    why = L.infeasible()
    if why:
        row.status, row.note = "skipped", why
        return row
    iters = calibrate_iters(L, target_s)
    meas = timing.measure(lambda _slot: L.launch(iters), device_info.torch_device, rule=rule, warmup_s=warmup_s)
    row.flops = L.flops(iters)
    if check is not None:
        row.correct, row.max_error, row.tolerance = check.ok, check.error, check.tolerance
    timed = check_timed_launch(L, iters) if check_timed else None
    if timed is not None:
        row.correct = bool(row.correct is not False and timed.ok)
        row.max_error = max(row.max_error or 0.0, timed.error)
        row.tolerance = timed.tolerance if row.tolerance is None else row.tolerance
    figures.compute_row(row, meas, device_info, spec, kernel.spec_dtype)
    if kernel.integer:
        row.metric = "TOPS"
    kc = L.kernel_clock()
    arch, arch_note = arch_rate(kernel, device_info)
    if row.sm_clock_mean_mhz and arch:   # the clock peak of this instruction on this product, not the dtype's
        row.clock_peak = arch * device_info.sm_count * row.sm_clock_mean_mhz * 1e6 / 1e12
        row.pct_of_clock_peak = 100.0 * row.value / row.clock_peak
    elif not arch:
        row.clock_peak = row.pct_of_clock_peak = None
    row.config.update(iters=iters, ctas=L.ctas, regs=L.info.get("regs"), binary=f"sm_{L.info.get('binary_version')}",
                      spec_dtype=kernel.spec_dtype, clock_dtype=kernel.clock_key, arch_flop_per_clk_per_sm=arch,
                      flop_per_instruction=kernel.flop_per_instr * (cfg.n or 1))
    if kc:
        fpc = specs.flop_per_clk_per_sm(row.value, device_info.sm_count, kc["mhz"])
        row.config.update(kernel_clock_mhz=round(kc["mhz"], 1), flop_per_clk_per_sm_kernel_clock=fpc,
                          pct_of_arch_at_kernel_clock=(100.0 * fpc / arch) if (fpc and arch) else None,
                          busy_fraction=round(kc["cta_s"] / meas.stats.median_s, 4) if meas.stats.median_s else None)
    if row.flop_per_clk_per_sm is not None and arch:
        row.config["pct_of_arch_at_nvml_clock"] = 100.0 * row.flop_per_clk_per_sm / arch
    notes = [kernel_note(kernel, device_info), row.note, arch_note]
    if check is not None and not check.ok:
        notes.insert(0, f"CHECK FAILED ({check.what}): error {check.error:.3g} > {check.tolerance:g}")
    if timed is not None:
        row.config["timed_check"] = {"ok": timed.ok, "error": timed.error, "tolerance": timed.tolerance,
                                     "what": timed.what}
        if not timed.ok:
            notes.insert(0, f"TIMED LAUNCH CHECK FAILED ({timed.what}): error {timed.error:.3g} > "
                            f"{timed.tolerance:g}")
    row.note = "; ".join(n for n in notes if n) or None
    return row


def arch_rate(kernel: PeakKernel, device_info) -> tuple[float | None, str | None]:
    """(FLOP/clk/SM the architecture allows this kernel's instruction on this product, or None and why)."""
    arch = specs.per_clock_per_sm(device_info.arch, kernel.clock_key, product=device_info.name)
    if arch:
        return arch, None
    return None, specs.per_clock_note(device_info.arch, kernel.clock_key, product=device_info.name)


def variant_key(kernel: PeakKernel, cfg: Config) -> tuple:
    """What the check covers: one compiled kernel (the launch shape does not change the code)."""
    return (kernel.key, cfg.chains, cfg.n, cfg.a_in_regs, cfg.layout)


@dataclass
class KernelResult:
    kernel: PeakKernel
    best: Row | None
    grid: list = field(default_factory=list)    # every sweep row
    skipped: str | None = None


def run_kernel(kernel: PeakKernel, device_info, spec, budget_s: float, quick: bool = False,
               progress: Callable[[str], None] = lambda m: None) -> KernelResult:
    """Check every compiled variant, sweep the launch shapes, re-measure the best (budget_s in all)."""
    with torch_module().cuda.device(device_info.index):   # kernel attributes and events refer to this GPU
        return _run_kernel(kernel, device_info, spec, budget_s, quick, progress)


def _run_kernel(kernel, device_info, spec, budget_s, quick, progress) -> KernelResult:
    why = unavailable(kernel, device_info)
    if why:
        row = Row(suite="peak", name=kernel.instruction, dtype=kernel.dtype, backend=PATH_LABEL[kernel.path],
                  kernel=kernel.instruction, status="skipped", note=why)
        return KernelResult(kernel, row, skipped=why)
    t0 = time.monotonic()
    configs = grid(kernel, quick)
    checks_done: dict = {}
    rows = []
    per_cfg = max(0.04, min(0.4, 0.6 * budget_s / max(1, len(configs))))
    for cfg in configs:
        key = variant_key(kernel, cfg)
        if key not in checks_done:
            checks_done[key] = check_kernel(kernel, cfg, device_info.torch_device)
            c = checks_done[key]
            progress(f"  check {kernel.instruction} [{cfg.label()}]: {'ok' if c.ok else 'FAILED'} "
                     f"(error {c.error:.2e}, tolerance {c.tolerance:g})")
        row = measure_config(kernel, cfg, device_info, spec, sweep_rule(per_cfg), SWEEP_TARGET_S, checks_done[key])
        row.suite = "peak-grid"
        rows.append(row)
    ok_rows = [r for r in rows if r.status == "ok" and r.value is not None and r.correct is not False]
    if not ok_rows:
        reasons = "; ".join(sorted({r.note or "" for r in rows}))[:300]
        row = Row(suite="peak", name=kernel.instruction, dtype=kernel.dtype, backend=PATH_LABEL[kernel.path],
                  kernel=kernel.instruction, status="failed" if any(r.correct is False for r in rows) else "skipped",
                  note=f"no launch shape ran correctly: {reasons}")
        return KernelResult(kernel, row, rows)
    # best per clock (in-kernel clock): a clock or power transient during a short sweep sample does not pick it
    best_sweep = max(ok_rows, key=lambda r: (r.config.get("flop_per_clk_per_sm_kernel_clock") or 0, r.value))
    cfg = Config(**{k: v for k, v in _config_fields(best_sweep.config).items()})
    left = budget_s - (time.monotonic() - t0)
    best = measure_config(kernel, cfg, device_info, spec, final_rule(max(0.3, left)), FINAL_TARGET_S,
                          checks_done[variant_key(kernel, cfg)], check_timed=True)
    best.config["sweep"] = f"best of {len(ok_rows)} launch shapes (of {len(rows)} tried)"
    return KernelResult(kernel, best, rows)


def _config_fields(d: dict) -> dict:
    out = {"warps": d["warps_per_cta"], "ctas_per_sm": d["ctas_per_sm"], "chains": d["chains"]}
    if "n" in d:
        out.update(n=d["n"], a_in_regs=d["a_source"] == "registers", layout=d["smem_layout"])
    return out


def run(kernels: list[PeakKernel], device_info, spec, budget_s: float, quick: bool = False,
        progress: Callable[[str], None] = lambda m: None) -> Iterator[KernelResult]:
    """Every kernel in turn, sharing budget_s (seconds) by the size of each one's sweep."""
    if device_info.kind != "cuda":
        raise NoDevice(f"accelkern peak times CUDA kernels; this run is on {device_info.kind} "
                             f"(use a machine with an NVIDIA GPU, or `accelkern validate` for the CPU)")
    _ext.require()
    start = time.monotonic()
    weights = [0 if unavailable(k, device_info) else len(grid(k, quick)) for k in kernels]
    for i, k in enumerate(kernels):
        left_w = sum(weights[i:]) or 1
        share = max(1.0, (budget_s - (time.monotonic() - start)) * weights[i] / left_w)
        if weights[i]:
            progress(f"[{i + 1}/{len(kernels)}] {PATH_LABEL[k.path]} {k.instruction}: {len(grid(k, quick))} "
                     f"launch shapes, budget {share:.1f} s")
        yield run_kernel(k, device_info, spec, share, quick, progress)

