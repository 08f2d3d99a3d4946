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


@click.command("peak")
@common_options
@click.option("--dtype", "dtypes", default=None, metavar="LIST",
              help="Comma-separated dtypes (default: all): fp32, fp64, fp16, bf16, tf32, fp8 (e4m3 and e5m2), "
                   "int8, int32.")
@click.option("--path", "paths", default=None, metavar="LIST",
              help="Comma-separated instruction paths (default: all): simt (FFMA, DFMA, HFMA2, IMAD), "
                   "mma (mma.sync, sm_80+), wgmma (sm_90 only).")
@click.option("--verbose", is_flag=True,
              help="Also list every launch shape of the sweep (warps per CTA, CTAs per SM, accumulator "
                   "chains, wgmma N and A source), not only the best per kernel.")
@click.option("--budget", type=click.FloatRange(min=5), default=120.0, show_default=True,
              help="Seconds of measuring for all kernels together (each kernel's sweep gets a share).")
@click.option("--quick", is_flag=True, help="Sweep only a few known-good launch shapes per kernel.")
def peak_cmd(device, spec_name, as_json, as_csv, out, dtypes, paths, verbose, budget, quick):
    """Compute-only peak ("speed of light") per dtype and instruction path.

    Register-resident loops of one instruction (no memory traffic) on every SM, swept over the launch
    shape; the best shape is re-measured. Each tensor-core path is first checked against a float64
    reference (column ok). Reported: TFLOPS (TOPS for integers), % of the datasheet, FLOP/clk/SM at the
    SM clock NVML saw and at the clock measured inside the kernel (clock64 over %globaltimer), and the
    architecture's FLOP/clk/SM for the dtype, so a power-capped card and a slow instruction path are
    told apart. A path this GPU lacks (wgmma below sm_90, fp8 below sm_89, fp64 m16n8k16 below sm_90) is
    listed as skipped.
    """
    from accelkern import peak as pk
    from accelkern.device import parse_device, resolve_device
    from accelkern.units import split_list
    kernels = pk.select_kernels(split_list(dtypes), split_list(paths))
    if device not in (None, "", "auto"):
        parse_device(device)
    dry_run_exit("peak")
    where = resolve_device(device)
    if not where.startswith("cuda"):
        raise NoDevice(f"accelkern peak times CUDA kernels; this run is on {where} (use a machine with an "
                       f"NVIDIA GPU, or `accelkern validate` for the CPU)")
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
