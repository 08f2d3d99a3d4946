"""What a row is, read from the Row schema alone: which suite family, which datasheet column judges it, the
bytes a GEMM must move at least, the memory kernel, the throttle reasons, the spec and clocks of a run."""
from __future__ import annotations

import re

from accelkern import specs
from accelkern.errors import AccelkernError
from accelkern.results import Row

GEMM_SUITES = ("gemm", "gemm-torch", "mamf", "waves")
MEMORY_SUITES = ("hbm", "hbm-sweep")
FLEET_PREFIX = "fleet-"
CPU_MEMORY_SUITES = ("hbm-levels", "hbm-sweep-latency")   # a CPU sweep's levels and pointer-chase latency
KNOWN_SUITES = GEMM_SUITES + MEMORY_SUITES + CPU_MEMORY_SUITES + ("peak", "peak-grid")

# input and output element bytes per GEMM dtype (fp8 writes bf16, int8 accumulates and writes int32)
GEMM_ELEMENT_BYTES = {
    "fp64": (8, 8), "fp32": (4, 4), "tf32": (4, 4), "fp16": (2, 2), "fp16_acc16": (2, 2), "bf16": (2, 2),
    "fp8": (1, 2), "fp8_e4m3_e5m2": (1, 2), "fp8_e5m2_e4m3": (1, 2), "int8": (1, 4),
}
MEMORY_KERNELS = ("copy", "read", "write", "triad", "ce", "torch", "h2d", "d2h")
LINK_KERNELS = ("h2d", "d2h")
NOT_THROTTLE = ("", "none", "idle")

_SHAPE = re.compile(r"^(\d+)x(\d+)x(\d+)(?:x(\d+)b)?$")
_CACHE = re.compile(r"the (\d+(?:\.\d+)?) ?([KMGT]iB) cache")


def is_known(suite: str) -> bool:
    return suite in KNOWN_SUITES or suite.startswith(FLEET_PREFIX)


def ok(r: Row) -> bool:
    """Measured, with a value, and not proven wrong."""
    return r.status == "ok" and r.value is not None and r.correct is not False


def spec_of(header: dict) -> specs.Spec | None:
    """The datasheet entry the run compared against (header 'spec'), from accelkern.specs."""
    name = (header or {}).get("spec")
    if not name:
        return None
    try:
        return specs.by_key(name)
    except AccelkernError:
        return None


def arch_of(header: dict) -> str | None:
    """'sm_90' from the header's compute capability ('sm_90' or '9.0')."""
    cc = (header or {}).get("compute_capability")
    if not cc:
        return None
    cc = str(cc)
    if cc.startswith("sm_"):
        return cc
    m = re.match(r"^(\d+)\.(\d+)$", cc)
    return f"sm_{m.group(1)}{m.group(2)}" if m else None


def gemm_shape(r: Row) -> tuple[int, int, int, int] | None:
    """(M, N, K, batch) of a GEMM row's shape 'MxNxK' or 'MxNxKxBb', else None."""
    m = _SHAPE.match(r.shape or "")
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4) or 1)


def is_gemm(r: Row) -> bool:
    return r.suite in GEMM_SUITES and r.metric in ("TFLOPS", "TOPS") and gemm_shape(r) is not None


def spec_dtype(r: Row, header: dict) -> str | None:
    """The datasheet column that judges a row: peak rows say it (config.spec_dtype); a GEMM's is its input
    type (fp8 variants -> fp8, fp16 accumulation -> fp16, fp64 -> fp64_tensor on sm_80+ as torch_backend does)."""
    if r.suite in ("peak", "peak-grid"):
        return (r.config or {}).get("spec_dtype") or r.dtype
    d = r.dtype
    if not d:
        return None
    if d.startswith("fp8"):
        return "fp8"
    if d == "fp16_acc16":
        return "fp16"
    arch = arch_of(header)
    if d == "fp64" and (header or {}).get("device_kind") == "cuda" and arch and int(arch[3:]) >= 80:
        return "fp64_tensor"
    return d


def gemm_min_bytes(r: Row) -> float | None:
    """Bytes a GEMM moves at the least: A (MxK) and B (KxN) read once, D (MxN) written once, per batch."""
    shape = gemm_shape(r)
    sizes = GEMM_ELEMENT_BYTES.get(r.dtype or "")
    if shape is None or sizes is None:
        return None
    m, n, k, b = shape
    return b * ((m * k + k * n) * sizes[0] + m * n * sizes[1])


def memory_kernel(r: Row) -> str | None:
    """copy/read/write/triad/ce/torch/h2d/d2h of a memory row; validate names them 'read: read/stream',
    'copy: ce', and the torch cross-check 'copy: ... (torch cross-check)'."""
    if r.suite not in MEMORY_SUITES:
        return None
    if "cross-check" in (r.name or ""):
        # Tensor.copy_; a CPU run's other torch cross-checks (amax, fill_, add) are no kernel of the claims
        return "torch" if (r.name or "").startswith("copy") else None
    base = (r.name or "").split(": ")[-1].split(" ")[0].split("/")[0]
    return base if base in MEMORY_KERNELS else (r.name or None)


def triad_flops(r: Row) -> float | None:
    """triad a = b + s*c: 2 FLOPs per fp32 element written (the one memory kernel that computes)."""
    if memory_kernel(r) != "triad" or not r.bytes_written:
        return None
    return 2.0 * r.bytes_written / 4


def throttle_reasons(r: Row) -> list[str]:
    """NVML throttle reasons of a row, without 'none' and 'idle' (idle is no slowdown under load)."""
    return [w.strip() for w in (r.throttle or "").split(",") if w.strip() and w.strip() not in NOT_THROTTLE]


def power_capped(r: Row) -> bool:
    reasons = throttle_reasons(r)
    near = bool(r.power_mean_w and r.power_limit_w and r.power_mean_w >= 0.95 * r.power_limit_w)
    return near or any("power" in w for w in reasons)


def cache_bytes(rows: list[Row], header: dict) -> int | None:
    """The cache size the memory rows were planned against: the header's l2_bytes when present, else the size
    their config.cache text names ('... 3x the 50 MiB cache')."""
    if (header or {}).get("l2_bytes"):
        return int(header["l2_bytes"])
    scale = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
    for r in rows:
        m = _CACHE.search(str((r.config or {}).get("cache") or ""))
        if m:   # format_bytes wrote it with 4 significant figures: '34.06 MiB'
            return round(float(m.group(1)) * scale[m.group(2)])
    return None


def device_word(header: dict) -> str:
    return "SMs" if (header or {}).get("device_kind") == "cuda" else "cores"


def mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def pct(v, ref) -> float | None:
    return None if v is None or not ref else 100.0 * v / ref
