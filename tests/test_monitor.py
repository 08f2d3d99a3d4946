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


class _Value:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class FakeNvmlFields(FakeNvml):
    """A driver with the instant power field: 650 W now, while the 1 s average still says 700 W."""
    NVML_FI_DEV_POWER_INSTANT = 186

    def __init__(self, ret=0):
        super().__init__()
        self.ret = ret
        self.asked = []

    def nvmlDeviceGetFieldValues(self, h, ids):
        self.asked.append(list(ids))
        return [_Value(fieldId=ids[0], nvmlReturn=self.ret, valueType=1, value=_Value(uiVal=650_000))]


def _use(monkeypatch, fake):
    monkeypatch.setattr(monitor, "_nvml", fake)
    monkeypatch.setattr(monitor, "_nvml_error", None)
    monkeypatch.setattr(monitor, "nvml_handle", lambda idx: object())


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_monitor_aggregates_samples(monkeypatch):
    _use(monkeypatch, FakeNvml())   # a driver without field values: the 1 s average, said in a note
    m = monitor.Monitor(0, interval_s=0.001).start()
    import time
    time.sleep(0.05)
    tel = m.stop()
    assert tel.nvml and tel.samples >= 2
    assert 1780 <= tel.sm_clock_min_mhz <= tel.sm_clock_mean_mhz <= tel.sm_clock_max_mhz <= 1980
    assert tel.power_mean_w == pytest.approx(700) and tel.power_limit_w == pytest.approx(700)
    assert tel.power_source == monitor.POWER_AVERAGE and "1 s average" in tel.note
    assert tel.throttle_reasons == ["power cap"]          # idle is not a throttle
    fields = tel.row_fields()
    assert fields["throttle"] == "power cap" and fields["mem_clock_mean_mhz"] == 3201
    assert "power_source" not in fields and "note" not in fields


def test_instant_power_field_is_used_when_the_driver_has_it(monkeypatch):
    fake = FakeNvmlFields()
    _use(monkeypatch, fake)
    m = monitor.Monitor(0, interval_s=10)
    m.start()
    m.begin_span()
    tel = m.stop()
    assert tel.power_source == monitor.POWER_INSTANT and tel.note is None
    assert tel.power_mean_w == pytest.approx(650) and tel.samples == 1
    assert fake.asked and all(ids == [186] for ids in fake.asked)
    # the field answered with an error code: back to the average, and said so
    _use(monkeypatch, FakeNvmlFields(ret=3))
    tel = monitor.Monitor(0, interval_s=10).start().stop()
    assert tel.power_source == monitor.POWER_AVERAGE and "1 s average" in tel.note


def test_field_value_reads_the_member_its_type_names():
    class Nv:
        def nvmlDeviceGetFieldValues(self, h, ids):
            return [_Value(nvmlReturn=0, valueType=0, value=_Value(dVal=12.5, uiVal=7))]
    assert monitor.field_value(Nv(), None, 186) == 12.5


def test_only_samples_inside_the_timed_span_count(monkeypatch):
    _use(monkeypatch, FakeNvmlFields())
    clock = Clock()
    m = monitor.Monitor(0, interval_s=10, clock=clock)   # the thread never fires: samples are placed by hand
    m.start()
    m.rows.append((0.5, 1000, 3201, 100.0, 40, 0x0))     # before the span: the previous work, idle
    clock.t = 1.0
    m.begin_span()                                       # one reading at once: 650 W
    clock.t = 1.5
    m._sample()
    m.rows.append((2.5, 1000, 3201, 90.0, 40, 0x0))      # after it: taken, but past the span's end
    clock.t = 2.0
    tel = m.stop()
    assert m.span == (1.0, 2.0) and tel.span_s == pytest.approx(1.0)
    assert len(m.rows) == 4                              # both outside samples were there to be left out
    assert tel.samples == 2 and tel.power_mean_w == pytest.approx(650) and tel.power_max_w == pytest.approx(650)
    assert tel.sm_clock_min_mhz >= 1780 and tel.temp_max_c == 60   # the outside rows say 40
