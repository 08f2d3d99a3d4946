"""Correctness check of one compiled peak kernel: one loop iteration on known random operands, every
chain (and warp or warpgroup) compared with a float64 reference, outputs poisoned first.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accelkern import _ext, checks
from accelkern.peak.fragments import unpack_words
from accelkern.peak.kernels import Config, PeakKernel
from accelkern.peak.operands import (decode_packed16, mma_decode, mma_operands, poisoned_words, simt_operands,
                                     simt_reference, sync, torch_module, wgmma_decode, wgmma_kelems,
                                     wgmma_operands)
from accelkern.peak.smem import K_STEPS

@dataclass
class CheckResult:
    ok: bool
    error: float
    tolerance: float
    what: str


def check_kernel(kernel: PeakKernel, cfg: Config, device: str, seed: int = 7) -> CheckResult:
    """One loop iteration of the kernel variant on known random operands, every chain (and warp or
    warpgroup) compared with a float64 reference; outputs poisoned first."""
    torch = torch_module()
    C = _ext.require()
    dev = torch.device(device)
    if kernel.path == "simt":
        ops = simt_operands(kernel, cfg.chains, seed)
        info = C.peak_simt_info(kernel.op, cfg.chains, 64)
        words_per = 2 if kernel.elem == "f64" else 1
        out = poisoned_words(64 * cfg.chains * words_per, dev, kernel.integer)
        C.peak_simt(kernel.op, cfg.chains, 1, 64, 1, True, ops.tensors["params"].to(dev), out)
        got_words = out.cpu().numpy().view(np.uint32).reshape(64, cfg.chains, words_per)
        steps = int(info["steps_per_iter"])
        ref = simt_reference(kernel, ops, steps)                          # (chains, lanes)
        if kernel.elem in ("f16", "bf16"):
            got = decode_packed16(got_words[..., 0], kernel.elem)        # (64, chains, 2)
        elif kernel.elem == "s32":
            got = torch.from_numpy(got_words[..., 0].view(np.int32).astype(np.int64))[..., None]
        else:
            got = torch.from_numpy(unpack_words(got_words.reshape(64, -1), "f64" if words_per == 2 else "f32"))
            got = got.reshape(64, cfg.chains, 1)
        ref = ref.reshape(1, cfg.chains, -1).expand_as(got)
        if kernel.integer:
            ok = bool(torch.equal(got.long(), ref.long()))
            err = float((got.double() - ref.double()).abs().max())
            return CheckResult(ok, err, 0.0, f"{steps} steps x {cfg.chains} chains x 64 threads")
        ok, err, tol = checks.compare(got, ref, kernel.tol_dtype)
        return CheckResult(ok, err, tol, f"{steps} steps x {cfg.chains} chains x 64 threads")

    if kernel.path == "mma":
        ops = mma_operands(kernel, seed)
        warps = 2
        _a, _b, cw = C.peak_mma_fragment_words(kernel.op)
        out = poisoned_words(warps * cfg.chains * 32 * cw, dev, kernel.integer)
        C.peak_mma(kernel.op, cfg.chains, 1, warps, 1, True, ops.tensors["frags"].to(dev), out)
        sync(dev)
        info = C.peak_mma_info(kernel.op, cfg.chains, warps)
        steps = int(info["steps_per_iter"])        # B0, B1 alternate: steps/2 of each
        r = ops.ref
        ref = r["C"] + (steps // 2) * (r["A"] @ r["B0"] + r["A"] @ r["B1"])
        got = mma_decode(kernel, out.cpu().numpy().view(np.uint32).reshape(warps * cfg.chains, 32, cw),
                         r["c_index"])
        ok, err, tol = checks.compare(got, ref.expand_as(got), kernel.tol_dtype)
        return CheckResult(ok, err, tol, f"{steps} mma x {cfg.chains} chains x {warps} warps")

    ops = wgmma_operands(kernel, cfg.n, cfg.layout, seed)
    wgs = 2
    r = ops.ref
    out = poisoned_words(wgs * cfg.chains * 128 * (cfg.n // 2), dev, kernel.integer)
    C.peak_wgmma(kernel.op, cfg.n, bool(cfg.a_in_regs), cfg.chains, 1, wgs, 1, True,
                 ops.tensors["image"].to(dev), r["layout"], ops.tensors["a_frags"].to(dev),
                 ops.tensors["c_frags"].to(dev), out)
    sync(dev)
    got = wgmma_decode(kernel, out.cpu().numpy().view(np.uint32), cfg.n, r["d_index"])
    ref = r["C"] + r["A"] @ r["B"].T
    ok, err, tol = checks.compare(got, ref.expand_as(got), kernel.tol_dtype)
    return CheckResult(ok, err, tol, f"{K_STEPS} wgmma (K={wgmma_kelems(kernel)}) x {cfg.chains} chains x {wgs} "
                                     f"warpgroups, {cfg.layout}, A in {'registers' if cfg.a_in_regs else 'smem'}")

