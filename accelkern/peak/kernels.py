"""The catalogue of compute-peak kernels (one per instruction kind), their launch-shape grids, the FLOP
count of one launch, and which GPU and build can run each. FLOP: an FMA counts 2 (integer paths: ops).
"""
from __future__ import annotations

from dataclasses import dataclass

from accelkern import _ext
from accelkern.errors import AccelkernError

DTYPES = ("fp32", "fp64", "fp16", "bf16", "tf32", "fp8", "int8", "int32")
PATHS = ("simt", "mma", "wgmma")
PATH_LABEL = {"simt": "simt", "mma": "mma.sync", "wgmma": "wgmma"}

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
    clock_dtype: str = ""  # specs.PER_CLOCK_PER_SM key when it differs from spec_dtype (f16 accumulate)

    @property
    def key(self) -> str:
        return f"{self.path}:{self.op}"

    @property
    def clock_key(self) -> str:
        """The per-clock table's key: f16-accumulate mma has its own rate on GeForce parts."""
        return self.clock_dtype or self.spec_dtype

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
               "m16n8k16", clock_dtype="fp16_acc16"),
    PeakKernel("mma", "bf16", "bf16.f32", "mma.sync.m16n8k16 bf16->f32", "bf16", "bf16", "bf16", "f32", 4096,
               "m16n8k16"),
    PeakKernel("mma", "tf32", "tf32.f32", "mma.sync.m16n8k8 tf32->f32", "tf32", "tf32", "tf32", "f32", 2048,
               "m16n8k8"),
    PeakKernel("mma", "int8", "s8.s32", "mma.sync.m16n8k32 s8->s32", "int8", "int8", "s8", "s32", 8192, "m16n8k32"),
    PeakKernel("mma", "fp8", "e4m3.f32", "mma.sync.m16n8k32 e4m3->f32", "fp8", "fp8", "e4m3", "f32", 8192,
               "m16n8k32", (8, 9)),
    PeakKernel("mma", "fp8", "e5m2.f32", "mma.sync.m16n8k32 e5m2->f32", "fp8", "fp8", "e5m2", "f32", 8192,
               "m16n8k32", (8, 9)),
    PeakKernel("mma", "fp64", "f64.f64", "mma.sync.m8n8k4 f64 (DMMA.8x8x4)", "fp64_tensor", "fp64", "f64", "f64",
               512, "m8n8k4"),
    PeakKernel("mma", "fp64", "f64.f64.k16", "mma.sync.m16n8k16 f64 (DMMA.16x8x16)", "fp64_tensor", "fp64", "f64",
               "f64", 2 * 16 * 8 * 16, "m16n8k16.f64", (9, 0)),
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


def launch_flops(kernel: PeakKernel, cfg: Config, ctas: int, iters: int, steps_per_iter: int) -> float:
    """FLOP (integer ops) of one launch: instructions per chain and iteration x chains x iterations x
    threads (SIMT) / warps (mma) / warpgroups (wgmma, times N) x FLOP per instruction."""
    per_iter = steps_per_iter * cfg.chains * kernel.flop_per_instr
    if kernel.path == "simt":
        return float(ctas * cfg.threads) * iters * per_iter
    if kernel.path == "mma":
        return float(ctas * cfg.warps) * iters * per_iter
    return float(ctas * (cfg.warps // 4)) * iters * per_iter * cfg.n



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
    need = 10 * kernel.min_cc[0] + kernel.min_cc[1]
    if need > 80 and C is not None:   # compiled in only for newer targets: ask which binary the driver runs
        binary = binary_version(kernel)
        if binary < need:
            return (f"not available in this build on sm_{cc[0]}{cc[1]}: the driver runs the sm_{binary} binary, "
                    f"which has no {kernel.instruction} (it is compiled only for sm_{need}+; this build has "
                    f"sm_80 and sm_90a)")
    return None


def kernel_note(kernel: PeakKernel, device_info) -> str:
    """What a row of this kernel must say on this GPU (e.g. that sm_90 emulates fp8 mma.sync)."""
    cc = tuple(device_info.compute_capability or (0, 0))
    if kernel.path == "mma" and kernel.elem in ("e4m3", "e5m2") and cc[0] == 9:
        return _FP8_MMA_NOTE
    return kernel.note

