"""The page as files: one self-contained HTML (CSS inline, every plot a base64 PNG, no external URL) and
report.md with its PNGs beside it, rendered from jinja2 templates and written atomically (HTML last)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources

from accelkern import safe_io
from accelkern.errors import AccelkernError

_NUMERIC = re.compile(r"^[-+]?\d[\d.,]*(e[-+]?\d+)?( ?[%a-zA-Z/]{0,7})?$")


@dataclass
class Page:
    title: str
    subtitle: str
    sections: list
    version: str
    generated: str
    inputs: list = field(default_factory=list)

    @property
    def present(self) -> list:
        return [s for s in self.sections if s.present]

    @property
    def absent(self) -> list:
        return [s for s in self.sections if not s.present and s.missing]


def _env(html: bool):
    try:
        import jinja2
    except ImportError:
        raise AccelkernError("the report renders its page with jinja2, which is not installed: "
                             "pip install 'accelkern[report]'") from None
    env = jinja2.Environment(loader=jinja2.PackageLoader("accelkern.report", "templates"),
                             autoescape=html, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True)
    env.tests["numeric_cell"] = lambda c: isinstance(c, str) and len(c) < 24 and bool(_NUMERIC.match(c))
    env.filters["md"] = md_escape
    env.filters["md_table"] = md_table
    return env


def md_escape(text) -> str:
    return str(text).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]").replace("\n", " ")


def md_table(t) -> str:
    head = list(t.head) if any(t.head) else [""] * len(t.head)
    lines = ["| " + " | ".join(md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    for i, row in enumerate(t.rows):
        cells = [md_escape(c) for c in row]
        if t.flagged and i < len(t.flagged) and t.flagged[i]:
            cells = [f"**{c}**" if c else c for c in cells]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def html(page: Page) -> str:
    css = resources.files("accelkern.report").joinpath("templates/report.css").read_text()
    return _env(True).get_template("report.html.j2").render(page=page, css=css)


def markdown(page: Page, files: dict) -> str:
    return _env(False).get_template("report.md.j2").render(page=page, files=files)


def output_paths(out: str) -> tuple[str, str, str]:
    """(html path, md path, stem for the PNGs): a path ending in .html/.htm is the page, any other a directory
    (DIR/report.html)."""
    out = str(out)
    root, ext = os.path.splitext(out)
    if os.path.isdir(out) or ext.lower() not in (".html", ".htm"):
        out = os.path.join(out, "report.html")
        root = os.path.splitext(out)[0]
    return out, root + ".md", root


def check_output(out: str) -> None:
    """Refuses an output path whose directory cannot be written, or whose markdown would replace the markdown
    of a results file (DIR/gemm.html writes DIR/gemm.md), before any input is read."""
    if not str(out).strip():
        raise AccelkernError("--out '': give the HTML file to write, e.g. report.html")
    path, md, _stem = output_paths(out)
    if os.path.exists(os.path.splitext(md)[0] + ".jsonl"):
        raise AccelkernError(f"--out {out}: its markdown {md} would replace the markdown of the results "
                             f"{os.path.splitext(md)[0]}.jsonl; give the page another name")
    probe = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise AccelkernError(f"--out {out}: cannot write there ({probe} is not a writable directory)")


def _atomic(path: str, data: bytes, done: list):
    try:
        safe_io.atomic_write(path, data)
    except OSError as exc:
        kept = f"{len(done)} file(s) of the page written ({', '.join(os.path.basename(p) for p in done)})" if done \
            else "nothing of the page written"
        raise safe_io.WriteFailed(f"could not write {path} ({safe_io.why(exc)}): {kept}; the results it reads are "
                                  "untouched") from None
    done.append(path)


def write(page: Page, out: str) -> dict:
    """Writes the PNGs, report.md and (last) the HTML, each whole or not at all; returns {'html', 'md', 'png':
    [...]} paths. safe_io.WriteFailed (exit 1, one line) when the file system refuses one."""
    html_path, md_path, stem = output_paths(out)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(html_path)), exist_ok=True)
    except OSError as exc:
        raise safe_io.WriteFailed(f"could not make the directory of {html_path} ({safe_io.why(exc)})") from None
    files, pngs, done = {}, [], []
    for s in page.present:
        for f in s.figures:
            path = f"{stem}_{f.name}.png"
            _atomic(path, f.png, done)
            files[f.name] = os.path.basename(path)
            pngs.append(path)
    _atomic(md_path, markdown(page, files).encode(), done)
    _atomic(html_path, html(page).encode(), done)
    return {"html": html_path, "md": md_path, "png": pngs}
