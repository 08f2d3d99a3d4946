"""validate's runner keeps its budget promise: shares by weight in whole seconds, unused time carried on,
a suite past its share stopped after its current row with the reason said."""
import pytest

from accelkern import validate
from accelkern.device import DeviceInfo
from accelkern.results import Row


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _suite(name, clock, cost_s, n_rows, weight=1.0, closed=None):
    def rows(ctx):
        try:
            for i in range(n_rows):
                clock.t += cost_s
                yield Row(suite=name, name=f"{name}-{i}", value=1.0)
        finally:
            if closed is not None:
                closed.append(name)
    return validate.Suite(name, f"{name} suite", rows, weight=weight)


@pytest.fixture
def fake_suites(monkeypatch):
    monkeypatch.setattr(validate, "SUITES", {})
    monkeypatch.setattr(validate, "load_suites", lambda: list(validate.SUITES.values()))
    return validate.SUITES


CPU = DeviceInfo(kind="cpu", index=0, name="test cpu", torch_device="cpu")


def test_shares_are_whole_seconds_by_weight_summing_to_the_budget():
    suites = [validate.Suite(n, n, None, weight=w) for n, w in (("a", 3.0), ("b", 1.0), ("c", 1.0))]
    assert validate.shares(suites, 60) == [36.0, 12.0, 12.0]
    got = validate.shares(suites, 20)
    assert got == [12.0, 4.0, 4.0] and sum(got) == 20
    odd = validate.shares(suites, 7)
    assert all(x == int(x) and x >= 1 for x in odd) and sum(odd) == 7


def test_a_suite_past_its_share_is_stopped_and_the_run_keeps_the_promise(fake_suites):
    clock, closed, msgs, emitted = FakeClock(), [], [], []
    for s in (_suite("slow", clock, cost_s=4.0, n_rows=100, closed=closed),
              _suite("quick", clock, cost_s=1.0, n_rows=3, closed=closed)):
        validate.register(s)
    skipped = validate.run(CPU, None, 20, emitted.append, progress=msgs.append, clock=clock)
    slow = [r for r in emitted if r.suite == "slow"]
    # share 10 s, hard stop at 11 s: rows at 4, 8, 12 s -> stopped after the third
    assert len([r for r in slow if r.status == "ok"]) == 3 and closed[0] == "slow"
    assert slow[-1].status == "skipped" and "stopped at its budget share" in slow[-1].note
    assert any("slow: stopped at its budget share (10 s)" in line for line in skipped)
    assert [r.name for r in emitted if r.suite == "quick"] == ["quick-0", "quick-1", "quick-2"]
    assert "(budget 10 s)" in msgs[0] and "(budget 8 s)" in msgs[1]   # the overrun is taken from the next share
    assert clock.t - 1000.0 <= 20 * (1 + validate.OVERRUN) + validate.FIXED_OVERHEAD_S


def test_time_a_suite_leaves_unused_goes_to_the_next(fake_suites):
    clock, msgs = FakeClock(), []
    validate.register(_suite("fast", clock, cost_s=1.0, n_rows=2))
    validate.register(_suite("next", clock, cost_s=1.0, n_rows=1))
    validate.run(CPU, None, 30, lambda r: r, progress=msgs.append, clock=clock)
    assert "(budget 15 s)" in msgs[0] and "(budget 28 s)" in msgs[1]


def test_suites_for_other_devices_are_listed_as_skipped(fake_suites):
    clock = FakeClock()
    validate.register(validate.Suite("gpu-only", "x", lambda ctx: iter(()), devices=("cuda",), needs="a CUDA GPU"))
    skipped = validate.run(CPU, None, 10, lambda r: r, clock=clock)
    assert skipped == ["gpu-only: needs a CUDA GPU (this run is on cpu)"]


def test_help_lists_exactly_the_registered_suites():
    from click.testing import CliRunner

    from accelkern.cli import cli
    names = [s.name for s in validate.load_suites()]
    assert sorted(names) == sorted(validate.SUITE_NAMES)
    text = " ".join(CliRunner().invoke(cli, ["validate", "--help"]).output.split())
    assert ", ".join(validate.SUITE_NAMES) in text
