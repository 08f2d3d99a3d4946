"""A mamf-finder run beside ours: shape by shape where both measured (mean-based TFLOPS on both sides, as
mamf-finder reports), and the two winners. Ours are the measurement rows of an accelkern mamf JSONL (or of
the run just made); a shape we measured several times counts with its best mean."""
from __future__ import annotations

from accelkern.errors import AccelkernError
from accelkern.mamf.candidates import Shape
from accelkern.results import Row


def our_means(rows) -> dict:
    """{Shape: (mean TFLOPS, row)} from ok mamf measurement rows (MAMF summary rows left out)."""
    out: dict = {}
    for r in rows:
        if r.suite != "mamf" or r.status != "ok" or r.name in ("MAMF", "compare") or not r.shape:
            continue
        cfg = r.config or {}
        mean = cfg.get("mean_tflops") or r.value
        try:
            s = Shape(*(int(v) for v in str(r.shape).lower().split("x")))
        except (TypeError, ValueError):
            continue
        if mean and (s not in out or mean > out[s][0]):
            out[s] = (float(mean), r)
    return out


def compare_rows(log, rows) -> tuple[list[Row], list[str]]:
    """Rows named 'compare' (value: ours, config.finder_tflops and ratio) and footer lines with both winners."""
    ours = our_means(rows)
    if not ours:
        raise AccelkernError("--compare-log: no measured mamf rows of ours to compare with (measure first, or give "
                             "an accelkern mamf JSONL with --results)")
    both = [s for s in log.points if s in ours]
    out = []
    for s in both:
        mine, r = ours[s]
        theirs = log.points[s].mean
        out.append(Row(suite="mamf", name="compare", dtype=r.dtype, shape=str(s), metric="TFLOPS", value=mine,
                       backend=r.backend, config={"mode": (r.config or {}).get("mode"), "finder_tflops": theirs,
                                                  "ours_over_finder": mine / theirs, "log": log.path}))
    fs, fp = log.best()
    os_, (om, orow) = max(ours.items(), key=lambda kv: kv[1][0])
    lines = [f"mamf-finder ({log.path}): best {fp.mean:.4g} TFLOPS (mean) at {fs} of {len(log.points)} shapes",
             f"accelkern: best {om:.4g} TFLOPS (mean) at {os_} of {len(ours)} shapes; ours/finder "
             f"{om / fp.mean:.3f}",
             f"{len(both)} shape(s) measured by both" + (
                 f"; ours/finder median {sorted(x.config['ours_over_finder'] for x in out)[len(out) // 2]:.3f}"
                 if out else "")]
    return out, lines
