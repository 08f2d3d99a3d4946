"""`accelkern mamf`: maximum achievable matmul FLOPS (logic in accelkern/mamf.py)."""
from __future__ import annotations

import click

from accelkern import tables
from accelkern.commands.common import Session, common_options
from accelkern.errors import AccelkernError
from accelkern.results import progress


MAMF_COLUMNS = (
    tables.Column("phase", lambda r: r.name),
    tables.Column("dtype", lambda r: r.dtype),
    tables.Column("shape", lambda r: r.shape),
    tables.Column("backend", lambda r: r.backend),
    tables.Column("TFLOPS", lambda r: r.value, "{:.4g}"),
    tables.Column("best", lambda r: r.value_best, "{:.4g}"),
    tables.Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
    tables.Column("tile", lambda r: (r.config or {}).get("tile")),
    tables.Column("cluster", lambda r: (r.config or {}).get("cluster")),
    tables.Column("waves", lambda r: (r.config or {}).get("waves"), "{:.2f}"),
    tables.Column("mode", lambda r: (r.config or {}).get("mode")),
    tables.Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
    tables.Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
    tables.Column("throttle", lambda r: r.throttle),
    tables.Column("ok", lambda r: r.correct),
)


@click.command()
@common_options
@click.option("--dtype", "dtypes", default="bf16", show_default=True, metavar="DTYPE[,DTYPE]",
              help="bf16, fp16, tf32, fp32, fp8 (e4m3), int8; each searched in turn with the full budget.")
@click.option("--search", type=click.Choice(["guided", "grid"]), default="guided", show_default=True,
              help="guided: candidates from the tile/wave model, then local refinement; grid: every "
                   "(M, N, K) of --m/--n/--k.")
@click.option("--backend", type=click.Choice(["cublaslt", "torch"]), default=None,
              help="GEMM path (default: cublaslt when built and on a GPU, else torch).")
@click.option("--mode", type=click.Choice(["cold-cache", "sustained"]), default="cold-cache", show_default=True,
              help="cold-cache: L2 flushed and output re-randomised before each call; sustained: back-to-back "
                   "calls on rotating inputs. The winner is reported in both.")
@click.option("--budget", type=float, default=60.0, show_default=True,
              help="Seconds of measuring for the search (warm-up and re-measures come on top).")
@click.option("--m", "m_range", default=None, metavar="RANGE",
              help="M sizes: start:stop:step (stop excluded), a list 4096,8192, or one size. Grid: required.")
@click.option("--n", "n_range", default=None, metavar="RANGE", help="N sizes, as --m.")
@click.option("--k", "k_range", default=None, metavar="RANGE",
              help="K sizes, as --m (guided: the K values to try; default 4096,8192,16384 on a GPU).")
@click.option("--max-dim", type=click.IntRange(min=16), default=None,
              help="Largest M, N or K the guided search may use (default 20480 on a GPU, 4096 on a CPU).")
@click.option("--algos", type=click.IntRange(min=1), default=1, show_default=True,
              help="cuBLASLt: time the heuristic's top K algorithms per shape and keep the best.")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True,
              help="Shapes re-measured at the end.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Re-measures per top shape; the headline is their median.")
@click.option("--warmup", type=click.FloatRange(min=0), default=15.0, show_default=True,
              help="Most seconds of back-to-back GEMMs before measuring, until the SM clock settles.")
def mamf(device, spec_name, as_json, as_csv, out, dtypes, search, backend, mode, budget, m_range, n_range,
         k_range, max_dim, algos, top, repeats, warmup):
    """Maximum achievable matmul FLOPS: the best GEMM throughput this device sustains, per dtype.

    Every measured shape is appended to the JSONL as it finishes; Ctrl-C prints what was measured and
    exits 130 with the file intact.
    """
    from accelkern import mamf as mf
    from accelkern.units import split_list
    ms = mf.parse_dim_list(m_range, "m") if m_range else None
    ns = mf.parse_dim_list(n_range, "n") if n_range else None
    ks = mf.parse_dim_list(k_range, "k") if k_range else None
    wanted = split_list(dtypes)
    bad = [d for d in wanted if d not in mf.MAMF_DTYPES]
    if not wanted or bad:
        raise AccelkernError(f"--dtype '{dtypes}': allowed are {', '.join(mf.MAMF_DTYPES)}")
    s = Session("mamf", device, spec_name, as_json, as_csv, out)
    headlines: list[str] = []
    try:
        for d in wanted:
            try:
                res = mf.run(s.info, s.spec, d, s.emit, search=search, backend=backend, mode=mode, budget_s=budget,
                             ms=ms, ns=ns, ks=ks, max_dim=max_dim, algos=algos, top=top, repeats=repeats,
                             warmup_s=warmup, progress=progress)
                headlines.append(mf.headline(res))
            except mf.Unavailable as exc:
                s.emit(mf.Row(suite="mamf", name="MAMF", dtype=d, status="skipped", note=str(exc)))
                headlines.append(f"mamf {d}: skipped: {exc}")
    except KeyboardInterrupt:
        _mamf_finish(s, headlines, interrupted=True)
    _mamf_finish(s, headlines)


def _mamf_finish(s, headlines, interrupted=False):
    rows = s.writer.rows
    winners = [r for r in rows if r.name == "MAMF"]
    measured = sorted((r for r in rows if r.status == "ok" and r.name != "MAMF"), key=lambda r: -(r.value or 0))
    if interrupted and measured:
        headlines = headlines + [f"interrupted after {len(measured)} measurement(s); best so far: "
                                 f"{measured[0].value:.4g} at {measured[0].shape} ({measured[0].dtype})"]
    # the table shows the winners and the 10 best measurements; the files and --json/--csv keep every row
    s.finish(columns=MAMF_COLUMNS, footer=headlines, interrupted=interrupted, shown=winners + measured[:10])
