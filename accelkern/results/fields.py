"""What a results record's fields may hold, checked once when a file is read so that every consumer (report,
compare, replay, --compare-log, the fleet launcher) gets rows whose numbers are finite numbers and whose texts
are texts. A record that breaks a rule is named and left out, never half-used."""
from __future__ import annotations

import math
from dataclasses import fields

from accelkern.results.schema import Row, RunHeader

# no measured figure (FLOPs, bytes, TFLOPS, ms, MHz, W, counts) comes near this; anything past it is damage
LARGEST = 1e24
MAX_CONFIG_DEPTH = 8


def _kind(annotation) -> str:
    """'float | None' -> 'float' (the dataclasses' annotations are strings under `from __future__`)."""
    names = [p.strip() for p in str(annotation).split("|") if p.strip() != "None"]
    return names[0]


ROW_KINDS = {f.name: _kind(f.type) for f in fields(Row)}
HEADER_KINDS = {f.name: _kind(f.type) for f in fields(RunHeader)}

# config keys that report, compare, replay and the fleet compute with (free-form keys are only displayed)
_NUMBERS = ("mean_tflops", "median_tflops", "fleet_median", "ratio_to_median", "waves", "full_waves", "wave_eff",
            "wave_efficiency", "tile_eff", "tile_efficiency", "last_wave_fill", "quantized_flops", "peak_tflops",
            "bytes", "working_set_bytes", "bytes_per_buffer", "busbw_factor", "algbw_gbps", "busbw_gbps",
            "predicted_ms_at_peak", "predicted_us", "predicted_ms_fitted", "predicted_tflops_fitted", "cost_s",
            "finder_tflops", "ours_over_finder")
_COUNTS = ("rank", "local_rank", "world_size", "node", "src", "dst", "ctas", "tiles", "resident", "ctas_per_sm")
_TEXTS = ("mode", "host", "link", "collective", "hint", "cache", "flag_reason")
CONFIG_KINDS = {**{k: "float" for k in _NUMBERS}, **{k: "int" for k in _COUNTS}, **{k: "str" for k in _TEXTS},
                "flagged": "bool"}


def value_problem(kind: str, v) -> str | None:
    """Why `v` cannot stand where a `kind` ('float', 'int', 'bool', 'str', 'dict') belongs; None if it can."""
    if v is None:
        return None
    if kind in ("float", "int"):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"{_show(v)} is not a number"
        if kind == "int" and not (isinstance(v, int) or v.is_integer()):
            return f"{_show(v)} is not a whole number"
        if isinstance(v, float) and not math.isfinite(v):
            return f"{_show(v)} is not a finite number"
        if abs(v) > LARGEST:
            return f"{_show(v)} is out of any measured range"
        return None
    want = {"bool": bool, "str": str, "dict": dict}[kind]
    return None if isinstance(v, want) else f"{_show(v)} is not a {'text' if kind == 'str' else kind}"


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."


def _config_problem(cfg: dict, depth: int = 1) -> str | None:
    if depth > MAX_CONFIG_DEPTH:
        return f"config nested deeper than {MAX_CONFIG_DEPTH} levels"
    for k, v in cfg.items():
        why = value_problem(CONFIG_KINDS[k], v) if depth == 1 and k in CONFIG_KINDS else None
        if why is None and isinstance(v, float):
            why = value_problem("float", v)
        if why is None and isinstance(v, dict):
            why = _config_problem(v, depth + 1)
        if why is None and isinstance(v, list):
            why = _config_problem(dict(enumerate(v)), depth + 1)
        if why:
            return why if why.startswith("config") else f"config {k}: {why}"
    return None


def row_problem(rec: dict) -> str | None:
    """Why a row record (its Row fields) cannot be used, or None."""
    if not isinstance(rec.get("suite"), str) or not isinstance(rec.get("name"), str):
        return "a row without its suite and name"
    for name, kind in ROW_KINDS.items():
        why = value_problem(kind, rec.get(name))
        if why:
            return f"{name} {why}"
    return _config_problem(rec.get("config") or {})


def header_problem(rec: dict) -> str | None:
    """Why a header record cannot be used, or None."""
    for name, kind in HEADER_KINDS.items():
        why = value_problem(kind, rec.get(name))
        if why:
            return f"header {name} {why}"
    return None


def as_row(rec: dict) -> Row:
    """A Row from a record row_problem() accepted (whole numbers of int fields as int)."""
    vals = {k: v for k, v in rec.items() if k in ROW_KINDS}
    for k, v in vals.items():
        if ROW_KINDS[k] == "int" and isinstance(v, float):
            vals[k] = int(v)
    vals["config"] = vals.get("config") or {}
    return Row(**vals)
