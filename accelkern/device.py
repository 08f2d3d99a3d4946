"""DeviceInfo: what a device is, for CUDA (accelkern._C + torch + NVML) and for the CPU.

Units: clocks in MHz, sizes in bytes, bandwidth in bytes/s.
"""
from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field

from accelkern import _ext, specs
from accelkern.errors import AccelkernError, NoDevice


@dataclass
class DeviceInfo:
    kind: str                          # 'cuda', 'cpu', or another torch device type (xpu, mps, hpu)
    index: int
    name: str
    torch_device: str                  # 'cuda:0' / 'cpu'
    compute_capability: tuple | None = None
    sm_count: int | None = None        # SMs (CUDA) or physical cores (CPU)
    max_sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    mem_bus_width_bits: int | None = None
    l2_bytes: int | None = None        # L2 (CUDA) or last-level cache (CPU)
    memory_bytes: int | None = None
    smem_per_sm_bytes: int | None = None
    smem_per_block_optin_bytes: int | None = None
    regs_per_sm: int | None = None
    max_threads_per_sm: int | None = None
    max_blocks_per_sm: int | None = None
    driver: str | None = None
    cuda_runtime: str | None = None
    threads: int | None = None         # CPU: threads torch uses
    cpu_capability: str | None = None  # CPU: vector ISA torch dispatches to
    attrs: dict = field(default_factory=dict)   # everything accelkern._C reported
    notes: list = field(default_factory=list)   # what could not be read, and why

    @property
    def arch(self) -> str | None:
        return specs.cuda_arch(self.compute_capability)

    def theoretical_bandwidth_bytes_s(self) -> float | None:
        """Memory clock x bus width x 2 (DDR), when the device reports both."""
        if self.mem_clock_mhz and self.mem_bus_width_bits:
            return specs.theoretical_bandwidth_bytes_s(self.mem_clock_mhz, self.mem_bus_width_bits)
        return None

    def peak_at_clock_tflops(self, dtype: str, clock_mhz: float | None = None, path: str | None = None,
                             cores: int | None = None, spec=None) -> float | None:
        """Architectural peak at `clock_mhz` (default: the max SM clock the driver reports; on a CPU the
        nominal clock). CPU: `cores` (default all physical cores) x the rate-table FLOP/clk/core of the
        instruction `path` (default the best for the dtype) x clock."""
        clock = clock_mhz or self.max_sm_clock_mhz
        if self.kind == "cpu":
            return specs.cpu_peak_tflops(self.attrs.get("uarch"), dtype, cores or self.sm_count or 0, clock or 0,
                                         path=path, spec=spec)
        return specs.peak_at_clock_tflops(self.arch, dtype, self.sm_count or 0, clock or 0, product=self.name)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["arch"] = self.arch
        d["theoretical_bandwidth_bytes_s"] = self.theoretical_bandwidth_bytes_s()
        return d


# torch device types accelkern accepts; an AMD GPU under ROCm is 'cuda' to torch
DEVICE_TYPES = ("cuda", "cpu", "xpu", "mps", "hpu")
DEVICE_HELP = "cuda, cuda:N, cpu, xpu[:N], mps, hpu[:N]"
_DEVICE_RE = re.compile(r"^([a-z]+)(?::(\d{1,6}))?$", re.ASCII)


def parse_device(text: str) -> tuple[str, int | None]:
    """'cuda:1' -> ('cuda', 1), 'cpu' -> ('cpu', None); refuses unknown types and malformed indices."""
    raw = str(text).strip().lower()
    m = _DEVICE_RE.match(raw)
    if not m:
        kind = raw.split(":")[0]
        if kind in DEVICE_TYPES:
            raise AccelkernError(f"--device '{text}': malformed; the index after ':' is a number "
                                 f"(allowed are {DEVICE_HELP})")
        raise AccelkernError(f"--device '{text}': allowed are {DEVICE_HELP}")
    kind, idx = m.group(1), m.group(2)
    if kind not in DEVICE_TYPES:
        raise AccelkernError(f"--device '{text}': allowed are {DEVICE_HELP}")
    if kind in ("cpu", "mps") and idx not in (None, "0"):
        raise AccelkernError(f"--device '{text}': {kind} has no index (allowed are {DEVICE_HELP})")
    return kind, None if idx is None else int(idx)


def _backend(kind: str):
    """torch's module for a device type (torch.cuda, torch.xpu, torch.mps, torch.hpu), or None."""
    import torch
    if kind == "hpu":
        try:  # Gaudi's torch module registers itself on import
            import habana_frameworks.torch  # noqa: F401
        except ImportError:
            return None
    return getattr(torch, kind, None)


def _available(kind: str) -> bool:
    mod = _backend(kind)
    try:
        return bool(mod is not None and mod.is_available())
    except Exception:  # a backend that cannot even answer is not usable
        return False


def _count(kind: str) -> int:
    mod = _backend(kind)
    try:
        return int(mod.device_count()) if mod is not None and hasattr(mod, "device_count") else 1
    except Exception:
        return 0


def default_device() -> str:
    """cuda when a GPU is usable, else torch's current accelerator (xpu, mps, ...), else cpu."""
    import torch
    if _available("cuda"):
        return "cuda"
    acc = getattr(torch, "accelerator", None)
    try:
        cur = acc.current_accelerator() if acc is not None and acc.is_available() else None
    except Exception:
        cur = None
    if cur is not None and cur.type in DEVICE_TYPES and _available(cur.type):
        return cur.type
    return "cpu"


def resolve_device(device: str | None) -> str:
    """The default device when nothing was asked; otherwise checks the type, the index and that torch can
    use it here (NoDevice, exit code 3, when not)."""
    if device in (None, "", "auto"):
        return default_device()
    kind, idx = parse_device(device)
    if kind == "cpu":
        return "cpu"
    if not _available(kind):
        why = ("torch.cuda.is_available() is False" if kind == "cuda"
               else f"torch has no usable '{kind}' backend here")
        raise NoDevice(f"--device {device}: no usable {kind} device ({why}); use --device cpu")
    n = _count(kind)
    if idx is not None and idx >= n:
        have = ", ".join(f"{kind}:{i}" for i in range(n)) or "none"
        raise NoDevice(f"--device {device}: no such device; this machine has {n} {kind} device(s) ({have})")
    return kind if idx is None else f"{kind}:{idx}"


def get_device_info(device: str | None = None) -> DeviceInfo:
    device = resolve_device(device)
    if device.startswith("cuda"):
        return _cuda_info(device)
    if device == "cpu":
        return _cpu_info()
    return _other_info(device)


def _other_info(device: str) -> DeviceInfo:
    """A torch device without accelkern's CUDA kernels (xpu, mps, hpu): the torch backend measures it."""
    import torch
    kind, idx = parse_device(device)
    idx = idx or 0
    mod = _backend(kind)
    name = kind
    try:
        if hasattr(mod, "get_device_name"):
            name = mod.get_device_name(idx)
    except Exception:
        pass
    info = DeviceInfo(kind=kind, index=idx, name=name if name != kind else f"torch {kind} device",
                      torch_device=f"{kind}:{idx}" if kind != "mps" else "mps")
    try:
        props = mod.get_device_properties(idx)
        info.memory_bytes = getattr(props, "total_memory", None)
    except Exception:
        pass
    info.notes.append(f"{kind}: measured through the torch backend only (accelkern's CUDA kernels, cuBLASLt and "
                      f"NVML need an NVIDIA GPU; torch {torch.__version__})")
    return info


def _cuda_info(device: str) -> DeviceInfo:
    import torch
    idx = torch.device(device).index
    idx = torch.cuda.current_device() if idx is None else idx
    p = torch.cuda.get_device_properties(idx)
    info = DeviceInfo(kind="cuda", index=idx, name=p.name, torch_device=f"cuda:{idx}",
                      compute_capability=(p.major, p.minor), sm_count=p.multi_processor_count,
                      memory_bytes=p.total_memory, l2_bytes=getattr(p, "L2_cache_size", None),
                      cuda_runtime=torch.version.cuda)
    C = _ext.load()
    if C is None:
        info.notes.append(f"clocks, bus width and occupancy limits unknown: {_ext.error()}")
    else:
        a = dict(C.device_attributes(idx))
        a["compute_capability"] = tuple(a["compute_capability"])
        info.attrs = a
        for k in ("max_sm_clock_mhz", "mem_clock_mhz", "mem_bus_width_bits", "l2_bytes", "smem_per_sm_bytes",
                  "smem_per_block_optin_bytes", "regs_per_sm", "max_threads_per_sm", "max_blocks_per_sm"):
            setattr(info, k, a[k])
        v = a["cuda_driver_version"]
        info.driver = f"CUDA {v // 1000}.{(v % 1000) // 10}"
    from accelkern import monitor
    snap = monitor.snapshot(idx)
    if snap.get("driver"):
        info.driver = snap["driver"] + (f" ({info.driver})" if info.driver else "")
    if not info.max_sm_clock_mhz and snap.get("sm_clock_max_mhz"):
        info.max_sm_clock_mhz = snap["sm_clock_max_mhz"]
    if monitor.nvml_error():
        info.notes.append(monitor.nvml_error())
    return info


def _host_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_info() -> DeviceInfo:
    """The CPU from accelkern.hostcpu's facts (CPUID, sysfs); sm_count holds its physical cores and l2_bytes
    its last-level cache, as the tables read them."""
    import torch

    from accelkern.hostcpu import facts as cpu_facts
    try:
        cap = torch.backends.cpu.get_cpu_capability()
    except Exception:
        cap = None
    f = cpu_facts.cpu_facts()
    llc = f.caches.levels[-1].usable_bytes if f.caches is not None and f.caches.known else None
    info = DeviceInfo(kind="cpu", index=0, name=f.model_name or "CPU", torch_device="cpu",
                      sm_count=f.physical_cores, l2_bytes=llc, memory_bytes=_host_memory(),
                      threads=torch.get_num_threads(), cpu_capability=cap, max_sm_clock_mhz=f.nominal_mhz)
    info.attrs = {"uarch": f.uarch, "uarch_name": f.uarch_name, "features": f.throughput_features,
                  "sockets": f.sockets, "threads_per_core": f.threads_per_core, "numa_nodes": f.numa_nodes,
                  "nominal_mhz": f.nominal_mhz, "nominal_source": f.nominal_source}
    info.notes += list(f.notes)
    return info
