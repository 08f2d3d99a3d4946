"""The theoretical DRAM bandwidth (accelkern.memory.cpu_theoretical): channels x MT/s x 8 B (x sockets) from a
datasheet entry, from `dmidecode -t memory` text (files shaped as dmidecode 3.x prints them: a two-socket
DDR5 server, a 2-DIMMs-per-channel DDR4 board, a KVM guest), and the order between them."""
import dataclasses
import os

import pytest

from accelkern import specs
from accelkern.memory import cpu_theoretical as ct

DATA = os.path.join(os.path.dirname(__file__), "data")


def text(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def cpu_entry(**kw):
    base = specs.cpu_specs()[0]
    return dataclasses.replace(base, **kw)


def test_from_a_datasheet_entry_channels_times_mts_times_8_bytes_times_sockets():
    e = cpu_entry(name="Test 12-channel part", memory_channels=12, memory_mts=4800, memory_type="DDR5", sockets=1,
                  cores=96)
    one = ct.from_spec(e, 1)
    assert one.bytes_s == pytest.approx(12 * 4800e6 * 8)          # 460.8 GB/s
    assert ct.from_spec(e, 2).bytes_s == pytest.approx(2 * 460.8e9)
    assert "12 channels" in one.source and "DDR5-4800" in one.source


def test_a_real_entry_epyc_7742():
    e = specs.by_key("epyc-7742")
    assert ct.from_spec(e, 1).bytes_s == pytest.approx(8 * 3200e6 * 8)   # 204.8 GB/s per socket


def test_an_entry_without_channels_says_so():
    e = cpu_entry(name="No channels", memory_channels=None, memory_mts=None, memory_bw_gbps=0)
    t = ct.from_spec(e, 1)
    assert not t.known and "no memory channels" in t.source
    assert not ct.from_spec(None, 1).known


def test_dmidecode_two_socket_ddr5_uses_configured_speed_and_named_channels():
    dimms = ct.parse_dmidecode(text("dmidecode_epyc_2s_ddr5.txt"))
    assert len(dimms) == 4                                         # the empty slot is not a DIMM
    assert {d.mts for d in dimms} == {4800} and {d.rated_mts for d in dimms} == {5600}
    assert ct.channels_of(dimms) == (4, "channels named by the DIMM locators")
    t = ct.from_dimms(dimms)
    assert t.bytes_s == pytest.approx(4 * 4800e6 * 8)              # 153.6 GB/s: 4 of 24 channels populated
    assert "4 DDR5 DIMM(s)" in t.source and "256 GiB" in t.source


def test_dmidecode_two_dimms_per_channel_count_once_per_channel():
    dimms = ct.parse_dmidecode(text("dmidecode_2dpc_ddr4.txt"))
    assert len(dimms) == 4 and dimms[0].size_bytes == 32 << 30
    assert ct.channels_of(dimms)[0] == 2
    assert ct.from_dimms(dimms).bytes_s == pytest.approx(2 * 2933e6 * 8)


def test_dmidecode_of_a_vm_without_speeds_gives_no_figure_and_says_why():
    dimms = ct.parse_dmidecode(text("dmidecode_kvm_guest.txt"))
    assert len(dimms) == 1 and dimms[0].mts is None
    t = ct.from_dimms(dimms)
    assert not t.known and "no speed" in t.source and "RAM" in t.source


def test_unnamed_locators_count_one_channel_per_dimm():
    dimms = [ct.Dimm("DIMM 1", "", 16 << 30, 3200, 3200, 64, "DDR4"), ct.Dimm("DIMM 2", "", 16 << 30, 3200, 3200, 64,
                                                                              "DDR4")]
    n, how = ct.channels_of(dimms)
    assert n == 2 and "assumed" in how


def test_resolve_order_spec_flag_then_dmidecode_then_matched_entry():
    entry = cpu_entry(name="Matched part", memory_channels=8, memory_mts=3200, memory_type="DDR4", sockets=1, cores=64)
    server = text("dmidecode_epyc_2s_ddr5.txt")
    # --spec wins over what dmidecode says
    t = ct.resolve(entry, "--spec matched-part", sockets=1, dmidecode_text=server)
    assert t.bytes_s == pytest.approx(8 * 3200e6 * 8)
    # dmidecode (this machine's DIMMs) wins over an entry matched from the CPU's name
    t = ct.resolve(entry, "matched 'Matched part'", sockets=1, dmidecode_text=server)
    assert t.bytes_s == pytest.approx(4 * 4800e6 * 8)
    # a VM's table has no speeds: the matched entry, with the note that its channels are the socket's
    t = ct.resolve(entry, "matched 'Matched part'", sockets=1, cores_used=2,
                   dmidecode_text=text("dmidecode_kvm_guest.txt"))
    assert t.bytes_s == pytest.approx(8 * 3200e6 * 8) and "whole socket's (64 cores)" in t.note
    # nothing known: the reason names both sources
    t = ct.resolve(None, "no entry", sockets=1, dmidecode_text=text("dmidecode_kvm_guest.txt"))
    assert not t.known and "no speed" in t.source and "no CPU datasheet entry" in t.source
    t = ct.resolve(None, "no entry", read_dmi=False)
    assert not t.known and "datasheet" in t.describe()
