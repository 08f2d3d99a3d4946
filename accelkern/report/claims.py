"""Section 2, claims vs measured: per datasheet dtype the vendor's peak, the architectural peak at the observed
SM clock, the compute-only peak (`peak`) and the achievable GEMM (MAMF, else the best `gemm`); memory likewise.
One sentence per row says what explains the gap, from the rows' clocks, power, throttle reasons and waves."""
from __future__ import annotations

from dataclasses import dataclass, field

from accelkern import specs
from accelkern.report import facts, plots
from accelkern.report.model import Block, Figure, Table
from accelkern.results import Row
from accelkern.units import format_value

MEMORY_ORDER = ("copy", "read", "write", "triad", "ce", "torch")
MEMORY_LABEL = {"ce": "copy engine", "torch": "Tensor.copy_"}


@dataclass
class ComputeClaim:
    dtype: str                      # datasheet column
    metric: str                     # TFLOPS | TOPS
    datasheet: float | None
    at_clock: float | None          # architectural peak at `clock`
    clock: float | None             # mean SM clock (MHz) of the row the at-clock figure refers to
    compute_only: Row | None
    achievable: Row | None
    achievable_label: str = ""
    gap: str = ""
    datasheet_label: str = "datasheet"   # a CPU without a published figure: the architectural peak at nominal


@dataclass
class MemoryClaim:
    datasheet: float | None         # TB/s
    theoretical: float | None       # memory clock x bus width x 2, as the rows give it
    kernels: dict = field(default_factory=dict)   # kernel -> best Row
    gaps: dict = field(default_factory=dict)      # kernel -> sentence


def _best(rows):
    rows = [r for r in rows if facts.ok(r)]
    return max(rows, key=lambda r: r.value) if rows else None


def compute_claims(rows: list[Row], header: dict) -> list[ComputeClaim]:
    spec = facts.spec_of(header)
    arch = facts.arch_of(header) or (spec.arch if spec else None)
    sms = header.get("sms")
    by_dtype: dict[str, dict] = {}
    for r in rows:
        if not facts.ok(r):
            continue
        dt = facts.spec_dtype(r, header)
        if dt not in specs.DTYPES:
            continue   # SIMT variants (fp16_simt ...) have no datasheet column
        slot = by_dtype.setdefault(dt, {"peak": [], "mamf": [], "gemm": []})
        if r.suite == "peak":
            slot["peak"].append(r)
        elif r.suite == "mamf" and r.name == "MAMF":
            slot["mamf"].append(r)
        elif r.suite in ("gemm", "gemm-torch") and facts.is_gemm(r):
            slot["gemm"].append(r)
    out = []
    for dt in specs.DTYPES:
        slot = by_dtype.get(dt)
        if not slot or not (slot["peak"] or slot["mamf"] or slot["gemm"]):
            continue
        peak = _best(slot["peak"])
        mamf = _best(slot["mamf"])
        gemm = _best(slot["gemm"])
        ach, label = (mamf, "MAMF") if mamf else (gemm, f"best gemm, {gemm.backend or gemm.name}" if gemm else "")
        ref = ach or peak
        datasheet = (spec.peak(dt) if spec else None) or ref.spec_value
        nominal = (ref.config or {}).get("peak_at_nominal") if header.get("device_kind") == "cpu" else None
        clock = ref.sm_clock_mean_mhz
        at_clock = ref.clock_peak if ref.clock_peak else (
            specs.peak_at_clock_tflops(arch, dt, sms or 0, clock or 0, header.get("device"))
            if header.get("device_kind") == "cuda" else None)
        c = ComputeClaim(dt, ref.metric or "TFLOPS", datasheet, at_clock, clock, peak, ach, label)
        if not datasheet and nominal:
            c.datasheet = nominal
            c.datasheet_label = f"arch. @ nominal {(ref.config or {}).get('nominal_mhz', 0):.0f} MHz"
        c.gap = cpu_gap(c, ref) if header.get("device_kind") == "cpu" else compute_gap(c, spec, header)
        out.append(c)
    return out


def cpu_gap(c: ComputeClaim, ref: Row) -> str:
    """A CPU row's gap: the clock it ran at against the nominal one, its efficiency at that clock (measured /
    cores x FLOP/clk/core x clock), how far the GEMM gets toward the compute-only peak, and the path torch took."""
    r = c.achievable or c.compute_only
    cfg = r.config or {}
    parts = []
    if c.datasheet and c.datasheet_label != "datasheet":
        parts.append(f"{100.0 * r.value / c.datasheet:.1f}% of the architectural peak at the nominal clock")
    elif c.datasheet:
        parts.append(f"{100.0 * r.value / c.datasheet:.1f}% of the datasheet")
    nominal = cfg.get("nominal_mhz")
    if c.clock and nominal:
        parts.append(f"cores at {c.clock:.0f} MHz, {c.clock / nominal:.0%} of the nominal {nominal:.0f} MHz")
    elif c.clock is None:
        parts.append("no core clock was recorded, so the clock's share is unknown")
    if c.at_clock:
        parts.append(f"{r.value / c.at_clock:.0%} of the architectural peak at that clock "
                     f"({r.flop_per_clk_per_sm:.1f} FLOP/clk/core)" if r.flop_per_clk_per_sm else
                     f"{r.value / c.at_clock:.0%} of the architectural peak at that clock")
    elif r.note and "rate" in r.note:
        parts.append("no per-clock rate for this path in the table")
    if c.achievable is not None and c.compute_only is not None and c.compute_only.value:
        parts.append(f"the GEMM reaches {c.achievable.value / c.compute_only.value:.0%} of the compute-only peak "
                     f"({c.compute_only.backend})")
    if cfg.get("torch_path"):
        parts.append(f"torch's path: {cfg['torch_path']}")
    if cfg.get("on_cpu") is not None and cfg["on_cpu"] < 0.95:
        parts.append(f"threads on their cores {cfg['on_cpu']:.0%} of the time (another process competed)")
    return "; ".join(parts) or "measured figures only (no rate table entry for this CPU)"


def _no_spec_reason(header: dict) -> str:
    if header.get("device_kind") == "cpu":
        return ("CPU run: no datasheet entry matched, so no gap to a vendor figure is computed (the compute rows "
                "set the architectural peak at the measured clock beside each figure)")
    return f"no datasheet entry ({header.get('spec_source') or 'none matched'}): measured figures only"


def compute_gap(c: ComputeClaim, spec: specs.Spec | None, header: dict) -> str:
    """What explains the distance to the datasheet, in one sentence built from the row's own fields."""
    r = c.achievable or c.compute_only
    if not c.datasheet:
        return _no_spec_reason(header) if spec is None else (spec.why_no_peak(c.dtype) + ": measured figures only")
    parts = []
    pct_spec = 100.0 * r.value / c.datasheet
    implied = specs.spec_clock_mhz(spec, c.dtype) if spec else None
    clock_factor = c.clock / implied if (c.clock and implied) else None
    eff = (r.value / c.at_clock) if c.at_clock else None
    if clock_factor is not None:
        boost = spec.boost_clock_mhz
        parts.append(f"mean SM clock {c.clock:.0f} MHz, {clock_factor:.0%} of the {implied:.0f} MHz the datasheet's "
                     f"{c.dtype} figure implies" + (f" (boost clock {boost:.0f} MHz)"
                                                    if boost and abs(boost - implied) > 0.02 * boost else ""))
    elif c.clock is None:
        parts.append(f"no SM clock was recorded (NVML: {header.get('nvml') or 'not sampled'}), so the clock's share "
                     "is unknown")
    if eff is not None:
        parts.append(f"{eff:.0%} of the architectural peak at that clock")
    if r.power_mean_w:
        p = f"power {r.power_mean_w:.0f} W" + (f" of the {r.power_limit_w:.0f} W limit" if r.power_limit_w else "")
        reasons = facts.throttle_reasons(r)
        parts.append(p + (f", throttle: {', '.join(reasons)}" if reasons else ", no throttle reason"))
    cfg = r.config or {}
    we = cfg.get("wave_eff", cfg.get("wave_efficiency"))
    if we is not None:
        te = cfg.get("tile_eff", cfg.get("tile_efficiency"))
        w = cfg.get("waves")
        parts.append((f"{w:.2f} waves: " if isinstance(w, (int, float)) else "") + f"wave efficiency {we:.0%}"
                     + (f", tile efficiency {te:.0%}" if te is not None else ""))
    if c.achievable is not None and c.compute_only is not None and c.compute_only.value:
        parts.append(f"the GEMM reaches {c.achievable.value / c.compute_only.value:.0%} of the compute-only peak "
                     f"({c.compute_only.backend})")
    verdict = ""
    if clock_factor is not None and eff is not None:
        clock_loss, eff_loss = 1 - clock_factor, 1 - eff
        if clock_loss > eff_loss:
            verdict = "the clock" + (" (power cap)" if facts.power_capped(r) else "")
        else:
            verdict = "the kernel's efficiency at its clock"
        verdict = (f"; {clock_factor:.0%} clock x {eff:.0%} efficiency = {clock_factor * eff:.0%}: "
                   f"the larger loss is {verdict}")
    return f"{pct_spec:.1f}% of the datasheet: " + "; ".join(parts) + verdict


def memory_claim(rows: list[Row], header: dict) -> MemoryClaim | None:
    spec = facts.spec_of(header)
    # a cache-level figure (validate's 'L2: read' on a CPU: one set reused on purpose) is no memory claim
    mem = [r for r in rows if r.suite == "hbm" and facts.ok(r) and r.metric == "TB/s"
           and not str((r.config or {}).get("cache") or "").startswith("hot")]
    kernels = {}
    for k in MEMORY_ORDER:
        best = _best([r for r in mem if facts.memory_kernel(r) == k])
        if best is not None:
            kernels[k] = best
    if not kernels:
        return None
    datasheet = (spec.memory_bw_bytes_s / 1e12 if spec and header.get("device_kind") == "cuda" else None) or \
        facts.mean(r.spec_value for r in kernels.values())
    theo = max((r.theoretical_value for r in kernels.values() if r.theoretical_value), default=None)
    mc = MemoryClaim(datasheet, theo, kernels)
    for k, r in kernels.items():
        mc.gaps[k] = memory_gap(r, mc, header)
    return mc


def memory_gap(r: Row, mc: MemoryClaim, header: dict) -> str:
    if header.get("device_kind") == "cpu":
        return cpu_memory_gap(r)
    if not mc.datasheet:
        return _no_spec_reason(header)
    parts = [f"{100.0 * r.value / mc.datasheet:.1f}% of the datasheet {mc.datasheet:.3g} TB/s"]
    if r.theoretical_value:
        parts.append(f"{100.0 * r.value / r.theoretical_value:.0f}% of memory clock x bus width x 2 "
                     f"({r.theoretical_value:.3g} TB/s" + (f" at {r.mem_clock_mean_mhz:.0f} MHz)"
                                                           if r.mem_clock_mean_mhz else ")"))
        if r.theoretical_value < 0.98 * mc.datasheet:
            parts.append(f"the memory clock seen allows only {100.0 * r.theoretical_value / mc.datasheet:.0f}% of "
                         "the datasheet")
    if r.one_direction:
        parts.append(f"one direction {r.one_direction:.3g} TB/s")
    reasons = facts.throttle_reasons(r)
    if r.power_mean_w:
        parts.append(f"power {r.power_mean_w:.0f} W" + (f", throttle: {', '.join(reasons)}" if reasons else ""))
    cache = (r.config or {}).get("cache")
    if cache:
        parts.append(f"cache: {cache}")
    return "; ".join(parts)


def cpu_memory_gap(r: Row) -> str:
    """A CPU memory row (accelkern's kernels): % of the theoretical DRAM figure and its source, or why there is
    none; the write-allocate traffic of normal stores, threads, ISA path and core clock."""
    c = r.config or {}
    parts = []
    if r.theoretical_value:
        parts.append(f"{100.0 * r.value / r.theoretical_value:.1f}% of the theoretical {r.theoretical_value * 1e3:.4g} "
                     f"GB/s ({c.get('theoretical_source') or 'channels x MT/s x 8 B'})")
    else:
        parts.append("no theoretical DRAM figure (no datasheet entry with memory channels, no readable dmidecode; "
                     "--spec NAME gives one)")
    if c.get("stores") == "normal" and c.get("memory_traffic_tbps"):
        parts.append(f"normal stores also read each line first: the memory moved "
                     f"{c['memory_traffic_tbps'] * 1e3:.4g} GB/s")
    elif c.get("stores") == "streaming":
        parts.append("streaming stores (no write-allocate read)")
    clock = f", core {r.sm_clock_mean_mhz:.0f} MHz" if r.sm_clock_mean_mhz else ""
    if c.get("path"):
        parts.append(f"{c.get('threads')} pinned thread(s), {c['path']}{clock}")
    else:
        parts.append(f"torch's op on torch's threads{clock}")
    if r.one_direction:
        parts.append(f"one direction {r.one_direction * 1e3:.4g} GB/s")
    return "; ".join(parts)


def _scaled(groups: list[dict]) -> list[dict]:
    """Each chart group in the unit its largest bar reads best in (0.0689 TFLOPS -> 68.9 GFLOPS)."""
    for g in groups:
        top = max((x["value"] for x in g["bars"]), default=0)
        base = {"TFLOPS": "FLOPS", "TOPS": "OPS", "TB/s": "B/s"}.get(g["unit"])
        if base is None or top <= 0:
            continue
        for p, f in (("T", 1.0), ("G", 1e3), ("M", 1e6), ("k", 1e9)):
            if top * f >= 1 or p == "k":
                break
        if f != 1.0:
            g["unit"] = f"{p}{base}"
            for x in g["bars"]:
                x["value"] *= f
    return groups


def _pct_text(v, ref) -> str:
    p = facts.pct(v, ref)
    return "-" if p is None else f"{p:.1f}%"


def _common_gap(gaps: list[str]) -> str | None:
    """The one sentence every row shares when none has a datasheet figure (said once, not per row)."""
    if len(gaps) >= 1 and len(set(gaps)) == 1 and "% of the datasheet" not in gaps[0]:
        return gaps[0]
    return None


def block(rows: list[Row], header: dict) -> Block | None:
    claims = compute_claims(rows, header)
    mc = memory_claim(rows, header)
    if not claims and mc is None:
        return None
    b = Block()
    groups = []
    head = ["dtype", "datasheet", "peak at observed clock", "compute-only (peak)", "achievable GEMM",
            "% of datasheet", "what explains the gap"]
    body = []
    for c in claims:
        bars = []
        if c.datasheet:
            bars.append({"label": c.datasheet_label, "value": c.datasheet, "pct": 100.0, "kind": "datasheet"})
        if c.at_clock:
            bars.append({"label": f"arch. @ {c.clock:.0f} MHz", "value": c.at_clock,
                         "pct": facts.pct(c.at_clock, c.datasheet), "kind": "clock"})
        if c.compute_only:
            bars.append({"label": f"peak ({c.compute_only.backend})", "value": c.compute_only.value,
                         "pct": facts.pct(c.compute_only.value, c.datasheet), "kind": "peak"})
        if c.achievable:
            bars.append({"label": c.achievable_label, "value": c.achievable.value,
                         "pct": facts.pct(c.achievable.value, c.datasheet), "kind": "gemm"})
        groups.append({"title": c.dtype, "unit": c.metric, "bars": bars})
        ref = c.achievable or c.compute_only
        body.append([c.dtype, (format_value(c.datasheet, c.metric)
                               + ("" if c.datasheet_label == "datasheet" else f" ({c.datasheet_label})"))
                     if c.datasheet else "-",
                     f"{format_value(c.at_clock, c.metric)} @ {c.clock:.0f} MHz" if c.at_clock else "-",
                     f"{format_value(c.compute_only.value, c.metric)} ({c.compute_only.backend}, "
                     f"{c.compute_only.name})" if c.compute_only else "-",
                     f"{format_value(c.achievable.value, c.metric)} ({c.achievable_label}, {c.achievable.shape})"
                     if c.achievable else "-",
                     _pct_text(ref.value, c.datasheet), c.gap])
    common = _common_gap([row[-1] for row in body])
    if common:
        head, body = head[:-1], [row[:-1] for row in body]
        b.paragraphs.append(common[0].upper() + common[1:] + ".")
    if claims:
        b.tables.append(Table(head, body, title="Compute: datasheet vs measured"))
    if mc is not None:
        cpu = header.get("device_kind") == "cpu"
        # a CPU has no vendor bandwidth figure per part in use: its reference is channels x MT/s x 8 B
        ref = mc.datasheet or (mc.theoretical if cpu else None)
        bars = []
        if mc.datasheet:
            bars.append({"label": "datasheet", "value": mc.datasheet, "pct": 100.0, "kind": "datasheet"})
        if mc.theoretical:
            bars.append({"label": "channels x MT/s x 8 B" if cpu else "clock x bus",
                         "value": mc.theoretical,
                         "pct": facts.pct(mc.theoretical, ref),
                         "kind": "clock"})
        mbody = []
        for k, r in mc.kernels.items():
            bars.append({"label": MEMORY_LABEL.get(k, k), "value": r.value, "pct": facts.pct(r.value, ref),
                         "kind": "memory"})
            mbody.append([MEMORY_LABEL.get(k, k), r.kernel or r.name, r.shape or "-", format_value(r.value, "TB/s"),
                          _pct_text(r.value, ref), mc.gaps[k]])
        groups.append({"title": "memory (read + write counted)", "unit": "TB/s", "bars": bars})
        mhead = ["kernel", "implementation", "size", "measured", "% of theoretical" if cpu and not mc.datasheet
                 else "% of datasheet", "what explains the gap"]
        mcommon = _common_gap([row[-1] for row in mbody])
        if mcommon:
            mhead, mbody = mhead[:-1], [row[:-1] for row in mbody]
            if mcommon != common:
                b.paragraphs.append(mcommon[0].upper() + mcommon[1:] + ".")
        b.tables.append(Table(mhead, mbody, title="Memory: datasheet vs measured"))
    b.figures.append(Figure("claims", "Datasheet vs measured per dtype and for memory; each bar labelled with its "
                                      "value and % of the datasheet.", plots.claims_chart(_scaled(groups))))
    return b
