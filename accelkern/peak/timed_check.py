"""The check of a timed launch: the very launch shape, iteration count and timing operands a row reports.

A timed launch stores one word per thread: the XOR of every accumulator word the thread ends with. The
check replays that launch once in check mode, which stores every accumulator word, and requires that
  1. every unit (a thread for SIMT, a warp for mma.sync, a warpgroup for wgmma) of every CTA ends with
     bit-identical accumulators: every unit runs the same operands, so one that ran short or wrong differs;
  2. the timed launch's words are the XOR of those accumulators, thread by thread: what was timed is what
     was checked;
  3. unit 0's accumulators match a float64 reference after iters x steps_per_iter steps, within the
     dtype's tolerance (checks.TOLERANCES; integers exactly; float tensor-core paths within the larger of
     that and the rounding-drift bound of the steps, see drift_bound). The timing operands make the
     reference known in closed form: mma.sync and wgmma add and subtract the same products, so the accumulators return to
     C; a SIMT chain is x <- x*m + c with |m| < 1, stepped until it cycles and read at the step count;
     int32 is that affine map's power modulo 2^32.
What it cannot see: the iteration count of a unit whose accumulators no longer change (tensor-core paths
return to C every iteration; float SIMT chains settle within ~1000 steps), so a unit that ran short but
long enough passes; the per-CTA clock64 span (busy_fraction) is what shows that the loop ran its length.
"""
from __future__ import annotations

import numpy as np

from accelkern import checks
from accelkern.peak.check import CheckResult
from accelkern.peak.fragments import unpack_words
from accelkern.peak.operands import (decode_packed16, encode, mma_decode, poisoned_words, sync, torch_module,
                                     wgmma_decode)

MAX_SIM_STEPS = 1 << 16   # a float chain that has not cycled by then is compared at its last simulated state


def unit_shape(kernel, cfg, ctas: int, c_words: int = 0) -> tuple[int, int, int, int]:
    """(units in the launch, chains, threads per unit, accumulator words per thread and chain)."""
    if kernel.path == "simt":
        return ctas * cfg.threads, cfg.chains, 1, 2 if kernel.elem == "f64" else 1
    if kernel.path == "mma":
        return ctas * cfg.warps, cfg.chains, 32, c_words
    return ctas * (cfg.warps // 4), cfg.chains, 128, cfg.n // 2


def xor_words(unit_words, chains: int, threads: int) -> np.ndarray:
    """One unit's check-mode words (per chain, per thread, the thread's words) -> the word each of its
    threads stores in timing mode (the XOR of all of them)."""
    w = np.asarray(unit_words, dtype=np.uint32).reshape(chains, threads, -1)
    return np.bitwise_xor.reduce(np.bitwise_xor.reduce(w, axis=2), axis=0)


def affine_power(m: int, c: int, steps: int) -> tuple[int, int]:
    """(a, b) with x after `steps` steps of x <- m*x + c (mod 2^32) equal to a*x + b (mod 2^32)."""
    mask = (1 << 32) - 1
    a, b = 1, 0
    pm, pc = m & mask, c & mask
    while steps:
        if steps & 1:
            a, b = (pm * a) & mask, (pm * b + pc) & mask
        pm, pc = (pm * pm) & mask, (pm * pc + pc) & mask
        steps >>= 1
    return a, b


def _signed32(v: int) -> int:
    v &= (1 << 32) - 1
    return v - (1 << 32) if v >= 1 << 31 else v


def simt_state(kernel, ref: dict, steps: int):
    """Every chain (chains, lanes) after `steps` steps of x <- x*m + c from ref's x0, m, c (float64 values;
    each step rounded to the element type), found by stepping until the state repeats."""
    torch = torch_module()
    x0, m, c = ref["x0"], ref["m"], ref["c"]
    if kernel.elem == "s32":
        a, b = affine_power(int(m[0]), int(c[0]), steps)
        return torch.tensor([[float(_signed32(a * int(v) + b))] for v in x0[:, 0].tolist()], dtype=torch.float64)
    x = x0.clone()
    seen: dict[bytes, int] = {}
    history = []
    for t in range(min(steps, MAX_SIM_STEPS) + 1):
        key = x.numpy().tobytes()
        if key in seen:
            start = seen[key]
            return history[start + (steps - start) % (t - start)]
        seen[key] = t
        history.append(x)
        if t == steps:
            return x
        x = x * m + c if kernel.elem == "f64" else encode(x * m + c, kernel.elem)[1].reshape(x.shape)
    return x


def decode_unit(kernel, cfg, words: np.ndarray, ref: dict):
    """One unit's check-mode words -> its accumulator values: (chains, lanes) SIMT, (chains, m, n) mma,
    (chains, 64, N) wgmma."""
    torch = torch_module()
    words = np.asarray(words, dtype=np.uint32)
    if kernel.path == "simt":
        if kernel.elem in ("f16", "bf16"):
            return decode_packed16(words, kernel.elem)
        if kernel.elem == "s32":
            return torch.from_numpy(words.view(np.int32).astype(np.int64)).reshape(-1, 1)
        return torch.from_numpy(unpack_words(words, kernel.elem)).reshape(cfg.chains, 1)
    if kernel.path == "mma":
        return mma_decode(kernel, words.reshape(cfg.chains, 32, -1), ref["c_index"])
    return wgmma_decode(kernel, words, cfg.n, ref["d_index"])


def reference(kernel, ref: dict, steps: int):
    """What unit 0 must hold after `steps` instructions per chain of the timing operands."""
    if kernel.path == "simt":
        return simt_state(kernel, ref, steps)
    return ref["C"]


# One ulp (relative) of each accumulator as the tensor cores add into it: an ulp, not half, so that
# round-toward-zero (which tensor cores use in places) is covered; fp8 products are accumulated with about 14
# significant bits on Hopper (others' measurements), so the fp8 paths get that.
ACC_ULP = {"f32": 2.0**-23, "f16": 2.0**-10, "f64": 2.0**-52}
FP8_ACC_ULP = 2.0**-13


def drift_bound(kernel, ref: dict, steps: int) -> float:
    """Float tensor-core paths: the largest |accumulator - C| that `steps` rounded additions can leave, one
    ulp of the largest partial sum per step whatever the rounding mode (round-to-nearest cancels the pairs
    exactly within a binade; round-toward-zero drifts by up to an ulp a step). 0 for every other path."""
    if kernel.path == "simt" or kernel.integer:
        return 0.0
    c = ref["C"].abs()
    if kernel.path == "mma":
        largest = float((c + (ref["A"] @ ref["B0"]).abs()).max())
    else:
        a, b = ref["A"], ref["B"]
        ks = a.shape[1] // 4
        p0 = (a[:, :ks] @ b[:, :ks].T).abs()
        p1 = (a[:, ks:2 * ks] @ b[:, ks:2 * ks].T).abs()
        largest = float((c + p0 + p1).max())
    ulp = FP8_ACC_ULP if kernel.elem in ("e4m3", "e5m2") else ACC_ULP[kernel.acc]
    return steps * ulp * largest


def judge(kernel, got, want, bound: float = 0.0) -> tuple[bool, float, float]:
    """(ok, error, tolerance): integers exactly; floats by checks.compare, the tolerance raised to the
    rounding-drift bound (relative to rms(want)) where one applies."""
    if kernel.integer:
        want = want.expand_as(got)
        ok = bool(got.long().eq(want.long()).all())
        return ok, float((got.double() - want.double()).abs().max()), 0.0
    ok, err, tol = checks.compare(got, want.expand_as(got), kernel.tol_dtype)
    if bound:
        rms = float(want.double().pow(2).mean().sqrt()) or 1.0
        tol = max(tol, bound / rms)
        ok = err <= tol
    return ok, err, tol


def replay(launcher, iters: int):
    """The launch `launcher` timed, again, in check mode: every accumulator word of every unit (device)."""
    k, cfg, C = launcher.kernel, launcher.cfg, launcher.C
    units, chains, threads, per = unit_shape(k, cfg, launcher.ctas, launcher.c_words)
    out = poisoned_words(units * chains * threads * per, launcher.dev, k.integer)
    if k.path == "simt":
        C.peak_simt(k.op, cfg.chains, launcher.ctas, cfg.threads, iters, True, launcher.params, out)
    elif k.path == "mma":
        C.peak_mma(k.op, cfg.chains, launcher.ctas, cfg.warps, iters, True, launcher.frags, out)
    else:
        C.peak_wgmma(k.op, cfg.n, bool(cfg.a_in_regs), cfg.chains, launcher.ctas, cfg.warps // 4, iters, True,
                     launcher.image, launcher.layout, launcher.a_frags, launcher.c_frags, out)
    sync(launcher.dev)
    return out.view(units, chains * threads * per)


def check_timed_launch(launcher, iters: int) -> CheckResult:
    """Checks the words the last timed launch of `launcher` left (with `iters` iterations): see the module."""
    k, cfg = launcher.kernel, launcher.cfg
    units, chains, threads, _ = unit_shape(k, cfg, launcher.ctas, launcher.c_words)
    steps = iters * int(launcher.info["steps_per_iter"])
    what = f"timed launch: {launcher.ctas} CTAs x {cfg.threads} threads, {iters} iterations ({steps} steps/chain)"
    timed = launcher.out.view(units, threads)
    words = replay(launcher, iters)
    differ = (words != words[0]).any(dim=1)
    if bool(differ.any()):
        bad = int(differ.nonzero()[0, 0])
        return CheckResult(False, float("inf"), 0.0,
                           f"{what}: {int(differ.sum())} of {units} units differ from unit 0 (first: {bad})")
    unit0 = words[0].cpu().numpy().view(np.uint32)
    want_xor = xor_words(unit0, chains, threads)
    timed0 = timed.cpu().numpy().view(np.uint32)
    wrong = np.flatnonzero((timed0 != want_xor[None, :]).any(axis=1))
    if wrong.size:
        return CheckResult(False, float("inf"), 0.0, f"{what}: the timed words of {wrong.size} of {units} units "
                                                     f"are not the XOR of their accumulators (first: {wrong[0]})")
    got = decode_unit(k, cfg, unit0, launcher.ops.ref)
    bound = drift_bound(k, launcher.ops.ref, steps)
    ok, err, tol = judge(k, got, reference(k, launcher.ops.ref, steps), bound)
    return CheckResult(ok, err, tol, f"{what}: {units} units identical, timed words = XOR of accumulators, "
                                     f"values vs float64 reference" + (" within the rounding-drift bound of "
                                                                        f"{steps} steps" if bound else ""))
