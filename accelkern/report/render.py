"""The page as files: one self-contained HTML (CSS inline, every plot a base64 PNG, no external URL) and
report.md with its PNGs beside it, rendered from jinja2 templates and written atomically (HTML last)."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources

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
    """Refuses an output path whose directory cannot be written, before any input is read."""
    if not str(out).strip():
        raise AccelkernError("--out '': give the HTML file to write, e.g. report.html")
    path = output_paths(out)[0]
    probe = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe) or not os.access(probe, os.W_OK | os.X_OK):
        raise AccelkernError(f"--out {out}: cannot write there ({probe} is not a writable directory)")


def _atomic(path: str, data: bytes):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write(page: Page, out: str) -> dict:
    """Writes the PNGs, report.md and (last) the HTML; returns {'html', 'md', 'png': [...]} paths."""
    html_path, md_path, stem = output_paths(out)
    os.makedirs(os.path.dirname(os.path.abspath(html_path)), exist_ok=True)
    files, pngs = {}, []
    for s in page.present:
        for f in s.figures:
            path = f"{stem}_{f.name}.png"
            _atomic(path, f.png)
            files[f.name] = os.path.basename(path)
            pngs.append(path)
    _atomic(md_path, markdown(page, files).encode())
    _atomic(html_path, html(page).encode())
    return {"html": html_path, "md": md_path, "png": pngs}
