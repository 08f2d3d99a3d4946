"""The theoretical DRAM bandwidth of a CPU machine: channels x MT/s x 8 B (x sockets), from a datasheet entry
(accelkern/data/specs.json, through specs.cpu_theoretical_dram_bytes_s), from `dmidecode -t memory` when it
is readable (the DIMMs actually installed and the speed they were configured to), or from --spec. Where
none is known the figure is None and the reason says so. Bandwidth in bytes/s.

Order: --spec (the user said which part), then dmidecode (this machine's population: fewer DIMMs than
channels, or a lowered speed, show there), then the entry matched from the CPU's name. A datasheet figure is
the whole socket's: a VM given a few of its cores shares those channels with other guests, and its rows say
so.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from accelkern import specs
from accelkern.units import format_bytes

DMIDECODE_TIMEOUT_S = 5


@dataclass(frozen=True)
class Dimm:
    locator: str
    bank: str
    size_bytes: int
    mts: float | None             # the speed it runs at: 'Configured Memory Speed', else its rated 'Speed'
    rated_mts: float | None
    data_width_bits: int | None
    kind: str                     # DDR4, DDR5, RAM (a hypervisor's) ...


@dataclass(frozen=True)
class Theoretical:
    bytes_s: float | None
    source: str                   # where the figure came from (or why there is none)
    note: str | None = None       # what a row must add (a VM shares the socket's channels, an assumption made)

    @property
    def known(self) -> bool:
        return bool(self.bytes_s)

    def describe(self) -> str:
        if not self.known:
            return f"theoretical DRAM bandwidth unknown: {self.source}"
        return f"theoretical DRAM {self.bytes_s / 1e9:.1f} GB/s ({self.source})"


# ---- dmidecode --------------------------------------------------------------------------------

_SIZE_UNITS = {"B": 1, "BYTES": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def _size(text: str) -> int:
    m = re.match(r"\s*(\d+)\s*([KMGT]?B|bytes)\b", text, re.I)
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).upper()] if m else 0


def _speed(text: str | None) -> float | None:
    # dmidecode >= 3.0 prints MT/s; older releases printed the same number as "MHz"
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*(MT/s|MHz)", text or "")
    return float(m.group(1)) if m and float(m.group(1)) > 0 else None


def _bits(text: str | None) -> int | None:
    m = re.match(r"\s*(\d+)\s*bits", text or "")
    return int(m.group(1)) if m else None


def parse_dmidecode(text: str) -> list[Dimm]:
    """The populated memory devices (SMBIOS type 17) of `dmidecode -t memory` (or `-t 17`) output."""
    dimms = []
    for block in re.split(r"\n(?=Handle 0x)", text):
        if not re.search(r"^Memory Device\s*$", block, re.M):
            continue
        fields = {}
        for line in block.splitlines():
            if ":" in line and line.startswith(("\t", " ")):
                k, _, v = line.strip().partition(":")
                fields.setdefault(k.strip(), v.strip())
        size = _size(fields.get("Size", ""))
        if size <= 0:  # "No Module Installed", "Not Installed", 0
            continue
        rated = _speed(fields.get("Speed"))
        configured = _speed(fields.get("Configured Memory Speed") or fields.get("Configured Clock Speed"))
        dimms.append(Dimm(locator=fields.get("Locator", ""), bank=fields.get("Bank Locator", ""), size_bytes=size,
                          mts=configured or rated, rated_mts=rated,
                          data_width_bits=_bits(fields.get("Data Width")), kind=fields.get("Type", "")))
    return dimms


_CHANNEL = re.compile(r"channel\s*[_-]?\s*([a-z0-9]+)", re.I)
_DIMM_LETTER = re.compile(r"dimm\s*[_-]?\s*([a-z])\s*[_-]?\s*(\d+)\b", re.I)
_SOCKET = re.compile(r"\b(?:p|cpu|proc|socket|node)\s*[_-]?\s*(\d+)", re.I)


def channels_of(dimms: list[Dimm]) -> tuple[int, str]:
    """(memory channels in use, how they were counted). The locators name the channel on many boards
    ('P0 CHANNEL A', 'P1-DIMMA2', 'P0_Node0_Channel1_Dimm0'); otherwise each DIMM counts as one channel."""
    keys = set()
    for d in dimms:
        text = f"{d.locator} {d.bank}"
        ch = _CHANNEL.search(text)
        letter = _DIMM_LETTER.search(text)
        name = ch.group(1) if ch else (letter.group(1) if letter else None)
        if name is None:
            return len(dimms), "one channel per DIMM assumed (the locators do not name channels)"
        sock = _SOCKET.search(text)
        keys.add(((sock.group(1) if sock else "0"), name.upper()))
    return len(keys), "channels named by the DIMM locators"


def from_dimms(dimms: list[Dimm]) -> Theoretical:
    """channels x the slowest DIMM's MT/s x the data width (8 B for a 64-bit DIMM), from parsed dmidecode."""
    if not dimms:
        return Theoretical(None, "dmidecode lists no installed memory device")
    speeds = [d.mts for d in dimms if d.mts]
    if len(speeds) < len(dimms):
        kinds = ", ".join(sorted({d.kind or '?' for d in dimms}))
        return Theoretical(None, f"dmidecode gives no speed for {len(dimms) - len(speeds)} of {len(dimms)} memory "
                                 f"device(s) (type {kinds}; a hypervisor's table often has none)")
    channels, how = channels_of(dimms)
    mts = min(speeds)  # a channel runs all its DIMMs at one speed; mixed speeds settle at the slowest
    widths = [d.data_width_bits for d in dimms if d.data_width_bits]
    width_b = (min(widths) if widths else 64) // 8
    kinds = "/".join(sorted({d.kind for d in dimms if d.kind})) or "DRAM"
    total = sum(d.size_bytes for d in dimms)
    src = (f"dmidecode: {len(dimms)} {kinds} DIMM(s), {format_bytes(total)}, {channels} channel(s) x {mts:.0f} MT/s "
           f"x {width_b} B ({how})")
    return Theoretical(channels * mts * 1e6 * width_b, src)


def read_dmidecode() -> tuple[str | None, str]:
    """(`dmidecode -t memory` output, '') or (None, why it could not be read)."""
    exe = shutil.which("dmidecode")
    if exe is None:
        return None, "dmidecode is not installed"
    try:
        p = subprocess.run([exe, "-t", "memory"], capture_output=True, text=True, timeout=DMIDECODE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"dmidecode failed: {exc}"
    if p.returncode != 0 or "Memory Device" not in p.stdout:
        why = (p.stderr or p.stdout).strip().splitlines()
        return None, f"dmidecode -t memory gave no memory devices ({why[0] if why else 'no output'}; it needs root)"
    return p.stdout, ""


# ---- the datasheet ------------------------------------------------------------------------------

def from_spec(spec, sockets: int | None) -> Theoretical:
    """channels x MT/s x 8 B x sockets of a CPU datasheet entry."""
    if spec is None:
        return Theoretical(None, "no CPU datasheet entry")
    if getattr(spec, "kind", "gpu") != "cpu":
        return Theoretical(None, f"{spec.name} is not a CPU entry")
    n = sockets or spec.sockets or 1
    bw = specs.cpu_theoretical_dram_bytes_s(spec, n)
    if not bw:
        return Theoretical(None, f"{spec.name}: the datasheet entry gives no memory channels or speed")
    if spec.memory_channels and spec.memory_mts:
        src = (f"{spec.name} datasheet: {spec.memory_channels} channels x {spec.memory_type or ''}-"
               f"{spec.memory_mts:.0f} x 8 B x {n} socket(s)").replace(" -", " ")
    else:
        src = f"{spec.name} datasheet: {spec.memory_bw_gbps:g} GB/s per socket x {n} socket(s)"
    return Theoretical(bw, src)


def resolve(spec=None, spec_how: str = "", sockets: int | None = None, cores_used: int | None = None,
            dmidecode_text: str | None = None, read_dmi: bool = True) -> Theoretical:
    """The theoretical figure for this run (see the module doc for the order). cores_used: the threads the
    run pins, to say when a datasheet figure is a whole socket's that few cores may not reach."""
    explicit = spec is not None and str(spec_how).startswith("--spec")
    if explicit:
        return _socket_note(from_spec(spec, sockets), spec, cores_used)
    why_dmi = ""
    text = dmidecode_text
    if text is None and read_dmi:
        text, why_dmi = read_dmidecode()
    if text is not None:
        t = from_dimms(parse_dmidecode(text))
        if t.known:
            return t
        why_dmi = t.source
    t = from_spec(spec, sockets)
    if t.known:
        return _socket_note(t, spec, cores_used)
    return Theoretical(None, "; ".join(p for p in (why_dmi, t.source if spec is not None else
                                                   "no CPU datasheet entry matched (--spec NAME gives one)") if p))


def _socket_note(t: Theoretical, spec, cores_used: int | None) -> Theoretical:
    if not t.known or not cores_used or not spec or not spec.cores or cores_used >= spec.cores:
        return t
    return Theoretical(t.bytes_s, t.source,
                       f"the datasheet figure is the whole socket's ({spec.cores} cores); {cores_used} core(s) "
                       "measured (a VM shares the channels with other guests)")
