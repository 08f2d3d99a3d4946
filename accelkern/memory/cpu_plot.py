"""The CPU sweep's PNG: bandwidth vs working set per kernel, the plateaus found (shaded, named), the boundaries
found beside the sysfs cache sizes, and the pointer-chase latency on a second axis."""
from __future__ import annotations

import io
import os

from accelkern import safe_io
from accelkern.memory.plot import pyplot
from accelkern.units import format_bytes


def plot_cpu_sweep(sweeps: list, sysfs: list[tuple[int, int]], threads: int, path: str, title: str,
                   theoretical_gbs: float | None = None) -> str | None:
    """Writes the PNG; returns its path, or None when matplotlib is missing (said on stderr). A failure to
    write raises: the caller keeps its rows and names the failure."""
    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(10, 5.8))
    try:
        xs = []
        for sw in sweeps:
            pts = sorted(sw.points, key=lambda p: p.working_set)
            if not pts:
                continue
            x = [p.working_set for p in pts]
            xs += x
            line, = ax.plot(x, [p.tbps * 1e3 for p in pts], marker="o", ms=3, label=f"{sw.kernel} (GB/s)")
            loose = [p for p in pts if not p.settled]
            if loose:
                ax.plot([p.working_set for p in loose], [p.tbps * 1e3 for p in loose], ls="none", marker="o", ms=7,
                        mfc="none", color=line.get_color(), label=f"{sw.kernel}: not settled")
        first = sweeps[0] if sweeps else None
        if first is not None and first.levels is not None:
            for i, p in enumerate(first.levels.plateaus):
                ax.axvspan(p.lo_bytes, p.hi_bytes, color=f"C{(i % 8) + 2}", alpha=0.10)
                mid = (p.lo_bytes * p.hi_bytes) ** 0.5
                ax.annotate(f"{p.label}\n{p.value * 1e3:.4g} GB/s", xy=(mid, p.value * 1e3),
                            xytext=(0, 12), textcoords="offset points", ha="center", fontsize=8)
            for b in first.levels.boundaries:
                ax.axvline(b.bytes, color="grey", ls=":", lw=1)
        for lvl, size in sysfs:
            ax.axvline(size, color="tab:red", ls="--", lw=0.9, alpha=0.7)
            ax.annotate(f"sysfs L{lvl} {format_bytes(size)}", xy=(size, 1), xycoords=("data", "axes fraction"),
                        xytext=(3, -12), textcoords="offset points", fontsize=7, color="tab:red", rotation=90,
                        va="top")
        if theoretical_gbs:
            ax.axhline(theoretical_gbs, color="black", ls="--", lw=1,
                       label=f"theoretical DRAM {theoretical_gbs:.4g} GB/s")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel(f"working set (bytes all {threads} thread(s)' arrays take)")
        ax.set_ylabel("GB/s (explicit loads + stores)")
        lat = [p for p in (first.latency if first is not None else []) if p.ns]
        if lat:
            ax2 = ax.twinx()
            ax2.plot([p.size * threads for p in lat], [p.ns for p in lat], color="black", marker="x", ms=4, lw=0.8,
                     label="latency, one thread (ns)")
            ax2.set_yscale("log")
            ax2.set_ylabel("pointer-chase latency per load (ns, one thread over working set / threads)")
            ax2.legend(fontsize=8, loc="lower left")
        ax.set_title(title, fontsize=10)
        if xs:
            ticks = [t for t in (1 << e for e in range(10, 44, 2)) if min(xs) / 2 <= t <= max(xs) * 2]
            ax.set_xticks(ticks)
            ax.set_xticklabels([format_bytes(t) for t in ticks], rotation=30, fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        fig.tight_layout()
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
        safe_io.atomic_write(path, buf.getvalue())   # whole or not at all
    finally:
        plt.close(fig)
    return path
