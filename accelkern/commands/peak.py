"""`accelkern peak`: compute-only peak per dtype and instruction path (logic in accelkern/peak/)."""
from __future__ import annotations

import click

from accelkern.commands.common import Session, common_options, dry_run_exit
from accelkern.errors import NoDevice
from accelkern.results import progress
from accelkern.units import format_value


def peak_columns():
    from accelkern.tables import Column

    def cfg(key):
        return lambda r: (r.config or {}).get(key)

    def config_label(r):
        c = r.config or {}
        if not c:
            return None
        if "accumulators" in c:
            return f"{c['accumulators']} acc x{c['unroll']} unroll, {c['threads']} thr"
        if "warps_per_cta" not in c:
            return None
        if "n" in c:
            return (f"N={c['n']} {'RS' if c['a_source'] == 'registers' else 'SS'} {c['warpgroups']}wg "
                    f"x{c['ctas_per_sm']}/SM c{c['chains']}")
        return f"{c['warps_per_cta']}w x{c['ctas_per_sm']}/SM c{c['chains']}"

    return (
        Column("path", lambda r: r.backend),
        Column("dtype", lambda r: r.dtype),
        Column("instruction", lambda r: r.name),
        Column("launch shape", config_label),
        Column("measured", lambda r: None if r.value is None else format_value(r.value, r.metric)),
        Column("spec", lambda r: r.spec_value, "{:.4g}"),
        Column("% spec", lambda r: r.pct_of_spec, "{:.1f}"),
        Column("FLOP/clk/SM", lambda r: r.flop_per_clk_per_sm, "{:.0f}"),
        Column("@kernel clk", cfg("flop_per_clk_per_sm_kernel_clock"), "{:.0f}"),
        Column("arch/clk", cfg("arch_flop_per_clk_per_sm"), "{:.0f}"),
        Column("% arch", lambda r: r.pct_of_clock_peak, "{:.1f}"),
        Column("% arch @kernel clk", cfg("pct_of_arch_at_kernel_clock"), "{:.1f}"),
        Column("SM MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
        Column("kernel MHz", cfg("kernel_clock_mhz"), "{:.0f}"),
        Column("power W", lambda r: r.power_mean_w, "{:.0f}"),
        Column("throttle", lambda r: r.throttle),
        Column("ok", lambda r: r.correct),
        Column("note", lambda r: f"{r.status}: {r.note or ''}".strip() if r.status != "ok" else r.note),
    )


def cpu_peak_columns():
    from accelkern.tables import Column

    def cfg(key):
        return lambda r: (r.config or {}).get(key)

    base = {c.title: c for c in peak_columns()}
    return (
        Column("ISA", lambda r: r.backend),
        base["dtype"], base["instruction"], base["launch shape"], base["measured"], base["spec"], base["% spec"],
        Column("FLOP/clk/core", lambda r: r.flop_per_clk_per_sm, "{:.1f}"),
        Column("arch/clk", cfg("arch_flop_per_clk_per_core"), "{:.0f}"),
        base["% arch"],
        Column("core MHz", lambda r: r.sm_clock_mean_mhz, "{:.0f}"),
        base["ok"], base["note"],
    )


CPU_FOOTER = ("FLOP/clk/core: measured / (cores x the core clock measured right after each call); arch/clk: the "
              "rate table's FLOP/clk/core for that instruction on this microarchitecture "
              "(accelkern/data/cpu_rates.json, with its source); % arch = measured / (cores x arch/clk x clock).")


@click.command("peak")
@common_options
@click.option("--dtype", "dtypes", default=None, metavar="LIST",
              help="Comma-separated dtypes (default: all): fp32, fp64, fp16, bf16, tf32, fp8 (e4m3 and e5m2), "
                   "int8, int32 (a CPU: fp64, fp32, bf16, fp16, int8).")
@click.option("--path", "paths", default=None, metavar="LIST",
              help="Comma-separated instruction paths (default: all): simt (FFMA, DFMA, HFMA2, IMAD), "
                   "mma (mma.sync, sm_80+), wgmma (sm_90 only). A CPU: avx2_fma, avx512_fma, avx512_bf16, "
                   "avx512_fp16, avx2_int8, avx_vnni, avx512_vnni, amx_bf16, amx_int8, amx_fp16.")
@click.option("--kernel", "kernel_names", default=None, metavar="LIST",
              help="CPU only: comma-separated kernel names (e.g. fp32_avx512_fma; the table's kernel column). "
                   "A kernel this CPU cannot run, asked for by name, exits 3 with the reason.")
@click.option("--threads", type=click.IntRange(min=1), default=None, metavar="N",
              help="CPU only: pinned threads, one per physical core (default: every physical core; at most "
                   "that many). A single-core row of each best shape is added when N > 1.")
@click.option("--verbose", is_flag=True,
              help="Also list every launch shape of the sweep (warps per CTA, CTAs per SM, accumulator "
                   "chains, wgmma N and A source), not only the best per kernel.")
@click.option("--budget", type=click.FloatRange(min=5), default=120.0, show_default=True,
              help="Seconds of measuring for all kernels together (each kernel's sweep gets a share).")
@click.option("--quick", is_flag=True, help="Sweep only a few known-good launch shapes per kernel.")
def peak_cmd(device, spec_name, as_json, as_csv, out, dtypes, paths, kernel_names, threads, verbose, budget, quick):
    """Compute-only peak ("speed of light") per dtype and instruction path.

    Register-resident loops of one instruction (no memory traffic) on every SM, swept over the launch
    shape; the best shape is re-measured. Each tensor-core path is first checked against a float64
    reference (column ok). Reported: TFLOPS (TOPS for integers), % of the datasheet, FLOP/clk/SM at the
    SM clock NVML saw and at the clock measured inside the kernel (clock64 over %globaltimer), and the
    architecture's FLOP/clk/SM for the dtype, so a power-capped card and a slow instruction path are
    told apart. A path this GPU lacks (wgmma below sm_90, fp8 below sm_89, fp64 m16n8k16 below sm_90) is
    listed as skipped.

    On a CPU (--device cpu): accelkern's own C++ kernels, one pinned thread per physical core, each ISA
    path compiled for its ISA and chosen at run time (FMA on AVX2 and AVX-512, VDPBF16PS, VFMADDPH, int8
    with AVX2, AVX-VNNI and AVX512-VNNI, AMX tiles), checked against the exact value each chain must
    produce; FLOP/clk/core at the core clock measured right after each call, beside the rate table's. A
    kernel for an ISA this CPU lacks is a skipped row with the reason.
    """
    from accelkern import peak as pk
    from accelkern.device import parse_device, resolve_device
    from accelkern.units import split_list
    if device not in (None, "", "auto"):
        parse_device(device)
    if (device or "").strip().lower() == "cpu":
        _cpu_peak(device, spec_name, as_json, as_csv, out, split_list(dtypes), split_list(paths),
                  split_list(kernel_names), threads, verbose, budget, quick)
        return
    if kernel_names or threads:
        raise click.UsageError("--kernel and --threads apply to the CPU kernels only (--device cpu)")
    kernels = pk.select_kernels(split_list(dtypes), split_list(paths))
    dry_run_exit("peak")
    where = resolve_device(device)
    if not where.startswith("cuda"):
        raise NoDevice(f"accelkern peak times CUDA kernels; this run is on {where} (use --device cpu for "
                       f"accelkern's CPU kernels, or a machine with an NVIDIA GPU)")
    s = Session("peak", device, spec_name, as_json, as_csv, out)
    interrupted = False
    try:
        for res in pk.run(kernels, s.info, s.spec, budget, quick=quick, progress=progress):
            if verbose:
                for r in res.grid:
                    s.emit(r)
            s.emit(res.best)
    except KeyboardInterrupt:
        interrupted = True
    footer = ["FLOP/clk/SM: measured TFLOPS / (SMs x SM clock); arch/clk: what the architecture allows per SM "
              "per clock for that instruction on this product; % arch uses the NVML mean clock, % arch @kernel "
              "clk the in-kernel one."]
    bad = [r for r in s.writer.rows if r.correct is False]
    if bad:
        footer.append(f"WRONG RESULTS: {len(bad)} row(s) failed the check against the float64 reference")
    s.finish(columns=peak_columns(), footer=footer, interrupted=interrupted)


def _cpu_peak(device, spec_name, as_json, as_csv, out, dtypes, paths, names, threads, verbose, budget, quick):
    """`peak --device cpu`: options checked before anything runs or is written."""
    from accelkern.hostcpu import facts as cpu_facts, topology
    from accelkern.peak import cpu_kernels, cpu_sweep
    facts = cpu_facts.cpu_facts()
    kernels = cpu_kernels.select(facts, names, dtypes, paths)
    if not kernels:
        raise click.UsageError(f"no CPU kernel for dtype {','.join(dtypes) or 'any'} on path "
                               f"{','.join(paths) or 'any'}")
    cores = topology.one_cpu_per_core()
    if threads is not None and threads > len(cores):
        raise click.BadParameter(f"{threads} is more than the {len(cores)} physical core(s) this process may use "
                                 f"(CPUs {', '.join(map(str, cores))})", param_hint="--threads")
    if names:
        lacking = [(k, cpu_kernels.unavailable(k, facts)) for k in kernels]
        lacking = [f"{k.name}: {why}" for k, why in lacking if why]
        if lacking:
            raise NoDevice("; ".join(lacking))
    dry_run_exit("peak")
    cpus = cores[:threads] if threads else cores
    s = Session("peak", "cpu", spec_name, as_json, as_csv, out)
    interrupted = False
    try:
        for res in cpu_sweep.run(kernels, s.info, s.spec, facts, budget, cpus, quick=quick, progress=progress):
            if verbose:
                for r in res.grid:
                    s.emit(r)
            s.emit(res.best)
            if res.single_core is not None:
                s.emit(res.single_core)
    except KeyboardInterrupt:
        interrupted = True
    footer = [CPU_FOOTER]
    bad = [r for r in s.writer.rows if r.correct is False]
    if bad:
        footer.append(f"WRONG RESULTS: {len(bad)} row(s) failed the exact check of their chains")
    s.finish(columns=cpu_peak_columns(), footer=footer, interrupted=interrupted)
