"""Compute-only peak ("speed of light") per dtype and instruction path: register-resident loops of one
instruction kind (csrc/peak) -- SIMT FMAs, warp-level mma.sync and warpgroup wgmma -- swept over the
launch shape, each tensor-core path first checked against a float64 reference.

The host side of the kernels lives here: the fragment maps of the PTX ISA (which lane holds which
matrix element), the shared-memory images and descriptors of the wgmma operands, operand packing and
result decoding, the sweep and the rows. Units: TFLOPS (TOPS for integer paths; an FMA counts 2),
clocks in MHz, FLOP/clk/SM per SM per clock, bytes.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from accelkern import _ext, checks, figures, specs, timing
from accelkern.errors import AccelkernError, Unavailable
from accelkern.results import Row

DTYPES = ("fp32", "fp64", "fp16", "bf16", "tf32", "fp8", "int8", "int32")
PATHS = ("simt", "mma", "wgmma")
PATH_LABEL = {"simt": "simt", "mma": "mma.sync", "wgmma": "wgmma"}

# ---- fragment maps (PTX ISA "Matrix Fragments for mma.m16n8k*", wgmma "Register Fragments") ------
# Each returns (row, col) of the element that lane `lane` holds as element `i` (low to high) of its
# fragment; for B the pair is (k, n). groupID = lane >> 2, threadID_in_group = lane % 4.

MMA_FAMILIES = ("m16n8k16", "m16n8k8", "m16n8k32", "m8n8k4")
_FAMILY_MNK = {"m16n8k16": (16, 8, 16), "m16n8k8": (16, 8, 8), "m16n8k32": (16, 8, 32), "m8n8k4": (8, 8, 4)}
_FAMILY_ELEMS = {"m16n8k16": (8, 4, 4), "m16n8k8": (4, 2, 4), "m16n8k32": (16, 8, 4), "m8n8k4": (1, 1, 2)}


def mma_a_index(family: str, lane: int, i: int) -> tuple[int, int]:
    g, t = lane >> 2, lane & 3
    if family == "m16n8k16":   # f16/bf16: a0,a1 (g, 2t..), a2,a3 (g+8), a4,a5 (g, +8), a6,a7 (g+8, +8)
        return g + 8 * ((i >> 1) & 1), 2 * t + (i & 1) + 8 * (i >> 2)
    if family == "m16n8k8":    # tf32: a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4)
        return g + 8 * (i & 1), t + 4 * (i >> 1)
    if family == "m16n8k32":   # 8-bit: a0..a3 (g, 4t..), a4..a7 (g+8), a8..a11 (g, +16), a12..a15 (g+8, +16)
        return g + 8 * ((i >> 2) & 1), 4 * t + (i & 3) + 16 * (i >> 3)
    if family == "m8n8k4":     # f64: a0 (g, t)
        return g, t
    raise ValueError(family)


def mma_b_index(family: str, lane: int, i: int) -> tuple[int, int]:
    g, t = lane >> 2, lane & 3
    if family == "m16n8k16":
        return 2 * t + (i & 1) + 8 * (i >> 1), g
    if family == "m16n8k8":
        return t + 4 * i, g
    if family == "m16n8k32":
        return 4 * t + (i & 3) + 16 * (i >> 2), g
    if family == "m8n8k4":
        return t, g
    raise ValueError(family)


def mma_c_index(family: str, lane: int, i: int) -> tuple[int, int]:
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


def _random_values(shape, elem: str, gen, scale: float = 1.0):
    import torch
    if elem in ("s8",):
        return torch.randint(-8, 8, shape, generator=gen).double()
    if elem == "s32":
        return torch.randint(-1000, 1000, shape, generator=gen).double()
    return torch.randn(shape, generator=gen, dtype=torch.float64) * scale


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


# ---- the kernel catalogue -------------------------------------------------------------------------

@dataclass(frozen=True)
class PeakKernel:
    path: str            # simt | mma | wgmma
    dtype: str           # user-facing dtype (DTYPES)
    op: str              # accelkern._C op name
    instruction: str     # what is timed, as the ISA names it
    spec_dtype: str      # datasheet / PER_CLOCK_PER_SM column
    tol_dtype: str       # checks.TOLERANCES key
    elem: str            # operand element type
    acc: str             # accumulator type: f32 f16 s32 f64
    flop_per_instr: int  # SIMT: per thread per instruction; mma: per warp; wgmma: per warpgroup at N=1
    family: str = ""     # mma fragment family / wgmma A-fragment family
    min_cc: tuple = (8, 0)
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.path}:{self.op}"

    @property
    def integer(self) -> bool:
        return self.acc == "s32" or self.elem == "s32"


SIMT_KERNELS = (
    PeakKernel("simt", "fp32", "fp32", "FFMA (fma.rn.f32)", "fp32", "fp32", "f32", "f32", 2),
    PeakKernel("simt", "fp64", "fp64", "DFMA (fma.rn.f64)", "fp64", "fp64", "f64", "f64", 2),
    PeakKernel("simt", "fp16", "fp16x2", "HFMA2 (fma.rn.f16x2)", "fp16_simt", "fp16", "f16", "f16", 4),
    PeakKernel("simt", "bf16", "bf16x2", "HFMA2.BF16 (fma.rn.bf16x2)", "bf16_simt", "bf16", "bf16", "bf16", 4),
    PeakKernel("simt", "int32", "int32", "IMAD (mad.lo.s32)", "int32_simt", "int8", "s32", "s32", 2),
)

_FP8_MMA_NOTE = ("sm_90 has no fp8 mma.sync: ptxas emulates it (F2FP to f16, 2x HMMA.16816, FADD), "
                 "so this is not a tensor-core fp8 rate; Hopper's fp8 path is wgmma")
MMA_KERNELS = (
    PeakKernel("mma", "fp16", "f16.f32", "mma.sync.m16n8k16 f16->f32", "fp16", "fp16", "f16", "f32", 4096,
               "m16n8k16"),
    PeakKernel("mma", "fp16", "f16.f16", "mma.sync.m16n8k16 f16->f16", "fp16", "fp16_acc16", "f16", "f16", 4096,
               "m16n8k16"),
    PeakKernel("mma", "bf16", "bf16.f32", "mma.sync.m16n8k16 bf16->f32", "bf16", "bf16", "bf16", "f32", 4096,
               "m16n8k16"),
    PeakKernel("mma", "tf32", "tf32.f32", "mma.sync.m16n8k8 tf32->f32", "tf32", "tf32", "tf32", "f32", 2048,
               "m16n8k8"),
    PeakKernel("mma", "int8", "s8.s32", "mma.sync.m16n8k32 s8->s32", "int8", "int8", "s8", "s32", 8192, "m16n8k32"),
    PeakKernel("mma", "fp8", "e4m3.f32", "mma.sync.m16n8k32 e4m3->f32", "fp8", "fp8", "e4m3", "f32", 8192,
               "m16n8k32", (8, 9)),
    PeakKernel("mma", "fp8", "e5m2.f32", "mma.sync.m16n8k32 e5m2->f32", "fp8", "fp8", "e5m2", "f32", 8192,
               "m16n8k32", (8, 9)),
    PeakKernel("mma", "fp64", "f64.f64", "mma.sync.m8n8k4 f64 (DMMA)", "fp64_tensor", "fp64", "f64", "f64", 512,
               "m8n8k4"),
)

# flop_per_instr for wgmma: 2 * 64 * K per unit of N (times N at run time)
WGMMA_KERNELS = (
    PeakKernel("wgmma", "fp16", "f16", "wgmma.m64nNk16 f16->f32", "fp16", "fp16", "f16", "f32", 2 * 64 * 16,
               "m16n8k16", (9, 0)),
    PeakKernel("wgmma", "bf16", "bf16", "wgmma.m64nNk16 bf16->f32", "bf16", "bf16", "bf16", "f32", 2 * 64 * 16,
               "m16n8k16", (9, 0)),
    PeakKernel("wgmma", "tf32", "tf32", "wgmma.m64nNk8 tf32->f32", "tf32", "tf32", "tf32", "f32", 2 * 64 * 8,
               "m16n8k8", (9, 0)),
    PeakKernel("wgmma", "fp8", "e4m3", "wgmma.m64nNk32 e4m3->f32", "fp8", "fp8", "e4m3", "f32", 2 * 64 * 32,
               "m16n8k32", (9, 0)),
    PeakKernel("wgmma", "fp8", "e5m2", "wgmma.m64nNk32 e5m2->f32", "fp8", "fp8", "e5m2", "f32", 2 * 64 * 32,
               "m16n8k32", (9, 0)),
    PeakKernel("wgmma", "int8", "s8", "wgmma.m64nNk32 s8->s32", "int8", "int8", "s8", "s32", 2 * 64 * 32,
               "m16n8k32", (9, 0)),
)

ALL_KERNELS = SIMT_KERNELS + MMA_KERNELS + WGMMA_KERNELS


def select_kernels(dtypes: list[str] | None, paths: list[str] | None) -> list[PeakKernel]:
    """Kernels for the asked dtypes and paths (all when empty); AccelkernError on unknown names or an
    empty selection (saying which paths have the dtype)."""
    dtypes = list(dtypes or DTYPES)
    paths = list(paths or PATHS)
    bad = [d for d in dtypes if d not in DTYPES]
    if bad:
        raise AccelkernError(f"--dtype {','.join(bad)}: unknown; allowed: {', '.join(DTYPES)}")
    bad = [p for p in paths if p not in PATHS]
    if bad:
        raise AccelkernError(f"--path {','.join(bad)}: unknown; allowed: {', '.join(PATHS)}")
    chosen = [k for k in ALL_KERNELS if k.dtype in dtypes and k.path in paths]
    if not chosen:
        has = {d: sorted({k.path for k in ALL_KERNELS if k.dtype == d}) for d in dtypes}
        what = "; ".join(f"{d} exists on {', '.join(p)}" for d, p in has.items())
        raise AccelkernError(f"no kernel for dtype {','.join(dtypes)} on path {','.join(paths)} ({what})")
    return chosen


# ---- launch shapes ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Config:
    warps: int                    # per CTA (wgmma: 4 per warpgroup)
    ctas_per_sm: int
    chains: int                   # independent accumulators per thread (SIMT) / warp / warpgroup
    n: int | None = None          # wgmma N
    a_in_regs: bool | None = None  # wgmma: A from registers (RS) or shared memory (SS)
    layout: str | None = None     # wgmma shared-memory layout

    @property
    def threads(self) -> int:
        return 32 * self.warps

    def label(self) -> str:
        s = f"{self.warps}w x{self.ctas_per_sm}/SM, {self.chains} chain{'s' if self.chains > 1 else ''}"
        if self.n is not None:
            s = f"N={self.n} {'RS' if self.a_in_regs else 'SS'} {self.warps // 4}wg x{self.ctas_per_sm}/SM, " \
                f"{self.chains} chain{'s' if self.chains > 1 else ''}, {self.layout}"
        return s

    def as_dict(self) -> dict:
        d = {"warps_per_cta": self.warps, "ctas_per_sm": self.ctas_per_sm, "chains": self.chains}
        if self.n is not None:
            d.update(n=self.n, a_source="registers" if self.a_in_regs else "shared", warpgroups=self.warps // 4,
                     smem_layout=self.layout)
        return d


SIMT_CHAINS = (4, 8, 16)
MMA_CHAINS = (2, 4, 8)
WGMMA_NC = ((256, 1), (128, 2), (128, 1), (64, 2))   # instantiated (N, chains) pairs
WGMMA_LAYOUT = "sw128"


def grid(kernel: PeakKernel, quick: bool = False) -> list[Config]:
    """The launch shapes swept for a kernel (before the occupancy filter). `quick`: a few known-good ones."""
    if kernel.path == "simt":
        shapes = [(8, 4), (16, 2), (32, 1), (16, 4), (32, 2), (8, 8)] if not quick else [(16, 4), (32, 2)]
        chains = SIMT_CHAINS if not quick else (8,)
        return [Config(w, c, ch) for ch in chains for (w, c) in shapes]
    if kernel.path == "mma":
        shapes = [(4, 2), (8, 1), (8, 2), (16, 1), (4, 4), (16, 2)] if not quick else [(8, 2), (16, 1)]
        chains = MMA_CHAINS if not quick else (4, 8)
        return [Config(w, c, ch) for ch in chains for (w, c) in shapes]
    ncs = WGMMA_NC if not quick else ((256, 1), (128, 2))
    regs = (False, True) if not quick else (False,)
    shapes = [(4, 1), (8, 1), (4, 2), (8, 2)] if not quick else [(4, 2), (8, 1)]
    return [Config(w, c, ch, n, rs, WGMMA_LAYOUT) for (n, ch) in ncs for rs in regs for (w, c) in shapes]


# ---- operands, launches and checks --------------------------------------------------------------------

def _torch():
    import torch
    return torch


@dataclass
class Operands:
    """Device buffers for one kernel variant plus the exact inputs (float64) the check compares with."""
    tensors: dict
    ref: dict = field(default_factory=dict)


def simt_operands(kernel: PeakKernel, chains: int, seed: int = 1) -> Operands:
    """Per-chain start values, m and c of x = fma(x, m, c): |m| < 1 keeps every chain bounded."""
    torch = _torch()
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
    torch = _torch()
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
    torch = _torch()
    fam = kernel.family
    m, n, k = _FAMILY_MNK[fam]
    na, nb, nc = _FAMILY_ELEMS[fam]
    g = torch.Generator().manual_seed(seed)
    a_bits, A = encode(_random_values((m, k), kernel.elem, g), kernel.elem)
    b0_bits, B0 = encode(_random_values((k, n), kernel.elem, g), kernel.elem)
    if timing_mode:
        b1_bits, B1 = encode(-B0, kernel.elem)
    else:
        b1_bits, B1 = encode(_random_values((k, n), kernel.elem, g), kernel.elem)
    c_bits, C = encode(_random_values((m, n), kernel.acc, g), kernel.acc)
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
    torch = _torch()
    m, n, _ = _FAMILY_MNK[kernel.family]
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
    torch = _torch()
    layout = SmemLayout(layout_name)
    kt = wgmma_kelems(kernel)
    ks = kt // K_STEPS
    g = torch.Generator().manual_seed(seed)
    if timing_mode:
        x = _random_values((64, 2 * ks), kernel.elem, g)
        y = _random_values((n, 2 * ks), kernel.elem, g)
        a_vals, b_vals = torch.cat([x, x], 1), torch.cat([y, -y], 1)
    else:
        a_vals = _random_values((64, kt), kernel.elem, g)
        b_vals = _random_values((n, kt), kernel.elem, g)
    a_bits, A = encode(a_vals, kernel.elem)
    b_bits, B = encode(b_vals, kernel.elem)
    c_bits, C = encode(_random_values((64, n), kernel.acc, g), kernel.acc)
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
    na = _FAMILY_ELEMS[kernel.family][0]
    ai = np.array([[wgmma_a_index(kernel.family, t, i) for i in range(na)] for t in threads])   # (128, na, 2)
    a_words = np.concatenate([pack_words(a_bits[ai[..., 0], ai[..., 1] + s * ks], eb) for s in range(K_STEPS)],
                             axis=1)                                                            # (128, 16)
    di = np.array([[wgmma_d_index(t, r) for r in range(n // 2)] for t in threads])              # (128, n/2, 2)
    c_words = pack_words(c_bits[di[..., 0], di[..., 1]], ELEM_BITS[kernel.acc])
    as_i32 = lambda w: torch.from_numpy(w.reshape(-1).astype(np.uint32).view(np.int32).copy())
    return Operands({"image": image, "a_frags": as_i32(a_words), "c_frags": as_i32(c_words)},
                    {"A": A, "B": B, "C": C, "d_index": di, "layout": lay})


def wgmma_decode(kernel: PeakKernel, words: np.ndarray, n: int, di: np.ndarray):
    torch = _torch()
    vals = unpack_words(words.reshape(-1, 128, n // 2), kernel.acc)
    out = np.full((vals.shape[0], 64, n), np.nan)
    out[:, di[..., 0], di[..., 1]] = vals
    t = torch.from_numpy(out)
    return t.long() if kernel.acc == "s32" else t


def _poisoned_words(count: int, device, integer: bool):
    torch = _torch()
    t = torch.empty(count, dtype=torch.int32, device=device)
    # all ones is NaN as f32, as both f16 halves and as f64; INT_MIN for integer results
    t.fill_(-2**31 if integer else -1)
    return t


def _sync(dev):
    if dev.type == "cuda":
        _torch().cuda.synchronize(dev)


@dataclass
class CheckResult:
    ok: bool
    error: float
    tolerance: float
    what: str


def check_kernel(kernel: PeakKernel, cfg: Config, device: str, seed: int = 7) -> CheckResult:
    """One loop iteration of the kernel variant on known random operands, every chain (and warp or
    warpgroup) compared with a float64 reference; outputs poisoned first."""
    torch = _torch()
    C = _ext.require()
    dev = torch.device(device)
    if kernel.path == "simt":
        ops = simt_operands(kernel, cfg.chains, seed)
        info = C.peak_simt_info(kernel.op, cfg.chains, 64)
        words_per = 2 if kernel.elem == "f64" else 1
        out = _poisoned_words(64 * cfg.chains * words_per, dev, kernel.integer)
        C.peak_simt(kernel.op, cfg.chains, 1, 64, 1, True, ops.tensors["params"].to(dev), out)
        got_words = out.cpu().numpy().view(np.uint32).reshape(64, cfg.chains, words_per)
        steps = int(info["steps_per_iter"])
        ref = simt_reference(kernel, ops, steps)                          # (chains, lanes)
        if kernel.elem in ("f16", "bf16"):
            got = _decode_packed16(got_words[..., 0], kernel.elem)        # (64, chains, 2)
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
        out = _poisoned_words(warps * cfg.chains * 32 * cw, dev, kernel.integer)
        C.peak_mma(kernel.op, cfg.chains, 1, warps, 1, True, ops.tensors["frags"].to(dev), out)
        _sync(dev)
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
    out = _poisoned_words(wgs * cfg.chains * 128 * (cfg.n // 2), dev, kernel.integer)
    C.peak_wgmma(kernel.op, cfg.n, bool(cfg.a_in_regs), cfg.chains, 1, wgs, 1, True,
                 ops.tensors["image"].to(dev), r["layout"], ops.tensors["a_frags"].to(dev),
                 ops.tensors["c_frags"].to(dev), out)
    _sync(dev)
    got = wgmma_decode(kernel, out.cpu().numpy().view(np.uint32), cfg.n, r["d_index"])
    ref = r["C"] + r["A"] @ r["B"].T
    ok, err, tol = checks.compare(got, ref.expand_as(got), kernel.tol_dtype)
    return CheckResult(ok, err, tol, f"{K_STEPS} wgmma (K={wgmma_kelems(kernel)}) x {cfg.chains} chains x {wgs} "
                                     f"warpgroups, {cfg.layout}, A in {'registers' if cfg.a_in_regs else 'smem'}")


def _decode_packed16(words: np.ndarray, elem: str):
    """uint32 words holding two f16/bf16 values -> float64 tensor (..., 2), low half first."""
    torch = _torch()
    w = np.asarray(words, dtype=np.uint32)
    halves = np.stack([w & np.uint32(0xFFFF), w >> np.uint32(16)], axis=-1)
    if elem == "f16":
        vals = halves.astype(np.uint16).view(np.float16).astype(np.float64)
    else:
        vals = (halves << np.uint32(16)).astype(np.uint32).view(np.float32).astype(np.float64)
    return torch.from_numpy(vals)


def launch_flops(kernel: PeakKernel, cfg: Config, ctas: int, iters: int, steps_per_iter: int) -> float:
    """FLOP (integer ops) of one launch: instructions per chain and iteration x chains x iterations x
    threads (SIMT) / warps (mma) / warpgroups (wgmma, times N) x FLOP per instruction."""
    per_iter = steps_per_iter * cfg.chains * kernel.flop_per_instr
    if kernel.path == "simt":
        return float(ctas * cfg.threads) * iters * per_iter
    if kernel.path == "mma":
        return float(ctas * cfg.warps) * iters * per_iter
    return float(ctas * (cfg.warps // 4)) * iters * per_iter * cfg.n


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
        torch = _torch()
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
        self.out = torch.zeros(self.ctas * cfg.threads, dtype=torch.int32, device=self.dev)
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
    torch = _torch()
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


# ---- availability ------------------------------------------------------------------------------------

def binary_version(kernel: PeakKernel) -> int:
    """Arch of the binary the driver runs for an mma.sync kernel on the current GPU (80, 90, ...)."""
    return int(_ext.require().peak_mma_info(kernel.op, MMA_CHAINS[0], 4)["binary_version"])


def unavailable(kernel: PeakKernel, device_info) -> str | None:
    """Why this GPU or build cannot run a kernel ('not available on this GPU (needs sm_XX)'), or None."""
    cc = tuple(device_info.compute_capability or (0, 0))
    here = f"this is sm_{cc[0]}{cc[1]}"
    C = _ext.load()
    if kernel.path == "wgmma":
        if cc != (9, 0):
            return f"not available on this GPU (needs sm_90; {here})"
        if C is not None and not C.build_info().get("has_sm90a"):
            return "not available in this build (no sm_90a kernels: ACCELKERN_CUDA_ARCHS lacks 90a)"
        return None
    if cc < kernel.min_cc:
        return f"not available on this GPU (needs sm_{kernel.min_cc[0]}{kernel.min_cc[1]}; {here})"
    if kernel.min_cc >= (8, 9) and C is not None:
        binary = binary_version(kernel)
        if binary < 89:
            return (f"not available in this build on sm_{cc[0]}{cc[1]}: the driver runs the sm_{binary} binary, "
                    f"which has no fp8 mma.sync (it is compiled only for sm_89+; this build has sm_80 and sm_90a)")
    return None


def kernel_note(kernel: PeakKernel, device_info) -> str:
    cc = tuple(device_info.compute_capability or (0, 0))
    if kernel.path == "mma" and kernel.elem in ("e4m3", "e5m2") and cc[0] == 9:
        return _FP8_MMA_NOTE
    return kernel.note


# ---- measuring ---------------------------------------------------------------------------------------------

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
                   check: CheckResult | None, warmup_s: float = 0.02) -> Row:
    """Times one launch shape on all SMs and returns its Row (status 'skipped' when it does not fit)."""
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
    figures.compute_row(row, meas, device_info, spec, kernel.spec_dtype)
    if kernel.integer:
        row.metric = "TOPS"
    kc = L.kernel_clock()
    arch = specs.per_clock_per_sm(device_info.arch, kernel.spec_dtype)
    row.config.update(iters=iters, ctas=L.ctas, regs=L.info.get("regs"), binary=f"sm_{L.info.get('binary_version')}",
                      spec_dtype=kernel.spec_dtype, arch_flop_per_clk_per_sm=arch)
    if kc:
        fpc = specs.flop_per_clk_per_sm(row.value, device_info.sm_count, kc["mhz"])
        row.config.update(kernel_clock_mhz=round(kc["mhz"], 1), flop_per_clk_per_sm_kernel_clock=fpc,
                          pct_of_arch_at_kernel_clock=(100.0 * fpc / arch) if (fpc and arch) else None,
                          busy_fraction=round(kc["cta_s"] / meas.stats.median_s, 4) if meas.stats.median_s else None)
    if row.flop_per_clk_per_sm is not None and arch:
        row.config["pct_of_arch_at_nvml_clock"] = 100.0 * row.flop_per_clk_per_sm / arch
    notes = [kernel_note(kernel, device_info), row.note]
    if check is not None and not check.ok:
        notes.insert(0, f"CHECK FAILED ({check.what}): error {check.error:.3g} > {check.tolerance:g}")
    row.note = "; ".join(n for n in notes if n) or None
    return row


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
    with _torch().cuda.device(device_info.index):   # kernel attributes and events refer to this GPU
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
                          checks_done[variant_key(kernel, cfg)])
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
        raise AccelkernError(f"accelkern peak times CUDA kernels; this run is on {device_info.kind} "
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


# ---- validate: the compute ceiling next to the GEMM results ---------------------------------------------

VALIDATE_DTYPES = ("fp32", "fp64", "fp16", "bf16", "tf32", "fp8", "int8")


def validate_kernels(device_info) -> list[PeakKernel]:
    """One kernel per dtype: the fastest instruction path this GPU has (wgmma, else mma.sync; fp32 SIMT;
    fp64 on the tensor cores, as fp64 GEMMs use them)."""
    chosen = []
    for d in VALIDATE_DTYPES:
        cands = [k for k in ALL_KERNELS if k.dtype == d and k.op not in ("f16.f16", "e5m2", "e5m2.f32")]
        if d == "fp32":
            cands = [k for k in cands if k.path == "simt"]
        if d == "fp64":
            cands = [k for k in cands if k.path == "mma"]
        order = {"wgmma": 0, "mma": 1, "simt": 2}
        runnable = [k for k in sorted(cands, key=lambda k: order[k.path]) if not unavailable(k, device_info)]
        if d == "fp8" and device_info.compute_capability and tuple(device_info.compute_capability)[0] == 9:
            runnable = [k for k in runnable if k.path == "wgmma"]   # the emulated mma.sync is no ceiling
        chosen.append(runnable[0] if runnable else sorted(cands, key=lambda k: order[k.path])[0])
    return chosen


def validate_rows(ctx) -> Iterator[Row]:
    if _ext.load() is None:
        raise Unavailable(f"compute ceiling needs accelkern._C: {_ext.error()}")
    kernels = validate_kernels(ctx.device)
    for res in run(kernels, ctx.device, ctx.spec, max(5.0, ctx.time_left()), quick=True, progress=ctx.progress):
        yield res.best


def _register():
    from accelkern import validate
    validate.register(validate.Suite("peak", "compute ceiling: compute-only peak per dtype (best instruction path)",
                                     validate_rows, devices=("cuda",), weight=2.0,
                                     needs="a CUDA GPU and accelkern._C"))


_register()
