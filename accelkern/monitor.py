"""NVML sampling around a measurement: SM/memory clocks (MHz), power (W), temperature (C) and the
clock-throttle reasons seen, decoded to words. Without NVML (no nvidia-ml-py, no driver) every field
stays empty, one warning is printed per process, and nothing fails.

Power is NVML's instantaneous reading (field NVML_FI_DEV_POWER_INSTANT through nvmlDeviceGetFieldValues):
nvmlDeviceGetPowerUsage is a 1 s average on Ampere and newer, longer than most measurements, so it would
describe the previous one. Where the driver has no instant field the average is used and the telemetry
says so. Only samples taken inside the timed span (Monitor.begin_span() .. stop()) are kept.
"""
from __future__ import annotations

import sys
import threading
import time
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
    power_source: str | None = None   # POWER_INSTANT | POWER_AVERAGE
    span_s: float | None = None       # host seconds of the span the samples were taken in
    note: str | None = None

    def row_fields(self) -> dict:
        """The Row fields (sm_clock_mean_mhz ... throttle); the rest stays with the telemetry."""
        d = asdict(self)
        d["throttle"] = ", ".join(d.pop("throttle_reasons")) or ("none" if self.nvml and self.samples else "")
        for k in ("samples", "note", "nvml", "power_source", "span_s"):
            d.pop(k)
        return d


POWER_INSTANT = "instant (NVML_FI_DEV_POWER_INSTANT)"
POWER_AVERAGE = "1 s average (nvmlDeviceGetPowerUsage)"
AVERAGE_NOTE = ("power is NVML's 1 s average (this driver has no instant power field), so it partly "
                "describes the second before the measurement")


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


_VALUE_MEMBERS = {0: "dVal", 1: "uiVal", 2: "ulVal", 3: "ullVal", 4: "sllVal", 5: "siVal", 6: "usVal"}


def field_value(nv, h, field_id: int) -> float:
    """One NVML field value (nvmlDeviceGetFieldValues), read by its value type; raises when unsupported."""
    v = nv.nvmlDeviceGetFieldValues(h, [field_id])[0]
    if int(v.nvmlReturn) != 0:
        raise RuntimeError(f"NVML field {field_id}: return code {int(v.nvmlReturn)}")
    member = _VALUE_MEMBERS.get(int(v.valueType))
    if member is None:
        raise RuntimeError(f"NVML field {field_id}: value type {int(v.valueType)} unknown")
    return float(getattr(v.value, member))


def power_reader(nv, h):
    """(read() -> milliwatts, source): the instant power field when this driver answers it, else the
    1 s average."""
    fid = getattr(nv, "NVML_FI_DEV_POWER_INSTANT", 186)
    if hasattr(nv, "nvmlDeviceGetFieldValues"):
        try:
            field_value(nv, h, fid)
            return (lambda: field_value(nv, h, fid)), POWER_INSTANT
        except Exception:  # an older driver or a GPU without the field
            pass
    return (lambda: nv.nvmlDeviceGetPowerUsage(h)), POWER_AVERAGE


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
                    ("power_w", lambda: power_reader(nv, h)[0]() / 1000),
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
    """Samples NVML every `interval_s` on a thread between start() and stop(); only the samples taken
    from begin_span() (default: start()) to stop() describe the measurement."""

    def __init__(self, cuda_index: int, interval_s: float = 0.02, clock=time.perf_counter):
        self.index = cuda_index
        self.interval_s = interval_s
        self.clock = clock
        self._thread = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.rows: list[tuple] = []     # (t, sm MHz, mem MHz, power W, temp C, throttle mask)
        self.span: tuple | None = None  # (t0, t1) host clock
        self._t0 = None
        self._nv = nvml()
        self._h = nvml_handle(cuda_index) if self._nv else None
        self._power = None
        self.power_source = None
        if self._h is None:
            _warn_once(nvml_error() or f"no NVML handle for CUDA device {cuda_index}")
        else:
            self._power, self.power_source = power_reader(self._nv, self._h)

    def _sample(self):
        nv, h = self._nv, self._h
        try:
            sm = nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_SM)
            mem = nv.nvmlDeviceGetClockInfo(h, nv.NVML_CLOCK_MEM)
            pw = self._power() / 1000.0
            temp = nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU)
            mask = _throttle_mask(nv, h) & ~0x1  # "idle" between samples is not a throttle
        except Exception:
            return
        with self._lock:
            self.rows.append((self.clock(), sm, mem, pw, temp, mask))

    def _loop(self):
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self):
        if self._h is None:
            return self
        self._t0 = self.clock()
        self._thread = threading.Thread(target=self._loop, name="accelkern-nvml", daemon=True)
        self._thread.start()
        return self

    def begin_span(self):
        """The timed span starts now (the device is busy with queued work): one sample at once, so even
        a span shorter than the interval has a reading taken inside it."""
        if self._h is None:
            return
        self._t0 = self.clock()
        self._sample()

    def stop(self) -> Telemetry:
        """Ends the span; aggregates the samples taken inside it (the device idles after it, so no
        reading is taken at the end)."""
        if self._h is None:
            return Telemetry(nvml=False, note=nvml_error())
        t1 = self.clock()
        self._stop.set()
        if self._thread:
            self._thread.join()
        t0 = self._t0 if self._t0 is not None else t1
        self.span = (t0, t1)
        with self._lock:
            rows = [r for r in self.rows if t0 <= r[0] <= t1]
        tel = Telemetry(nvml=True, samples=len(rows), power_source=self.power_source, span_s=t1 - t0)
        if rows:
            sm = [r[1] for r in rows]
            tel.sm_clock_mean_mhz = sum(sm) / len(sm)
            tel.sm_clock_min_mhz = min(sm)
            tel.sm_clock_max_mhz = max(sm)
            tel.mem_clock_mean_mhz = sum(r[2] for r in rows) / len(rows)
            tel.power_mean_w = sum(r[3] for r in rows) / len(rows)
            tel.power_max_w = max(r[3] for r in rows)
            tel.temp_max_c = max(r[4] for r in rows)
        mask = 0
        for r in rows:
            mask |= r[5]
        try:
            tel.power_limit_w = self._nv.nvmlDeviceGetEnforcedPowerLimit(self._h) / 1000.0
        except Exception:
            pass
        tel.throttle_reasons = decode_throttle(mask)
        if self.power_source == POWER_AVERAGE:
            tel.note = AVERAGE_NOTE
        return tel

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.telemetry = self.stop()
        return False
