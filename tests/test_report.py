"""accelkern report: pages built from real CPU runs made here and from a GPU-like results file written the way a
CUDA run writes its rows, checked for the figures they state, opened in headless chromium, and bad inputs."""
import base64
import json
import math
import os
import re
import shutil
import statistics
import subprocess

import pytest
from click.testing import CliRunner

from accelkern import report as rp
from accelkern import specs, waves
from accelkern.cli import cli
from accelkern.fleet import outliers
from accelkern.report import model
from accelkern.results import ResultWriter, Row, RunHeader, read_jsonl

FLEET_GEMM = [745.0, 750.0, 748.0, 752.0, 747.0, 640.0, 751.0, 749.0]   # TFLOPS per rank: rank 5 is slow
SECTION_IDS = ("header", "claims", "roofline", "mamf", "waves", "memory", "telemetry", "fleet")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# ---- a GPU-like run: rows as a CUDA device writes them ----------------------------------------------------

H200_SMS, CLOCK, POWER, LIMIT = 132, 1500.0, 695.0, 700.0


def _tele(row: Row, clock=CLOCK, power=POWER, throttle="power cap") -> Row:
    row.sm_clock_mean_mhz, row.sm_clock_min_mhz, row.sm_clock_max_mhz = clock, clock - 90, clock + 255
    row.mem_clock_mean_mhz, row.power_mean_w, row.power_max_w, row.power_limit_w = 2619.0, power, power + 7, LIMIT
    row.temp_max_c, row.throttle = 71.0, throttle
    return row


def _gemm(suite, name, dtype, m, n, k, tflops, spec, **cfg) -> Row:
    flops = 2.0 * m * n * k
    r = Row(suite=suite, name=name, dtype=dtype, shape=f"{m}x{n}x{k}", layout="tn", backend="cublaslt",
            kernel=cfg.pop("kernel", "algo 21 tile 128x256"), config=cfg, samples=40, median_ms=flops / tflops / 1e9,
            rel_stddev=0.004, flops=flops, metric="TFLOPS", value=tflops, spec_value=spec,
            pct_of_spec=100 * tflops / spec,
            correct=True, timer="cuda_events")
    _tele(r)
    r.clock_peak = specs.peak_at_clock_tflops("sm_90", "bf16" if dtype == "bf16" else "fp8", H200_SMS, CLOCK)
    return r


def gpu_rows() -> list[Row]:
    rows = []
    rows.append(_gemm("gemm-torch", "torch.mm", "bf16", 8192, 8192, 8192, 700.0, 989.5))
    rows.append(_gemm("gemm", "cublasLt", "fp8", 8192, 8192, 8192, 1300.0, 1978.9))
    for m in (4096, 8192, 12288):                               # a grid search: a heat map over M x N
        for n in (4096, 8192, 12288):
            rows.append(_gemm("mamf", "search", "bf16", m, n, 8192, 700.0 + n / 512 - abs(m - 8192) / 512, 989.5,
                              mode="cold-cache", tile="128x256", cluster="2x1x1"))
    win = dict(mode="cold-cache", tile="128x256", cluster="2x1x1", waves=2.91, wave_eff=0.97, tile_eff=1.0)
    for v in (758.0, 760.0, 763.0):
        rows.append(_gemm("mamf", "re-measure", "bf16", 8192, 12288, 8192, v, 989.5, **win))
    rows.append(_gemm("mamf", "MAMF", "bf16", 8192, 12288, 8192, 760.0, 989.5, search="grid", shapes_tried=9,
                      measuring_s=41.0, repeats=3, other_mode={"mode": "sustained", "tflops": 731.0,
                                                              "sm_clock_mhz": 1440.0, "power_w": 699.0}, **win))
    rows[-1].rel_stddev = (763.0 - 758.0) / 760.0
    peak = Row(suite="peak", name="wgmma.m64nNk16 bf16->f32", dtype="bf16", shape="m64n256k16", backend="wgmma",
               kernel="wgmma bf16 [8w x1]", config={"spec_dtype": "bf16"}, metric="TFLOPS", value=800.0,
               spec_value=989.5, correct=True, flops=1e12)
    _tele(peak, clock=1600.0)
    peak.clock_peak = specs.peak_at_clock_tflops("sm_90", "bf16", H200_SMS, 1600.0)
    rows.append(peak)
    for kernel, tbps in (("copy", 4.10), ("read", 4.30), ("write", 4.20), ("triad", 4.15), ("ce", 3.90),
                         ("torch", 4.00)):
        n = 2 << 30
        rd, wr = {"copy": (n, n), "read": (n, 0), "write": (0, n), "triad": (2 * n, n)}.get(kernel, (n, n))
        r = Row(suite="hbm", name=kernel, shape="2GiB", backend="accelkern", kernel=f"{kernel}_v16",
                config={"hint": "stream", "cache": "cold: one set >= 8x the 60 MiB cache"}, bytes_read=rd,
                bytes_written=wr, metric="TB/s", value=tbps, one_direction=tbps / 2, spec_value=4.8,
                pct_of_spec=100 * tbps / 4.8, theoretical_value=4.9, pct_of_theoretical=100 * tbps / 4.9,
                correct=True, median_ms=(rd + wr) / tbps / 1e9)
        rows.append(_tele(r, power=520.0, throttle="none"))
    for e in range(20, 33):                                     # 1 MiB .. 4 GiB: a 60 MiB cache, then HBM
        ws = 1 << e
        tbps = 10.5 if ws <= 32 << 20 else (7.0 if ws <= 64 << 20 else 4.3)
        r = Row(suite="hbm-sweep", name="read", shape=f"{ws >> 20}MiB", backend="accelkern", kernel="read_v16",
                config={"hint": "stream", "working_set_bytes": ws, "cache": "hot: one set reused",
                        "timing_settled": True}, bytes_read=ws,
                metric="TB/s", value=tbps, correct=True, median_ms=1.0)
        rows.append(_tele(r, power=480.0, throttle="none"))
    launch = waves.Launch(128, 256, H200_SMS, 1)
    for n in range(128, 2049, 128):                             # a sweep along N, the model's quantization
        a = waves.analyze(8192, n, 8192, launch)
        t = a.quantized_flops / 780e12 + 8e-6
        r = _gemm("waves", "sweep", "bf16", 8192, n, 8192, a.useful_flops / t / 1e12, 989.5,
                  kernel="algo 21 tile 128x256" if n < 1024 else "algo 23 tile 256x128", tiles=a.tiles, ctas=a.ctas,
                  waves=a.waves, full_waves=a.full_waves, wave_efficiency=a.wave_efficiency,
                  last_wave_fill=a.last_wave_fill, tile_efficiency=a.tile_efficiency,
                  quantized_flops=a.quantized_flops, model_tile="128x256", model_source="tile given by hand")
        r.median_ms = t * 1e3
        rows.append(r)
    for cps in (1, 2):
        res = H200_SMS * cps
        for c in sorted({1, res // 2, res, res + 1, 2 * res, 2 * res + 1, 3 * res}):
            us = 10.0 * math.ceil(c / res) + 2.0
            r = Row(suite="waves", name="staircase", dtype="fp32", shape=f"{c} CTAs", backend="accelkern",
                    kernel="staircase_ffma", metric="us", value=us, correct=True,
                    config={"ctas": c, "ctas_per_sm": cps, "resident": res, "model_ctas_per_sm": cps,
                            "runtime_ctas_per_sm": cps, "predicted_us": us})
            rows.append(_tele(r, throttle="none"))
    # the fleet's flags come from the detector itself, as `accelkern fleet` writes them
    fleet = [Row(suite="fleet-gemm", name="torch.mm", dtype="bf16", shape="8192x8192x8192", metric="TFLOPS",
                 value=v, config={"rank": rank, "local_rank": rank, "world_size": 8, "host": "gpu-node-1",
                                  "node": 0, "device_id": rank})
             for rank, v in enumerate(FLEET_GEMM)]
    for coll, scale in (("all_reduce", 1.0), ("all_gather", 0.8)):
        for e in range(20, 31, 2):
            bw = scale * 480.0 * (1 - 0.9 ** (e - 19))
            fleet.append(Row(suite="fleet-collectives", name=coll, dtype="fp32", shape=f"{1 << (e - 20)}MiB",
                             metric="GB/s", value=bw, config={"rank": 0, "world_size": 8, "collective": coll,
                                                              "bytes": 1 << e, "algbw_gbps": bw / 1.75,
                                                              "busbw_gbps": bw}))
    for s in range(4):
        for d in range(4):
            if s != d:
                v = 120.0 if (s, d) == (2, 3) else 380.0
                fleet.append(Row(suite="fleet-p2p", name="send/recv", dtype="fp32", shape="256MiB", metric="GB/s",
                                 value=v, config={"src": s, "dst": d, "rank": s, "bytes": 256 << 20,
                                                  "link": "nvlink"}))
    outliers.flag_rows(fleet, tolerance_pct=5.0)
    assert [r.config["rank"] for r in fleet if r.config["flagged"] and r.suite == "fleet-gemm"] == [5]
    assert outliers.flagged_pairs(fleet) == [(2, 3)]
    rows += fleet
    rows.append(Row(suite="gemm", name="cublas", dtype="fp8", backend="cublas", status="skipped",
                    note="cublasGemmEx offers no fp8"))
    rows.append(Row(suite="frobnicate", name="widget", metric="things/s", value=3.0))
    return rows


def h200_header(**kw) -> RunHeader:
    base = dict(command="validate", device="NVIDIA H200", device_kind="cuda", sms=H200_SMS,
                compute_capability="sm_90", driver="570.124.06", cuda="13.0", torch="2.11.0+cu130",
                cublaslt="130100", accelkern="0.1.0", extension="built", spec="NVIDIA H200 SXM 141GB",
                spec_source="matched 'NVIDIA H200'", nvml="ok", host="gpu-node-1", python="3.12.3",
                time_utc="2026-11-30T10:00:00+00:00")
    base.update(kw)
    return RunHeader(**base)


def write_run(directory, header: RunHeader, rows: list[Row], stem="validate") -> str:
    w = ResultWriter(str(directory), header, stem=stem)
    for r in rows:
        w.write(r)
    w.close()
    return os.path.join(str(directory), f"{stem}.jsonl")


@pytest.fixture(scope="module")
def gpu_page(tmp_path_factory):
    d = tmp_path_factory.mktemp("gpu")
    write_run(d / "run", h200_header(), gpu_rows())
    r = invoke("report", d / "run", "--out", d / "page" / "report.html", "--title", "H200 page")
    assert r.exit_code == 0, r.output
    html = (d / "page" / "report.html").read_text()
    return d, html


def _text(html: str) -> str:
    """The page's text, tags removed and entities of the template's escaping undone."""
    t = re.sub(r"<[^>]+>", " ", re.sub(r'src="data:[^"]+"', "", html))
    return " ".join(t.replace("&#39;", "'").replace("&amp;", "&").replace("&gt;", ">").replace("&lt;", "<").split())


def test_gpu_page_has_every_section_and_the_gap_explained(gpu_page):
    _d, html = gpu_page
    for sid in SECTION_IDS + ("other",):
        assert f'<section id="{sid}">' in html, sid
    assert 'id="absent"' not in html            # every section has data
    text = _text(html)
    # the MAMF row: 760 of 989.5 TFLOPS; the datasheet's bf16 figure implies 989.5e12 / (4096 x 132) Hz
    implied = 989.5e12 / (4096 * H200_SMS) / 1e6
    at_clock = 4096 * H200_SMS * CLOCK * 1e6 / 1e12
    assert f"{100 * 760 / 989.5:.1f}% of the datasheet" in text
    assert f"mean SM clock 1500 MHz, {CLOCK / implied:.0%} of the {implied:.0f} MHz" in text
    assert "(boost clock 1980 MHz)" in text
    assert f"{760 / at_clock:.0%} of the architectural peak at that clock" in text
    assert "power 695 W of the 700 W limit, throttle: power cap" in text
    assert "2.91 waves: wave efficiency 97%, tile efficiency 100%" in text
    assert f"the GEMM reaches {760 / 800:.0%} of the compute-only peak (wgmma)" in text
    assert "the larger loss is the clock (power cap)" in text         # 18% lost to the clock, 6% elsewhere
    # memory: copy 4.10 of 4.8 TB/s; clock x bus 4.9
    assert f"{100 * 4.10 / 4.8:.1f}% of the datasheet 4.8 TB/s" in text
    assert f"{100 * 4.10 / 4.9:.0f}% of memory clock x bus width x 2" in text
    # the sweep's cache -> memory transition: halfway (7.4 TB/s) between the 10.5 plateau and the 4.3 of the largest
    # sizes, interpolated in log size between 32 MiB (10.5) and 64 MiB (7.0)
    from accelkern.units import format_bytes
    assert f"read 13 10.5 TB/s at 1 MiB 4.3 TB/s (largest 3 sizes) {format_bytes(2 ** (25 + 3.1 / 3.5))}" in text
    # roofline ridge point bf16: 989.5 TFLOPS / 4.8 TB/s
    assert f"bf16: {989.5 / 4.8:.0f} FLOP/byte" in text
    # MAMF winner and its re-measures
    assert "re-measures 758 TFLOPS, 760 TFLOPS, 763 TFLOPS" in text
    assert f"{(763 - 758) / 760:.1%}" in text
    # the skipped row and the unknown suite are listed
    assert "skipped: gemm fp8: cublasGemmEx offers no fp8" in text
    assert "frobnicate" in html.split('<section id="other">')[1]


def test_gpu_page_waves_fleet_and_telemetry_from_the_rows(gpu_page):
    _d, html = gpu_page
    text = _text(html)
    rows = [r for r in gpu_rows() if r.suite == "waves" and r.name == "sweep"]
    vals = [r.value for r in rows]
    dips = [rows[i].shape.split("x")[1] for i in range(1, len(vals) - 1)
            if vals[i] <= 0.97 * min(vals[i - 1], vals[i + 1])]
    assert dips, "the model's quantization must leave dips in this sweep"
    for n in dips:
        assert f"dip at N={n}:" in text
    assert "algorithm switch at N=1024: algo 21 tile 128x256 -> algo 23 tile 256x128" in text
    assert "Pearson r = 1.0000 on time" in text           # the rows follow the model exactly
    fleet = html.split('<section id="fleet">')[1].split("</section>")[0]
    flagged = re.findall(r'<tr class="flagged">(.*?)</tr>', fleet, re.DOTALL)
    assert len(flagged) == 1 and ">5<" in flagged[0] and "FLAGGED" in flagged[0]
    assert "rank 5 on gpu-node-1 (device 5)" in text
    assert f"{640 / statistics.median(FLEET_GEMM):.3f}x the fleet median" in text
    assert "p2p: 12 pair(s), 120 GB/s .. 380 GB/s (median 380 GB/s)" in text
    tele = _text(html.split('<section id="telemetry">')[1].split("</section>")[0])
    n_tele = sum(1 for r in gpu_rows() if r.status == "ok" and r.sm_clock_mean_mhz is not None)
    n_capped = sum(1 for r in gpu_rows() if r.throttle == "power cap")
    assert f"throttle: power cap {n_capped} of {n_tele} measurements" in tele


def test_gpu_page_images_are_inline_pngs_and_the_markdown_has_them_beside_it(gpu_page):
    d, html = gpu_page
    assert not re.search(r'(?:src|href)\s*=\s*"(?:https?:)?//', html)
    assert "http://" not in html and "https://" not in html
    style = html.split("<style>")[1].split("</style>")[0]
    assert '"DejaVu Sans"' in style and "&#34;" not in style and "@media print" in style   # CSS not escaped
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)" width="(\d+)" height="(\d+)"', html)
    assert len(uris) >= 10
    for data, w, h in uris:
        png = base64.b64decode(data)
        assert model.png_size(png) == (int(w), int(h)) and int(w) > 200 and int(h) > 150
    md = (d / "page" / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", md)
    assert len(linked) == len(uris)
    for name in linked:
        png = (d / "page" / name).read_bytes()
        assert model.png_size(png)[0] > 200
    assert "| dtype | datasheet |" in md and "## 8. Fleet" in md


# ---- real CPU runs -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cpu_runs(tmp_path_factory):
    """Small real runs on this CPU: validate (fp32 and tf32 only, to stay fast) with --report, an hbm sweep and
    fixed-size kernels, a mamf search and a waves sweep through torch with the model's tile given by hand."""
    import accelkern.validate as v
    d = tmp_path_factory.mktemp("cpu")
    cmds = [
        ("hbm", "--device", "cpu", "--sweep", "--sweep-min", "256KiB", "--sweep-max", "4MiB", "--steps", "1",
         "--time", "0.05", "--out", d / "hbm_sweep"),
        ("hbm", "--device", "cpu", "--kernel", "copy,triad", "--size", "4MiB", "--time", "0.05",
         "--out", d / "hbm"),
        ("mamf", "--device", "cpu", "--dtype", "fp32", "--budget", "0.3", "--warmup", "0", "--max-dim", "256",
         "--top", "1", "--repeats", "2", "--out", d / "mamf"),
        ("waves", "sweep", "--device", "cpu", "--backend", "torch", "--m", "256", "--n", "64:513:64", "--k", "128",
         "--tile", "128x128", "--sms", "2", "--max-time", "0.03", "--out", d / "waves"),
        ("validate", "--device", "cpu", "--suite", "gemm-torch", "--budget", "5", "--out", d / "validate",
         "--report", d / "validate_page" / "report.html"),
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(v, "VALIDATE_GEMM_DTYPES", ("fp32", "tf32"))
        for c in cmds:
            r = invoke(*c)
            assert r.exit_code == 0, (c, r.output)
    r = invoke("report", d, "--out", d / "page")
    assert r.exit_code == 0, r.output
    return d, (d / "page" / "report.html").read_text()


def test_cpu_page_states_the_measured_rows(cpu_runs):
    d, html = cpu_runs
    for sid in ("header", "claims", "roofline", "mamf", "waves", "memory"):
        assert f'<section id="{sid}">' in html, sid
    absent = html.split('<section id="absent">')[1]
    assert "Fleet" in absent and "accelkern fleet" in absent
    assert '<section id="telemetry">' in html     # the core clock measured after each CPU measurement
    text = _text(html)
    from accelkern.units import format_value
    assert "skipped: gemm-torch tf32:" in text
    # a CPU run's claims: the architectural peak at the nominal and at the measured core clock, and the gap
    assert "arch. @ nominal" in text and "of the architectural peak at that clock" in text
    assert "MHz" in text and "of the nominal" in text
    _h, mrows = read_jsonl(str(d / "mamf" / "mamf.jsonl"))
    winner = next(r for r in mrows if r.name == "MAMF")
    assert f"MAMF {format_value(winner.value, 'TFLOPS')}" in text and winner.shape in text
    for name in ("hbm_sweep.jsonl", "mamf.jsonl", "validate.jsonl", "waves_sweep.jsonl", "hbm.jsonl"):
        assert name in text
    assert "model vs measured: Pearson r" in text                        # the sweep refitted from its rows
    # validate --report wrote its own page of the same run, with the footer's skip lines
    vpage = _text((d / "validate_page" / "report.html").read_text())
    assert "CUDA kernels, cuBLAS/cuBLASLt and NVML telemetry: no CUDA device in this run" in vpage
    _h, vrows = read_jsonl(str(d / "validate" / "validate.jsonl"))
    fp32 = next(r for r in vrows if r.dtype == "fp32" and r.status == "ok")
    # the GEMM the page states, recomputed from the row's FLOPs and median time
    assert f"{format_value(fp32.flops / (fp32.median_ms * 1e-3) / 1e12, 'TFLOPS')} (best gemm, torch" in vpage
    assert (d / "validate_page" / "report.md").exists()
    # and the combined page takes the MAMF winner as the achievable fp32 GEMM
    assert f"{format_value(winner.value, 'TFLOPS')} (MAMF, {winner.shape})" in text


def test_two_runs_side_by_side(tmp_path):
    from accelkern import compare
    a_rows = [r for r in gpu_rows() if r.suite in ("gemm", "gemm-torch", "hbm")]
    b_rows = [Row(**{**r.to_dict(), "value": r.value * 0.9 if r.value else r.value}) for r in a_rows[:5]]
    write_run(tmp_path / "a", h200_header(), a_rows)
    write_run(tmp_path / "b", h200_header(device="NVIDIA H100 80GB HBM3", spec="NVIDIA H100 SXM5 80GB",
                                          host="other-node", time_utc="2026-12-01T09:00:00+00:00"), b_rows)
    r = invoke("report", tmp_path / "a", tmp_path / "b", "--out", tmp_path / "ab.html")
    assert r.exit_code == 0, r.output
    html = (tmp_path / "ab.html").read_text()
    assert '<section id="compare">' in html
    side = _text(html.split('<section id="compare">')[1].split("</section>")[0])
    pairs = compare.compare_runs(a_rows, b_rows)
    both = sum(p.a is not None and p.b is not None for p in pairs)
    assert f"{both} measurement(s) in both runs" in side and "0.900" in side
    assert "A: NVIDIA H200 on gpu-node-1, 2026-11-30" in html and "B: NVIDIA H100 80GB HBM3 on other-node" in html
    assert (tmp_path / "ab_compare.png").exists() and (tmp_path / "ab_claims_a.png").exists()
    assert (tmp_path / "ab_claims_b.png").exists()


def test_row_conventions_by_hand():
    from accelkern.report import claims, facts
    cuda = {"device_kind": "cuda", "compute_capability": "sm_90"}
    g = lambda dtype, shape: Row(suite="gemm", name="cublasLt", dtype=dtype, shape=shape, metric="TFLOPS", value=1.0)
    assert facts.gemm_min_bytes(g("bf16", "8192x8192x8192")) == 3 * 8192 * 8192 * 2
    assert facts.gemm_min_bytes(g("fp8", "8192x8192x8192")) == 2 * 8192 * 8192 + 8192 * 8192 * 2    # bf16 out
    assert facts.gemm_min_bytes(g("int8", "4096x2048x1024")) == 4096 * 1024 + 1024 * 2048 + 4096 * 2048 * 4
    assert facts.gemm_min_bytes(g("fp16", "64x32x16x3b")) == 3 * (64 * 16 + 16 * 32 + 64 * 32) * 2
    assert facts.spec_dtype(g("fp64", "8x8x8"), cuda) == "fp64_tensor"
    assert facts.spec_dtype(g("fp64", "8x8x8"), {"device_kind": "cpu"}) == "fp64"
    assert facts.spec_dtype(g("fp8_e4m3_e5m2", "8x8x8"), cuda) == "fp8"
    assert facts.spec_dtype(Row(suite="peak", name="HFMA2", dtype="fp16", config={"spec_dtype": "fp16_simt"}),
                            cuda) == "fp16_simt"
    hbm = lambda name: Row(suite="hbm", name=name)
    assert [facts.memory_kernel(hbm(n)) for n in ("read: read/stream", "copy: ce", "copy: copy (torch cross-check)",
                                                  "h2d")] == ["read", "ce", "torch", "h2d"]
    assert facts.throttle_reasons(Row(suite="x", name="y", throttle="idle, power cap, none")) == ["power cap"]
    cached = Row(suite="hbm", name="copy", config={"cache": "cold: 4 sets rotated (> 3x the 34.06 MiB cache)"})
    assert facts.cache_bytes([cached], {}) == round(34.06 * 2**20)
    # a CUDA run without NVML: the gap is stated without a clock, and says why
    header = {"device_kind": "cuda", "compute_capability": "sm_90", "sms": 132, "spec": "NVIDIA H200 SXM 141GB",
              "nvml": "NVML not available: install nvidia-ml-py"}
    row = Row(suite="gemm", name="cublasLt", dtype="bf16", shape="8192x8192x8192", metric="TFLOPS", value=700.0,
              flops=2.0 * 8192**3, correct=True)
    (c,) = claims.compute_claims([row], header)
    assert c.datasheet == 989.5 and c.at_clock is None
    assert c.gap == (f"{100 * 700 / 989.5:.1f}% of the datasheet: no SM clock was recorded (NVML: NVML not "
                     "available: install nvidia-ml-py), so the clock's share is unknown")


# ---- bad input ------------------------------------------------------------------------------------------

def test_directory_without_results_is_one_line_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    r = invoke("report", tmp_path / "empty", "--out", tmp_path / "x.html")
    assert r.exit_code == 2 and "no accelkern results (.jsonl) in this directory" in r.output
    assert "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.html").exists()
    (tmp_path / "empty" / "junk.jsonl").write_text("not json\n")
    r = invoke("report", tmp_path / "empty", "--out", tmp_path / "x.html")
    assert r.exit_code == 2 and "no result rows" in r.output and "junk.jsonl line 1" in r.output


def test_corrupt_line_is_named_and_the_rest_is_kept(tmp_path):
    path = write_run(tmp_path / "run", h200_header(), gpu_rows()[:3])
    with open(path) as f:
        lines = f.read().splitlines()
    lines.insert(2, '{"type": "row", "suite": "gemm", "name": "cublasLt", "value": 1.0e')   # damaged line 3
    with open(path, "w") as f:
        f.write("\n".join(lines) + '\n{"type": "row", "suite": "gem')                   # and a torn last line
    src = rp.inputs.read_results(path)
    assert len(src.rows) == 3 and src.header["device"] == "NVIDIA H200"
    assert any("line 3: not JSON" in p for p in src.problems)
    assert any(f"line {len(lines) + 1}: torn last line" in p for p in src.problems)
    r = invoke("report", path, "--out", tmp_path / "p.html")
    assert r.exit_code == 0
    assert "line 3: not JSON" in (tmp_path / "p.html").read_text()
    assert "line 3: not JSON" in (r.stderr if hasattr(r, "stderr") else r.output)


def test_unknown_rows_are_listed_not_fatal(tmp_path):
    rows = [Row(suite="frobnicate", name="widget", metric="things/s", value=3.0),
            Row(suite="frobnicate", name="gadget", metric="things/s", value=4.0)]
    write_run(tmp_path, h200_header(command="frobnicate"), rows, stem="frobnicate")
    r = invoke("report", tmp_path, "--out", tmp_path / "p.html")
    assert r.exit_code == 0, r.output
    other = _text((tmp_path / "p.html").read_text().split('<section id="other">')[1])
    assert "frobnicate 2 gadget, widget 3 things/s, 4 things/s" in other


def test_more_than_two_runs_and_bad_out_are_refused(tmp_path):
    for i, dev in enumerate(("NVIDIA H200", "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB")):
        write_run(tmp_path / f"r{i}", h200_header(device=dev), gpu_rows()[:2])
    r = invoke("report", tmp_path, "--out", tmp_path / "p.html")
    assert r.exit_code == 2 and "3 different runs" in r.output
    (tmp_path / "afile").write_text("x")
    r = invoke("report", tmp_path / "r0", "--out", tmp_path / "afile" / "p.html")
    assert r.exit_code == 2 and "cannot write there" in r.output


def test_runs_are_split_by_machine_and_by_a_gap_in_time():
    from accelkern.report.inputs import Source, group_runs
    def src(device, host, t):
        return Source(f"{device}-{t}.jsonl", {"device": device, "host": host, "time_utc": t}, [])
    a1, a2 = src("H200", "n1", "2026-11-30T23:50:00+00:00"), src("H200", "n1", "2026-12-01T00:20:00+00:00")
    b1 = src("H200", "n1", "2026-12-02T09:00:00+00:00")
    assert [len(r.sources) for r in group_runs([a1, a2])] == [2]          # past midnight, 30 min apart: one run
    runs = group_runs([a1, a2, b1])
    assert [len(r.sources) for r in runs] == [2, 1] and runs[1].label == "B: H200 on n1, 2026-12-02"
    assert [len(r.sources) for r in group_runs([a1, a2, b1], merge=True)] == [3]
    runs = group_runs([a1, src("H100", "n2", "2026-11-30T23:55:00+00:00")])
    assert [r.label for r in runs] == ["A: H200 on n1, 2026-11-30", "B: H100 on n2, 2026-11-30"]
    with pytest.raises(rp.AccelkernError, match="3 different runs"):
        group_runs([a1, b1, src("A100", "n3", "2026-11-30T10:00:00+00:00")])


def test_dry_run_checks_options_only(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELKERN_DRY_RUN", "1")
    r = invoke("report", tmp_path / "not-yet", "--out", tmp_path / "r" / "report.html")
    assert r.exit_code == 0 and "dry run: accelkern report: options ok" in r.output
    assert not (tmp_path / "r").exists()


def test_missing_extra_is_named(monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jinja2" else real(name, *a))
    want = r"needs jinja2, which is not installed: pip install 'accelkern\[report\]'"
    with pytest.raises(rp.AccelkernError, match=want):
        rp.require()


# ---- in a real browser -------------------------------------------------------------------------------

PROBE = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.map.call(document.images, function (i) {
    return [i.complete, i.naturalWidth, i.naturalHeight]; });
  var res = performance.getEntriesByType('resource').map(function (e) { return e.name; });
  var ids = Array.prototype.map.call(document.querySelectorAll('section[id]'), function (s) { return s.id; });
  var p = document.createElement('pre'); p.id = 'probe';
  p.textContent = JSON.stringify({imgs: imgs, res: res, ids: ids});
  document.body.appendChild(p);
});
</script></body>"""


def _chromium():
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("ACCELKERN_REQUIRE_BROWSER"):
            pytest.fail("ACCELKERN_REQUIRE_BROWSER is set but chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run installs it and sets "
                    "ACCELKERN_REQUIRE_BROWSER=1)")
    return exe


def _browse(exe, profile, url, *args):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND",
           *args, url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_page_in_headless_chromium(gpu_page, tmp_path):
    exe = _chromium()
    d, html = gpu_page
    page = d / "page" / "report.html"
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", PROBE))
    r = _browse(exe, tmp_path / "p1", probe.as_uri(), "--virtual-time-budget=5000", "--dump-dom")
    m = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.DOTALL)
    assert m, r.stderr[-2000:]
    got = json.loads(m.group(1).replace("&quot;", '"'))
    assert set(SECTION_IDS) <= set(got["ids"])
    assert got["res"] == []                                    # no request beyond the page itself
    assert len(got["imgs"]) >= 10 and all(c and w > 200 and h > 150 for c, w, h in got["imgs"])
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    shot = tmp_path / "shot.png"
    r = _browse(exe, tmp_path / "p2", page.as_uri(), "--window-size=1200,1800", f"--screenshot={shot}")
    assert shot.exists(), r.stderr[-2000:]
    import numpy as np
    from PIL import Image
    img = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert img.shape == (1800, 1200)
    assert img.std() > 20 and (img < 128).mean() > 0.01        # text and plots, not a blank page
    pdf = tmp_path / "page.pdf"
    r = _browse(exe, tmp_path / "p3", page.as_uri(), "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    data = pdf.read_bytes() if pdf.exists() else b""
    assert data[:5] == b"%PDF-", r.stderr[-2000:]
    assert len(data) > 100_000 and len(re.findall(rb"/Type\s*/Page\b", data)) >= 4
