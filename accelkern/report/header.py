"""Section 1, the header: what ran where and when (device, clocks, memory, versions, the datasheet entry and how
it was matched), every input file, what was skipped and why, what failed, unreadable input lines."""
from __future__ import annotations

from accelkern.report import facts
from accelkern.report.inputs import Run
from accelkern.report.model import Block, Table


def _values(headers: list[dict], key: str) -> str | None:
    vals = []
    for h in headers:
        v = h.get(key)
        if v not in (None, "") and str(v) not in vals:
            vals.append(str(v))
    return " / ".join(vals) if vals else None


def _what(r) -> str:
    return " ".join(x for x in (r.suite, r.dtype or r.name, r.shape) if x)


def block(run: Run, notes: list[str] | None = None) -> Block:
    h = run.header
    hs = run.headers or [h]
    rows = run.rows
    spec = facts.spec_of(h)
    b = Block(label=run.label)
    items = []
    dev = h.get("device") or "?"
    sms = _values(hs, "sms")
    items.append(["device", f"{dev} ({h.get('device_kind') or '?'})"
                  + (f", {sms} {facts.device_word(h)}" if sms else "")
                  + (f", {h['compute_capability']}" if h.get("compute_capability") else "")])
    clocks = [r.sm_clock_mean_mhz for r in rows if r.sm_clock_mean_mhz]
    if clocks:
        lo = min(r.sm_clock_min_mhz or r.sm_clock_mean_mhz for r in rows if r.sm_clock_mean_mhz)
        hi = max(r.sm_clock_max_mhz or r.sm_clock_mean_mhz for r in rows if r.sm_clock_mean_mhz)
        unit = "core" if h.get("device_kind") == "cpu" else "SM"
        text = f"{unit} {facts.mean(clocks):.0f} MHz mean over {len(clocks)} measurements ({lo:.0f} .. {hi:.0f} MHz)"
    else:
        text = "SM clock not recorded" + (f" (NVML: {h.get('nvml')})" if h.get("nvml") else
                                          " (no NVML telemetry in this run)")
    mem_clk = facts.mean(r.mem_clock_mean_mhz for r in rows)
    if mem_clk:
        text += f"; memory {mem_clk:.0f} MHz"
    if spec and spec.boost_clock_mhz:
        text += f"; datasheet boost {spec.boost_clock_mhz:.0f} MHz"
    items.append(["clocks", text])
    if spec:
        size = f"{spec.memory_gb:g} GB " if spec.memory_gb else ""
        items.append(["memory (datasheet)", f"{size}{spec.memory_type or ''}, {spec.memory_bw_gbps:g} GB/s"
                      + (" per socket" if spec.kind == "cpu" else "")
                      + (f"; TDP {spec.tdp_w:g} W" if spec.tdp_w else "")])
    if h.get("cpu"):
        items.append(["CPU", h["cpu"]])
    for label, key in (("driver", "driver"), ("CUDA", "cuda"), ("torch", "torch"), ("cuBLASLt", "cublaslt"),
                       ("accelkern", "accelkern"), ("python", "python"), ("extension accelkern._C", "extension"),
                       ("NVML", "nvml")):
        v = _values(hs, key)
        if v:
            items.append([label, v])
    if spec:
        items.append(["datasheet entry", f"{spec.name} ({h.get('spec_source') or 'matched'}); source: {spec.source}"])
    else:
        items.append(["datasheet entry", f"none: {h.get('spec_source') or 'no spec recorded'}"])
    items.append(["host", _values(hs, "host") or "?"])
    times = sorted(x.get("time_utc") for x in hs if x.get("time_utc"))
    if times:
        items.append(["when (UTC)", times[0] if len(times) == 1 else f"{times[0]} .. {times[-1]}"])
    b.tables.append(Table(["", ""], items, title="Run"))
    files = []
    for s in run.sources:
        sh = s.header or {}
        n_ok = sum(r.status == "ok" for r in s.rows)
        n_skip = sum(r.status == "skipped" for r in s.rows)
        n_fail = sum(r.status == "failed" or r.correct is False for r in s.rows)
        files.append([sh.get("command") or "?", sh.get("time_utc") or "-", s.path, str(n_ok), str(n_skip),
                      str(n_fail)])
    b.tables.append(Table(["command", "started (UTC)", "file", "ok", "skipped", "failed"], files, title="Inputs",
                          flagged=[f[5] != "0" for f in files]))
    skipped, seen = [], set()
    for r in rows:
        if r.status == "skipped":
            line = f"{_what(r)}: {r.note or 'no reason given'}"
            if line not in seen:
                seen.add(line)
                skipped.append(line)
    failed = [f"{_what(r)}: {r.status if r.status == 'failed' else 'WRONG RESULT'}: {r.note or ''}".rstrip(": ")
              for r in rows if r.status == "failed" or r.correct is False]
    b.bullets += [f"skipped: {x}" for x in skipped] + [f"FAILED: {x}" for x in failed]
    b.bullets += [n for n in (notes or []) if n not in b.bullets]
    b.bullets += [f"input: {p}" for p in run.problems]
    return b


def other_block(run: Run) -> Block | None:
    """Rows of suites this report does not know: listed (what they are and how many), never dropped silently."""
    unknown: dict = {}
    for r in run.rows:
        if not facts.is_known(r.suite):
            unknown.setdefault(r.suite, []).append(r)
    if not unknown:
        return None
    body = []
    for suite, rs in unknown.items():
        names = sorted({r.name for r in rs})
        vals = [f"{r.value:.4g} {r.metric or ''}".strip() for r in rs if r.value is not None][:4]
        body.append([suite, str(len(rs)), ", ".join(names[:6]) + (" ..." if len(names) > 6 else ""),
                     ", ".join(vals) or "-"])
    b = Block(label=run.label)
    b.paragraphs.append("These rows come from suites this report has no section for; they are listed, not drawn.")
    b.tables.append(Table(["suite", "rows", "names", "first values"], body))
    return b
