"""`accelkern report`: one page that answers "does this accelerator deliver what its vendor claims?".

From the results (.jsonl) of any accelkern commands: the header (what ran where, what was skipped), claims vs
measured per dtype and for memory with what explains each gap, the roofline, the MAMF search, tile and wave
quantization, the memory sweep, telemetry, and the fleet; two runs side by side. Every figure is computed from
the rows and the datasheet entry (accelkern.specs). jinja2 and matplotlib (the `report` extra) are imported only
when a page is made.
"""
from __future__ import annotations

import importlib.util
from datetime import datetime, timezone

from accelkern.errors import AccelkernError
from accelkern.report.inputs import Run, from_memory, group_runs, load
from accelkern.report.model import Block, Section
from accelkern.report.render import Page, check_output, output_paths

__all__ = ["SECTIONS", "build", "check_output", "output_paths", "require", "write_run", "write_runs"]

# (id, title, builder module attribute, the command that fills the section)
SECTIONS = (
    ("claims", "Claims vs measured", "claims:block",
     "`accelkern validate` (GEMM per dtype and memory), `accelkern mamf`, `accelkern peak` (GPU), `accelkern hbm`"),
    ("roofline", "Roofline", "roofline:block", "`accelkern validate`, `accelkern gemm` or `accelkern mamf`"),
    ("mamf", "MAMF search", "search:mamf_block", "`accelkern mamf --out DIR`"),
    ("waves", "Tile and wave quantization", "search:waves_block",
     "`accelkern waves sweep --out DIR` (and `accelkern waves staircase --out DIR` on a GPU)"),
    ("memory", "Memory", "bandwidth:block", "`accelkern hbm --sweep --out DIR` (and `accelkern hbm --out DIR`)"),
    ("telemetry", "Telemetry", "telemetry:block",
     ("any measuring command on a CUDA GPU with NVML (`pip install accelkern[nvml]`): clocks, power and throttle "
      "reasons per measurement")),
    ("fleet", "Fleet", "fleet:block", "`accelkern fleet --out DIR` across the GPUs of a node or cluster"),
)


def require() -> None:
    """Refuses (exit 2, naming the extra) when jinja2 or matplotlib is missing."""
    missing = [m for m in ("jinja2", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        raise AccelkernError(f"accelkern report needs {' and '.join(missing)}, which "
                             f"{'is' if len(missing) == 1 else 'are'} not installed: pip install 'accelkern[report]'")


def _builder(spec: str):
    mod, fn = spec.split(":")
    module = importlib.import_module(f"accelkern.report.{mod}")
    return getattr(module, fn)


def sections(runs: list[Run], notes: list[str] | None = None) -> list[Section]:
    from accelkern.report import header, sidebyside
    two = len(runs) == 2
    out = [Section("header", "Run" + ("s" if two else ""), [header.block(r, notes) for r in runs])]
    if two:
        out.append(Section("compare", "Side by side", [sidebyside.block(*runs)]))
    for sid, title, spec, fills in SECTIONS:
        fn = _builder(spec)
        blocks = []
        for i, run in enumerate(runs):
            b = fn(run.rows, run.header) or Block(missing=f"no data in this run; {fills} fills it")
            b.label = run.label if two else None
            if two:
                for f in b.figures:
                    f.name = f"{f.name}_{'ab'[i]}"
            blocks.append(b)
        s = Section(sid, title, blocks, missing=f"{fills} fills it")
        out.append(s)
    others = [b for b in (header.other_block(r) for r in runs) if b is not None]
    if others:
        out.append(Section("other", "Rows of other commands", others))
    for s in out:
        for b in s.blocks:
            if not two:
                b.label = None
    return out


def page(runs: list[Run], title: str | None = None, notes: list[str] | None = None,
         inputs: list[str] | None = None) -> Page:
    from accelkern import __version__
    if title is None:
        devices = [r.header.get("device") or "unknown device" for r in runs]
        title = "accelkern report: " + " vs ".join(devices)
    sub = "; ".join(r.label for r in runs) if len(runs) == 2 else runs[0].label
    return Page(title, sub, sections(runs, notes), __version__,
                datetime.now(timezone.utc).isoformat(timespec="seconds"), list(inputs or []))


def write_runs(runs: list[Run], out: str, title: str | None = None, notes: list[str] | None = None,
               inputs: list[str] | None = None) -> dict:
    """Renders and writes the page of one run or two (side by side); returns the paths written."""
    from accelkern.report import render
    require()
    return render.write(page(runs, title, notes, inputs), out)


def build(inputs: list[str], out: str, title: str | None = None, merge: bool = False) -> tuple[dict, list[str]]:
    """`accelkern report INPUT...`: ({'html', 'md', 'png'} paths, input problems to tell the user)."""
    require()
    check_output(out)
    sources = load(list(inputs))
    runs = group_runs(sources, merge=merge)
    problems = [p for r in runs for p in r.problems]
    return write_runs(runs, out, title, inputs=list(inputs)), problems


def write_run(header, rows: list, out: str, title: str | None = None, notes: list[str] | None = None) -> dict:
    """The page of rows still in memory (`accelkern validate --report PATH`)."""
    return write_runs([from_memory(header, rows)], out, title, notes, inputs=["this validate run"])
