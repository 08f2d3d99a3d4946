"""`accelkern hbm`: memory bandwidth (logic in accelkern/memory/)."""
from __future__ import annotations

import os

import click

from accelkern import _cpu_ext, _ext, tables
from accelkern.commands.common import (Session, check_out_dir, check_plot_path, common_options, dry_run_exit,
                                       ignored, track)
from accelkern.errors import AccelkernError, NoDevice
from accelkern.results import progress
from accelkern.units import format_bytes, format_value


def _hbm_launch(r):
    c = r.config or {}
    if "threads" not in c:
        return r.backend if r.status == "ok" else None
    return f"v{c['vec']} {c['blocks']}x{c['threads']} u{c['unroll']}"


def _hbm_note(r):
    if r.status != "ok":
        return f"{r.status}: {r.note or ''}".strip()
    return r.note or ""


def _rate(get):
    return lambda r: None if get(r) is None else format_value(get(r), r.metric or "TB/s")


def _bytes(key):
    return lambda r: None if (r.config or {}).get(key) is None else format_bytes(r.config[key])


HBM_COLUMNS = (
    tables.Column("kernel", lambda r: r.name),
    tables.Column("hint", lambda r: (r.config or {}).get("hint")),
    tables.Column("size", lambda r: r.shape),
    tables.Column("launch", _hbm_launch),
    tables.Column("rd+wr", _rate(lambda r: r.value)),
    tables.Column("1-dir", _rate(lambda r: r.one_direction)),
    tables.Column("best", _rate(lambda r: r.value_best)),
    tables.Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
    tables.Column("% theo", lambda r: r.pct_of_theoretical, "{:.1f}"),
    tables.Column("spread", lambda r: r.rel_stddev, "{:.1%}"),
    tables.Column("busy", lambda r: getattr(r, "busy_fraction", None), "{:.0%}"),
    tables.Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
    tables.Column("mem MHz", lambda r: r.mem_clock_mean_mhz, "{:.0f}"),
    tables.Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
    tables.Column("throttle", lambda r: r.throttle),
    tables.Column("ok", lambda r: r.correct),
    tables.Column("note", _hbm_note),
)

HBM_SWEEP_COLUMNS = (
    HBM_COLUMNS[0], HBM_COLUMNS[1],
    tables.Column("size", _bytes("bytes_per_buffer")),
    tables.Column("working set", _bytes("working_set_bytes")),
    tables.Column("passes", lambda r: (r.config or {}).get("passes")),
    tables.Column("samples", lambda r: r.samples),
    tables.Column("settled", lambda r: (r.config or {}).get("timing_settled")),
) + tuple(c for c in HBM_COLUMNS[3:] if c.title not in ("1-dir", "% theo", "busy", "mem MHz"))  # room for the note


@click.command()
@common_options
@click.option("--kernel", "kernels", default=None, metavar="NAME[,NAME]",
              help="Kernels to run: copy, read, write, triad (own kernels; torch ops on a CPU), ce (cudaMemcpyAsync "
                   "device-to-device), torch (Tensor.copy_, the reference), h2d / d2h (pinned host <-> device). "
                   "Default: all on a GPU, copy,read,write,triad on a CPU; with --sweep: read.")
@click.option("--size", default=None, metavar="SIZE",
              help="Bytes per buffer, e.g. 2GiB, 512MiB, 1000003 (default 2GiB on a GPU; on a CPU 8x the caches the "
                   "CPUs in use can reach (sysfs, bounded to what is plausible), >= 64MiB, with at most 2GiB and a "
                   "quarter of free memory per working set). Any byte count: the part past the last whole vector is "
                   "done by scalar code; triad rounds down to whole fp32 elements and says so in the row.")
@click.option("--vec", "vecs", default="16", show_default=True, metavar="4|8|16[,..]",
              help="Bytes each thread moves per access (own kernels on a GPU); several run one after another.")
@click.option("--hint", "hints", default=None, metavar="default|stream|l2[,..]",
              help="Cache hint of the own kernels: default (plain ld/st; loads L1-cached), stream (ld/st.global.cs, "
                   "evict-first), l2 (ld/st.global.cg: L2 only, never L1). Default: default,stream; with --sweep l2 "
                   "(the sweep uses the first one listed; another one's rows say L1 may serve them).")
@click.option("--threads", type=int, default=None,
              help="GPU: threads per block, a multiple of 32 up to 1024 (default 512). CPU: pinned threads, one per "
                   "physical core (default: every physical core this process may use; at most that many).")
@click.option("--isa", default=None, metavar="avx512|avx2|scalar",
              help="CPU only: the instruction path of accelkern's memory kernels (default: the widest this CPU has).")
@click.option("--blocks-per-sm", type=int, default=None,
              help="Blocks per SM; grid = SMs x this (default: as many as are resident at once, from the occupancy "
                   "API).")
@click.option("--unroll", type=int, default=None,
              help="Independent accesses in flight per thread and input: 1, 2, 4 or 8 (default: the smallest >= 2 "
                   "that puts 128 KiB of loads in flight per SM).")
@click.option("--tune", is_flag=True,
              help="First search the launch shape per own kernel (unroll, threads, blocks per SM, hint; a few seconds "
                   "each), then measure with the shape picked; the picks are printed below the table "
                   "(--threads, --blocks-per-sm and --unroll are not used then).")
@click.option("--sweep", is_flag=True,
              help="Bandwidth vs size from --sweep-min to --sweep-max for the chosen kernel(s), one buffer set reused "
                   "('hot'), so sizes within the L2 show the L2 plateau and larger ones HBM; writes a PNG plot.")
@click.option("--sweep-min", default=None, metavar="SIZE",
              help="Smallest sweep size: per buffer on a GPU (default 1MiB); per thread on a CPU, all its arrays "
                   "(default 16KiB).")
@click.option("--sweep-max", default=None, metavar="SIZE",
              help="Largest sweep size: per buffer on a GPU (default 4GiB); per thread on a CPU (default: all threads "
                   "together 8x the last-level cache).")
@click.option("--steps", type=click.IntRange(1, 16), default=2, show_default=True, help="Sweep sizes per doubling.")
@click.option("--plot", "plot_path", default=None, metavar="PATH",
              help="Sweep plot PNG (default DIR/hbm_sweep.png with --out, else ./hbm_sweep.png); checked for "
                   "writability before measuring.")
@click.option("--time", "time_s", type=click.FloatRange(min=0.05), default=None,
              help="Most seconds of timing per measurement (default 2 on a GPU, 0.75 on a CPU, half of it for the "
                   "torch cross-checks; it stops earlier once the median is known within 0.5%; a sweep size gets a "
                   "quarter of it, at least 0.1 s). Rows that stop with too few samples or unconverged say so.")
def hbm(device, spec_name, as_json, as_csv, out, kernels, size, vecs, hints, threads, isa, blocks_per_sm, unroll, tune,
        sweep, sweep_min, sweep_max, steps, plot_path, time_s):
    """Memory bandwidth: copy, read, write and triad kernels, the copy engine and host links, vs the spec.

    Every row gives bytes read and written per call, the rate counting both (STREAM style), the one-direction
    rate (nvbandwidth style), % of the datasheet and % of memory clock x bus width x 2. Buffers default to 2 GiB
    on a GPU and are rotated or flushed so that no call is served from the L2 (except in --sweep, on purpose).
    """
    from accelkern import memory as mem
    from accelkern import timing
    from accelkern.device import parse_device, resolve_device
    from accelkern.units import parse_size

    # every option checked before any device is touched (and before ACCELKERN_DRY_RUN exits)
    if device not in (None, "", "auto"):
        parse_device(device)
    if tune and sweep:
        raise AccelkernError("--tune and --sweep are separate runs; pick one")
    on_cpu = (parse_device(device)[0] if device not in (None, "", "auto") else resolve_device(device)) == "cpu"
    if on_cpu and _cpu_ext.load() is not None:
        mem.parse_choices(vecs, mem.VECS, "--vec", [16])   # a GPU option, still refused when malformed
        _cpu_hbm(device, spec_name, as_json, as_csv, out, kernels, size, hints, threads, isa, tune, sweep, sweep_min,
                 sweep_max, steps, plot_path, time_s)
        return
    if isa:
        raise AccelkernError("--isa chooses the instruction path of accelkern's CPU kernels (--device cpu"
                             + ("" if not on_cpu else f"; {_cpu_ext.error()}") + ")")
    time_s = time_s or 2.0
    sweep_min = sweep_min or "1MiB"
    mem.parse_kernels(kernels, "cuda", sweep=sweep)
    vec_list = mem.parse_choices(vecs, mem.VECS, "--vec", [16])
    hint_list = mem.parse_choices(hints, tuple(mem.HINTS), "--hint",
                                  [mem.HOT_HINT] if sweep else list(mem.COLD_HINTS))
    if tune and sweep:
        raise AccelkernError("--tune and --sweep are separate runs; pick one")
    if as_json and as_csv:
        raise AccelkernError("--json and --csv are exclusive; use --out DIR to get every format")
    nbytes = parse_size(size) if size else None
    lo = parse_size(sweep_min)
    hi = parse_size(sweep_max) if sweep_max else None
    if sweep and hi is not None:
        mem.sweep_sizes(lo, hi, steps)  # a bad range is refused here, before any file is opened
    check_out_dir(out)
    path = (plot_path or os.path.join(out or ".", "hbm_sweep.png")) if sweep else None
    check_plot_path(path)
    dry_run_exit("hbm")

    dev = resolve_device(device)
    kind = dev.split(":")[0]
    names = mem.parse_kernels(kernels, kind, sweep=sweep)
    if kind != "cuda" and all(k in mem.CUDA_ONLY for k in names):   # refused before any file is touched
        raise NoDevice(f"--kernel {kernels}: needs a CUDA device; this run is on {dev}")
    if kind == "cuda" and hi is None:
        hi = 4 << 30
    if kind == "cuda" and nbytes is None:
        nbytes = mem.DEFAULT_SIZE
    check_size = hi if sweep else nbytes
    if check_size is not None:  # refuse before anything is measured or written
        for k in names:
            mem.require_memory(k, mem.traffic(k, check_size), dev)

    s = Session("hbm_sweep" if sweep else "hbm", device, spec_name, as_json, as_csv, out)
    info = s.info
    if nbytes is None:
        nbytes = mem.default_size(info, names)
    own_cuda = info.kind == "cuda" and _ext.load() is not None
    if not own_cuda:
        vec_list, hint_list = vec_list[:1], hint_list[:1]
    rule = timing.StopRule(max_time_s=time_s)
    footer = []
    if not own_cuda:
        footer += ignored(("tune", "threads", "blocks_per_sm", "unroll", "vecs", "hints"),
                          "they apply to the own CUDA kernels; "
                          + ("torch backend on " + info.kind if info.kind != "cuda" else _ext.error()))
    if sweep:
        _sweep(s, mem, info, names, vec_list, hint_list, own_cuda, lo, hi, steps, threads, blocks_per_sm, unroll,
               time_s, path, footer)
        return
    jobs = []
    for k in names:
        if k in mem.OWN_KERNELS and own_cuda:
            jobs += [(k, v, None) for v in vec_list] if tune else [(k, v, h) for v in vec_list for h in hint_list]
        else:
            jobs.append((k, None, None))
    try:
        for k, v, h in track(jobs, "hbm"):
            if v is None:
                s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule))
            elif h is None:  # --tune
                progress(f"tuning {k} v{v} at {format_bytes(nbytes)} ...")
                tr = mem.tune_kernel(k, nbytes, info, s.spec, vec=v, hints=tuple(hint_list), progress=progress)
                footer.append(tr.summary())
                s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule, shape=tr.best,
                                      extra_config={"tuned": True, "tune_tried": len(tr.tried)}))
            else:
                s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule, vec=v, hint=h, threads=threads,
                                      blocks_per_sm=blocks_per_sm, unroll=unroll))
    except KeyboardInterrupt:
        s.finish(columns=HBM_COLUMNS, footer=footer, interrupted=True)
        return
    footer += mem.summary_lines(s.writer.rows, info)
    s.finish(columns=HBM_COLUMNS, footer=footer)


def _plot(s, footer, path, draw):
    """Draws a sweep's PNG (draw() returns its path, or None when matplotlib is missing). Any failure keeps
    the measured rows: it is named in the footer and on stderr; a file system refusal also fails the run."""
    try:
        written = draw()
        if written:
            footer.append(f"plot: {written}")
    except Exception as exc:  # noqa: BLE001 - any plotting failure: the measured rows are kept regardless
        why = f"{type(exc).__name__}: {exc}".splitlines()[0]
        footer.append(f"plot failed ({path}): {why}; the measured rows are kept")
        progress(f"plot failed ({path}): {why}")
        if isinstance(exc, OSError):   # the file system refused it: exit code 1, as any results file
            s.failures.append(f"plot {path}: {why}")


def _sweep(s, mem, info, names, vec_list, hint_list, own_cuda, lo, hi, steps, threads, blocks_per_sm, unroll,
           time_s, path, footer):
    """The --sweep run: rows per size, a transition line per kernel from its settled points, the plot."""
    from accelkern import timing
    if hi is None:
        hi = mem.default_size(info, names)
    sizes = mem.sweep_sizes(lo, hi, steps)
    srule = timing.StopRule(min_samples=5, min_time_s=0.02, max_time_s=max(0.1, time_s / 4), target_noise=0.01)
    cache = mem.cache_bytes(info)
    cache_name = "L2" if info.kind == "cuda" else "CPU caches"
    series = {}
    try:
        for k in names:
            for v in vec_list:
                label = k if not own_cuda or len(vec_list) == 1 else f"{k} v{v}"
                series[label] = mem.run_sweep(k, sizes, info, s.spec, srule, vec=v, hint=hint_list[0],
                                              threads=threads, blocks_per_sm=blocks_per_sm, unroll=unroll,
                                              emit=s.emit, iterate=lambda xs, lb=label: track(xs, f"sweep {lb}"))
                footer.append(mem.transition_line(label, series[label], cache, cache_name))
    except KeyboardInterrupt:
        s.finish(columns=HBM_SWEEP_COLUMNS, footer=footer, interrupted=True)
        return
    title = (f"{info.name}: bandwidth vs working set (hot: one set reused), "
             f"{'hint ' + hint_list[0] if own_cuda else 'torch'}")
    spec_tbps = s.spec.memory_bw_bytes_s / 1e12 if s.spec and info.kind == "cuda" else None
    _plot(s, footer, path, lambda: mem.plot_sweep(series, cache, spec_tbps, path, title, cache_name))
    footer.append("sweep mode: hot (one buffer set reused, passes per call so each call moves ~"
                  f"{format_bytes(mem.HOT_TARGET_BYTES.get(info.kind, 64 << 20))}); rd+wr counts read + write; "
                  "unsettled rows (too few samples, not converged) feed no transition")
    s.finish(columns=HBM_SWEEP_COLUMNS, footer=footer)


HBM_CPU_COLUMNS = (   # threads and the ISA path are the same for every row: the footer says them
    tables.Column("kernel", lambda r: r.name),
    tables.Column("stores", lambda r: (r.config or {}).get("stores")),
    tables.Column("size", lambda r: r.shape),
    tables.Column("rd+wr", _rate(lambda r: r.value)),
    tables.Column("1-dir", _rate(lambda r: r.one_direction)),
    tables.Column("mem", _rate(lambda r: (r.config or {}).get("memory_traffic_tbps"))),
    tables.Column("best", _rate(lambda r: r.value_best)),
    tables.Column("% theo", lambda r: r.pct_of_theoretical, "{:.1f}"),
    tables.Column("spread", lambda r: r.rel_stddev, "{:.1%}"),
    tables.Column("core MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
    tables.Column("ok", lambda r: r.correct),
    tables.Column("note", _hbm_note),
)

HBM_CPU_SWEEP_COLUMNS = (
    HBM_CPU_COLUMNS[0],
    tables.Column("per thread", _bytes("per_thread_bytes")),
    tables.Column("working set", _bytes("working_set_bytes")),
    tables.Column("passes", lambda r: (r.config or {}).get("passes")),
    tables.Column("value", _rate(lambda r: r.value)),
    tables.Column("cycles", lambda r: (r.config or {}).get("cycles_per_load"), "{:.1f}"),
    tables.Column("spread", lambda r: r.rel_stddev, "{:.1%}"),
    tables.Column("settled", lambda r: (r.config or {}).get("timing_settled")),
    tables.Column("ok", lambda r: r.correct),
)


def _cpu_hbm(device, spec_name, as_json, as_csv, out, kernels, size, hints, threads, isa, tune, sweep, sweep_min,
             sweep_max, steps, plot_path, time_s):
    """`hbm --device cpu` with accelkern's CPU kernels: every option checked first (one line, exit 2, nothing
    written), then the default rows or the sweep."""
    from accelkern import timing
    from accelkern.hostcpu import caches as cpu_caches, facts as cpu_facts
    from accelkern.memory import cpu_hbm, cpu_sweep
    from accelkern.units import parse_size

    if tune:
        raise AccelkernError("--tune searches GPU launch shapes; on a CPU the kernels have none (use --isa, --threads)")
    if as_json and as_csv:
        raise AccelkernError("--json and --csv are exclusive; use --out DIR to get every format")
    p = cpu_hbm.plan(kernels, hints, threads, isa, sweep)
    caches = cpu_caches.read_caches(cpus=p.cpus)
    llc = caches.levels[-1].usable_bytes if caches.known else None
    if sweep:
        lo = parse_size(sweep_min) if sweep_min else cpu_sweep.DEFAULT_MIN_PER_THREAD
        hi = parse_size(sweep_max) if sweep_max else max(lo, cpu_sweep.default_max_per_thread(llc, len(p.cpus)))
        p.sweep_sizes = cpu_sweep.sweep_sizes(lo, hi, steps)
        cpu_sweep.check_fits(p.sweep_sizes, len(p.cpus))
    else:
        p.nbytes = parse_size(size) if size else cpu_hbm.default_nbytes(p)
        if p.nbytes < 4096:
            raise AccelkernError(f"--size {size}: at least 4 KiB per array on a CPU")
        cpu_hbm.check_size(p, p.nbytes)
    check_out_dir(out)
    path = (plot_path or os.path.join(out or ".", "hbm_sweep.png")) if sweep else None
    check_plot_path(path)
    dry_run_exit("hbm")

    facts = cpu_facts.cpu_facts()
    s = Session("hbm_sweep" if sweep else "hbm", "cpu", spec_name, as_json, as_csv, out)
    max_time = time_s or cpu_hbm.CPU_DEFAULT_TIME_S
    footer = list(p.notes) + ignored(("vecs", "blocks_per_sm", "unroll"), "GPU launch options; the CPU kernels "
                                                                           "have none")
    if sweep:
        _cpu_sweep(s, p, caches, facts, max_time, path, footer)
        return
    rule = timing.StopRule(max_time_s=max_time)
    try:
        footer += cpu_hbm.run_default(s, p, rule, facts, iterate=lambda xs: track(xs, "hbm"))
    except KeyboardInterrupt:
        s.finish(columns=HBM_CPU_COLUMNS, footer=footer, interrupted=True)
        return
    footer.append(f"cpu caches: {caches.describe()}")
    s.finish(columns=HBM_CPU_COLUMNS, footer=footer)


def _cpu_sweep(s, p, caches, facts, max_time, path, footer):
    from accelkern import timing
    from accelkern.hostcpu import clock as cpu_clock
    from accelkern.memory import cpu_hbm, cpu_plot, cpu_sweep, cpu_theoretical
    srule = timing.StopRule(min_samples=5, min_time_s=0.02, max_time_s=max(0.1, max_time / 4), target_noise=0.01)
    clock = cpu_clock.measure_clock(p.cpus[:1], run_s=0.005, runs=3)
    kernels = cpu_hbm.kernels_of(p)
    sysfs = cpu_sweep.sysfs_levels(caches)
    try:
        sweeps = cpu_sweep.run(kernels, p.sweep_sizes, p.cpus, s.info, s.spec, srule, caches, clock=clock,
                               emit=s.emit, iterate=lambda xs: track(xs, "sweep"))
    except KeyboardInterrupt:
        s.finish(columns=HBM_CPU_SWEEP_COLUMNS, footer=footer, interrupted=True)
        return
    for sw in sweeps:
        footer += cpu_sweep.footer(sw, len(p.cpus))
    footer.append(f"sysfs caches: {caches.describe()}")
    theo = cpu_theoretical.resolve(s.spec, s.spec_how, sockets=facts.sockets, cores_used=len(p.cpus))
    title = (f"{s.info.name}: bandwidth vs working set, {len(p.cpus)} pinned thread(s), {p.path} "
             "(hot: one set reused)")
    _plot(s, footer, path, lambda: cpu_plot.plot_cpu_sweep(sweeps, sysfs, len(p.cpus), path, title,
                                                           theo.bytes_s / 1e9 if theo.known else None))
    footer.append("sweep mode: hot (one set reused per size, passes per call so a call moves >= 64 MiB); value = "
                  "credited loads + stores / time (latency rows: ns per dependent load); unsettled rows feed no "
                  "plateau")
    s.finish(columns=HBM_CPU_SWEEP_COLUMNS, footer=footer)
