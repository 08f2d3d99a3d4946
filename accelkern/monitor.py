"""NVML sampling around a measurement: SM/memory clocks (MHz), power (W), temperature (C) and the
clock-throttle reasons seen, decoded to words. Without NVML (no nvidia-ml-py, no driver) every field
stays empty, one warning is printed per process, and nothing fails.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import asdict, dataclass, field

# NVML clocks-event (throttle) reason bits -> words
THROTTLE_REASONS = {
    0x1: "idle",
    0x2: "applications clocks setting",
    0x4: "power cap",
    0x8: "hardware slowdown",
    0x10: "sync boost",
    0x20: "thermal (software)",
    0x40: "thermal (hardware)",
    0x80: "power brake (hardware)",
    0x100: "display clock setting",
}


def decode_throttle(mask: int) -> list[str]:
    """Bitmask -> reason words, lowest bit first; unknown bits as hex."""
    words = [w for bit, w in THROTTLE_REASONS.items() if mask & bit]
    rest = mask & ~sum(THROTTLE_REASONS)
    if rest:
        words.append(f"other (0x{rest:x})")
    return words


@dataclass
class Telemetry:
    nvml: bool
    samples: int = 0
    sm_clock_mean_mhz: float | None = None
    sm_clock_min_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    mem_clock_mean_mhz: float | None = None
    power_mean_w: float | None = None
    power_max_w: float | None = None
    power_limit_w: float | None = None
    temp_max_c: float | None = None
    throttle_reasons: list = field(default_factory=list)
    note: str | None = None

    def row_fields(self) -> dict:
        d = asdict(self)
        d["throttle"] = ", ".join(d.pop("throttle_reasons")) or ("none" if self.nvml and self.samples else "")
        d.pop("samples")
        d.pop("note")
        d.pop("nvml")
        return d


_nvml = None
_nvml_error: str | None = None
_warned = False


def nvml():
    """The initialised pynvml module, or None (reason in `nvml_error()`)."""
    global _nvml, _nvml_error
    if _nvml is not None or _nvml_error is not None:
        return _nvml
    try:
        import pynvml
        pynvml.nvmlInit()
        _nvml = pynvml
    except ImportError:
        _nvml_error = "NVML not available: install nvidia-ml-py (`pip install accelkern[nvml]`)"
    except Exception as exc:  # NVMLError_LibraryNotFound, driver not loaded, ...
        _nvml_error = f"NVML not available: {exc}"
    return _nvml


def nvml_error() -> str | None:
    nvml()
    return _nvml_error


def _warn_once(msg: str):
    global _warned
    if not _warned:
        _warned = True
        print(f"accelkern: warning: {msg}; clocks, power and throttle reasons are left empty", file=sys.stderr)


def nvml_handle(cuda_index: int):
    """NVML handle of a torch CUDA device (by UUID, so CUDA_VISIBLE_DEVICES is respected)."""
    nv = nvml()
    if nv is None:
        return None
    try:
        import torch
        uuid = str(torch.cuda.get_device_properties(cuda_index).uuid)
        return nv.nvmlDeviceGetHandleByUUID(uuid if uuid.startswith("GPU-") else "GPU-" + uuid)
    except Exception:
        try:
            return nv.nvmlDeviceGetHandleByIndex(cuda_index)
        except Exception:
            return None


def _throttle_mask(nv, h) -> int:
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        f = getattr(nv, name, None)
        if f is not None:
            return int(f(h))
    return 0


def snapshot(cuda_index: int) -> dict:
    """One reading now: clocks, power, temperature, throttle reasons, driver ({} without NVML)."""
    nv, h = nvml(), nvml_handle(cuda_index)
    if nv is None or h is None:
        return {}
    out = {}
    for key, fn in (("sm_clock_mhz", lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)),
                    ("sm_clock_max_mhz", lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_SM)),
                    ("mem_clock_mhz", lambda: nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)),
                    ("mem_clock_max_mhz", lambda: nv.nvmlDeviceGetMaxClockInfo(h, nv.NVML_CLOCK_MEM)),
                    ("power_w", lambda: nv.nvmlDeviceGetPowerUsage(h) / 1000),
                    ("power_limit_w", lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h) / 1000),
                    ("temp_c", lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)),
                    ("throttle", lambda: ", ".join(decode_throttle(_throttle_mask(nv, h))) or "none"),
                    ("driver", lambda: _str(nv.nvmlSystemGetDriverVersion()))):
        try:
            out[key] = fn()
        except Exception:
            pass
    return out


def _str(v):
    return v.decode() if isinstance(v, bytes) else str(v)


class Monitor:
    """Samples NVML every `interval_s` on a thread between start() and stop()."""

    def __init__(self, cuda_index: int, interval_s: float = 0.02):
        self.index = cuda_index
        self.interval_s = interval_s
        self._thread = None
        self._stop = threading.Event()
        self._rows: list[tuple] = []
        self._mask = 0
        self._nv = nvml()
        self._h = nvml_handle(cuda_index) if self._nv else None
        if self._h is None:
            _warn_once(nvml_error() or f"no NVML handle for CUDA device {cuda_index}")

    def _sample(self):
        nv, h = self._nv, self._h
        try:
            sm = nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)
            mem = nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)
            pw = nv.nvmlDeviceGetPowerUsage(h) / 1000.0
            temp = nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)
            self._mask |= _throttle_mask(nv, h) & ~0x1  # "idle" between samples is not a throttle
            self._rows.append((sm, mem, pw, temp))
        except Exception:
            pass

    def _loop(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def start(self):
        if self._h is None:
            return self
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="accelkern-nvml", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> Telemetry:
        if self._h is None:
            return Telemetry(nvml=False, note=nvml_error())
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()  # at least one reading at the end of a short measurement
        rows = self._rows
        tel = Telemetry(nvml=True, samples=len(rows))
        if rows:
            sm = [r[0] for r in rows]
            tel.sm_clock_mean_mhz = sum(sm) / len(sm)
            tel.sm_clock_min_mhz = min(sm)
            tel.sm_clock_max_mhz = max(sm)
            tel.mem_clock_mean_mhz = sum(r[1] for r in rows) / len(rows)
            tel.power_mean_w = sum(r[2] for r in rows) / len(rows)
            tel.power_max_w = max(r[2] for r in rows)
            tel.temp_max_c = max(r[3] for r in rows)
        try:
            tel.power_limit_w = self._nv.nvmlDeviceGetEnforcedPowerLimit(self._h) / 1000.0
        except Exception:
            pass
        tel.throttle_reasons = decode_throttle(self._mask)
        return tel

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.telemetry = self.stop()
        return False
