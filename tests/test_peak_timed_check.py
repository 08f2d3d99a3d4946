"""accelkern.peak.timed_check on the CPU: the closed forms of the timing operands against plain stepping, and
the check of a timed launch against a CPU stand-in of the extension that can be made to misbehave."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import accelkern.peak as P
from accelkern.peak import timed_check as tc
from accelkern.peak.operands import encode, mma_operands, simt_operands, wgmma_operands

SIMT = {k.op: k for k in P.SIMT_KERNELS}


def _step(kernel, x, m, c):
    """One SIMT step as the kernel's PTX does it (float64 value rounded to the element type)."""
    if kernel.elem == "s32":
        v = (int(x) * int(m) + int(c)) & 0xFFFFFFFF
        return float(v - (1 << 32) if v >= 1 << 31 else v)
    if kernel.elem == "f64":
        return x * m + c
    return float(encode(torch.tensor([x * m + c], dtype=torch.float64), kernel.elem)[1][0])


def _stepped(kernel, ops, steps):
    x0, m, c = ops.ref["x0"], ops.ref["m"], ops.ref["c"]
    out = x0.clone()
    for i in range(x0.shape[0]):
        for j in range(x0.shape[1]):
            v = float(x0[i, j])
            for _ in range(steps):
                v = _step(kernel, v, float(m[j]), float(c[j]))
            out[i, j] = v
    return out


@pytest.mark.parametrize("op", ["fp32", "fp64", "fp16x2", "bf16x2", "int32"])
@pytest.mark.parametrize("steps", [0, 1, 7, 64, 3000])
def test_the_closed_forms_equal_plain_stepping(op, steps):
    k = SIMT[op]
    ops = simt_operands(k, 4, seed=3)
    assert torch.equal(tc.simt_state(k, ops.ref, steps), _stepped(k, ops, steps))


@pytest.mark.parametrize("op", ["fp32", "fp16x2", "bf16x2", "fp64"])
def test_a_huge_step_count_lands_on_the_chain_s_cycle(op):
    """10^9 steps cannot be stepped: the state must be one the chain returns to, reached with the right
    parity (a 2-cycle read at an odd and an even count differs by one step)."""
    k = SIMT[op]
    ops = simt_operands(k, 4, seed=5)
    far = tc.simt_state(k, ops.ref, 10**9)
    nxt = tc.simt_state(k, ops.ref, 10**9 + 1)
    one_step = torch.tensor([[_step(k, float(far[i, j]), float(ops.ref["m"][j]), float(ops.ref["c"][j]))
                              for j in range(far.shape[1])] for i in range(far.shape[0])], dtype=torch.float64)
    assert torch.equal(nxt, one_step)
    settled = tc.simt_state(k, ops.ref, 5000 + (10**9 - 5000) % 2)   # long converged, same parity
    assert torch.equal(far, settled)


def test_affine_power_is_the_map_applied_n_times():
    for m, c, x in ((3, 5, 7), (-2**31 + 1, 2**31 - 1, -12345), (0x9E3779B1, -77, 2**31 - 1)):
        for n in (0, 1, 2, 5, 1000):
            a, b = tc.affine_power(m, c, n)
            v = x
            for _ in range(n):
                v = (v * m + c) & 0xFFFFFFFF
            assert (a * x + b) & 0xFFFFFFFF == v & 0xFFFFFFFF, (m, c, x, n)


def test_xor_words_folds_every_chain_and_word_of_a_thread():
    w = np.arange(2 * 3 * 4, dtype=np.uint32).reshape(2, 3, 4)        # chains, threads, words
    want = [np.bitwise_xor.reduce(w[:, t, :].reshape(-1)) for t in range(3)]
    assert tc.xor_words(w.reshape(-1), 2, 3).tolist() == want
    assert tc.xor_words(np.array([5, 3], dtype=np.uint32), 2, 1).tolist() == [6]


def test_unit_shapes_follow_each_path_s_store_layout():
    simt, mma, wg = SIMT["fp64"], P.MMA_KERNELS[0], P.WGMMA_KERNELS[0]
    assert tc.unit_shape(simt, P.Config(4, 2, 8), 10) == (10 * 128, 8, 1, 2)
    assert tc.unit_shape(mma, P.Config(8, 1, 4), 10, c_words=4) == (80, 4, 32, 4)
    assert tc.unit_shape(wg, P.Config(8, 1, 2, 128, False, "sw128"), 10) == (20, 2, 128, 64)


# ---- a timed launch against a CPU stand-in of the extension ---------------------------------------------

class FakeSimt:
    """peak_simt as csrc/peak/simt_peak.cu stores it (check mode: every chain; else the XOR per thread),
    with faults to plant: `short` threads run one step less, `ignore_c` drops the addend everywhere."""

    def __init__(self, kernel, ops, short=(), ignore_c=False):
        self.kernel, self.ops, self.short, self.ignore_c = kernel, ops, set(short), ignore_c

    def _words(self, x):
        if self.kernel.elem == "s32":
            return (x.long().numpy() & 0xFFFFFFFF).astype(np.uint32).reshape(-1)
        return x.numpy().astype(np.float32).view(np.uint32).reshape(-1)

    def peak_simt(self, op, chains, ctas, threads, iters, check, params, out, clocks=None):
        steps = iters * 256 // chains
        ref = dict(self.ops.ref)
        if self.ignore_c:
            ref["c"] = torch.zeros_like(ref["c"])
        good = self._words(_stepped(self.kernel, SimpleNamespace(ref=ref), steps))
        short = self._words(_stepped(self.kernel, SimpleNamespace(ref=ref), steps - 1))
        o = out.numpy().view(np.uint32)
        for t in range(ctas * threads):
            w = short if t in self.short else good
            if check:
                o[t * chains:(t + 1) * chains] = w
            else:
                o[t] = np.bitwise_xor.reduce(w)


def _launcher(op, fake_kw=None, ctas=3, warps=2, chains=4, iters=2):
    k = SIMT[op]
    ops = simt_operands(k, chains)
    cfg = P.Config(warps, 1, chains)
    fake = FakeSimt(k, ops, **(fake_kw or {}))
    L = SimpleNamespace(kernel=k, cfg=cfg, C=fake, ctas=ctas, dev=torch.device("cpu"), c_words=0,
                        info={"steps_per_iter": 256 // chains}, ops=ops, params=None,
                        out=torch.full((ctas * cfg.threads,), -1, dtype=torch.int32))
    fake.peak_simt(k.op, chains, ctas, cfg.threads, iters, False, None, L.out)   # "the timed launch"
    return L, fake


@pytest.mark.parametrize("op", ["fp32", "int32"])
def test_a_correct_timed_launch_passes(op):
    L, _ = _launcher(op)
    r = tc.check_timed_launch(L, 2)
    assert r.ok, r.what
    assert "3 CTAs x 64 threads, 2 iterations (128 steps/chain)" in r.what and "192 units identical" in r.what
    assert r.tolerance == (0.0 if op == "int32" else 1e-4)


def test_one_thread_that_ran_short_fails_while_its_chain_still_moves():
    """int32 chains never settle, so a short thread always shows; float chains settle on a fixed point or a
    2-cycle within ~1000 steps, after which a short thread is caught only by the other two conditions."""
    L, _ = _launcher("int32", {"short": {130}}, iters=40)
    r = tc.check_timed_launch(L, 40)
    assert not r.ok and "1 of 192 units differ from unit 0 (first: 130)" in r.what
    L, _ = _launcher("fp32", {"short": {7}}, chains=16, iters=1)
    r = tc.check_timed_launch(L, 1)
    assert not r.ok and "1 of 192 units differ from unit 0 (first: 7)" in r.what


def test_timed_words_that_are_not_the_checked_launch_fail():
    L, fake = _launcher("int32")
    fake.peak_simt(L.kernel.op, 4, 3, 64, 3, False, None, L.out)       # the timed launch ran 3 iterations
    r = tc.check_timed_launch(L, 2)
    assert not r.ok and "timed words of 192 of 192 units are not the XOR" in r.what
    L.out[:64] = -1                                                      # or the first CTA never stored
    fake.peak_simt(L.kernel.op, 4, 2, 64, 2, False, None, L.out[64:])
    r = tc.check_timed_launch(L, 2)
    assert not r.ok and "timed words of 64 of 192 units" in r.what and "(first: 0)" in r.what


@pytest.mark.parametrize("op", ["fp32", "int32"])
def test_every_unit_wrong_the_same_way_fails_on_the_reference(op):
    L, _ = _launcher(op, {"ignore_c": True})
    r = tc.check_timed_launch(L, 2)
    assert not r.ok and "values vs float64 reference" in r.what and r.error > 0


def test_mma_and_wgmma_timing_operands_return_to_c():
    """What the closed form for tensor-core paths rests on: B1 = -B0 (mma.sync) and k-steps that cancel
    (wgmma) make one iteration's products sum to exactly zero in float64."""
    for k in P.MMA_KERNELS:
        r = mma_operands(k, timing_mode=True).ref
        assert torch.equal(r["A"] @ r["B0"] + r["A"] @ r["B1"], torch.zeros_like(r["C"])), k.op
        assert tc.reference(k, r, 8000) is r["C"]
    for k in P.WGMMA_KERNELS:
        r = wgmma_operands(k, 64, "sw128", timing_mode=True).ref
        ks = r["A"].shape[1] // P.K_STEPS
        total = sum(r["A"][:, s * ks:(s + 1) * ks] @ r["B"][:, s * ks:(s + 1) * ks].T for s in range(P.K_STEPS))
        assert torch.equal(total, torch.zeros_like(r["C"])), k.op


def test_the_drift_bound_is_one_ulp_of_the_largest_partial_sum_per_step():
    assert tc.drift_bound(SIMT["fp32"], simt_operands(SIMT["fp32"], 4).ref, 10**6) == 0.0
    s8 = next(k for k in P.MMA_KERNELS if k.op == "s8.s32")
    assert tc.drift_bound(s8, mma_operands(s8, timing_mode=True).ref, 10**6) == 0.0
    bf = next(k for k in P.MMA_KERNELS if k.op == "bf16.f32")
    r = mma_operands(bf, timing_mode=True).ref
    largest = float((r["C"].abs() + (r["A"] @ r["B0"]).abs()).max())
    assert tc.drift_bound(bf, r, 800) == pytest.approx(800 * 2.0**-23 * largest)
    f16 = next(k for k in P.MMA_KERNELS if k.op == "f16.f16")
    assert tc.drift_bound(f16, mma_operands(f16, timing_mode=True).ref, 1) > 2.0**-10
    e4 = next(k for k in P.WGMMA_KERNELS if k.op == "e4m3")
    w = wgmma_operands(e4, 64, "sw128", timing_mode=True).ref
    ks = w["A"].shape[1] // 4
    part = w["C"].abs() + (w["A"][:, :ks] @ w["B"][:, :ks].T).abs() + (w["A"][:, ks:2 * ks] @ w["B"][:, ks:2 * ks].T).abs()
    assert tc.drift_bound(e4, w, 4000) == pytest.approx(4000 * 2.0**-13 * float(part.max()))


def test_judge_widens_the_table_tolerance_to_the_bound_only():
    bf = next(k for k in P.MMA_KERNELS if k.op == "bf16.f32")
    want = torch.ones(4, 4, dtype=torch.float64)
    got = want.clone()
    got[2, 2] += 0.2
    assert tc.judge(bf, got, want) == (False, pytest.approx(0.2), 5e-2)
    ok, err, tol = tc.judge(bf, got, want, bound=0.3)
    assert ok and tol == pytest.approx(0.3)
    assert tc.judge(bf, got, want, bound=0.01)[2] == 5e-2           # a smaller bound leaves the table's
    got[0, 0] = float("nan")
    assert tc.judge(bf, got, want, bound=1e9)[0] is False            # never a NaN
