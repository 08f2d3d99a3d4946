"""`accelkern info`: device facts, extension status, matched datasheet, peaks, NVML."""
from __future__ import annotations

import json
from dataclasses import asdict

import click

from accelkern import _ext, specs
from accelkern.commands.common import dry_run_exit


@click.command()
@click.option("--device", default=None, metavar="cuda|cuda:N|cpu",
              help="Device to describe (default: cuda when a GPU is usable, else cpu).")
@click.option("--spec", "spec_name", default=None, metavar="NAME", help="Datasheet entry to use instead of the matched one.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--list-specs", is_flag=True, help="List every datasheet entry (key, name, peaks) and exit.")
def info(device, spec_name, as_json, list_specs):
    """Device, extension status, matched datasheet, theoretical peaks (at spec and at the current clock), NVML."""
    if list_specs:
        _list_specs(as_json)
        return
    dry_run_exit("info")
    from accelkern import monitor
    from accelkern.device import get_device_info
    dev = get_device_info(device)
    spec, how = specs.lookup(dev.name if dev.kind == "cuda" else None, spec_name)
    snap = monitor.snapshot(dev.index) if dev.kind == "cuda" else {}
    probe = _clock_probe(dev)
    cur_clock = snap.get("sm_clock_mhz")
    peaks = {}
    for d in specs.DTYPES:
        peaks[d] = {
            "spec_tflops": spec.peak(d) if spec else None,
            "at_max_clock_tflops": dev.peak_at_clock_tflops(d) if dev.kind == "cuda" else None,
            "at_current_clock_tflops": dev.peak_at_clock_tflops(d, cur_clock) if cur_clock else None,
            "flop_per_clk_per_sm": specs.per_clock_per_sm(dev.arch, d, product=dev.name),
        }
    theo_bw = dev.theoretical_bandwidth_bytes_s()
    doc = {
        "device": dev.to_dict(),
        "extension": _ext.status(),
        "spec": asdict(spec) if spec else None,
        "spec_match": how,
        "peaks": peaks,
        "memory": {"spec_bytes_s": spec.memory_bw_bytes_s if spec else None, "theoretical_bytes_s": theo_bw},
        "nvml": {"status": "ok" if monitor.nvml() else monitor.nvml_error(), **snap} if dev.kind == "cuda" else None,
        "sm_clock_probe": probe,
    }
    if as_json:
        doc["spec"] = None if spec is None else {k: v for k, v in doc["spec"].items() if k != "match"}
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    _print_info(dev, spec, how, doc, cur_clock)


def _clock_probe(dev):
    if dev.kind != "cuda" or _ext.load() is None:
        return None
    try:
        return dict(_ext.load().sm_clock_probe(dev.index))
    except RuntimeError as exc:
        return {"error": str(exc)}


def _print_info(dev, spec, how, doc, cur_clock):
    e = click.echo
    e(f"device      {dev.name} ({dev.kind}{', ' + dev.arch if dev.arch else ''})")
    if dev.kind == "cuda":
        e(f"SMs         {dev.sm_count}   max SM clock {dev.max_sm_clock_mhz or '?'} MHz   "
          f"memory {dev.memory_bytes / 2**30:.1f} GiB   L2 {(dev.l2_bytes or 0) / 2**20:.0f} MiB")
        if dev.mem_clock_mhz:
            e(f"memory bus  {dev.mem_bus_width_bits} bit at {dev.mem_clock_mhz:.0f} MHz -> "
              f"{doc['memory']['theoretical_bytes_s'] / 1e12:.2f} TB/s theoretical (clock x width x 2)")
        e(f"driver      {dev.driver or '?'}   CUDA (torch) {dev.cuda_runtime}")
        if doc["sm_clock_probe"]:
            p = doc["sm_clock_probe"]
            e(f"SM clock    {p.get('mhz', 0):.0f} MHz by in-kernel probe (clock64 / globaltimer)"
              if "mhz" in p else f"SM clock    probe failed: {p['error']}")
    else:
        e(f"cores       {dev.sm_count} physical, torch uses {dev.threads} threads, ISA {dev.cpu_capability}")
        e(f"memory      {(dev.memory_bytes or 0) / 2**30:.1f} GiB   last-level cache {(dev.l2_bytes or 0) / 2**20:.0f} MiB")
    ext = doc["extension"]
    e(f"extension   {'built' + (' (sm_90a kernels included)' if ext.get('has_sm90a') else '') if ext['built'] else ext['message']}")
    if ext.get("built"):
        e(f"cuBLASLt    {ext['cublaslt_version']}")
    if dev.kind == "cuda":
        nv = doc["nvml"]
        e(f"NVML        {nv['status']}" + (f"   now: {nv.get('sm_clock_mhz')} MHz, {nv.get('power_w', 0):.0f} W "
                                          f"of {nv.get('power_limit_w', 0):.0f} W, {nv.get('temp_c')} C, "
                                          f"throttle: {nv.get('throttle')}" if nv['status'] == 'ok' else ""))
    e(f"spec        {spec.name + ' (' + spec.source + ')' if spec else 'none'} - {how}")
    if spec and spec.unpublished:
        e(f"            {spec.unpublished}")
    if spec or dev.kind == "cuda":
        e("")
        e(f"{'dtype':<12}{'spec TFLOPS':>12}{'@max clock':>12}{'@now':>10}{'FLOP/clk/SM':>13}")
        for d, p in doc["peaks"].items():
            if all(v is None for v in p.values()):
                continue
            f = lambda v: "-" if v is None else f"{v:.1f}"
            e(f"{d:<12}{f(p['spec_tflops']):>12}{f(p['at_max_clock_tflops']):>12}{f(p['at_current_clock_tflops']):>10}"
              f"{f(p['flop_per_clk_per_sm']):>13}")
        if spec:
            e(f"{'memory':<12}{spec.memory_bw_gbps / 1000:>11.2f} TB/s spec ({spec.memory_gb:g} GB {spec.memory_type}, TDP {spec.tdp_w} W)")
    for n in dev.notes:
        e(f"note        {n}")


def _list_specs(as_json):
    gpus, cpus = specs.all_specs("gpu"), specs.all_specs("cpu")
    if as_json:
        click.echo(json.dumps([{k: v for k, v in asdict(s).items() if k != "match"} for s in gpus + cpus], indent=2))
        return
    click.echo(f"{'key':<16}{'name':<34}" + "".join(f"{d:>12}" for d in specs.DTYPES) + f"{'TB/s':>7}")
    for s in gpus:
        f = lambda v: "-" if v is None else f"{v:g}"
        click.echo(f"{s.key:<16}{s.name:<34}" + "".join(f"{f(s.peak(d)):>12}" for d in specs.DTYPES)
                   + f"{s.memory_bw_gbps / 1000:>7.2f}")
    click.echo("peaks: dense TFLOPS (TOPS for int8) from the vendor datasheets; '-' = not published / not supported")
    click.echo("")
    g = lambda v, fmt="g": "-" if v is None else format(v, fmt)
    click.echo(f"{'CPU key':<24}{'name':<28}{'uarch':<16}{'cores':>6}{'skt':>4}{'base MHz':>9}{'boost MHz':>10}"
               f"{'memory':>15}{'GB/s':>7}{'TDP W':>6}  published")
    for s in cpus:
        mem = (f"{s.memory_channels}x{s.memory_type}-{s.memory_mts:g}" if s.memory_channels and s.memory_mts
               else s.memory_type or "-")
        peaks = ", ".join(f"{d} {v:g}" for d, v in s.peaks_tflops.items() if v is not None) or "-"
        click.echo(f"{s.key:<24}{s.name:<28}{s.arch:<16}{g(s.cores):>6}{g(s.sockets):>4}{g(s.base_clock_mhz):>9}"
                   f"{g(s.boost_clock_mhz):>10}{mem:>15}{g(s.memory_bw_gbps, '.1f'):>7}{g(s.tdp_w):>6}  {peaks}")
    click.echo("CPU: cores over the sockets (skt) the entry covers; GB/s per socket = channels x MT/s x 8 B, or the "
               "vendor's figure\n     where it gives no channel count; published = vendor TFLOPS; architectural peak "
               "= cores x FLOP/clk/core\n     (data/cpu_rates.json) x clock; '-' = not published")
