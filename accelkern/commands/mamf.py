"""`accelkern mamf`: maximum achievable matmul FLOPS (logic in accelkern/mamf/)."""
from __future__ import annotations

import os
import time

import click

from accelkern import __version__, outdir, tables
from accelkern.commands.common import EXIT_CODES_HELP, Session, check_out_dir, common_options, dry_run_exit, ignored
from accelkern.errors import AccelkernError
from accelkern.results import ResultWriter, RunHeader, progress, read_results

SHOWN = 10   # measurement rows in the table beside the winners; the files keep every row

MAMF_COLUMNS = (
    tables.Column("phase", lambda r: r.name),
    tables.Column("dtype", lambda r: r.dtype),
    tables.Column("shape", lambda r: r.shape),
    tables.Column("backend", lambda r: r.backend),
    tables.Column("TFLOPS", lambda r: r.value, "{:.4g}"),
    tables.Column("mean-based", lambda r: (r.config or {}).get("mean_tflops"), "{:.4g}"),
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
COMPARE_COLUMNS = (
    tables.Column("shape", lambda r: r.shape),
    tables.Column("ours (mean)", lambda r: r.value, "{:.4g}"),
    tables.Column("mamf-finder (mean)", lambda r: r.config.get("finder_tflops"), "{:.4g}"),
    tables.Column("ours/finder", lambda r: r.config.get("ours_over_finder"), "{:.3f}"),
    tables.Column("mode", lambda r: r.config.get("mode")),
)

HELP = f"""Maximum achievable matmul FLOPS: the best GEMM throughput this device sustains, per dtype.

\b
guided search: wave-aware candidates (1, 2, 3 ... whole waves of each tile the cuBLASLt heuristic uses, or
  --tile, and just under a whole wave; both orientations; K from the largest that fits down), screened
  cheapest first at the largest K, then a surface model picks the shape most likely to beat the best per
  second of measuring. A shape counts as better only by more than the measured spread (at least 1%); the
  search stops when no unmeasured shape is likely to beat the best by that much, or at --budget. With
  --m/--n/--k it measures part of that lattice; --search grid measures all of it.
The top shapes are re-measured (--top x --repeats); the headline is the median-based TFLOPS of the winner
(median of the re-measures), printed beside the mean-based figure that mamf-finder reports.

\b
CPU defaults: sustained mode (cold-cache needs an L2 flush between calls: a CPU falls back to sustained
  and the row says so), torch backend, M, N, K up to 2048, K 512/1024/2048 with --m/--n.

\b
--replay FILE replays a recorded surface (a mamf-finder log or an accelkern mamf JSONL) instead of
  measuring: a replayed shape returns its recorded mean TFLOPS; a shape not recorded is unavailable.
  Cost model: each replayed measurement costs 100 calls at its recorded mean, 100 x 2MNK / TFLOPS
  seconds (re-measures included); --budget counts that cost, and the summary sets it beside the whole
  lattice's. Device facts from the file, else --sms / --tile / --dtype (default 132 SMs, tiles
  128x128, 128x256, 256x128 with clusters 1x1, 2x1, 1x2).
--compare-log LOG sets a mamf-finder run beside ours, shape by shape, and the two winners (ours: this
  run, or --results FILE without measuring).

Every measured shape is appended to the JSONL as it finishes; Ctrl-C prints what was measured and exits
130 with the file intact. {EXIT_CODES_HELP}
"""


def _values(text, what):
    from accelkern.units import parse_int_values
    return parse_int_values(text, what) if text else None


@click.command(help=HELP)
@common_options
@click.option("--dtype", "dtypes", default="bf16", show_default=True, metavar="DTYPE[,DTYPE]",
              help="bf16, fp16, tf32, fp32, fp8 (e4m3), int8; each searched in turn with an equal share of "
                   "--budget.")
@click.option("--search", type=click.Choice(["guided", "grid"]), default="guided", show_default=True,
              help="guided: wave-aware candidates and a surface model with a statistical stop; grid: every "
                   "(M, N, K) of --m/--n/--k.")
@click.option("--backend", type=click.Choice(["cublaslt", "torch"]), default=None,
              help="GEMM path (default: cublaslt when built and on a GPU, else torch).")
@click.option("--mode", type=click.Choice(["cold-cache", "sustained"]), default="cold-cache", show_default=True,
              help="cold-cache (as mamf-finder v2): flush max(2 x L2, 256 MiB) and refill the output from a "
                   "pre-randomised buffer before each call; sustained: back-to-back calls on rotating inputs "
                   "(headline: >= 1 s untimed, then >= 2 s timed). The winner is reported in both on a GPU.")
@click.option("--budget", type=float, default=60.0, show_default=True,
              help="Seconds of wall time for the whole command (warm-up, search, re-measures and the winner's "
                   "other mode; several dtypes share it equally); with --replay, seconds of replayed cost.")
@click.option("--m", "m_range", default=None, metavar="RANGE",
              help="M sizes: START:STOP:STEP (STOP excluded, e.g. 2048:16385:2048), a list 4096,8192, or one "
                   "size. Grid: required; guided: the lattice to search (with --n).")
@click.option("--n", "n_range", default=None, metavar="RANGE", help="N sizes, as --m.")
@click.option("--k", "k_range", default=None, metavar="RANGE",
              help="K sizes, as --m (guided without --m/--n: the K values to try; default: the largest K that "
                   "fits, then a 2^j / 1.5x2^j ladder down to 2048).")
@click.option("--max-dim", type=click.IntRange(min=16), default=None,
              help="Largest M, N or K the guided search may use; bounds K separately when M and N are small "
                   "(default 20480 on a GPU, 2048 on a CPU).")
@click.option("--tile", "tile_text", default=None, metavar="TMxTN[:CMxCN],...",
              help="CTA tiles (and clusters) for the candidates instead of the cuBLASLt heuristic's.")
@click.option("--algos", type=click.IntRange(min=1), default=1, show_default=True,
              help="cuBLASLt: time the heuristic's top K algorithms per shape and keep the best.")
@click.option("--top", type=click.IntRange(min=1), default=3, show_default=True,
              help="Shapes re-measured at the end.")
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Re-measures per top shape; the headline is their median.")
@click.option("--warmup", type=click.FloatRange(min=0), default=15.0, show_default=True,
              help="Most seconds of back-to-back GEMMs before measuring, until the SM clock settles.")
@click.option("--replay", "replay_path", default=None, metavar="FILE",
              help="Replay a recorded surface instead of measuring (see above); not with --device.")
@click.option("--sms", type=click.IntRange(min=1), default=None,
              help="--replay: SM count when the file does not say (default 132).")
@click.option("--compare-log", "compare_path", default=None, metavar="LOG",
              help="A mamf-finder log to set beside our measurements, shape by shape.")
@click.option("--results", "results_path", default=None, metavar="FILE",
              help="--compare-log: our accelkern mamf JSONL (or --out directory) instead of measuring now.")
def mamf(device, spec_name, as_json, as_csv, out, dtypes, search, backend, mode, budget, m_range, n_range,
         k_range, max_dim, tile_text, algos, top, repeats, warmup, replay_path, sms, compare_path, results_path):
    from accelkern import mamf as mf
    from accelkern.mamf import job
    from accelkern.units import split_list
    # every option is checked before any output or file
    if not budget > 0:
        raise AccelkernError(f"--budget {budget:g}: must be a positive number of seconds")
    ms, ns, ks = _values(m_range, "--m"), _values(n_range, "--n"), _values(k_range, "--k")
    job.check_ranges(search, ms, ns, ks, available_only=bool(replay_path))
    wanted = split_list(dtypes)
    bad = [d for d in wanted if d not in mf.MAMF_DTYPES]
    if not wanted or bad:
        raise AccelkernError(f"--dtype '{dtypes}': allowed are {', '.join(mf.MAMF_DTYPES)}")
    tiles = mf.parse_tiles(tile_text) if tile_text else None
    if as_json and as_csv:
        raise AccelkernError("--json and --csv are exclusive; use --out DIR to get every format")
    if results_path and not compare_path:
        raise AccelkernError("--results goes with --compare-log (our run to set beside a mamf-finder log)")
    if sms and not replay_path:
        raise AccelkernError("--sms goes with --replay (a measured run reads the SM count from the device)")
    if replay_path and device:
        raise AccelkernError("--replay replays a recording instead of measuring: it takes no --device")
    if replay_path and results_path:
        raise AccelkernError("--replay and --results exclude each other")
    check_out_dir(out)
    if out:   # a file this run reads is never one it writes
        outdir.refuse_reading_outputs({"--replay": replay_path, "--compare-log": compare_path,
                                       "--results": results_path and _jsonl_path(results_path)},
                                      [os.path.join(out, f"mamf.{ext}") for ext in ("jsonl", "csv", "md")])
    log = _load_log(compare_path) if compare_path else None
    if replay_path:
        rec = _load_replay(replay_path, dtype=wanted[0] if dtypes != "bf16" or len(wanted) > 1 else None)
        dry_run_exit("mamf")
        return _replay(rec, wanted, dtypes, as_json, as_csv, out, search, budget, ms, ns, ks, sms, tiles, top,
                       repeats, log)
    if results_path:
        dry_run_exit("mamf")
        found = _read_ours(_jsonl_path(results_path), "--results")
        return _compare_only(log, found, as_json, as_csv, out)
    t0 = time.monotonic()            # --budget is the wall time of the whole command from here
    s = Session("mamf", device, spec_name, as_json, as_csv, out)
    headlines: list[str] = []
    if (backend or ("cublaslt" if s.info.kind == "cuda" else "torch")) == "torch":
        headlines += ignored(("algos",), "it times cuBLASLt's algorithms; this run uses the torch backend")
    try:
        for i, d in enumerate(wanted):
            try:   # each dtype an equal share of what is left
                share = max(1e-3, (budget - (time.monotonic() - t0)) / (len(wanted) - i))
                res = mf.run(s.info, s.spec, d, s.emit, search=search, backend=backend, mode=mode, budget_s=share,
                             ms=ms, ns=ns, ks=ks, max_dim=max_dim, tiles=tiles, algos=algos, top=top,
                             repeats=repeats, warmup_s=warmup, progress=progress, deadline=t0 + budget)
                headlines.append(mf.headline(res))
            except mf.Unavailable as exc:
                s.emit(mf.Row(suite="mamf", name="MAMF", dtype=d, status="skipped", note=str(exc)))
                headlines.append(f"mamf {d}: skipped: {exc}")
    except KeyboardInterrupt:
        _mamf_finish(s, headlines, interrupted=True)
    _append_compare(s, log, headlines)
    _mamf_finish(s, headlines)


def _load_log(path):
    if _is_jsonl(path):
        raise AccelkernError(f"--compare-log {path}: not a mamf-finder log (give ours with --results)")
    rec = _load_finder(path, None)
    for note in rec.notes:
        progress(f"--compare-log {path}: {note}")
    return rec


def _is_jsonl(path) -> bool:
    """A results JSONL (ours) rather than a mamf-finder log: its first non-blank character opens a record."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return head.lstrip()[:1] == b"{"


def _load_finder(path, dtype):
    """A mamf-finder log as replay reads it; when it yields no shape, the refusal names its damaged lines."""
    from accelkern.mamf import finder_log, replay
    try:
        return replay.load(path, dtype=dtype)
    except AccelkernError as exc:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                notes = [n for n in finder_log.parse(f.read(), path)["notes"] if n.startswith("line ")]
        except OSError:
            notes = []
        if not notes:
            raise
        raise AccelkernError(f"{exc}; damaged: {notes[0]}" + (" ..." if len(notes) > 1 else "")) from None


def _read_ours(path, option):
    """An accelkern mamf JSONL through the one results reader (damaged lines left out; _using names them)."""
    try:
        return read_results(path)
    except OSError as exc:
        raise AccelkernError(f"{option} {path}: cannot read it ({exc.strerror})") from None


def _using(found, option, use):
    """use(found)'s result; its damaged lines and, of a file holding several runs, which run was used are named
    on stderr, or, when use() refuses (nothing usable), in its one error line."""
    try:
        result = use(found)
    except AccelkernError as exc:
        if not found.problems:
            raise
        more = f" and {len(found.problems) - 1} more" if len(found.problems) > 1 else ""
        raise AccelkernError(f"{exc} (damaged: {found.problems[0]}{more})") from None
    for problem in found.problems:
        progress(f"{option} {found.path}: {problem}")
    if found.which():
        progress(f"{option} {found.path}: using {found.which()}")
    return result


def _load_replay(path, dtype):
    """The recording to replay: a mamf-finder log as replay reads it, or our JSONL's latest run with its damaged
    lines left out (named on stderr; the line numbers replay reports stay those of the file)."""
    from accelkern.mamf import replay
    if not _is_jsonl(path):
        return _load_finder(path, dtype)
    found = _read_ours(path, "--replay")
    with open(path, "rb") as f:
        lines = f.read().decode("utf-8", errors="replace").split("\n")
    keep = [line if no >= found.latest.line and no not in found.skipped else ""
            for no, line in enumerate(lines, 1)]
    return _using(found, "--replay", lambda _: replay._from_jsonl(path, "\n".join(keep), dtype))


def _jsonl_path(path):
    import os
    p = os.path.join(path, "mamf.jsonl") if os.path.isdir(path) else path
    if not os.path.isfile(p):
        raise AccelkernError(f"--results {path}: no such file (give an accelkern mamf JSONL or its --out directory)")
    return p


def _compare(log, rows):
    from accelkern.mamf.compare import compare_rows
    return compare_rows(log, rows)


def _append_compare(s, log, lines):
    """With --compare-log: the comparison rows written after this run's, its footer lines added to `lines`."""
    if log is None:
        return
    rows, more = _compare(log, s.writer.rows)
    for r in rows:
        s.writer.write(r)
    lines += more


class _OfflineSession(Session):
    """A Session for work without a device (replay, compare): the header names the recording."""

    def __init__(self, device_name, kind, sms, as_json, as_csv, out):
        outdir.claim(out, "mamf")
        self.command, self.as_json, self.as_csv = "mamf", as_json, as_csv
        self.info, self.spec = None, None
        self.header = RunHeader(command="mamf", device=device_name or "unknown", device_kind=kind, sms=sms,
                                accelkern=__version__,
                                spec_source="none: nothing measured here, no datasheet comparison")
        self.writer = ResultWriter(out, self.header, stem="mamf")
        self.failures = []


def _replay(rec, wanted, dtypes, as_json, as_csv, out, search, budget, ms, ns, ks, sms, tiles, top, repeats, log):
    from accelkern.mamf import replay
    s = _OfflineSession(f"replay of {rec.device or rec.path}", "replay", rec.sms or sms, as_json, as_csv, out)
    dtype = rec.dtype or wanted[0]
    lines = [f"replay note: {n}" for n in rec.notes]
    try:
        res = replay.run_replay(rec, s.writer.write, search=search, budget_s=budget, ms=ms, ns=ns, ks=ks, dtype=dtype,
                                sms=sms, tiles=tiles, top=top, repeats=repeats, progress=progress)
    except KeyboardInterrupt:
        _mamf_finish(s, lines, interrupted=True)
    from accelkern.mamf import headline
    r = res.replay
    lines.insert(0, headline(res))
    share = r.get("winner_share_of_best")
    lines.append(f"replayed cost {r['replayed_cost_s']:.4g} s = {r['cost_share']:.2%} of the lattice's "
                 f"{r['lattice_cost_s']:.4g} s ({r['measurements']} replayed measurements over {r['lattice_shapes']} "
                 f"shapes); lattice best {r['lattice_best_tflops']:.4g} at {r['lattice_best_shape']}"
                 + (f"; winner {share:.2%} of it" if share else "") + f"; {r['facts']}")
    _append_compare(s, log, lines)
    _mamf_finish(s, lines)


def _compare_only(log, found, as_json, as_csv, out):
    cmp_rows, lines = _using(found, "--results", lambda f: _compare(log, f.rows))
    s = _OfflineSession(log.device, "compare", log.sms, as_json, as_csv, out)
    for r in cmp_rows:
        s.writer.write(r)
    s.finish(columns=COMPARE_COLUMNS, footer=lines)


def _mamf_finish(s, headlines, interrupted=False):
    rows = s.writer.rows
    winners = [r for r in rows if r.name == "MAMF"]
    measured = sorted((r for r in rows if r.status == "ok" and r.name not in ("MAMF", "compare")),
                      key=lambda r: -(r.value or 0))
    seen: set = set()
    distinct = [r for r in measured if not ((r.dtype, r.shape) in seen or seen.add((r.dtype, r.shape)))]
    if interrupted and measured:
        headlines = headlines + [f"interrupted after {len(measured)} measurement(s); best so far: "
                                 f"{measured[0].value:.4g} at {measured[0].shape} ({measured[0].dtype})"]
    shown = winners + distinct[:SHOWN]
    hidden = len(rows) - len(shown)
    if hidden > 0:
        where = f"in {s.writer.out_dir}/mamf.jsonl" if s.writer.out_dir else "with --json, --csv or --out DIR"
        headlines = headlines + [f"table: the winner(s) and the {min(SHOWN, len(distinct))} best shapes; "
                                 f"{hidden} more row(s) {where}"]
    s.finish(columns=MAMF_COLUMNS, footer=headlines, interrupted=interrupted, shown=shown)
