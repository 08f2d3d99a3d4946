"""Where each lane keeps each matrix element (the PTX ISA fragment maps of mma.sync and wgmma), the bit
encodings of the element types, and packing of elements into the 32-bit words the kernels take and give.
"""
from __future__ import annotations

import numpy as np

# ---- fragment maps (PTX ISA "Matrix Fragments for mma.m16n8k*", wgmma "Register Fragments") ------
# Each returns (row, col) of the element that lane `lane` holds as element `i` (low to high) of its
# fragment; for B the pair is (k, n). groupID = lane >> 2, threadID_in_group = lane % 4.

# "m16n8k16.f64" is the sm_90 fp64 shape: 64-bit elements, so its map is tf32's m16n8k8 one, twice as deep.
MMA_FAMILIES = ("m16n8k16", "m16n8k8", "m16n8k32", "m8n8k4", "m16n8k16.f64")
FAMILY_MNK = {"m16n8k16": (16, 8, 16), "m16n8k8": (16, 8, 8), "m16n8k32": (16, 8, 32), "m8n8k4": (8, 8, 4),
              "m16n8k16.f64": (16, 8, 16)}
FAMILY_ELEMS = {"m16n8k16": (8, 4, 4), "m16n8k8": (4, 2, 4), "m16n8k32": (16, 8, 4), "m8n8k4": (1, 1, 2),
                "m16n8k16.f64": (8, 4, 4)}   # elements per lane of A, B, C


def mma_a_index(family: str, lane: int, i: int) -> tuple[int, int]:
    """(row, k) of A element i of lane `lane`."""
    g, t = lane >> 2, lane & 3
    if family == "m16n8k16":   # f16/bf16: a0,a1 (g, 2t..), a2,a3 (g+8), a4,a5 (g, +8), a6,a7 (g+8, +8)
        return g + 8 * ((i >> 1) & 1), 2 * t + (i & 1) + 8 * (i >> 2)
    if family in ("m16n8k8", "m16n8k16.f64"):  # tf32 / f64: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4), ...
        return g + 8 * (i & 1), t + 4 * (i >> 1)
    if family == "m16n8k32":   # 8-bit: a0..a3 (g, 4t..), a4..a7 (g+8), a8..a11 (g, +16), a12..a15 (g+8, +16)
        return g + 8 * ((i >> 2) & 1), 4 * t + (i & 3) + 16 * (i >> 3)
    if family == "m8n8k4":     # f64: a0 (g, t)
        return g, t
    raise ValueError(family)


def mma_b_index(family: str, lane: int, i: int) -> tuple[int, int]:
    """(k, col) of B element i of lane `lane`."""
    g, t = lane >> 2, lane & 3
    if family == "m16n8k16":
        return 2 * t + (i & 1) + 8 * (i >> 1), g
    if family in ("m16n8k8", "m16n8k16.f64"):   # b_i at k = t + 4i
        return t + 4 * i, g
    if family == "m16n8k32":
        return 4 * t + (i & 3) + 16 * (i >> 2), g
    if family == "m8n8k4":
        return t, g
    raise ValueError(family)


def mma_c_index(family: str, lane: int, i: int) -> tuple[int, int]:
    """(row, col) of accumulator element i of lane `lane`: c0,c1 (g, 2t..), c2,c3 (g+8, 2t..); m8n8k4: (g, 2t+i)."""
    g, t = lane >> 2, lane & 3
    if family == "m8n8k4":
        return g, 2 * t + i
    return g + 8 * (i >> 1), 2 * t + (i & 1)


def wgmma_d_index(thread: int, r: int) -> tuple[int, int]:
    """Accumulator register r of warpgroup thread `thread` (0..127) for m64nN: warp w owns rows 16w..16w+15,
    each n8 block j holds d[4j..4j+3] like an m16n8 C fragment."""
    w, lane = thread >> 5, thread & 31
    g, t = lane >> 2, lane & 3
    return 16 * w + g + 8 * ((r >> 1) & 1), 8 * (r >> 2) + 2 * t + (r & 1)


def wgmma_a_index(family: str, thread: int, i: int) -> tuple[int, int]:
    """A-in-registers element i of one k-step: warp w holds rows 16w..16w+15 like the mma.sync A fragment."""
    row, col = mma_a_index(family, thread & 31, i)
    return 16 * (thread >> 5) + row, col


# ---- element encodings --------------------------------------------------------------------------

ELEM_BITS = {"f16": 16, "bf16": 16, "tf32": 32, "e4m3": 8, "e5m2": 8, "s8": 8, "f64": 64, "f32": 32, "s32": 32}


def encode(values, elem: str):
    """(bit patterns as uint64 numpy array, the exact values they hold as a float64 torch tensor)."""
    import torch
    v = values.detach().to("cpu")
    if elem == "f16":
        t = v.to(torch.float16)
        return t.view(torch.int16).numpy().astype(np.uint16).astype(np.uint64), t.double()
    if elem == "bf16":
        t = v.to(torch.bfloat16)
        return t.view(torch.int16).numpy().astype(np.uint16).astype(np.uint64), t.double()
    if elem in ("f32", "tf32"):
        bits = v.to(torch.float32).view(torch.int32).numpy().astype(np.uint32)
        if elem == "tf32":  # keep sign, exponent and the 10 mantissa bits tf32 has: exact inputs
            bits = bits & np.uint32(0xFFFFE000)
        exact = torch.from_numpy(bits.astype(np.uint32).view(np.float32).copy()).double()
        return bits.astype(np.uint64), exact
    if elem in ("e4m3", "e5m2"):
        t = v.to(torch.float8_e4m3fn if elem == "e4m3" else torch.float8_e5m2)
        return t.view(torch.uint8).numpy().astype(np.uint64), t.to(torch.float32).double()
    if elem in ("s8", "s32"):
        t = v.round().to(torch.int8 if elem == "s8" else torch.int32)
        bits = t.numpy().astype(np.int64) & ((1 << ELEM_BITS[elem]) - 1)
        return bits.astype(np.uint64), t.double()
    if elem == "f64":
        t = v.to(torch.float64)
        return t.view(torch.int64).numpy().view(np.uint64).copy(), t.clone()
    raise ValueError(elem)


def pack_words(bits: np.ndarray, elem_bits: int) -> np.ndarray:
    """(..., n_elems) bit patterns -> (..., n_words) uint32, element 0 in the low bits (64-bit: lo, hi)."""
    bits = np.asarray(bits, dtype=np.uint64)
    if elem_bits == 64:
        lo = (bits & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        hi = (bits >> np.uint64(32)).astype(np.uint32)
        return np.stack([lo, hi], axis=-1).reshape(*bits.shape[:-1], -1)
    per = 32 // elem_bits
    n = bits.shape[-1]
    assert n % per == 0, (n, per)
    b = bits.reshape(*bits.shape[:-1], n // per, per)
    shifts = (np.arange(per, dtype=np.uint64) * np.uint64(elem_bits))
    return (b << shifts).sum(axis=-1, dtype=np.uint64).astype(np.uint32)


def unpack_words(words: np.ndarray, acc: str) -> np.ndarray:
    """Accumulator words -> values (float64, or int64 for s32): f32/s32 one per word, f16 two, f64 one per two."""
    w = np.asarray(words, dtype=np.uint32)
    if acc == "f32":
        return w.view(np.float32).astype(np.float64)
    if acc == "s32":
        return w.view(np.int32).astype(np.int64)
    if acc == "f16":
        lo = (w & np.uint32(0xFFFF)).astype(np.uint16).view(np.float16)
        hi = (w >> np.uint32(16)).astype(np.uint16).view(np.float16)
        return np.stack([lo, hi], axis=-1).reshape(*w.shape[:-1], -1).astype(np.float64)
    if acc == "f64":
        pairs = w.reshape(*w.shape[:-1], -1, 2).astype(np.uint64)
        return (pairs[..., 0] | (pairs[..., 1] << np.uint64(32))).view(np.float64)
    raise ValueError(acc)


def random_values(shape, elem: str, gen, scale: float = 1.0):
    import torch
    if elem in ("s8",):
        return torch.randint(-8, 8, shape, generator=gen).double()
    if elem == "s32":
        return torch.randint(-1000, 1000, shape, generator=gen).double()
    return torch.randn(shape, generator=gen, dtype=torch.float64) * scale

