"""`accelkern hbm`: memory bandwidth (logic in accelkern/memory.py)."""
from __future__ import annotations

import click

from accelkern import _ext, tables
from accelkern.commands.common import Session, common_options
from accelkern.errors import AccelkernError
from accelkern.results import progress


def _hbm_launch(r):
    c = r.config or {}
    if "threads" not in c:
        return r.backend if r.status == "ok" else None
    return f"v{c['vec']} {c['blocks']}x{c['threads']} u{c['unroll']}"


def _hbm_note(r):
    if r.status != "ok":
        return f"{r.status}: {r.note or ''}".strip()
    return r.note or ""


HBM_COLUMNS = (
    tables.Column("kernel", lambda r: r.name),
    tables.Column("hint", lambda r: (r.config or {}).get("hint")),
    tables.Column("size", lambda r: r.shape),
    tables.Column("launch", _hbm_launch),
    tables.Column("rd+wr TB/s", lambda r: r.value, "{:.3f}"),
    tables.Column("1-dir TB/s", lambda r: r.one_direction, "{:.3f}"),
    tables.Column("best TB/s", lambda r: r.value_best, "{:.3f}"),
    tables.Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
    tables.Column("% theo", lambda r: r.pct_of_theoretical, "{:.1f}"),
    tables.Column("spread", lambda r: r.rel_stddev, "{:.1%}"),
    tables.Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
    tables.Column("mem MHz", lambda r: r.mem_clock_mean_mhz, "{:.0f}"),
    tables.Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
    tables.Column("throttle", lambda r: r.throttle),
    tables.Column("ok", lambda r: r.correct),
    tables.Column("note", _hbm_note),
)

HBM_SWEEP_COLUMNS = HBM_COLUMNS[:3] + (
    tables.Column("working set", lambda r: (r.config or {}).get("working_set_bytes"), "{}"),
    tables.Column("passes", lambda r: (r.config or {}).get("passes")),
) + HBM_COLUMNS[3:]


@click.command()
@common_options
@click.option("--kernel", "kernels", default=None, metavar="NAME[,NAME]",
              help="Kernels to run: copy, read, write, triad (own kernels; torch ops on a CPU), ce (cudaMemcpyAsync "
                   "device-to-device), torch (Tensor.copy_, the reference), h2d / d2h (pinned host <-> device). "
                   "Default: all on a GPU, copy,read,write,triad on a CPU; with --sweep: read.")
@click.option("--size", default=None, metavar="SIZE",
              help="Bytes per buffer, e.g. 2GiB, 512MiB, 1000003 (default 2GiB on a GPU; on a CPU 8x the last-level "
                   "cache, >= 256MiB, <= 1/8 of RAM). Any byte count: the part past the last whole vector is done by "
                   "scalar code; triad rounds down to whole fp32 elements and says so in the row.")
@click.option("--vec", "vecs", default="16", show_default=True, metavar="4|8|16[,..]",
              help="Bytes each thread moves per access (own kernels on a GPU); several run one after another.")
@click.option("--hint", "hints", default="default,stream", show_default=True, metavar="default|stream[,..]",
              help="Cache hint of the own kernels: default (plain ld/st) and/or stream (ld/st.global.cs, "
                   "evict-first). The sweep uses the first one listed.")
@click.option("--threads", type=int, default=None, help="Threads per block, a multiple of 32 up to 1024 (default 512).")
@click.option("--blocks-per-sm", type=int, default=None,
              help="Blocks per SM; grid = SMs x this (default: as many as are resident at once, from the occupancy API).")
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
@click.option("--sweep-min", default="1MiB", show_default=True, metavar="SIZE", help="Smallest sweep size per buffer.")
@click.option("--sweep-max", default=None, metavar="SIZE",
              help="Largest sweep size per buffer (default 4GiB on a GPU; on a CPU 1/16 of RAM, at most 4GiB).")
@click.option("--steps", type=click.IntRange(1, 16), default=2, show_default=True, help="Sweep sizes per doubling.")
@click.option("--plot", "plot_path", default=None, metavar="PATH",
              help="Sweep plot PNG (default DIR/hbm_sweep.png with --out, else ./hbm_sweep.png).")
@click.option("--time", "time_s", type=click.FloatRange(min=0.05), default=2.0, show_default=True,
              help="Most seconds of timing per measurement (it stops earlier once the median is known within "
                   "0.5%; a sweep size gets a quarter of it, at least 0.1 s).")
def hbm(device, spec_name, as_json, as_csv, out, kernels, size, vecs, hints, threads, blocks_per_sm, unroll, tune,
        sweep, sweep_min, sweep_max, steps, plot_path, time_s):
    """Memory bandwidth: copy, read, write and triad kernels, the copy engine and host links, vs the spec.

    Every row gives bytes read and written per call, TB/s counting both (STREAM style), the one-direction rate
    (nvbandwidth style), % of the datasheet and % of memory clock x bus width x 2. Buffers default to 2 GiB and
    are rotated or flushed so that no call is served from the L2 (except in --sweep, on purpose).
    """
    import os

    from accelkern import memory as mem
    from accelkern import timing
    from accelkern.device import resolve_device
    from accelkern.units import format_bytes, parse_size

    dev = resolve_device(device)
    kind = dev.split(":")[0]
    names = mem.parse_kernels(kernels, kind, sweep=sweep)
    vec_list = mem.parse_choices(vecs, mem.VECS, "--vec", [16])
    hint_list = mem.parse_choices(hints, tuple(mem.HINTS), "--hint", ["default", "stream"])
    if tune and sweep:
        raise AccelkernError("--tune and --sweep are separate runs; pick one")
    nbytes = parse_size(size) if size else None
    lo = parse_size(sweep_min)
    hi = parse_size(sweep_max) if sweep_max else None
    if kind == "cuda" and hi is None:
        hi = 4 << 30
    if kind == "cuda" and nbytes is None:
        nbytes = mem.DEFAULT_SIZE
    if sweep and hi is not None:
        mem.sweep_sizes(lo, hi, steps)  # a bad range is refused here, before any file is opened
    check_size = hi if sweep else nbytes
    if check_size is not None:  # refuse before anything is measured or written
        for k in names:
            mem.require_memory(k, mem.traffic(k, check_size), dev)

    s = Session("hbm_sweep" if sweep else "hbm", device, spec_name, as_json, as_csv, out)
    info = s.info
    if nbytes is None:
        nbytes = mem.DEFAULT_SIZE if info.kind == "cuda" else mem.validate_size(info)
    own_cuda = info.kind == "cuda" and _ext.load() is not None
    if not own_cuda:
        vec_list, hint_list = vec_list[:1], hint_list[:1]
    rule = timing.StopRule(max_time_s=time_s)
    footer = []
    if not own_cuda and (tune or threads or blocks_per_sm or unroll):
        footer.append("--tune, --threads, --blocks-per-sm and --unroll apply to the own CUDA kernels: not used here "
                      f"({'torch backend on ' + info.kind if info.kind != 'cuda' else _ext.error()})")
    try:
        if sweep:
            if hi is None:
                hi = min(4 << 30, (info.memory_bytes or 16 << 30) // 16)
            sizes = mem.sweep_sizes(lo, hi, steps)
            srule = timing.StopRule(min_samples=5, min_time_s=0.02, max_time_s=max(0.1, time_s / 4), target_noise=0.01)
            series = {}
            for k in names:
                for v in vec_list:
                    label = k if own_cuda is False or len(vec_list) == 1 else f"{k} v{v}"
                    pts = mem.run_sweep(k, sizes, info, s.spec, srule, vec=v, hint=hint_list[0], threads=threads,
                                        blocks_per_sm=blocks_per_sm, unroll=unroll, emit=s.emit)
                    series[label] = pts
                    tr = mem.cache_transition(pts)
                    cache = "L2" if info.kind == "cuda" else "last-level cache"
                    footer.append(f"{label}: cache -> memory transition at {format_bytes(tr)} working set"
                                  if tr else f"{label}: no clear cache plateau found in this range")
                    if info.l2_bytes:
                        footer[-1] += f" ({cache} {format_bytes(info.l2_bytes)})"
            path = plot_path or os.path.join(out or ".", "hbm_sweep.png")
            title = (f"{info.name}: bandwidth vs working set (hot: one set reused), "
                     f"{'hint ' + hint_list[0] if own_cuda else 'torch'}")
            spec_tbps = s.spec.memory_bw_bytes_s / 1e12 if s.spec and info.kind == "cuda" else None
            written = mem.plot_sweep(series, info.l2_bytes, spec_tbps, path, title,
                                     "L2" if info.kind == "cuda" else "LLC")
            if written:
                footer.append(f"plot: {written}")
            footer.append("sweep mode: hot (one buffer set reused, passes per call so each call moves ~"
                          f"{format_bytes(mem.HOT_TARGET_BYTES.get(info.kind, 64 << 20))}); TB/s counts read + write")
            s.finish(columns=HBM_SWEEP_COLUMNS, footer=footer)
            return
        for k in names:
            if k in mem.OWN_KERNELS and own_cuda:
                for v in vec_list:
                    if tune:
                        progress(f"tuning {k} v{v} at {format_bytes(nbytes)} ...")
                        tr = mem.tune_kernel(k, nbytes, info, s.spec, vec=v, hints=tuple(hint_list), progress=progress)
                        footer.append(tr.summary())
                        s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule, shape=tr.best,
                                              extra_config={"tuned": True, "tune_tried": len(tr.tried)}))
                        continue
                    for h in hint_list:
                        s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule, vec=v, hint=h, threads=threads,
                                              blocks_per_sm=blocks_per_sm, unroll=unroll))
            else:
                s.emit(mem.run_kernel(k, nbytes, info, s.spec, rule))
    except KeyboardInterrupt:
        s.finish(columns=HBM_SWEEP_COLUMNS if sweep else HBM_COLUMNS, footer=footer, interrupted=True)
        return
    footer += mem.summary_lines(s.writer.rows, info)
    s.finish(columns=HBM_COLUMNS, footer=footer)
