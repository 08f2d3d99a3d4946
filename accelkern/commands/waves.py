"""`accelkern waves explain | sweep | staircase` (logic in accelkern/waves.py and waves_sweep.py)."""
from __future__ import annotations

import json

import click

from accelkern.commands.common import Session, check_out_dir, check_plot_path, common_options, dry_run_exit
from accelkern.errors import AccelkernError, NoDevice
from accelkern.results import progress
from accelkern.units import format_value


@click.group("waves")
def waves_group():
    """Tile and wave quantization: why one GEMM shape runs slower than a slightly larger one.

    \b
    explain    tiles, waves, padding waste and nearby faster shapes for one shape (works without a GPU
               when --tile and --sms are given)
    sweep      measure GEMM TFLOPS along M, N or K (or two of them: a heat map) beside the model
    staircase  a synthetic fixed-work kernel: time vs CTA count steps at SMs x CTAs-per-SM
    """


_BACKEND_HELP = ("GEMM backend: cublaslt (the algorithm and its tile are recorded per point), torch (tile unknown: "
                 "the model uses --tile or 128x256), auto = cublaslt on a GPU when built, else torch.")


@waves_group.command("sweep")
@common_options
@click.option("--m", "m_text", default="8192", show_default=True, metavar="VALUES",
              help="M: one value, a list (1024,2048) or START:STOP:STEP with STOP excluded, as Python's range "
                   "(128:8193:128 ends at 8192).")
@click.option("--n", "n_text", default="128:8193:128", show_default=True, metavar="VALUES",
              help="N, as --m (the default: 128, 256, ..., 8192).")
@click.option("--k", "k_text", default="8192", show_default=True, metavar="VALUES", help="K, as --m.")
@click.option("--dtype", default="bf16", show_default=True,
              type=click.Choice(["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8"]), help="GEMM input type.")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "cublaslt", "torch"]),
              help=_BACKEND_HELP)
@click.option("--fixed-algo", is_flag=True,
              help="cuBLASLt: hold one algorithm (the best non-split-K one at the largest shape) across the sweep "
                   "so pure quantization shows; default: what cuBLASLt picks per shape, as users get.")
@click.option("--tile", default=None, metavar="TMxTN",
              help="Tile for the model instead of the backend's (torch reports none; default then 128x256).")
@click.option("--ctas-per-sm", type=click.IntRange(min=1), default=None,
              help="CTAs per SM for the model (default: from cuBLASLt's wavesCount, else 1).")
@click.option("--sms", type=click.IntRange(min=1), default=None, help="SM count for the model (default: the device's).")
@click.option("--cluster", default="1x1", show_default=True, metavar="CMxCN",
              help="Thread-block cluster for the model when --tile is given.")
@click.option("--split-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split-K factor for the model when --tile is given.")
@click.option("--max-time", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Seconds of measuring per point at most (stops earlier at 1% noise of the median).")
@click.option("--plot", "plot_path", default=None, metavar="PNG",
              help="Write the plot here (default: DIR/waves_sweep.png with --out, else no plot).")
@click.option("--no-check", is_flag=True, help="Skip the correctness check (run on each algorithm change).")
def waves_sweep(device, spec_name, as_json, as_csv, out, m_text, n_text, k_text, dtype, backend, fixed_algo, tile,
                ctas_per_sm, sms, cluster, split_k, max_time, plot_path, no_check):
    """Measure GEMM throughput along M, N or K beside the tile/wave model.

    Each point records the algorithm used (tile, cluster, stages, split-K, wavesCount), the model's tiles and
    waves, and its predicted time: ceil(waves) x a per-wave time fitted over the sweep. The footer gives the
    Pearson r of predicted vs measured time (and TFLOPS), algorithm switches and dips; --out DIR writes
    JSONL/CSV/MD, waves_sweep_summary.json and the PNG. JSONL rows are streamed as measured (tiles, waves,
    time at peak); the fitted predictions, known only at the end, are in the CSV/MD and the summary.
    """
    import os
    from accelkern import timing
    from accelkern import waves as wv
    from accelkern import waves_sweep as ws
    from accelkern.device import parse_device
    from accelkern.units import parse_int_values
    ms, ns, ks = (parse_int_values(t, f"--{d}") for t, d in ((m_text, "m"), (n_text, "n"), (k_text, "k")))
    shapes, varying = ws.sweep_shapes(ms, ns, ks)
    if tile:
        wv.parse_pair(tile, "--tile")
    wv.parse_pair(cluster, "--cluster")
    if fixed_algo and backend == "torch":
        raise AccelkernError("--fixed-algo holds one cuBLASLt algorithm; it needs --backend cublaslt")
    if device not in (None, "", "auto"):
        parse_device(device)
    check_out_dir(out)
    check_plot_path(plot_path)
    dry_run_exit("waves_sweep")
    s = Session("waves_sweep", device, spec_name, as_json, as_csv, out)
    setup = ws.gemm_setup(s.info, dtype, backend, tile, ctas_per_sm, sms, cluster, split_k)
    if fixed_algo:
        if setup.backend != "cublaslt":
            raise AccelkernError("--fixed-algo holds one cuBLASLt algorithm; it needs --backend cublaslt")
        big = max(shapes, key=lambda x: x[0] * x[1] * x[2])
        setup.hold(ws.pick_fixed_algo(dtype, *big, s.info.torch_device), big[0], big[1])
        progress(f"fixed algorithm: {ws.algo_label(setup.fixed_algo)} (chosen at {big[0]}x{big[1]}x{big[2]})")
    peak = ws.peak_for(s.info, s.spec, dtype)
    rule = timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=max_time, target_noise=0.01)
    # correctness: every torch point; cuBLASLt once per algorithm met (its check runs a reference GEMM)
    checked = None if setup.backend == "torch" else set()
    points, interrupted = [], False
    try:
        for i, (m, n, k) in enumerate(shapes):
            progress(f"[{i + 1}/{len(shapes)}] {m}x{n}x{k}")
            p = ws.measure_gemm_point(setup, s.info, s.spec, m, n, k, rule, check=not no_check, checked=checked,
                                      peak_tflops=peak)
            points.append(p)
            s.emit(p.row)
    except KeyboardInterrupt:
        interrupted = True
    summary = ws.summarize(points, varying, peak)
    footer = [f"model: {points[0].row.config.get('model_source')}" if points and points[0].ok else ""]
    footer = [f for f in footer if f] + summary.lines()
    meta = {"dtype": dtype, "backend": setup.backend, "fixed_algo": ws.algo_label(setup.fixed_algo)
            if setup.fixed_algo else None, "varying": varying, "device": s.info.name, "sms": setup.sms,
            "peak_tflops": peak}
    if s.writer.out_dir and points:
        where = os.path.join(s.writer.out_dir, "waves_sweep_summary.json")
        try:
            ws.write_summary(where, summary, points, meta)
        except OSError as exc:
            s.failures.append(f"{where}: {exc.strerror or exc}")
    plot_path = plot_path or (os.path.join(s.writer.out_dir, "waves_sweep.png") if s.writer.out_dir else None)
    if plot_path and summary.points >= 2 and varying:
        title = (f"{s.info.name}: {dtype} GEMM " + "x".join(d if d in varying else str(v[0])
                                                             for d, v in (("M", ms), ("N", ns), ("K", ks)))
                 + f", {setup.backend}" + (f", fixed {ws.algo_label(setup.fixed_algo)}" if setup.fixed_algo
                                           else ", per-shape algorithm"))
        footer.append(_plot(lambda: ws.plot_sweep(points, varying[0], summary, plot_path, title) if len(varying) == 1
                            else ws.plot_heatmap(points, varying, summary, plot_path, title), plot_path, s))
    s.finish(columns=ws.table_columns("sweep"), footer=footer, interrupted=interrupted)


def _plot(draw, path: str, s) -> str:
    """Draws a plot after the measuring; a failure is named in one footer line (the results stay written), and
    one the file system refused makes the exit code 1."""
    try:
        draw()
        return f"plot: {path}"
    except (AccelkernError, OSError, ValueError, RuntimeError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        progress(f"plot {path} not written: {why}")
        if isinstance(exc, OSError):
            s.failures.append(f"plot {path}: {exc.strerror or why}")
        return f"PLOT NOT WRITTEN ({path}): {why}; the results above are kept"


@waves_group.command("staircase")
@common_options
@click.option("--ctas-per-sm", "ctas_text", default="1,2,4", show_default=True, metavar="LIST",
              help="CTAs per SM to force (by dynamic shared memory per CTA), comma-separated.")
@click.option("--waves", "n_waves", type=click.IntRange(min=2, max=64), default=4, show_default=True,
              help="Waves to cover: CTA counts up to waves x SMs x CTAs-per-SM.")
@click.option("--per-wave", type=click.IntRange(min=1, max=256), default=8, show_default=True,
              help="Evenly spaced CTA counts per wave, besides both sides of every predicted step.")
@click.option("--iters", type=click.IntRange(min=1), default=8192, show_default=True,
              help="Dependent FFMAs per thread (the fixed work of one CTA; ~4 clock cycles each).")
@click.option("--max-time", type=click.FloatRange(min=0.01), default=0.15, show_default=True,
              help="Seconds of measuring per CTA count at most.")
@click.option("--plot", "plot_path", default=None, metavar="PNG",
              help="Write the plot here (default: DIR/waves_staircase.png with --out, else no plot).")
def waves_staircase(device, spec_name, as_json, as_csv, out, ctas_text, n_waves, per_wave, iters, max_time,
                    plot_path):
    """Time vs CTA count of a fixed-work kernel: a staircase whose steps sit at multiples of SMs x CTAs-per-SM.

    Each CTA is one warp running a dependent FFMA chain (no memory traffic), so co-resident CTAs do not slow
    each other: a wave costs one CTA's time. The model's CTAs per SM is checked against the runtime's
    (cudaOccupancyMaxActiveBlocksPerMultiprocessor) and every step against its predicted CTA count.
    """
    import os
    from accelkern import waves_sweep as ws
    from accelkern.device import parse_device
    from accelkern.units import split_list
    try:
        settings = [int(x) for x in split_list(ctas_text)]
    except ValueError:
        raise AccelkernError(f"--ctas-per-sm '{ctas_text}': give whole numbers like 1,2,4") from None
    if not settings or min(settings) < 1:
        raise AccelkernError(f"--ctas-per-sm '{ctas_text}': give whole numbers >= 1, like 1,2,4")
    if device not in (None, "", "auto"):
        parse_device(device)
    check_out_dir(out)
    check_plot_path(plot_path)
    dry_run_exit("waves_staircase")
    s = Session("waves_staircase", device, spec_name, as_json, as_csv, out)
    if s.info.kind != "cuda":
        raise NoDevice("the staircase runs a CUDA kernel; no CUDA device in this run "
                       "(`accelkern waves explain` works without one)")
    results, footer, interrupted = [], [], False
    try:
        for c in settings:
            results.append(ws.run_staircase(s.info, c, waves_count=n_waves, per_wave=per_wave, iters=iters,
                                            max_time_s=max_time, emit=s.emit, progress=progress))
    except KeyboardInterrupt:
        interrupted = True
    for r in results:
        p = r.plan
        agree = "=" if p.model.ctas_per_sm == p.runtime_ctas_per_sm else "!="
        line = (f"{p.ctas_per_sm} CTA/SM: {p.dynamic_smem} B dynamic smem per CTA; model {p.model.ctas_per_sm} "
                f"{agree} runtime {p.runtime_ctas_per_sm} CTAs/SM; resident {p.resident}")
        if r.fit:
            line += f"; wave {_duration(r.fit.wave_s)}, offset {_duration(r.fit.offset_s)}"
        footer.append(line)
        for st in r.steps:
            footer.append(f"  step {st.wave}->{st.wave + 1} at {st.at_ctas}|{st.at_ctas + 1} CTAs: "
                          f"+{_duration(st.jump_s)} (rise inside the wave {_duration(st.flat_rise_s)}) "
                          f"{'at the predicted CTA count' if st.ok else 'NOT as predicted'}")
        footer.append(f"  verdict: {'every step at the predicted CTA count' if r.steps_ok else 'STEPS DIFFER'}"
                      f"{'' if r.correct else '; CHECK FAILED'}")
    plot_path = plot_path or (os.path.join(s.writer.out_dir, "waves_staircase.png") if s.writer.out_dir else None)
    if plot_path and results:
        title = f"{s.info.name}: staircase kernel ({iters} dependent FFMAs per thread, 32 threads per CTA)"
        footer.append(_plot(lambda: ws.plot_staircase(results, plot_path, title), plot_path, s))
    s.finish(columns=ws.table_columns("staircase"), footer=footer, interrupted=interrupted)


@waves_group.command("explain")
@click.option("--shape", required=True, metavar="MxNxK", help="GEMM shape: C[M,N] = A[M,K] @ B[K,N].")
@click.option("--dtype", default="bf16", show_default=True,
              type=click.Choice(["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8"]), help="GEMM input type.")
@click.option("--tile", default=None, metavar="TMxTN",
              help="Explain this tile (no GPU needed with --sms); default: the tile cuBLASLt picks on this GPU.")
@click.option("--sms", type=click.IntRange(min=1), default=None, help="SM count (default: the GPU's).")
@click.option("--ctas-per-sm", type=click.IntRange(min=1), default=None,
              help="CTAs per SM (default: from cuBLASLt's wavesCount, else 1).")
@click.option("--cluster", default="1x1", show_default=True, metavar="CMxCN",
              help="Thread-block cluster (with --tile).")
@click.option("--split-k", type=click.IntRange(min=1), default=1, show_default=True,
              help="Split-K factor (with --tile).")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True, help="Batch count.")
@click.option("--persistent", is_flag=True, help="Describe a persistent kernel (one CTA per slot looping over tiles).")
@click.option("--peak", "peak_tflops", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak TFLOPS for predicted times (default: the GPU's peak at its max clock, if any).")
@click.option("--measure", is_flag=True, help="Also measure the shape and the suggested ones (needs a GPU).")
@click.option("--backend", default="auto", show_default=True, type=click.Choice(["auto", "cublaslt", "torch"]),
              help="Backend for --measure. " + _BACKEND_HELP)
@click.option("--max-time", type=click.FloatRange(min=0.01), default=0.5, show_default=True,
              help="Seconds of measuring per shape at most (with --measure).")
@click.option("--device", default=None, metavar="cuda|cuda:N|cpu", help="Device (default: cuda when usable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def waves_explain(shape, dtype, tile, sms, ctas_per_sm, cluster, split_k, batch, persistent, peak_tflops, measure,
                  backend, max_time, device, as_json):
    """Why is my shape slow? Tiles, waves, last-wave fill, tile padding waste and nearby faster shapes.

    Without a GPU give the kernel by hand: --tile 128x256 --sms 132 [--ctas-per-sm 1].
    """
    from accelkern import waves as wv
    from accelkern import waves_sweep as ws
    from accelkern.device import parse_device
    from accelkern.units import parse_gemm_shape
    m, n, k = parse_gemm_shape(shape)
    hand = (wv.parse_pair(tile, "--tile") if tile else None), wv.parse_pair(cluster, "--cluster")
    if device not in (None, "", "auto"):
        parse_device(device)
    dry_run_exit("waves_explain")
    algo, source, notes, s = None, "given by hand", (), None
    if measure or tile is None or sms is None:   # by hand (--tile and --sms) no device is touched at all
        import torch
        if device in (None, "", "auto") and not torch.cuda.is_available() or (device or "").startswith("cpu"):
            missing = [o for o, v in (("--tile TMxTN", tile), ("--sms N", sms)) if v is None]
            if missing:
                raise AccelkernError("no CUDA device here: give " + " and ".join(missing)
                                     + " (and --ctas-per-sm) to explain by hand")
            raise NoDevice("no CUDA device here: --measure needs one")
        s = Session("waves_explain", device, None, False, False, None)
        sms = sms or s.info.sm_count
    if hand[0]:
        (tm, tn), (cm, cn) = hand
        launch = wv.Launch(tm, tn, sms, ctas_per_sm or 1, split_k, batch, cm, cn, persistent)
    else:
        gemm = ws._gemm_module()
        algos = gemm.heuristic_algos(dtype, m, n, k, device=s.info.torch_device)
        if not algos:
            raise AccelkernError(f"cuBLASLt offers no {dtype} algorithm for {m}x{n}x{k} here")
        algo = algos[0]
        al = wv.launch_from_algo(algo, m, n, sms, ctas_per_sm, batch)
        launch, source, notes = al.launch, al.source + f" ({ws.algo_label(algo)})", al.notes
        from dataclasses import replace
        launch = replace(launch, persistent=persistent)
        if launch.cluster_size > 1:
            n_cl = ws.active_clusters(s.info, launch.cluster_size, launch.ctas_per_sm)
            if n_cl:
                launch = replace(launch, active_clusters=n_cl)
                notes = tuple(notes) + (f"{n_cl} clusters of {launch.cluster_size} fit at once "
                                        "(cudaOccupancyMaxActiveClusters)",)
    a = wv.analyze(m, n, k, launch)
    if peak_tflops is None and s is not None:
        peak_tflops = ws.peak_for(s.info, s.spec, dtype)
    sugg = wv.suggest_shapes(m, n, k, launch)
    measured = ws.explain_measure(s.info, s.spec, dtype, backend, max_time, a, sugg, progress) if measure else {}
    doc = {"shape": {"m": m, "n": n, "k": k}, "dtype": dtype, "source": source, "notes": list(notes),
           "analysis": a.summary(), "peak_tflops": peak_tflops,
           "predicted_ms": wv.predicted_seconds(a, peak_tflops) * 1e3 if peak_tflops else None,
           "suggestions": [{"dim": x.dim, "value": x.value, "delta": x.delta, "reason": x.reason,
                            "shape": "x".join(map(str, x.shape)), "tiles": x.analysis.tiles,
                            "waves": x.analysis.waves, "time_ratio": x.time_ratio, "gain": x.gain,
                            **measured.get(x.shape, {})} for x in sugg],
           "measured": measured.get((m, n, k))}
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    e = click.echo
    e(f"shape       {m}x{n}x{k} (M x N x K) {dtype}" + (f", batch {batch}" if batch > 1 else ""))
    e(f"kernel      tile {launch.tile}" + (f", split-K {launch.split_k}" if launch.split_k > 1 else "")
      + (f", cluster {launch.cluster_m}x{launch.cluster_n}" if launch.cluster_size > 1 else "")
      + f" - {source}")
    for note in notes:
        e(f"note        {note}")
    for line in wv.describe(a):
        e(line)
    if peak_tflops:
        t = wv.predicted_seconds(a, peak_tflops)
        e(f"predicted   {_duration(t)} at {format_value(peak_tflops, 'TFLOPS')} peak per wave -> "
          f"{format_value(wv.tflops(a.useful_flops, t), 'TFLOPS')} useful (the quantization ceiling)")
    base_meas = measured.get((m, n, k))
    if base_meas:
        e(f"measured    {_duration(base_meas['measured_ms'] * 1e-3)}, "
          f"{format_value(base_meas['measured_tflops'], 'TFLOPS')} "
          f"({base_meas['algorithm']})")
    if not sugg:
        e("nearby      no shape within one wave does better: tiles and waves are already well filled")
        return
    e("")
    e("nearest faster shapes (same per-tile speed assumed; gain = useful TFLOPS vs this shape):")
    e(suggestion_table(sugg, measured))


def _duration(seconds: float) -> str:
    """4 significant figures in us, ms or s; whole seconds with thousands separators past 10^4 s."""
    if seconds < 0:
        return "-" + _duration(-seconds)
    if seconds < 1e-3:
        return f"{seconds * 1e6:.4g} us"
    if seconds < 1:
        return f"{seconds * 1e3:.4g} ms"
    return f"{seconds:.4g} s" if seconds < 1e4 else f"{seconds:,.0f} s"


def suggestion_table(sugg, measured: dict) -> str:
    """The suggestions of `waves explain` as a table whose columns are as wide as their content."""
    from accelkern.tables import Column, text_table
    meas = lambda key: (lambda x: (measured.get(x.shape) or {}).get(key))
    cols = [Column("dim", lambda x: x.dim), Column("value", lambda x: x.value),
            Column("change", lambda x: x.delta, "{:+d}"), Column("tiles", lambda x: x.analysis.tiles),
            Column("waves", lambda x: x.analysis.waves, "{:.2f}"), Column("time", lambda x: x.time_ratio, "x{:.2f}"),
            Column("gain", lambda x: x.gain, "x{:.3f}")]
    if measured:
        cols += [Column("meas time", meas("measured_time_ratio"), "x{:.2f}"),
                 Column("meas gain", meas("measured_gain"), "x{:.3f}")]
    cols.append(Column("why", lambda x: x.reason))
    return text_table(sugg, cols)
