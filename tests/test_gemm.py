"""accelkern gemm: parsing and rules, FLOP accounting, tolerances, cuBLASLt enum tables and algorithm
read-back (CPU), the CLI; and on a GPU every dtype x backend correct on aligned and odd shapes, every
explored algorithm correct, fp8 and int8 exact on small integers."""
import importlib.util
import json
import os

import pytest
from click.testing import CliRunner

from accelkern import _ext, checks, gemm as g, timing
from accelkern.cli import cli
from accelkern.errors import AccelkernError, Unavailable
from accelkern.results import Row

HERE = os.path.dirname(os.path.abspath(__file__))
needs_ext = pytest.mark.skipif(_ext.load() is None, reason=f"accelkern._C not built: {_ext.error()}")


# ---- parsing and rules -----------------------------------------------------------------------------

def test_parse_dtypes_lists_aliases_and_all():
    assert g.parse_dtypes("bf16, fp8") == ["bf16", "fp8"]
    assert g.parse_dtypes("e4m3,fp8_e4m3,fp8") == ["fp8"]
    assert g.parse_dtypes("all") == list(g.MAIN_DTYPES)
    assert g.parse_dtypes("int8,all")[0] == "int8" and len(g.parse_dtypes("int8,all")) == len(g.MAIN_DTYPES)
    assert g.parse_dtypes("all")[0] == "fp64" and g.parse_dtypes("float64") == ["fp64"]
    with pytest.raises(AccelkernError, match="dtype 'fp4' not supported; allowed: fp64, fp32"):
        g.parse_dtypes("bf16,fp4")
    with pytest.raises(AccelkernError, match="empty"):
        g.parse_dtypes(" , ")


@pytest.mark.parametrize("text,err", [("8192x8192", "MxNxK"), ("axbxc", "MxNxK"), ("0x8x8", "positive"),
                                      ("-1x2x3", "MxNxK"), ("8x8x4294967296", "at most"), ("", "empty")])
def test_parse_shapes_rejects_bad_input_in_one_line(text, err):
    with pytest.raises(AccelkernError, match=err) as exc:
        g.parse_shapes(text)
    assert "\n" not in str(exc.value)


def test_parse_shapes_and_backends_and_layouts():
    assert g.parse_shapes("8192x8192x8192, 1X4096x4112") == [(8192, 8192, 8192), (1, 4096, 4112)]
    assert g.parse_backends("cublaslt,torch,cublaslt") == ["cublaslt", "torch"]
    with pytest.raises(AccelkernError, match="allowed: cublaslt, cublas, torch"):
        g.parse_backends("cutlass")
    assert g.parse_layout(None) == "tn" and g.parse_layout("NT") == "nt"
    with pytest.raises(AccelkernError, match="allowed: tn, nn, nt, tt"):
        g.parse_layout("tx")


@pytest.mark.parametrize("layout,ta,tb,lda,ldb", [("tn", True, False, 40, 40), ("nn", False, False, 24, 40),
                                                  ("nt", False, True, 24, 56), ("tt", True, True, 40, 56)])
def test_storage_leading_dimensions(layout, ta, tb, lda, ldb):
    st = g.storage(layout, 24, 56, 40)   # M=24, N=56, K=40
    assert (st["trans_a"], st["trans_b"], st["lda"], st["ldb"], st["ldd"]) == (ta, tb, lda, ldb, 24)
    assert st["d"] == (24, 56)


def _cublas_reference(a_flat, b_flat, st, m, n, k):
    """D = op(A) op(B) straight from cuBLAS's column-major definition: X(i, j) = flat[j * ld + i]."""
    d = [[0.0] * n for _ in range(m)]
    A = lambda i, j: a_flat[j * st["lda"] + i]
    B = lambda i, j: b_flat[j * st["ldb"] + i]
    for r in range(m):
        for c in range(n):
            acc = 0.0
            for p in range(k):
                av = A(p, r) if st["trans_a"] else A(r, p)
                bv = B(c, p) if st["trans_b"] else B(p, c)
                acc += av * bv
            d[r][c] = acc
    return d


@pytest.mark.parametrize("layout", g.LAYOUTS)
def test_reference_views_agree_with_the_column_major_descriptors(layout):
    """The float64 reference (col_major_op views of the stored tensors) computes exactly what cuBLAS is told
    to compute (rows, cols, ld and transposes from storage()), and D read back as [M, N] matches."""
    import torch
    m, n, k = 3, 5, 4
    st = g.storage(layout, m, n, k)
    (ra, ca), (rb, cb) = st["a"], st["b"]
    a = torch.arange(1, ra * ca + 1, dtype=torch.float64).reshape(ca, ra)   # stored as the code does
    b = torch.arange(1, rb * cb + 1, dtype=torch.float64).reshape(cb, rb) * 0.5 - 3
    want = _cublas_reference(a.flatten().tolist(), b.flatten().tolist(), st, m, n, k)
    got = g.col_major_op(a, st["trans_a"]) @ g.col_major_op(b, st["trans_b"])
    assert got.shape == (m, n)
    assert got.tolist() == want
    d_stored = torch.tensor(want).t().contiguous().flatten()               # what cuBLAS writes, ld = M
    d = d_stored.reshape(n, m)
    assert g.col_major_op(d, False).tolist() == want


def test_layout_rules_state_the_rule():
    hopper, blackwell, ampere = (9, 0), (10, 0), (8, 0)
    why = g.layout_rule_violation("fp8", 4096, 4096, 4096, "nn", hopper)
    assert why and "layout tn" in why and "got nn" in why
    assert g.layout_rule_violation("fp8", 4096, 4096, 4096, "nn", blackwell) is None
    assert g.layout_rule_violation("fp8", 4096, 129, 4096, "tn", hopper) is None
    why = g.layout_rule_violation("fp8_e4m3_e5m2", 1000, 4096, 4096, "tn", hopper)
    assert why and "multiples of 16" in why and "M=1000" in why
    # int8: cuBLASLt's IMMA kernels with regular ordering are TN only, with M and K multiples of 4
    why = g.layout_rule_violation("int8", 128, 128, 130, "tn", ampere)
    assert why and "M and K to be multiples of 4" in why and "K=130" in why
    why = g.layout_rule_violation("int8", 127, 129, 1000, "tn", hopper)
    assert why and "M=127" in why and "ldc = M" in why
    assert g.layout_rule_violation("int8", 1000, 129, 1000, "tn", hopper) is None   # N is free
    for lay in ("nn", "nt", "tt"):
        why = g.layout_rule_violation("int8", 128, 128, 128, lay, hopper)
        assert why and "only in layout tn" in why and f"got {lay}" in why
    for d in ("fp32", "tf32", "fp16", "fp16_acc16", "bf16"):
        assert g.layout_rule_violation(d, 1, 127, 129, "nt", hopper) is None


def test_check_requests_strict_and_lenient():
    reqs = [g.GemmRequest("fp8", 1000, 128, 4096), g.GemmRequest("bf16", 1000, 128, 4096)]
    with pytest.raises(AccelkernError, match="fp8 1000x128x4096: fp8 needs K and M to be multiples of 16"):
        g.check_requests(reqs, (9, 0))
    bad = g.check_requests(reqs, (9, 0), strict=False)
    assert [r.dtype for r, _ in bad] == ["fp8"]
    # int8 refused with the rule in words, before anything runs (not as "the heuristic has no algorithm")
    with pytest.raises(AccelkernError, match=r"int8 127x256x512: int8 \(IMMA, layout tn\) needs M and K"):
        g.check_requests([g.GemmRequest("int8", 127, 256, 512)], (9, 0))
    with pytest.raises(AccelkernError, match="only in layout tn"):
        g.check_requests([g.GemmRequest("int8", 128, 256, 512, layout="nn")], (8, 0))


def test_flops_batch_and_workspace_default():
    s = g.BatchedShape(8192, 4096, 1024)
    assert s.flops == 2 * 8192 * 4096 * 1024 and str(s) == "8192x4096x1024"
    b = g.BatchedShape(127, 129, 1000, batch=3)
    assert b.flops == 3 * 2 * 127 * 129 * 1000 and str(b) == "127x129x1000x3b"
    assert g.GemmRequest("bf16", 2, 3, 5, batch=7).shape.flops == 7 * 2 * 2 * 3 * 5
    assert g.default_workspace_bytes((9, 0)) == 32 << 20 and g.default_workspace_bytes((10, 0)) == 32 << 20
    assert g.default_workspace_bytes((8, 0)) == 4 << 20 and g.default_workspace_bytes(None) == 4 << 20


def test_alignment_is_the_largest_common_power_of_two():
    assert g._pow2_align(8192 * 2) == 256
    assert g._pow2_align(127 * 2) == 2
    assert g._pow2_align(129) == 1
    assert g._pow2_align(1000 * 2, 1000 * 127 * 2) == 16
    assert g._pow2_align(48, 0) == 16


def test_every_dtype_has_a_tolerance_and_exact_integers():
    for d in g.DTYPES.values():
        assert d.tolerance_key in checks.TOLERANCES
        assert d.base in ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
    assert g.gemm_dtype("fp16_acc16").tolerance_key == "fp16_acc16"
    assert g.gemm_dtype("fp8_e5m2_e4m3").tolerance_key == "fp8"
    assert checks.tolerance(g.gemm_dtype("int8").tolerance_key) == 0.0
    assert checks.tolerance("fp32") < checks.tolerance("tf32") <= checks.tolerance("bf16")


def test_cublas_refuses_fp8_with_the_reason():
    with pytest.raises(Unavailable, match="cublasGemmEx has no fp8"):
        g.CublasGemm("fp8", 128, 128, 128, "cpu")


def test_blas_paths_need_cuda():
    with pytest.raises(Unavailable, match="need a CUDA device"):
        g.CublasLtGemm("bf16", 128, 128, 128, "cpu")
    assert g.capability_missing("bf16", "cpu").startswith("cuBLAS/cuBLASLt need a CUDA device")
    assert "torch backend times fp64" in g.capability_missing("fp64", "cuda")
    with pytest.raises(Unavailable, match="no cuBLAS/cuBLASLt fp64"):
        g.CublasGemm("fp64", 128, 128, 128, "cuda")


# ---- cuBLASLt enum tables and algorithm read-back ----------------------------------------------------

def _generator():
    spec = importlib.util.spec_from_file_location(
        "gen_lt_enum_tables", os.path.join(HERE, "..", "csrc", "blas", "gen_lt_enum_tables.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@needs_ext
def test_enum_tables_match_the_header():
    gen = _generator()
    header = gen.find_header()
    if header is None:
        pytest.skip("cublasLt.h not found")
    parsed = gen.parse(header)
    t = g.enum_tables()
    built = {"tile": sorted((i, r, c) for i, (r, c) in t["tile"].items()),
             "stages": sorted((i, k, n) for i, (k, n) in t["stages"].items()),
             "cluster": sorted((i, x, y, z) for i, (x, y, z) in t["cluster"].items())}
    if parsed["version"] == t["header_version"]:
        assert built == {k: parsed[k] for k in built}
    else:  # a newer header may add ids; every id we know keeps its meaning
        for k in built:
            assert set(built[k]) <= set(parsed[k]), k
    assert len(t["tile"]) > 600 and len(t["stages"]) > 30 and len(t["cluster"]) > 40


@needs_ext
def test_enum_to_numbers():
    assert g.tile_dims(23) == (128, 256)      # CUBLASLT_MATMUL_TILE_128x256
    assert g.tile_dims(24) == (256, 128)
    assert g.tile_dims(1) == (8, 8)
    assert g.tile_dims(0) is None             # UNDEFINED
    assert g.tile_dims(10**6) is None         # an id from a newer library
    assert g.stages_dims(15) == (64, 3)       # CUBLASLT_MATMUL_STAGES_64x3
    assert g.stages_dims(36) == (128, None)   # 128xAUTO
    assert g.cluster_dims(3) == (2, 1, 1)     # CUBLASLT_CLUSTER_SHAPE_2x1x1
    assert g.cluster_dims(5) == (1, 2, 1)
    assert g.cluster_dims(0) is None          # AUTO
    assert g.mma_kind(0x2 | (0x2 << 8)) == "hmma" and g.mma_kind(-1) is None


@needs_ext
def test_algo_config_round_trip_to_algo_info():
    C = _ext.load()
    raw = C.lt_algo_with_config([0] * 8, {"tile_id": 23, "stages_id": 15, "splitk": 4, "reduction_id": 1,
                                          "swizzle": 1, "custom_option": 2, "cluster_id": 3})
    d = dict(C.lt_algo_config(raw), workspace_bytes=1 << 20, waves_count=1.25)
    a = g.algo_info(5, d)
    assert (a.index, a.tile, a.tile_m, a.tile_n) == (5, "128x256", 128, 256)
    assert (a.stages, a.stages_k, a.stages_str) == (3, 64, "64x3")
    assert (a.cluster, a.cluster_m, a.cluster_n) == ("2x1x1", 2, 1)
    assert (a.splitk, a.reduction, a.swizzle, a.custom_option) == (4, "inplace", 1, 2)
    assert (a.workspace_bytes, a.waves_count) == (1 << 20, 1.25)
    assert a.raw == tuple(raw) and len(a.raw) == 8
    assert a.label == "#5 algo 0, 128x256, stages 64x3, cluster 2x1x1, splitK 4 (inplace)"
    cfg = a.config()
    assert "raw" not in cfg and cfg["algo_index"] == 5 and cfg["tile"] == "128x256"
    json.dumps(cfg)
    # a zero descriptor reads back as 'undefined' everywhere
    z = g.algo_info(0, dict(C.lt_algo_config([0] * 8)))
    assert (z.tile, z.stages, z.cluster, z.splitk, z.reduction) == (None, None, None, 1, "none")
    with pytest.raises(RuntimeError, match="cannot set 'algo_id'"):
        C.lt_algo_with_config(raw, {"algo_id": 3})


def _row(value, idx, tile, note=None):
    return Row(suite="gemm", name="cublasLt", dtype="bf16", shape="8192x8192x8192", layout="tn",
               backend="cublaslt", kernel=f"#{idx} algo 66", value=value, metric="TFLOPS", correct=True,
               config={"algo_index": idx, "tile": tile, "stages_str": "64x4", "cluster": "2x1x1", "splitk": 1,
                       "reduction": "none",
                       "waves_count": 0.97, "swizzle": 1, "custom_option": 0, "workspace_bytes": 4 << 20},
               note=note)


def test_explorer_rows_sorted_by_measured_throughput_and_formatted():
    from accelkern import tables
    rows = [_row(700.0, 0, "128x256"), _row(760.5, 1, "256x128", "best of 3"), _row(None, 2, "64x64"),
            Row(suite="gemm", name="torch.mm", dtype="bf16", shape="8192x8192x8192", backend="torch",
                value=720.0, metric="TFLOPS", pct_of_spec=72.76, rel_stddev=0.0042, sm_clock_mean_mhz=1704.6, pct_of_clock_peak=81.25, busy_fraction=0.994,
                throttle="power cap")]
    rows[1].config["splitk"], rows[1].config["reduction"] = 4, "inplace"
    ordered = g.order_rows(rows)
    assert [r.kernel for r in ordered[:3]] == ["#1 algo 66", "#0 algo 66", "#2 algo 66"]
    assert ordered[3].backend == "torch"
    text = tables.text_table(ordered, g.columns())
    lines = text.splitlines()
    assert max(len(x) for x in lines) <= 120
    head = lines[0].split("  ")
    for col in ("dtype", "shape", "backend", "algorithm", "measured", "% spec", "% clk", "spread", "busy", "MHz",
                "ok", "note"):
        assert col in [h.strip() for h in head if h.strip()], col
    fastest = next(x for x in lines if "760.5 TFLOPS" in x)
    assert "8192^3" in fastest and "best of 3" in fastest
    note = next(x for x in lines if x.startswith("[") and "#1 256x128 64x4 c2x1x1 sk4 inplace" in x)  # footnoted
    assert fastest.count(note.split("]")[0] + "]") == 1
    torch_line = next(x for x in lines if "720 TFLOPS" in x)
    assert "72.8" in torch_line and "81.2" in torch_line and "99%" in torch_line and "1705" in torch_line
    assert g.throttle_summary(rows) == "throttle reasons seen: power cap (1 row)"


# ---- CLI ---------------------------------------------------------------------------------------------

def _run(args, env=None):
    return CliRunner().invoke(cli, ["gemm"] + args, env=env)


def _doc(r):
    return json.loads(r.stdout if hasattr(r, "stdout") else r.output)


def test_cli_help_documents_the_options():
    r = _run(["--help"])
    assert r.exit_code == 0
    for opt in ("--dtype", "--shape", "--batch", "--backend", "--algos", "--algo-index", "--layout", "--fp8-out",
                "--fp8-fast-accum", "--workspace", "--check", "--max-time", "--max-noise", "--criterion", "--json",
                "--csv", "--out"):
        assert opt in r.output
    text = " ".join(r.output.split())
    assert "32MiB on sm_90+" in text and "else torch" in text and "Exit codes" in text


@pytest.mark.parametrize("args,msg", [
    (["--dtype", "fp4"], "dtype 'fp4' not supported"),
    (["--shape", "8x8"], "use MxNxK"),
    (["--shape", "0x8x8"], "must be positive"),
    (["--backend", "cutlass"], "allowed: cublaslt, cublas, torch"),
    (["--algos", "4", "--algo-index", "1"], "exclusive"),
    (["--dtype", "bf16", "--fp8-out", "fp32"], "fp8 dtypes only"),
    (["--workspace", "lots"], "size 'lots' not understood"),
    (["--max-noise", "0"], "--max-noise"),
    (["--criterion", "fast"], "--criterion"),
    (["--device", "cuda:x"], "malformed"),
])
def test_cli_bad_input_is_one_error_line(args, msg, tmp_path):
    out = tmp_path / "out"
    r = _run(args + ["--out", str(out)] + ([] if "--device" in args else ["--device", "cpu"]))
    assert r.exit_code == 2, r.output
    assert msg in r.output
    assert "Traceback" not in r.output and not out.exists()


def test_cli_dry_run_validates_options_before_touching_a_device():
    # no GPU here: a real run of --device cuda exits 3; the dry run must not get that far
    r = _run(["--device", "cuda", "--dtype", "bf16,fp8", "--algos", "4"], env={"ACCELKERN_DRY_RUN": "1"})
    assert r.exit_code == 0 and "dry run: accelkern gemm: options ok" in r.output, r.output
    r = _run(["--device", "cuda", "--dtype", "fp4"], env={"ACCELKERN_DRY_RUN": "1"})
    assert r.exit_code == 2 and "fp4" in r.output


def test_cli_on_cpu_runs_torch_and_skips_the_blas_paths(tmp_path):
    r = _run(["--device", "cpu", "--dtype", "fp32,int8", "--shape", "64x48x32,3x5x7",
              "--backend", "cublaslt,cublas,torch", "--max-time", "0.2", "--json", "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    rows = _doc(r)["rows"]
    assert len(rows) == 2 * 2 * 3
    torch_rows = [x for x in rows if x["backend"] == "torch"]
    assert len(torch_rows) == 4 and all(x["status"] == "ok" and x["correct"] for x in torch_rows)
    for x in torch_rows:
        m, n, k = (int(v) for v in x["shape"].split("x"))
        assert x["flops"] == 2 * m * n * k
        assert x["value"] == pytest.approx(x["flops"] / (x["median_ms"] * 1e-3) / 1e12)
        assert x["layout"] == "tn" and x["criterion"] == "nvbench" and 0 < x["busy_fraction"] <= 1
        assert x["stop_reason"] in ("converged", "noise_stable", "max_time", "max_samples")
    blas = [x for x in rows if x["backend"] != "torch"]
    assert all(x["status"] == "skipped" and "CUDA device" in x["note"] for x in blas)
    for ext in ("jsonl", "csv", "md"):
        assert (tmp_path / f"gemm.{ext}").exists()


def test_cli_default_backend_off_the_gpu_is_torch_alone_and_fp64_runs():
    r = _run(["--device", "cpu", "--dtype", "fp64,bf16", "--shape", "40x24x56", "--max-time", "0.2",
              "--max-noise", "2", "--criterion", "median-stderr"])
    assert r.exit_code == 0, r.output
    assert "skipped" not in r.output and "cublas" not in r.output.split("stopping:")[0]
    assert "median-stderr (relative standard error of the median <= 2.00%" in r.output
    r = _run(["--device", "cpu", "--dtype", "fp64", "--shape", "40x24x56", "--max-time", "0.2", "--json"])
    (row,) = _doc(r)["rows"]
    assert (row["dtype"], row["backend"], row["status"], row["correct"]) == ("fp64", "torch", "ok", True)


def test_cli_oversized_shape_is_a_failed_row_and_the_rest_is_kept(tmp_path):
    r = _run(["--device", "cpu", "--dtype", "fp32", "--shape", "64x64x64,4000000x4000000x64", "--max-time", "0.2",
              "--out", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert "64^3" in r.output and "GiB free" in r.output and "Traceback" not in r.output
    from accelkern.results import read_jsonl
    _, rows = read_jsonl(str(tmp_path / "gemm.jsonl"))
    assert [(x.shape, x.status) for x in rows] == [("64x64x64", "ok"), ("4000000x4000000x64", "failed")]
    assert "needs" in rows[1].note and (tmp_path / "gemm.csv").exists() and (tmp_path / "gemm.md").exists()


def _fake_probe(monkeypatch, s_per_flop):
    from accelkern import torch_backend
    monkeypatch.setattr(torch_backend, "probe",
                        lambda dtype, device: torch_backend.Probe(dtype, str(device), 128, s_per_flop * 2 * 128 ** 3))


def test_cli_a_call_longer_than_max_time_is_skipped_with_the_size_that_fits(monkeypatch):
    _fake_probe(monkeypatch, 1e-8)   # an emulated dtype: 10 ns per FLOP
    r = _run(["--device", "cpu", "--dtype", "fp32", "--shape", "512x512x512", "--max-time", "0.5", "--json"])
    assert r.exit_code == 0, r.output
    (row,) = _doc(r)["rows"]
    # 2 * 512^3 * 1e-8 = 2.68 s > 0.5 s; 256^3 -> 0.34 s fits, 512^3 does not
    assert row["status"] == "skipped" and "~2.68 s" in row["note"] and "at most 256x256x256 fits" in row["note"]
    assert row["median_ms"] is None


def test_cli_default_shape_off_the_gpu_is_sized_to_max_time(monkeypatch):
    _fake_probe(monkeypatch, 1e-10)
    # --max-time 1 -> calls of at most 0.1 s: 2 n^3 1e-10 <= 0.1 -> n <= 793 -> 512
    assert g.default_square("fp32", "cpu", 1.0) == (512, "largest power-of-two square whose predicted call takes "
                                                          "<= 0.1 s (--max-time / 10)")
    assert g.default_square("fp32", "cuda:0", 1.0) == (8192, None)
    monkeypatch.setattr(g, "default_square", lambda d, dev, t, gpu: (32, "test sizing"))
    r = _run(["--device", "cpu", "--dtype", "fp32", "--max-time", "0.2", "--json"])
    (row,) = _doc(r)["rows"]
    assert row["shape"] == "32x32x32" and row["config"]["sized"] == "test sizing"


class _FakeInfo:
    kind, torch_device, compute_capability, l2_bytes, sm_count, name = "cpu", "cpu", None, None, 2, "fake"
    threads, max_sm_clock_mhz, attrs = 2, None, {}


class _Algo:
    def __init__(self, i):
        self.index, self.algo_id, self.label = i, 60 + i, f"#{i} algo {60 + i}"

    def config(self):
        return {"algo_index": self.index, "algo_id": self.algo_id, "tile": "128x128"}


class _FakeLt:
    """CublasLtGemm's contract on the CPU: algorithm 1 refused by the library, 2 fails mid-run, 3 gives a wrong
    result; the others compute through torch."""
    name = "cublasLt"

    def __init__(self, dtype, m, n, k, device, **kw):
        import torch
        self.dtype, self.layout, self.slots, self.ops = dtype, "tn", 1, None
        self.shape = g.BatchedShape(m, n, k)
        self.algos = [_Algo(i) for i in range(kw.get("top_k") or 1)]
        self.algo = self.algos[0]
        self.a, self.b = torch.randn(m, k), torch.randn(n, k)
        self.closed = False

    def set_algo(self, a):
        if a.index == 1:
            raise Unavailable("cublasLtMatmul with #1 algo 61 failed: CUBLAS_STATUS_NOT_SUPPORTED")
        self.algo = a

    def __call__(self, slot):
        if self.algo.index == 2:
            raise RuntimeError("CUDA error: an illegal memory access was encountered (lt_matmul.cu:88)\nmore")
        return self.a @ self.b.t()

    def check(self):
        return (False, 1.0, 0.05) if self.algo.index == 3 else (True, 0.0, 0.05)

    def config(self):
        return self.algo.config()

    def close(self):
        self.closed = True


def test_explorer_failure_rows(monkeypatch):
    monkeypatch.setattr(g.rows, "CublasLtGemm", _FakeLt)
    req = g.GemmRequest("bf16", 32, 32, 32, top_k=4)
    rule = timing.StopRule(min_samples=3, max_samples=5, max_time_s=0.5)
    rows = list(g.gemm_rows(req, "cublaslt", _FakeInfo(), None, rule))
    assert [r.status for r in rows] == ["ok", "skipped", "failed", "ok"]
    assert "CUBLAS_STATUS_NOT_SUPPORTED" in rows[1].note and rows[1].kernel == "#1 algo 61"
    assert rows[2].note == "RuntimeError: CUDA error: an illegal memory access was encountered (lt_matmul.cu:88)"
    assert rows[3].correct is False
    assert rows[0].note.startswith("best of 4") and rows[0].config["best_of"] == 4   # never the wrong one
    from accelkern.commands.gemm import footer_lines
    foot = footer_lines(rows, rule)
    assert any("WRONG RESULT" in x for x in foot)
    assert any(x.startswith("failed: RuntimeError: CUDA error") for x in foot)
    from accelkern import tables
    assert "WRONG RESULT" in tables.text_table(rows, g.columns())


def test_a_library_error_outside_the_explorer_is_a_failed_row(monkeypatch):
    class Broken(_FakeLt):
        def __init__(self, *a, **kw):
            raise RuntimeError("cuBLASLt error CUBLAS_STATUS_EXECUTION_FAILED in cublasLtMatmul")
    monkeypatch.setattr(g.rows, "CublasLtGemm", Broken)
    (row,) = g.gemm_rows(g.GemmRequest("bf16", 32, 32, 32), "cublaslt", _FakeInfo(), None)
    assert row.status == "failed" and "CUBLAS_STATUS_EXECUTION_FAILED" in row.note


def test_cli_ctrl_c_keeps_finished_rows_and_exits_130(monkeypatch, tmp_path):
    real = g.gemm_rows
    calls = []

    def interrupt_second(req, backend, *a, **kw):
        calls.append(req.shape)
        if len(calls) == 2:
            raise KeyboardInterrupt
        yield from real(req, backend, *a, **kw)

    monkeypatch.setattr(g, "gemm_rows", interrupt_second)
    r = _run(["--device", "cpu", "--dtype", "fp32", "--shape", "32x32x32,48x48x48,64x64x64", "--max-time", "0.2",
              "--out", str(tmp_path)])
    assert r.exit_code == 130, r.output
    from accelkern.results import read_jsonl
    _, rows = read_jsonl(str(tmp_path / "gemm.jsonl"))
    assert [x.shape for x in rows] == ["32x32x32"] and rows[0].status == "ok"
    assert (tmp_path / "gemm.csv").exists()


def test_validate_registers_the_gemm_suite_for_cuda():
    from accelkern import validate
    validate.load_suites()
    s = validate.SUITES["gemm"]
    assert s.devices == ("cuda",) and "cuBLASLt" in s.needs


# ---- GPU ---------------------------------------------------------------------------------------------

ALIGNED = [(256, 512, 1024), (4096, 4096, 4096)]
ODD = [(1, 256, 512), (127, 129, 1000), (129, 127, 64), (1000, 1000, 1000), (4096 + 16, 257, 1024)]


def _fit(dtype, shape):
    """The shape moved onto the dtype's rule (fp8: M and K multiples of 16) so odd N/M still get tested."""
    m, n, k = shape
    if g.gemm_dtype(dtype).fp8:
        m, k = -(-m // 16) * 16, -(-k // 16) * 16
    return m, n, k


def _gpu_cc():
    import torch
    return torch.cuda.get_device_capability()


def _skip_unless_supported(dtype):
    why = g.capability_missing(dtype, "cuda")
    if why:
        pytest.skip(why)


def _blas_cases():
    """Every dtype x backend x shape; the shapes a documented library rule refuses (int8 on cuBLASLt/cuBLAS:
    layout tn, M and K multiples of 4) are strict xfails raising that rule, so every other case must run."""
    cases = []
    for dtype in (d for d, dt in g.DTYPES.items() if dt.blas is not None):
        for backend in ("cublaslt", "cublas"):
            for shape in ALIGNED + ODD:
                m, n, k = _fit(dtype, shape)
                rule = g.layout_rule_violation(dtype, m, n, k, "tn", None) if dtype == "int8" else None
                marks = [pytest.mark.xfail(strict=True, raises=AccelkernError, reason=rule)] if rule else []
                if (dtype, backend, shape) == ("bf16", "cublaslt", (4096, 4096, 4096)):
                    marks.append(pytest.mark.smoke)   # the whole-answer check of a full-size GEMM
                cases.append(pytest.param(dtype, backend, shape, marks=marks,
                                          id=f"{shape[0]}x{shape[1]}x{shape[2]}-{dtype}-{backend}"))
    return cases


@pytest.mark.gpu
@pytest.mark.parametrize("dtype,backend,shape", _blas_cases())
def test_gpu_blas_correct(dtype, backend, shape):
    _skip_unless_supported(dtype)
    if backend == "cublas" and not g.gemm_dtype(dtype).cublas:
        pytest.skip("cublasGemmEx has no fp8")
    m, n, k = _fit(dtype, shape)
    if dtype == "fp16_acc16" and k > 1024:
        k = 1024   # fp16 accumulation error grows with K past the fp16_acc16 tolerance
    cls = g.CublasLtGemm if backend == "cublaslt" else g.CublasGemm
    w = cls(dtype, m, n, k, "cuda", slots=1)   # a refusal outside the listed rule fails the test
    try:
        ok, err, tol = w.check()
        assert ok, f"{dtype} {backend} {m}x{n}x{k}: error {err} > {tol}"
    finally:
        w.close()


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["cublaslt", "cublas"])
def test_gpu_a_wrong_element_in_the_middle_of_any_batch_entry_fails(backend):
    """The check reads the whole answer: one element off in the middle of any batch entry fails it."""
    import torch
    _skip_unless_supported("bf16")
    cls = g.CublasLtGemm if backend == "cublaslt" else g.CublasGemm
    w = cls("bf16", 1024, 768, 512, "cuda", batch=3, slots=1)
    try:
        assert w.check()[0]

        def corrupted(entry):
            def run(slot):
                w(slot)
                torch.cuda.synchronize()
                w.ops.d[entry, 384, 512] += 64     # D is stored [batch, N, M]: row 512, column 384
            return run
        for entry in (0, 1, 2):
            ok, err, tol = w.ops.check(corrupted(entry), "bf16")
            assert not ok and err > 1.0 > tol, (entry, err)
    finally:
        w.close()


@pytest.mark.gpu
@pytest.mark.parametrize("layout", g.LAYOUTS)
@pytest.mark.parametrize("dtype", ["fp32", "tf32", "fp16", "bf16"])
def test_gpu_every_layout_and_batch(dtype, layout):
    _skip_unless_supported(dtype)
    for cls in (g.CublasLtGemm, g.CublasGemm):
        w = cls(dtype, 129, 127, 200, "cuda", layout=layout, batch=3, slots=1)
        try:
            ok, err, tol = w.check()
            assert ok, f"{cls.__name__} {dtype} {layout}: {err} > {tol}"
        finally:
            w.close()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8"])
@pytest.mark.parametrize("shape", [(256, 512, 1024), (127, 129, 1008)], ids=lambda s: "x".join(map(str, s)))
def test_gpu_torch_backend_correct(dtype, shape):
    from accelkern import torch_backend
    why = torch_backend.gemm_unavailable(dtype, "cuda")
    if why:
        pytest.skip(why)
    m, n, k = _fit(dtype, shape)
    if dtype in ("fp8", "int8"):
        n = -(-n // 16) * 16   # torch._scaled_mm / _int_mm want N (and K) multiples of 16 / 8
        m = max(m, 32)
    w = torch_backend.TorchGemm(dtype, m, n, k, "cuda", slots=1)
    try:
        ok, err, tol = w.check()
        assert ok, (err, tol)
    finally:
        w.close()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["bf16", "fp8", "int8", "tf32"])
def test_gpu_every_explored_algorithm_correct(dtype):
    _skip_unless_supported(dtype)
    w = g.CublasLtGemm(dtype, 2048, 1024, 4096, "cuda", top_k=8, slots=1)
    try:
        algos = w.algos
        assert algos, "the heuristic offered nothing"
        assert [a.index for a in algos] == list(range(len(algos)))
        for a in algos:
            assert a.workspace_bytes <= w.ops.workspace_bytes
            w.set_algo(a)
            ok, err, tol = w.check()
            assert ok, f"{a.label}: {err} > {tol}"
            if _gpu_cc() >= (8, 0):
                assert a.tile_m and a.tile_n, f"{a.label}: tile not decoded (id {a.tile_id})"
    finally:
        w.close()


@pytest.mark.gpu
def test_gpu_heuristic_algos_reused_by_raw_data():
    _skip_unless_supported("bf16")
    algos = g.heuristic_algos("bf16", 4096, 4096, 4096, top_k=4)
    assert algos and algos[0].index == 0 and len(algos[0].raw) == 8
    w = g.CublasLtGemm("bf16", 4096, 4096, 4096, algo=algos[-1], slots=1)
    try:
        assert w.algo.raw == algos[-1].raw and w.algo.algo_id == algos[-1].algo_id
        assert w.check()[0]
        w.set_algo(1)
        assert w.algo.index == 1
    finally:
        w.close()
    with pytest.raises(Unavailable, match="out of range"):
        g.CublasLtGemm("bf16", 512, 512, 512, algo=500, slots=1, top_k=2)


@pytest.mark.gpu
def test_gpu_int8_exact():
    _skip_unless_supported("int8")
    for values in ("normal", "small_int"):
        for cls in (g.CublasLtGemm, g.CublasGemm):
            w = cls("int8", 1000, 1000, 4096, "cuda", values=values, slots=1)
            try:
                ok, err, tol = w.check()
                assert ok and err == 0.0 and tol == 0.0
            finally:
                w.close()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["fp8", "fp8_e4m3_e5m2", "fp8_e5m2_e4m3"])
def test_gpu_fp8_exact_on_small_integers(dtype):
    _skip_unless_supported(dtype)
    # fp32 out, fp32 accumulation: |sums| <= 4K are exact; scales 2.0 * 0.25 exact too
    w = g.CublasLtGemm(dtype, 1024, 1000, 1024, values="small_int", out="fp32", fast_accum=False, slots=1)
    try:
        ok, err, _ = w.check()
        assert ok and err == 0.0, err
    finally:
        w.close()
    # bf16 out: with K = 64 every |sum| * 0.5 <= 128 is a bf16 integer or half-integer
    for fast in (False, True):
        w = g.CublasLtGemm(dtype, 256, 129, 64, values="small_int", fast_accum=fast, slots=1)
        try:
            ok, err, _ = w.check()
            assert ok and err == 0.0, (fast, err)
        finally:
            w.close()


@pytest.mark.gpu
def test_gpu_refusals():
    if _gpu_cc() < (8, 9):
        with pytest.raises(Unavailable, match="fp8 needs sm_89 or newer"):
            g.CublasLtGemm("fp8", 128, 128, 128)
    elif _gpu_cc() < (10, 0):
        with pytest.raises(AccelkernError, match="layout tn"):
            g.CublasLtGemm("fp8", 128, 128, 128, layout="nn")
    with pytest.raises(AccelkernError, match="M and K to be multiples of 4"):
        g.CublasLtGemm("int8", 128, 128, 130)
    with pytest.raises(AccelkernError, match="only in layout tn"):
        g.CublasGemm("int8", 128, 128, 128, layout="nn")
    from accelkern.torch_backend import DoesNotFit
    with pytest.raises(DoesNotFit, match=r"needs .* GiB .* free"):
        g.CublasLtGemm("bf16", 400000, 400000, 400000)


@pytest.mark.gpu
def test_gpu_cli_explorer(tmp_path):
    r = _run(["--dtype", "bf16", "--shape", "1024x1024x1024", "--algos", "3", "--max-time", "0.3", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout if hasattr(r, "stdout") else r.output)["rows"]
    lt = [x for x in rows if x["backend"] == "cublaslt"]
    assert 1 <= len(lt) <= 3 and all(x["correct"] is True for x in lt)
    # the heuristic's order, and the 'best of' mark on the fastest of them (the speed order is not a claim)
    assert [x["config"]["algo_index"] for x in lt] == list(range(len(lt)))
    best = [x for x in lt if "best of" in (x["note"] or "")]
    assert len(best) == 1 and best[0]["value"] == max(x["value"] for x in lt)
    assert f"best of {len(lt)}" in best[0]["note"]
    assert all(x["config"]["tile"] and x["flops"] == 2.0 * 1024 ** 3 for x in lt)
    assert [x for x in rows if x["backend"] == "torch"][0]["correct"] is True


@pytest.mark.gpu
@pytest.mark.smoke
@pytest.mark.parametrize("dtype", ["bf16", "fp8", "int8"])
def test_gpu_smoke_one_gemm_per_dtype_family(dtype):
    """One cuBLASLt GEMM per family (half precision, fp8, integer): correct, timed, its row complete."""
    from accelkern.device import get_device_info
    _skip_unless_supported(dtype)
    info = get_device_info("cuda")
    req = g.GemmRequest(dtype, 2048, 1024, 4096)
    (row,) = g.gemm_rows(req, "cublaslt", info, None, timing.StopRule(max_time_s=0.5))
    assert row.status == "ok", row.note
    assert row.correct is True and row.value > 0 and row.config["tile"]
    assert 0 < row.busy_fraction <= 1 and row.criterion == "nvbench" and row.stop_reason
    assert row.timer == "cuda_events" and row.layout == "tn"


@pytest.mark.gpu
@pytest.mark.smoke
def test_gpu_smoke_torch_cross_check_runs_the_same_layout_and_accumulation():
    from accelkern.device import get_device_info
    dtype = "fp8" if g.capability_missing("fp8", "cuda") is None else "bf16"
    _skip_unless_supported(dtype)
    info = get_device_info("cuda")
    req = g.GemmRequest(dtype, 2048, 2048, 2048, fast_accum=True)
    rule = timing.StopRule(max_time_s=0.5)
    (lt,) = g.gemm_rows(req, "cublaslt", info, None, rule)
    (th,) = g.gemm_rows(req, "torch", info, None, rule)
    assert lt.status == th.status == "ok", (lt.note, th.note)
    assert lt.correct and th.correct
    assert lt.layout == th.layout == "tn" and lt.flops == th.flops
    if dtype == "fp8":
        assert lt.config["fast_accum"] is th.config["fast_accum"] is True
    assert 0 < th.busy_fraction <= 1


def _bench():
    spec = importlib.util.spec_from_file_location("gemm_dtypes", os.path.join(HERE, "..", "bench", "gemm_dtypes.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_bench_script_dry_run_and_cpu_run(tmp_path):
    bench = _bench()
    out = tmp_path / "gemm"
    r = CliRunner().invoke(bench.main, ["--dry-run", "--out", str(out)])
    assert r.exit_code == 0 and "options ok" in r.output and not out.exists()
    r = CliRunner().invoke(bench.main, ["--dry-run", "--dtypes", "fp4"])
    assert r.exit_code == 2 and "fp4" in r.output
    r = CliRunner().invoke(bench.main, ["--device", "cpu", "--dtypes", "fp32", "--shape", "48x40x56",
                                        "--max-time", "0.2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    line = r.output.strip().splitlines()[-1]
    assert line.startswith("fp32") and "CUDA device" in line and "torch" in line


def test_bench_summary_picks_the_fastest_correct_algorithm(tmp_path):
    from accelkern.results import ResultWriter, RunHeader
    bench = _bench()
    w = ResultWriter(str(tmp_path), RunHeader(command="gemm", device="test", device_kind="cuda"), stem="gemm")
    fast_wrong = _row(900.0, 3, "64x64")
    fast_wrong.correct = False
    for r in (_row(700.0, 0, "128x256"), _row(781.0, 1, "256x128", "best of 3"), fast_wrong,
              Row(suite="gemm", name="torch.mm", dtype="bf16", shape="8192x8192x8192", backend="torch",
                  value=710.0, metric="TFLOPS", correct=True)):
        w.write(r)
    w.close()
    text = bench.summarize([str(tmp_path)])
    line = text.splitlines()[1]
    assert "781.0" in line and "256x128" in line and "710.0" in line and "1.10" in line and "900" not in line
    assert "busy" in text.splitlines()[0]
