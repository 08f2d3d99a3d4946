"""The sweep's PNG: bandwidth vs working set, one line per kernel, the cache size, the spec and each
transition marked; unsettled points drawn hollow."""
from __future__ import annotations

import io
import os

from accelkern import safe_io
from accelkern.memory.sweep import cache_transition
from accelkern.units import format_bytes


def pyplot():
    """matplotlib.pyplot on the Agg backend, or None when matplotlib is missing (said on stderr)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from accelkern.results import progress
        progress("plot skipped: matplotlib is not installed (pip install matplotlib, or accelkern[plot])")
        return None
    return plt


def plot_sweep(series: dict, cache_bytes: int | None, spec_tbps: float | None, path: str, title: str,
               cache_label: str = "L2") -> str | None:
    """PNG of bandwidth (TB/s, read+write counted) vs working set, one line per kernel, the cache size and
    the spec marked. Returns the path, or None when matplotlib is missing (the reason goes to stderr).
    A failure to write raises (OSError or matplotlib's own): the caller keeps its results and names it."""
    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(9, 5.5))
    try:
        for kernel, pts in series.items():
            pts = sorted(pts, key=lambda p: p.working_set)
            if not pts:
                continue
            line, = ax.plot([p.working_set for p in pts], [p.tbps for p in pts], marker="o", ms=3, label=kernel)
            loose = [p for p in pts if not p.settled]
            if loose:
                ax.plot([p.working_set for p in loose], [p.tbps for p in loose], ls="none", marker="o", ms=7,
                        mfc="none", color=line.get_color(), label=f"{kernel}: not settled (too few samples)")
            tr = cache_transition(pts)
            if tr:
                ax.axvline(tr, color="grey", ls=":", lw=0.8)
        if cache_bytes:
            ax.axvline(cache_bytes, color="tab:red", ls="--", lw=1, label=f"{cache_label} {format_bytes(cache_bytes)}")
        if spec_tbps:
            ax.axhline(spec_tbps, color="black", ls="--", lw=1, label=f"spec {spec_tbps:.4g} TB/s")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("working set (bytes one pass touches, all buffers)")
        ax.set_ylabel("TB/s (read + write counted)")
        ax.set_title(title, fontsize=10)
        ticks = [1 << e for e in range(10, 44, 2)]
        xs = [p.working_set for pts in series.values() for p in pts]
        if xs:
            ticks = [t for t in ticks if min(xs) / 2 <= t <= max(xs) * 2]
            ax.set_xticks(ticks)
            ax.set_xticklabels([format_bytes(t) for t in ticks], rotation=30, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        safe_io.atomic_write(path, buf.getvalue())   # whole or not at all
    finally:
        plt.close(fig)
    return path
