"""Operands of the peak kernels and decoding of what they write: per-lane fragment words (mma.sync), the
shared-memory image and register fragments (wgmma), SIMT start values, and the exact float64 values each
holds, so a check compares the GPU's result with a float64 reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelkern.peak.fragments import (ELEM_BITS, FAMILY_ELEMS, FAMILY_MNK, encode, mma_a_index, mma_b_index,
                                      mma_c_index, pack_words, random_values, unpack_words, wgmma_a_index,
                                      wgmma_d_index)
from accelkern.peak.kernels import PeakKernel
from accelkern.peak.smem import K_STEPS, K_TILE_BYTES, SmemLayout, build_image, read_through_descriptors

def torch_module():
    import torch
    return torch


@dataclass
class Operands:
    """Device buffers for one kernel variant plus the exact inputs (float64) the check compares with."""
    tensors: dict
    ref: dict = field(default_factory=dict)


def simt_operands(kernel: PeakKernel, chains: int, seed: int = 1) -> Operands:
    """Per-chain start values, m and c of x = fma(x, m, c): |m| < 1 keeps every chain bounded."""
    torch = torch_module()
    g = torch.Generator().manual_seed(seed)
    lanes = 2 if kernel.elem in ("f16", "bf16") else 1
    if kernel.elem == "s32":
        x0 = torch.randint(-2**31, 2**31 - 1, (chains,), generator=g, dtype=torch.int64)
        m = torch.randint(-2**31, 2**31 - 1, (1,), generator=g, dtype=torch.int64) | 1
        c = torch.randint(-2**31, 2**31 - 1, (1,), generator=g, dtype=torch.int64)
        vals = torch.cat([x0, m, c]).double()
        bits = (vals.long().numpy() & 0xFFFFFFFF).astype(np.uint64)[:, None]
        words = pack_words(bits, 32)
        exact = vals.reshape(-1, 1)
    else:
        x0 = torch.rand((chains, lanes), generator=g, dtype=torch.float64) * 2 - 1
        m = -(0.5 + 0.45 * torch.rand((1, lanes), generator=g, dtype=torch.float64))
        c = torch.rand((1, lanes), generator=g, dtype=torch.float64) - 0.5
        vals = torch.cat([x0, m, c])
        bits, exact = encode(vals, kernel.elem)
        words = pack_words(bits, ELEM_BITS[kernel.elem])
    params = torch.from_numpy(words.reshape(-1).astype(np.uint32).view(np.int32).copy())
    return Operands({"params": params}, {"x0": exact[:chains], "m": exact[chains], "c": exact[chains + 1]})


def simt_reference(kernel: PeakKernel, ops: Operands, steps: int):
    """Each chain after `steps` fma steps, rounded to the element type after every step."""
    torch = torch_module()
    x, m, c = ops.ref["x0"].clone(), ops.ref["m"], ops.ref["c"]
    for _ in range(steps):
        if kernel.elem == "s32":
            x = (x.long() * int(m[0]) + int(c[0])).bitwise_and(0xFFFFFFFF)
            x = torch.where(x >= 2**31, x - 2**32, x).double()
        elif kernel.elem == "f64":
            x = x * m + c
        else:  # x*m is exact in float64 for these widths; one rounding to the element type per step
            x = encode(x * m + c, kernel.elem)[1].reshape(x.shape)
    return x


def mma_operands(kernel: PeakKernel, seed: int = 1, timing_mode: bool = False) -> Operands:
    """Per-lane words [A, B0, B1, C] of an mma.sync op. Timing: B1 = -B0 keeps the chains bounded."""
    torch = torch_module()
    fam = kernel.family
    m, n, k = FAMILY_MNK[fam]
    na, nb, nc = FAMILY_ELEMS[fam]
    g = torch.Generator().manual_seed(seed)
    a_bits, A = encode(random_values((m, k), kernel.elem, g), kernel.elem)
    b0_bits, B0 = encode(random_values((k, n), kernel.elem, g), kernel.elem)
    if timing_mode:
        b1_bits, B1 = encode(-B0, kernel.elem)
    else:
        b1_bits, B1 = encode(random_values((k, n), kernel.elem, g), kernel.elem)
    c_bits, C = encode(random_values((m, n), kernel.acc, g), kernel.acc)
    lanes = range(32)
    ai = np.array([[mma_a_index(fam, l, i) for i in range(na)] for l in lanes])
    bi = np.array([[mma_b_index(fam, l, i) for i in range(nb)] for l in lanes])
    ci = np.array([[mma_c_index(fam, l, i) for i in range(nc)] for l in lanes])
    eb, cb = ELEM_BITS[kernel.elem], ELEM_BITS[kernel.acc]
    parts = [pack_words(a_bits[ai[..., 0], ai[..., 1]], eb),
             pack_words(b0_bits[bi[..., 0], bi[..., 1]], eb),
             pack_words(b1_bits[bi[..., 0], bi[..., 1]], eb),
             pack_words(c_bits[ci[..., 0], ci[..., 1]], cb)]
    words = np.concatenate(parts, axis=1)
    frags = torch.from_numpy(words.reshape(-1).astype(np.uint32).view(np.int32).copy())
    return Operands({"frags": frags}, {"A": A, "B0": B0, "B1": B1, "C": C, "c_index": ci})


def mma_decode(kernel: PeakKernel, words: np.ndarray, ci: np.ndarray):
    """Check output words (blocks, 32 lanes, C words) -> (blocks, m, n) values."""
    torch = torch_module()
    m, n, _ = FAMILY_MNK[kernel.family]
    vals = unpack_words(words, kernel.acc)                      # (blocks, 32, C elements)
    out = np.full((vals.shape[0], m, n), np.nan)
    out[:, ci[..., 0], ci[..., 1]] = vals
    t = torch.from_numpy(out)
    return t.long() if kernel.acc == "s32" else t


def wgmma_kelems(kernel: PeakKernel) -> int:
    """Elements of K per 128-byte K tile."""
    return K_TILE_BYTES * 8 // ELEM_BITS[kernel.elem]


def wgmma_operands(kernel: PeakKernel, n: int, layout_name: str, seed: int = 1, timing_mode: bool = False) -> Operands:
    """Shared-memory image (A 64 x 128 B, then B N x 128 B), A fragments for RS, C fragments, layout dict.
    Timing: A k-steps [X0, X1, X0, X1] and B [Y0, Y1, -Y0, -Y1], so each iteration sums to ~0."""
    torch = torch_module()
    layout = SmemLayout(layout_name)
    kt = wgmma_kelems(kernel)
    ks = kt // K_STEPS
    g = torch.Generator().manual_seed(seed)
    if timing_mode:
        x = random_values((64, 2 * ks), kernel.elem, g)
        y = random_values((n, 2 * ks), kernel.elem, g)
        a_vals, b_vals = torch.cat([x, x], 1), torch.cat([y, -y], 1)
    else:
        a_vals = random_values((64, kt), kernel.elem, g)
        b_vals = random_values((n, kt), kernel.elem, g)
    a_bits, A = encode(a_vals, kernel.elem)
    b_bits, B = encode(b_vals, kernel.elem)
    c_bits, C = encode(random_values((64, n), kernel.acc, g), kernel.acc)
    eb = ELEM_BITS[kernel.elem]
    img_a = build_image(a_bits, eb, layout)
    img_b = build_image(b_bits, eb, layout)
    # self-check of the host model: the 4 k-steps' descriptors read back exactly A and B
    for img, bits, rows in ((img_a, a_bits, 64), (img_b, b_bits, n)):
        raw = np.zeros((rows, K_TILE_BYTES), dtype=np.uint8)
        for j in range(max(1, eb // 8)):
            raw[:, j::max(1, eb // 8)] = ((bits >> np.uint64(8 * j)) & np.uint64(0xFF)).astype(np.uint8)
        assert np.array_equal(read_through_descriptors(img, 0, rows, layout), raw), "wgmma image/descriptor mismatch"
    pa, pb = layout.params(64), layout.params(n)
    lay = {"a_bytes": img_a.size, "b_bytes": img_b.size, "a_lbo": pa["lbo"], "a_sbo": pa["sbo"],
           "b_lbo": pb["lbo"], "b_sbo": pb["sbo"], "a_kstep": pa["kstep"], "b_kstep": pb["kstep"],
           "swizzle": pa["swizzle"]}
    image = torch.from_numpy(np.concatenate([img_a, img_b]))
    threads = range(128)
    na = FAMILY_ELEMS[kernel.family][0]
    ai = np.array([[wgmma_a_index(kernel.family, t, i) for i in range(na)] for t in threads])   # (128, na, 2)
    a_words = np.concatenate([pack_words(a_bits[ai[..., 0], ai[..., 1] + s * ks], eb) for s in range(K_STEPS)],
                             axis=1)                                                            # (128, 16)
    di = np.array([[wgmma_d_index(t, r) for r in range(n // 2)] for t in threads])              # (128, n/2, 2)
    c_words = pack_words(c_bits[di[..., 0], di[..., 1]], ELEM_BITS[kernel.acc])
    as_i32 = lambda w: torch.from_numpy(w.reshape(-1).astype(np.uint32).view(np.int32).copy())
    return Operands({"image": image, "a_frags": as_i32(a_words), "c_frags": as_i32(c_words)},
                    {"A": A, "B": B, "C": C, "d_index": di, "layout": lay})


def wgmma_decode(kernel: PeakKernel, words: np.ndarray, n: int, di: np.ndarray):
    torch = torch_module()
    vals = unpack_words(words.reshape(-1, 128, n // 2), kernel.acc)
    out = np.full((vals.shape[0], 64, n), np.nan)
    out[:, di[..., 0], di[..., 1]] = vals
    t = torch.from_numpy(out)
    return t.long() if kernel.acc == "s32" else t


def poisoned_words(count: int, device, integer: bool):
    torch = torch_module()
    t = torch.empty(count, dtype=torch.int32, device=device)
    # all ones is NaN as f32, as both f16 halves and as f64; INT_MIN for integer results
    t.fill_(-2**31 if integer else -1)
    return t


def sync(dev):
    if dev.type == "cuda":
        torch_module().cuda.synchronize(dev)


def decode_packed16(words: np.ndarray, elem: str):
    """uint32 words holding two f16/bf16 values -> float64 tensor (..., 2), low half first."""
    torch = torch_module()
    w = np.asarray(words, dtype=np.uint32)
    halves = np.stack([w & np.uint32(0xFFFF), w >> np.uint32(16)], axis=-1)
    if elem == "f16":
        vals = halves.astype(np.uint16).view(np.float16).astype(np.float64)
    else:
        vals = (halves << np.uint32(16)).astype(np.uint32).view(np.float32).astype(np.float64)
    return torch.from_numpy(vals)

