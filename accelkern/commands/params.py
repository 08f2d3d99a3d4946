"""The option types every command's options use, so each rule holds for all of them: a number is finite, in
range and written in ASCII digits ('nan', 'inf', '1e999', '²56' and '1_000' are refused); a text option given
is not empty ('--device ""' is an error, never the default). `harden(cli)` gives every option of every command
these types (a plain int or float option, an IntRange or a FloatRange keeps its bounds), so a new option cannot
miss them. A refused value is click's usage error: one line, exit code 2, before anything starts."""
from __future__ import annotations

import math
import re

import click

from accelkern.errors import AccelkernError

_INT = re.compile(r"[+-]?[0-9]{1,18}")
_FLOAT = re.compile(r"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,30})?|\.[0-9]{1,30})(?:[eE][+-]?[0-9]{1,3})?")


def _bounds(lo, hi, lo_open: bool, hi_open: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"{'<' if hi_open else '<='} {hi:g}")
    return " and ".join(parts)


class Number(click.ParamType):
    """A finite number in ASCII digits within optional bounds; integer=True for whole numbers."""

    def __init__(self, min=None, max=None, min_open: bool = False, max_open: bool = False, integer: bool = False):
        self.min, self.max, self.min_open, self.max_open, self.integer = min, max, min_open, max_open, integer
        self.name = "integer" if integer else "number"

    def get_metavar(self, param, ctx=None):
        return "INTEGER" if self.integer else "NUMBER"

    def convert(self, value, param, ctx):
        what = "a whole number" if self.integer else "a number"
        if isinstance(value, bool):
            self.fail(f"{value!r} is not {what}", param, ctx)
        if isinstance(value, (int, float)):
            v = value
        else:
            text = str(value).strip()
            if not (_INT if self.integer else _FLOAT).fullmatch(text):
                self.fail(f"'{value}' is not {what} (ASCII digits, e.g. {'4' if self.integer else '2.5'}; "
                          "nan and inf are not numbers here)", param, ctx)
            v = int(text) if self.integer else float(text)
        if isinstance(v, float) and not math.isfinite(v):
            self.fail(f"'{value}' is not a finite number", param, ctx)
        if self.integer and isinstance(v, float):
            if not v.is_integer():
                self.fail(f"'{value}' is not a whole number", param, ctx)
            v = int(v)
        low = self.min is not None and (v <= self.min if self.min_open else v < self.min)
        high = self.max is not None and (v >= self.max if self.max_open else v > self.max)
        if low or high:
            self.fail(f"{value} is out of range: give a value "
                      f"{_bounds(self.min, self.max, self.min_open, self.max_open)}", param, ctx)
        return v

    def __repr__(self):
        return f"Number({_bounds(self.min, self.max, self.min_open, self.max_open) or 'any'})"


class Text(click.ParamType):
    """A text option's value: anything but empty or blank (leaving the option out gives its default)."""
    name = "text"

    def convert(self, value, param, ctx):
        if not str(value).strip():
            name = param.opts[0] if param is not None and param.opts else "value"
            raise AccelkernError(f"{name} '{value}': empty; give a value, or leave the option out for its default")
        return value


TEXT = Text()


def hardened(t: click.ParamType) -> click.ParamType:
    """The project's type for a click type: Number for int/float (ranges kept), Text for plain text."""
    if isinstance(t, click.types.FloatRange):
        return Number(t.min, t.max, t.min_open, t.max_open)
    if isinstance(t, click.types.IntRange):
        return Number(t.min, t.max, t.min_open, t.max_open, integer=True)
    if isinstance(t, click.types.FloatParamType):
        return Number()
    if isinstance(t, click.types.IntParamType):
        return Number(integer=True)
    if isinstance(t, click.types.StringParamType):
        return TEXT
    return t


def harden(cmd: click.Command) -> None:
    """Gives every option of `cmd` and of its subcommands the project's types (flags and choices untouched)."""
    for p in cmd.params:
        if isinstance(p, click.Option) and (p.is_flag or p.count):
            continue
        p.type = hardened(p.type)
    for sub in getattr(cmd, "commands", {}).values():
        harden(sub)
