"""What a page is made of, before any HTML or markdown: sections of blocks of paragraphs, tables and figures."""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One PNG plot: `name` becomes the file name beside report.md; png holds the encoded bytes."""
    name: str
    caption: str
    png: bytes

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, from the PNG's IHDR chunk."""
        return png_size(self.png)

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Table:
    head: list
    rows: list                                   # lists of cell strings
    title: str | None = None
    flagged: list = field(default_factory=list)  # per row: True marks it (a flagged rank, a failed row)


@dataclass
class Block:
    """A section's content for one run (label None when the page has one run)."""
    label: str | None = None
    paragraphs: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    figures: list = field(default_factory=list)
    bullets: list = field(default_factory=list)
    pre: str | None = None                       # preformatted text (the compare table)
    missing: str | None = None                   # this run has no data for the section: what would fill it


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)
    missing: str | None = None                   # no run has data: the one line saying what fills it

    @property
    def present(self) -> bool:
        return any(b.missing is None for b in self.blocks)

    @property
    def figures(self) -> list:
        return [f for b in self.blocks for f in b.figures]


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG image (ValueError when the bytes are not a PNG)."""
    if len(data) < 24 or data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    return struct.unpack(">II", data[16:24])
