import pytest

from accelkern import monitor


def test_decode_throttle_words():
    assert monitor.decode_throttle(0) == []
    assert monitor.decode_throttle(0x4) == ["power cap"]
    assert monitor.decode_throttle(0x4 | 0x20 | 0x40) == ["power cap", "thermal (software)", "thermal (hardware)"]
    assert monitor.decode_throttle(0x1000) == ["other (0x1000)"]


def test_without_nvml_fields_are_empty_and_nothing_fails(monkeypatch, capsys):
    monkeypatch.setattr(monitor, "_nvml", None)
    monkeypatch.setattr(monitor, "_nvml_error", "NVML not available: test")
    monkeypatch.setattr(monitor, "_warned", False)
    m1 = monitor.Monitor(0)
    tel = m1.start().stop()
    monitor.Monitor(0).start().stop()
    assert tel.nvml is False and tel.sm_clock_mean_mhz is None and tel.power_mean_w is None
    assert tel.throttle_reasons == []
    err = capsys.readouterr().err
    assert err.count("warning") == 1 and "NVML not available: test" in err
    assert monitor.snapshot(0) == {}


class FakeNvml:
    NVML_CLOCK_SM, NVML_CLOCK_MEM, NVML_TEMPERATURE_GPU = 0, 1, 0

    def __init__(self):
        self.calls = 0

    def nvmlDeviceGetClockInfo(self, h, which):
        self.calls += 1
        return 1980 - (self.calls % 2) * 200 if which == 0 else 3201

    def nvmlDeviceGetPowerUsage(self, h):
        return 700_000

    def nvmlDeviceGetTemperature(self, h, which):
        return 60

    def nvmlDeviceGetCurrentClocksEventReasons(self, h):
        return 0x4 | 0x1

    def nvmlDeviceGetEnforcedPowerLimit(self, h):
        return 700_000


def test_monitor_aggregates_samples(monkeypatch):
    fake = FakeNvml()
    monkeypatch.setattr(monitor, "_nvml", fake)
    monkeypatch.setattr(monitor, "_nvml_error", None)
    monkeypatch.setattr(monitor, "nvml_handle", lambda idx: object())
    m = monitor.Monitor(0, interval_s=0.001).start()
    import time
    time.sleep(0.05)
    tel = m.stop()
    assert tel.nvml and tel.samples >= 2
    assert 1780 <= tel.sm_clock_min_mhz <= tel.sm_clock_mean_mhz <= tel.sm_clock_max_mhz <= 1980
    assert tel.power_mean_w == pytest.approx(700) and tel.power_limit_w == pytest.approx(700)
    assert tel.throttle_reasons == ["power cap"]          # idle is not a throttle
    fields = tel.row_fields()
    assert fields["throttle"] == "power cap" and fields["mem_clock_mean_mhz"] == 3201
