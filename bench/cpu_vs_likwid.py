"""accelkern's CPU kernels beside likwid-bench, in one run, same threads: the compute-only peak (fp32 and
fp64 FMA against likwid's peakflops kernels) and, with --part memory or all, the memory kernels
(bench/cpu_memory_vs_likwid.py). The peer runs before and after accelkern and its mean is the reference,
since a shared VM drifts between runs. Also FLOP/clk/core at accelkern's measured clock against the rate
table, for every dtype this CPU runs (bf16 and int8 have no likwid kernel: the table is their reference).

    python3 bench/cpu_vs_likwid.py                       # every physical core, compute part
    python3 bench/cpu_vs_likwid.py --part all --out bench/results/cpu_vs_likwid.txt
    python3 bench/cpu_vs_likwid.py --dry-run             # the command lines parse; nothing measured

likwid-bench is a reference, not a dependency: get it with `apt-get install likwid` (Debian/Ubuntu) or
from https://github.com/RRZE-HPC/likwid; without it the peer columns say so and accelkern still runs.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile

import click

from accelkern.cli import cli
from accelkern.results import read_jsonl

LIKWID_HINT = ("likwid-bench not found: install it (Debian/Ubuntu: apt-get install likwid; or "
               "https://github.com/RRZE-HPC/likwid) to set its figures beside accelkern's")
# dtype -> (likwid test, accelkern kernel) per vector width; likwid counts 2 FLOP per FMA, as accelkern does
PEAK_PAIRS = {
    "avx512f": {"fp32": ("peakflops_sp_avx512_fma", "fp32_avx512_fma"),
                "fp64": ("peakflops_avx512_fma", "fp64_avx512_fma")},
    "avx2": {"fp32": ("peakflops_sp_avx_fma", "fp32_avx2_fma"), "fp64": ("peakflops_avx_fma", "fp64_avx2_fma")},
}


def likwid_run(test: str, threads: int, size: str, seconds: float) -> dict | None:
    """MFlops/s and MByte/s of one likwid-bench run, or None with the reason printed."""
    exe = shutil.which("likwid-bench")
    if exe is None:
        return None
    cmd = [exe, "-t", test, "-w", f"S0:{size}:{threads}", "-s", f"{seconds:g}"]
    click.echo("$ " + " ".join(cmd), err=True)
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        click.echo(f"likwid-bench failed: {exc}", err=True)
        return None
    vals = {}
    for key, pat in (("mflops", r"^MFlops/s:\s*([0-9.]+)"), ("mbytes", r"^MByte/s:\s*([0-9.]+)"),
                     ("time_s", r"^Time:\s*([0-9.eE+-]+)")):
        m = re.search(pat, out, re.M)
        if m:
            vals[key] = float(m.group(1))
    return vals or None


def accelkern_json(args: list[str]) -> list:
    """Rows of one accelkern command run in this process (written to a temporary --out directory)."""
    with tempfile.TemporaryDirectory() as d:
        click.echo(f"$ accelkern {' '.join(args)} --out {d}", err=True)
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):   # its table: the files hold it
            try:
                cli.main(args=args + ["--out", d], prog_name="accelkern", standalone_mode=False)
            except SystemExit:
                pass
        files = [f for f in os.listdir(d) if f.endswith(".jsonl")]
        return read_jsonl(os.path.join(d, files[0]))[1] if files else []


def peak_part(facts, threads: int, budget: float, likwid_s: float) -> list[str]:
    from accelkern.peak import cpu_kernels
    width = "avx512f" if "avx512f" in facts.features else "avx2"
    lines = [f"### compute-only peak: accelkern vs likwid-bench ({width} FMA), {threads} thread(s)", "",
             "| dtype | likwid test | likwid before | likwid after | accelkern kernel | accelkern | ratio | "
             "core MHz | FLOP/clk/core | table | % of table |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    have_likwid = shutil.which("likwid-bench") is not None
    for dtype, (test, kernel) in PEAK_PAIRS[width].items():
        before = likwid_run(test, threads, "32kB", likwid_s) if have_likwid else None
        rows = accelkern_json(["peak", "--device", "cpu", "--kernel", kernel, "--threads", str(threads),
                               "--budget", str(budget), "--quick"])
        after = likwid_run(test, threads, "32kB", likwid_s) if have_likwid else None
        best = next((r for r in rows if r.config.get("threads") == threads and r.status == "ok"), None)
        ref = [x["mflops"] for x in (before, after) if x and "mflops" in x]
        ours = best.value * 1e6 if best else None        # TFLOPS -> MFLOPS
        lines.append(_peak_line(dtype, test, before, after, kernel, ours, ref, best))
    lines += ["", "### every dtype against the rate table (no likwid kernel for bf16 and int8), and the FMA+ADD mix",
              "",
              "| kernel | ISA | measured | core MHz | FLOP/clk/core | table | % of table | check |",
              "|---|---|---|---|---|---|---|---|"]
    every = cpu_kernels.all_kernels()
    prefix = "avx512" if width == "avx512f" else "avx2"
    mixes = [k for k in every if k.path == f"{prefix}_fma_add" and not cpu_kernels.unavailable(k, facts)]
    for k in cpu_kernels.fastest_per_dtype(facts, every, lambda k: _rate(facts, k)) + mixes:
        rows = accelkern_json(["peak", "--device", "cpu", "--kernel", k.name, "--threads", str(threads),
                               "--budget", str(budget), "--quick"])
        best = next((r for r in rows if r.config.get("threads") == threads and r.status == "ok"), None)
        if best is None:
            lines.append(f"| {k.name} | {k.isa} | failed | | | | | |")
            continue
        unit = "GOPS" if k.dtype == "int8" else "GFLOPS"
        lines.append(f"| {k.name} | {k.isa} | {best.value * 1e3:.1f} {unit} | {_per_clock(best)} | "
                     f"{best.config.get('check', '')} |")
    return lines


def _rate(facts, k):
    from accelkern import specs
    r = specs.cpu_rate(facts.uarch, k.dtype, k.path)
    return r.flop_per_clk_per_core if r else None


def _per_clock(best) -> str:
    """'core MHz | FLOP/clk/core | table | % of table' cells of a row."""
    t = best.config.get("arch_flop_per_clk_per_core")
    f = best.flop_per_clk_per_sm
    pct = f"{100 * f / t:.1f}%" if t and f else "-"
    return f"{best.sm_clock_mean_mhz or 0:.0f} | {f or 0:.1f} | {t or '-'} | {pct}"


def _peak_line(dtype, test, before, after, kernel, ours, ref, best) -> str:
    fmt = lambda x: f"{x['mflops'] / 1e3:.1f} GFLOPS" if x and "mflops" in x else "-"
    if best is None:
        return f"| {dtype} | {test} | {fmt(before)} | {fmt(after)} | {kernel} | failed | | | | | |"
    mean_ref = sum(ref) / len(ref) if ref else None
    ratio = f"{ours / mean_ref:.3f}" if mean_ref else "-"
    return (f"| {dtype} | {test} | {fmt(before)} | {fmt(after)} | {kernel} | {ours / 1e3:.1f} GFLOPS | {ratio} | "
            f"{_per_clock(best)} |")


@click.command()
@click.option("--part", type=click.Choice(["peak", "memory", "all"]), default="peak", show_default=True,
              help="Compute-only peak, memory kernels, or both.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Threads for both tools (default: one per physical core).")
@click.option("--budget", type=float, default=6.0, show_default=True, help="accelkern peak's budget per kernel (s).")
@click.option("--likwid-seconds", type=float, default=2.0, show_default=True,
              help="likwid-bench's minimum run time per test (its -s).")
@click.option("--out", default=None, help="Also write the report to this file (never over an existing one).")
@click.option("--dry-run", is_flag=True, help="Check the accelkern command lines parse; nothing is measured.")
def main(part, threads, budget, likwid_seconds, out, dry_run):
    from accelkern.hostcpu import facts as cpu_facts, topology
    facts = cpu_facts.cpu_facts()
    cores = topology.one_cpu_per_core()
    threads = threads or len(cores)
    if dry_run or os.environ.get("ACCELKERN_DRY_RUN") == "1":
        click.echo(f"dry run: bench/cpu_vs_likwid.py --part {part} --threads {threads}: options ok")
        return
    if out and os.path.exists(out):
        raise click.BadParameter(f"{out} exists; results are never overwritten", param_hint="--out")
    clock = cpu_facts.measured_clock(facts, cores[:threads])
    lines = [f"# accelkern vs likwid-bench on {facts.model_name} ({facts.uarch_name}, family {facts.family} "
             f"model {facts.model}), {threads} of {len(cores)} physical core(s)", "",
             f"ISA: {' '.join(facts.throughput_features)}; clock before the run: {clock.describe()}", ""]
    if shutil.which("likwid-bench") is None:
        lines += [LIKWID_HINT, ""]
    if part in ("peak", "all"):
        lines += peak_part(facts, threads, budget, likwid_seconds) + [""]
    if part in ("memory", "all"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import cpu_memory_vs_likwid
        lines += cpu_memory_vs_likwid.report_lines(threads=threads) + [""]
    text = "\n".join(lines)
    click.echo(text)
    if out:
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, out)


if __name__ == "__main__":
    main()
