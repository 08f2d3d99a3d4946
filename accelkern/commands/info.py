"""`accelkern info`: device facts, extension status, matched datasheet, peaks, NVML; on a CPU its facts
(CPUID, topology, caches), the clock measured under load and the architectural peak at it."""
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
    """Device, extension status, matched datasheet, theoretical peaks (at spec and at the current clock), NVML.

    On a CPU: vendor, microarchitecture from CPUID family/model/stepping, cores/threads/sockets/NUMA nodes,
    the ISA features that set throughput, caches per level (sysfs), the nominal clock and the core clock
    measured under load (a dependent add chain on every core at once; it takes about 0.2 s), and per dtype
    the architectural peak (cores x FLOP/clk/core x clock) at the nominal and at the measured clock.
    """
    if list_specs:
        _list_specs(as_json)
        return
    dry_run_exit("info")
    from accelkern import monitor
    from accelkern.device import get_device_info
    dev = get_device_info(device)
    if dev.kind == "cpu":
        _cpu(dev, spec_name, as_json)
        return
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


def _cpu(dev, spec_name, as_json):
    """`info --device cpu`: facts, both extensions, the datasheet entry, the measured clock, peaks."""
    from accelkern import _cpu_ext
    from accelkern.hostcpu import facts as cpu_facts
    f = cpu_facts.cpu_facts()
    f.clock = cpu_facts.measured_clock(f)
    spec, how = specs.lookup(dev.name, spec_name)
    if spec is not None and spec.kind != "cpu":
        raise click.BadParameter(f"{spec.name} is a GPU datasheet entry; this is a CPU", param_hint="--spec")
    cores = f.physical_cores or 0
    peaks = {}
    for d in ("fp64", "fp32", "bf16", "fp16", "int8"):
        rate = specs.effective_cpu_rate(f.uarch, d, None, spec)
        peaks[d] = {
            "path": rate.path if rate else None,
            "flop_per_clk_per_core": rate.flop_per_clk_per_core if rate else None,
            "spec_tflops": spec.peak(d) if spec else None,
            "at_nominal_clock_tflops": specs.cpu_peak_tflops(f.uarch, d, cores, f.nominal_mhz or 0, spec=spec),
            "at_measured_clock_tflops": specs.cpu_peak_tflops(f.uarch, d, cores, f.clock.mhz or 0, spec=spec),
            "why_none": None if rate else specs.cpu_rate_note(f.uarch, d),
        }
    dram = specs.cpu_theoretical_dram_bytes_s(spec, f.sockets) if spec else None
    latency = _cpu_latency(f)
    doc = {"device": dev.to_dict(), "cpu": f.to_dict(), "extensions": {"_cpu": _cpu_ext.status(), "_C": _ext.status()},
           "spec": None if spec is None else {k: v for k, v in asdict(spec).items() if k != "match"},
           "spec_match": how, "peaks": peaks, "memory": {"theoretical_bytes_s": dram, "latency": latency}}
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    e = click.echo
    e(f"device      {f.model_name} (cpu, {f.arch})")
    e(f"uarch       {f.uarch_name or 'unknown'}" + (f"   family {f.family} model {f.model} stepping {f.stepping}"
                                                       if f.family is not None else "")
      + (f"   vendor {f.vendor}" if f.vendor else "") + ("   (virtual machine)" if f.hypervisor else ""))
    if f.uarch_note:
        e(f"            {f.uarch_note}")
    e(f"cores       {f.physical_cores} physical x {f.threads_per_core} thread(s), {f.sockets} socket(s), "
      f"{f.numa_nodes or '?'} NUMA node(s); CPUs {', '.join(map(str, f.cpus))}; torch uses {dev.threads} threads")
    e(f"ISA         {' '.join(f.throughput_features) or 'none of the throughput features'}"
      + (f" (torch dispatches {dev.cpu_capability})" if dev.cpu_capability else ""))
    e(f"caches      {f.caches.describe() if f.caches else 'unknown'}")
    e(f"memory      {(dev.memory_bytes or 0) / 2**30:.1f} GiB")
    if isinstance(latency, list):
        e("latency     " + ", ".join(f"{x['level']} {x['ns']:.3g} ns" + (f" ({x['cycles']:.3g} cycles)"
                                                                          if x.get("cycles") else "")
                                     for x in latency)
          + f" (pointer chase on CPU {f.cpus[0]}, at half each level's size; DRAM at 8x the last level)")
    elif latency:
        e(f"latency     {latency}")
    e(f"clock       nominal {f.nominal_mhz:.0f} MHz ({f.nominal_source})" if f.nominal_mhz else
      f"clock       nominal unknown ({f.nominal_source})")
    e(f"            measured {f.clock.describe()}")
    if f.clock.per_cpu_mhz:
        e("            per core: " + ", ".join(f"CPU {c} {m:.0f}" for c, m in f.clock.per_cpu_mhz))
    cx = doc["extensions"]["_cpu"]
    e(f"extension   accelkern._cpu {'built (' + cx.get('compiler', '') + ')' if cx['built'] else cx['message']}")
    e(f"            accelkern._C {'built' if doc['extensions']['_C']['built'] else doc['extensions']['_C']['message']}")
    e(f"spec        {spec.name + ' (' + spec.source + ')' if spec else 'none'} - {how}")
    if dram:
        e(f"            theoretical DRAM {dram / 1e9:.1f} GB/s (channels x MT/s x 8 B x sockets)")
    e("")
    e(f"{'dtype':<7}{'path':<14}{'FLOP/clk/core':>14}{'spec TFLOPS':>13}{'@nominal':>10}{'@measured':>11}")
    fmt = lambda v, p=".3g": "-" if v is None else format(v, p)
    for d, p in peaks.items():
        e(f"{d:<7}{p['path'] or '-':<14}{fmt(p['flop_per_clk_per_core'], 'g'):>14}{fmt(p['spec_tflops']):>13}"
          f"{fmt(p['at_nominal_clock_tflops']):>10}{fmt(p['at_measured_clock_tflops']):>11}")
    e("peaks: physical cores x the rate table's FLOP/clk/core (ops for int8) x clock, TFLOPS; "
      "`accelkern peak --device cpu` measures them")
    for d, p in peaks.items():
        if p["why_none"]:
            e(f"note        {d}: {p['why_none']}")
    for n in f.notes:
        e(f"note        {n}")


def _cpu_latency(f):
    """Pointer-chase latency per cache level and DRAM on the first CPU (about a second), or why not."""
    from accelkern import _cpu_ext, timing
    if _cpu_ext.load() is None:
        return f"not measured: {_cpu_ext.error()}"
    if f.arch not in ("x86_64", "AMD64", "amd64"):
        return "not measured: the pointer chase is built for x86-64 only so far"
    from accelkern.hostcpu import caches
    from accelkern.memory import cpu_latency
    rule = timing.StopRule(min_samples=5, min_time_s=0.01, max_time_s=0.05, target_noise=0.01)
    try:
        points = cpu_latency.per_level(f.cpus[0], caches.read_caches(cpus=[f.cpus[0]]), rule,
                                       clock_mhz=f.clock.mhz if f.clock else None,
                                       clock_method=f.clock.method if f.clock else "")
    except Exception as exc:  # info reports, it never fails over one figure
        return f"not measured: {exc}"
    return [{"level": name, "bytes": size, "ns": p.ns, "cycles": p.cycles} for name, size, p in points]
