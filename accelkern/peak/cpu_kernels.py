"""accelkern's CPU compute-only kernels as Python sees them: the declarations accelkern._cpu makes next to
each kernel's code (csrc/cpu/peak/), whether this CPU can run each one (and why not), and selection by
name, dtype or instruction path. A kernel for an ISA the CPU lacks is a skipped row with the reason,
never an illegal instruction (the C++ side refuses it too)."""
from __future__ import annotations

from dataclasses import dataclass

from accelkern import _cpu_ext
from accelkern.errors import AccelkernError

# the compiler's feature names (csrc/cpu kernels' target attributes) -> Linux's /proc/cpuinfo spelling,
# which accelkern.hostcpu.cpuid decodes into
FEATURE_NAMES = {"avx2": "avx2", "fma": "fma", "avx512f": "avx512f", "avx512bw": "avx512bw",
                 "avx512vl": "avx512vl", "avx512bf16": "avx512_bf16", "avx512fp16": "avx512_fp16",
                 "avx512vnni": "avx512_vnni", "avxvnni": "avx_vnni", "amx-tile": "amx_tile",
                 "amx-bf16": "amx_bf16", "amx-int8": "amx_int8", "amx-fp16": "amx_fp16"}

CPU_DTYPES = ("fp64", "fp32", "bf16", "fp16", "int8")


@dataclass(frozen=True)
class CpuPeakKernel:
    name: str                    # '<dtype>_<path>'
    dtype: str
    path: str                    # rate-table key (accelkern/data/cpu_rates.json)
    instruction: str
    isa: str
    features: tuple              # Linux feature names the kernel needs
    ops_per_update: float        # FLOP (int8: ops) per accumulator update
    instructions_per_update: int
    acc_bytes: int
    value_type: str              # f64 f32 f16 i32
    check: str                   # alternate | add | wrap32
    step: float
    step_part: float
    needs_amx: bool
    built: bool
    why_not_built: str
    shapes: tuple                # ((accumulators, unroll), ...) built

    @property
    def metric(self) -> str:
        return "TOPS" if self.dtype == "int8" else "TFLOPS"

    def ops_per_pass(self, accumulators: int, unroll: int) -> float:
        """FLOP (ops) of one loop pass of one thread: accumulators x unroll updates."""
        return self.ops_per_update * accumulators * unroll


def _from_decl(d: dict) -> CpuPeakKernel:
    feats = tuple(FEATURE_NAMES.get(f, f) for f in d["features"].split(",") if f)
    return CpuPeakKernel(name=d["name"], dtype=d["dtype"], path=d["path"], instruction=d["instruction"],
                         isa=d["isa"], features=feats, ops_per_update=float(d["ops_per_update"]),
                         instructions_per_update=int(d["instructions_per_update"]), acc_bytes=int(d["acc_bytes"]),
                         value_type=d["value_type"], check=d["check"], step=float(d["step"]),
                         step_part=float(d["step_part"]), needs_amx=bool(d["needs_amx"]), built=bool(d["built"]),
                         why_not_built=d["why_not_built"], shapes=tuple(tuple(s) for s in d["shapes"]))


def all_kernels() -> list[CpuPeakKernel]:
    """Every CPU kernel the extension declares (built or not); [] without accelkern._cpu."""
    mod = _cpu_ext.load()
    return [] if mod is None else [_from_decl(d) for d in mod.peak_kernels()]


def unavailable(k: CpuPeakKernel, facts) -> str | None:
    """Why this CPU cannot run `k` (None when it can): not built, a missing feature, or the OS."""
    if not k.built:
        return f"not built: {k.why_not_built}"
    if facts.arch not in ("x86_64", "AMD64", "amd64"):
        return f"{k.isa} is an x86-64 ISA; this CPU is {facts.arch}"
    missing = [f for f in k.features if f not in facts.features]
    if missing:
        return f"this CPU ({facts.uarch_name or facts.model_name}) lacks {', '.join(missing)}"
    if k.needs_amx:
        granted, why = _cpu_ext.require().request_amx()
        if not granted:
            return why
    return None


def select(facts, names=None, dtypes=None, paths=None) -> list[CpuPeakKernel]:
    """Kernels by name, dtype and/or path (None: all). Unknown names/dtypes/paths: AccelkernError listing the
    allowed ones. Kernels the CPU cannot run stay in the list (they become skipped rows)."""
    ks = all_kernels()
    if not ks:
        raise AccelkernError(f"CPU compute kernels need accelkern._cpu: {_cpu_ext.error()}")
    for label, wanted, have in (("kernel", names, {k.name for k in ks}), ("dtype", dtypes, set(CPU_DTYPES)),
                                ("path", paths, {k.path for k in ks})):
        bad = [w for w in (wanted or []) if w not in have]
        if bad:
            raise AccelkernError(f"unknown CPU {label} {', '.join(bad)}; allowed: {', '.join(sorted(have))}")
    return [k for k in ks if (not names or k.name in names) and (not dtypes or k.dtype in dtypes)
            and (not paths or k.path in paths)]


def fastest_per_dtype(facts, kernels: list[CpuPeakKernel], uarch_rate) -> list[CpuPeakKernel]:
    """One runnable kernel per dtype: the one whose rate-table FLOP/clk/core is highest on this CPU
    (uarch_rate(kernel) -> rate or None; unknown rates rank by ops per instruction). The FMA+ADD mixes are
    left out: a GEMM has no independent additions to fill the add pipes with."""
    best = {}
    for k in kernels:
        if k.path.endswith("_fma_add") or unavailable(k, facts):   # a GEMM's ceiling is FMA alone
            continue
        key = (uarch_rate(k) or 0, k.ops_per_update / k.instructions_per_update)
        if k.dtype not in best or key > best[k.dtype][0]:
            best[k.dtype] = (key, k)
    return [best[d][1] for d in CPU_DTYPES if d in best]
