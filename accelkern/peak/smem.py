"""Shared-memory images and matrix descriptors of the wgmma operands (PTX ISA "Matrix Descriptor Format"),
and a model of which bytes a descriptor makes the tensor core read (bytes and byte offsets throughout).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# ---- wgmma shared-memory layouts and descriptors (PTX ISA "Matrix Descriptor Format") ------------
# Each operand is `rows` x 128 bytes of K (one K tile), K-major. "sw128": 128-byte swizzle, the layout
# production kernels use (8-row x 128-byte atoms of 1024 bytes, 16-byte chunks xor-ed with the row);
# "none": interleaved core matrices (8 rows x 16 bytes, contiguous), K-adjacent core matrices LBO apart.

SWIZZLE_CODE = {"none": 0, "sw128": 1}
K_TILE_BYTES = 128
K_STEP_BYTES = 32          # one wgmma consumes 32 bytes of K: k16 f16/bf16, k8 tf32, k32 8-bit
K_STEPS = K_TILE_BYTES // K_STEP_BYTES


@dataclass(frozen=True)
class SmemLayout:
    name: str   # 'sw128' | 'none'

    def offset(self, rows: int, r, kb):
        """Byte offset of (row r, K byte kb) in the image (numpy broadcasting)."""
        r, kb = np.asarray(r), np.asarray(kb)
        if self.name == "sw128":
            return (r // 8) * 1024 + (r % 8) * 128 + (((kb // 16) ^ (r % 8)) * 16) + kb % 16
        if self.name == "none":
            return (kb // 16) * (rows * 16) + (r // 8) * 128 + (r % 8) * 16 + kb % 16
        raise ValueError(self.name)

    def params(self, rows: int) -> dict:
        """Descriptor leading/stride byte offsets, start-address advance per k-step, swizzle code."""
        if self.name == "sw128":  # LBO unused for swizzled K-major ("assumed 1"): give 16 bytes
            return {"lbo": 16, "sbo": 1024, "kstep": K_STEP_BYTES, "swizzle": SWIZZLE_CODE["sw128"]}
        lbo = rows * 16
        return {"lbo": lbo, "sbo": 128, "kstep": 2 * lbo, "swizzle": SWIZZLE_CODE["none"]}


def encode_descriptor(addr: int, lbo: int, sbo: int, swizzle: int, base_offset: int = 0) -> int:
    """The 64-bit wgmma descriptor: addr, LBO, SBO 16-byte granular in 14-bit fields, swizzle in bits 62-63."""
    f = lambda x: (x & 0x3FFFF) >> 4
    return f(addr) | (f(lbo) << 16) | (f(sbo) << 32) | ((base_offset & 7) << 49) | ((swizzle & 3) << 62)


def decode_descriptor(desc: int) -> dict:
    return {"addr": (desc & 0x3FFF) << 4, "lbo": ((desc >> 16) & 0x3FFF) << 4, "sbo": ((desc >> 32) & 0x3FFF) << 4,
            "base_offset": (desc >> 49) & 7, "swizzle": (desc >> 62) & 3}


def descriptor_address(desc: int, r, kb):
    """Shared-memory byte address the tensor core reads for (row r, K byte kb < 32) of one wgmma operand,
    per the PTX ISA canonical K-major layouts: no swizzle -> core matrices of 8 rows x 16 bytes, LBO
    between K-adjacent and SBO between row-adjacent ones; 128B swizzle -> rows 128 bytes apart in 8-row
    atoms SBO apart, address bits [4:6] xor-ed with bits [7:9]."""
    d = decode_descriptor(desc)
    r, kb = np.asarray(r), np.asarray(kb)
    if d["swizzle"] == 0:
        return d["addr"] + (r // 8) * d["sbo"] + (kb // 16) * d["lbo"] + (r % 8) * 16 + kb % 16
    if d["swizzle"] == 1:
        linear = d["addr"] + (r // 8) * d["sbo"] + (r % 8) * 128 + kb
        return linear ^ (((linear >> 7) & 7) << 4)
    raise ValueError("only no-swizzle and 128B swizzle are modelled")


def build_image(elem_bits_matrix: np.ndarray, elem_bits: int, layout: SmemLayout) -> np.ndarray:
    """rows x K-tile element bit patterns -> the shared-memory image bytes (uint8) in `layout`."""
    rows, kelems = elem_bits_matrix.shape
    ebytes = max(1, elem_bits // 8)
    assert kelems * ebytes == K_TILE_BYTES
    raw = np.zeros((rows, K_TILE_BYTES), dtype=np.uint8)
    b = np.asarray(elem_bits_matrix, dtype=np.uint64)
    for j in range(ebytes):  # little-endian bytes of each element
        raw[:, j::ebytes] = ((b >> np.uint64(8 * j)) & np.uint64(0xFF)).astype(np.uint8)
    img = np.zeros(rows * K_TILE_BYTES, dtype=np.uint8)
    r, kb = np.meshgrid(np.arange(rows), np.arange(K_TILE_BYTES), indexing="ij")
    img[layout.offset(rows, r, kb)] = raw
    return img


def read_through_descriptors(image: np.ndarray, base: int, rows: int, layout: SmemLayout) -> np.ndarray:
    """rows x 128 bytes that the 4 k-steps' descriptors read from `image` placed at smem address `base`
    (a multiple of 1024): the model of the hardware the CPU tests and the pre-launch self-check use."""
    p = layout.params(rows)
    out = np.zeros((rows, K_TILE_BYTES), dtype=np.uint8)
    r, kb = np.meshgrid(np.arange(rows), np.arange(K_STEP_BYTES), indexing="ij")
    for s in range(K_STEPS):
        desc = encode_descriptor(base + s * p["kstep"], p["lbo"], p["sbo"], p["swizzle"])
        out[:, s * K_STEP_BYTES:(s + 1) * K_STEP_BYTES] = image[descriptor_address(desc, r, kb) - base]
    return out

