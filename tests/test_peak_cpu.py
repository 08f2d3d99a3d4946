"""accelkern's CPU compute kernels: declarations (FLOP per update and per pass), dispatch that skips what
the CPU lacks, every runnable kernel's exact check (and a corrupted result failing it), the check rules on
given values, a measured row's fields, and the CLI's bad input. Kernels for an ISA this CPU lacks are
skipped with the reason. No timed test."""
import json

import numpy as np
import pytest
from click.testing import CliRunner

from accelkern import _cpu_ext, timing
from accelkern.cli import cli
from accelkern.peak import cpu_check, cpu_kernels, cpu_sweep

mod = _cpu_ext.load()
pytestmark = pytest.mark.skipif(mod is None, reason=f"accelkern._cpu not built: {_cpu_ext.error()}")

# what one update of each kernel does, from the ISA: lanes x products x 2 (an FMA or a multiply-add counts 2)
EXPECTED_OPS = {"fp64_avx2_fma": 4 * 2, "fp32_avx2_fma": 8 * 2, "fp64_avx512_fma": 8 * 2, "fp32_avx512_fma": 16 * 2,
                "bf16_avx512_bf16": 16 * 2 * 2, "fp16_avx512_fp16": 32 * 2, "int8_avx2_int8": 8 * 4 * 2,
                "int8_avx512_vnni": 16 * 4 * 2, "int8_avx_vnni": 8 * 4 * 2, "bf16_amx_bf16": 16 * 16 * 32 * 2,
                "int8_amx_int8": 16 * 16 * 64 * 2, "fp16_amx_fp16": 16 * 16 * 32 * 2,
                # a pair: one FMA (2 FLOP per lane) and one subtraction (1 FLOP per lane)
                "fp64_avx2_fma_add": 4 * 3, "fp32_avx2_fma_add": 8 * 3, "fp64_avx512_fma_add": 8 * 3,
                "fp32_avx512_fma_add": 16 * 3}


def _facts():
    from accelkern.hostcpu import facts
    return facts.cpu_facts()


def _kernels():
    return {k.name: k for k in cpu_kernels.all_kernels()} if mod is not None else {}


def test_declarations_state_what_one_update_does():
    ks = _kernels()
    assert set(ks) == set(EXPECTED_OPS)
    for name, k in ks.items():
        assert k.ops_per_update == EXPECTED_OPS[name], name
        assert k.name == f"{k.dtype}_{k.path}" and k.features and k.isa
        if k.built:
            assert k.shapes and all(a >= 1 and u >= 1 for a, u in k.shapes)
            a, u = k.shapes[-1]
            assert k.ops_per_pass(a, u) == a * u * EXPECTED_OPS[name]
        else:
            assert "needed" in k.why_not_built or "another machine" in k.why_not_built


class _Facts:
    def __init__(self, features, arch="x86_64"):
        self.features, self.arch, self.uarch_name, self.model_name = frozenset(features), arch, "test CPU", "test"


def test_dispatch_skips_what_the_cpu_lacks():
    k = _kernels()["fp32_avx512_fma"]
    assert cpu_kernels.unavailable(k, _Facts({"avx2", "fma"})) == "this CPU (test CPU) lacks avx512f"
    assert cpu_kernels.unavailable(k, _Facts({"avx512f"})) is None or not k.built
    assert "x86-64 ISA" in cpu_kernels.unavailable(k, _Facts({"avx512f"}, arch="aarch64"))
    v = _kernels()["int8_avx512_vnni"]
    assert "avx512_vnni" in cpu_kernels.unavailable(v, _Facts({"avx512f", "avx2"}))


def test_select_names_dtypes_and_paths():
    f = _facts()
    assert {k.dtype for k in cpu_kernels.select(f, dtypes=["int8"])} == {"int8"}
    assert [k.name for k in cpu_kernels.select(f, names=["fp32_avx2_fma"])] == ["fp32_avx2_fma"]
    with pytest.raises(Exception, match="unknown CPU kernel nope; allowed: "):
        cpu_kernels.select(f, names=["nope"])
    with pytest.raises(Exception, match="unknown CPU path wgmma"):
        cpu_kernels.select(f, paths=["wgmma"])


def _runnable_or_skip(name):
    k = _kernels()[name]
    why = cpu_kernels.unavailable(k, _facts())
    if why:
        pytest.skip(f"{name}: {why}")
    return k


@pytest.mark.parametrize("name", sorted(EXPECTED_OPS))
def test_every_runnable_kernel_produces_its_exact_value_and_a_corruption_fails(name):
    k = _runnable_or_skip(name)
    a, u = k.shapes[0]
    r = cpu_sweep.ChainRunner(k, a, u, [0] if 0 in _facts().cpus else [_facts().cpus[0]])
    res = r.check_run(passes=101)                         # odd: an 'alternate' chain shows a skipped update
    assert res.ok and res.exact, res.detail
    r.run.run(101)
    raw = bytearray(r.run.values(0))
    good = cpu_check.check(k, r.start, bytes(raw), 101 * u)
    assert good.ok and good.exact
    wrong_count = cpu_check.check(k, r.start, bytes(raw), 102 * u)
    assert not wrong_count.ok                             # one update more or less is seen
    step = cpu_check.NUMPY_TYPES[k.value_type]().itemsize
    raw[5 * step] ^= 0x40                                 # flip one bit of one element
    bad = cpu_check.check(k, r.start, bytes(raw), 101 * u)
    assert not bad.ok and bad.bad == 1


def test_the_extension_refuses_a_kernel_this_cpu_lacks():
    f = _facts()
    lacking = [k for k in cpu_kernels.all_kernels() if k.built and cpu_kernels.unavailable(k, f)]
    if not lacking:
        pytest.skip("this CPU runs every built kernel")
    k = lacking[0]
    with pytest.raises(RuntimeError, match="needs|AMX"):
        mod.PeakRun(k.name, k.shapes[0][0], k.shapes[0][1], [f.cpus[0]])


def test_bad_launch_shape_and_cpu_are_refused():
    k = _kernels()["fp64_avx2_fma"]
    with pytest.raises(ValueError, match="no launch shape 7 accumulators"):
        mod.PeakRun(k.name, 7, 3, [0])
    with pytest.raises(RuntimeError, match="cannot pin a thread to CPU 4096"):
        mod.PeakRun(k.name, k.shapes[0][0], k.shapes[0][1], [4096])


def test_check_rules_on_given_values():
    class K:
        pass
    alt = K()
    alt.check, alt.step, alt.value_type = "alternate", 3.0, "f32"
    start = np.array([1.0, 1.5], dtype=np.float32)
    assert list(cpu_check.expected(alt, start, 4)) == [1.0, 1.5]
    assert list(cpu_check.expected(alt, start, 5)) == [2.0, 1.5]
    w = K()
    w.check, w.step, w.value_type = "wrap32", -24.0, "i32"
    big = np.array([0, 7], dtype=np.int32)
    want = cpu_check.expected(w, big, 200_000_000)     # 4.8e9: wraps modulo 2^32 like the hardware
    assert list(want) == [int(np.int64(-24 * 200_000_000 + 2 ** 31) % 2 ** 32 - 2 ** 31),
                          int(np.int64(7 - 24 * 200_000_000 + 2 ** 31) % 2 ** 32 - 2 ** 31)]
    add = K()
    add.check, add.step, add.step_part, add.value_type = "add", 2 / 2 ** 20, 1 / 2 ** 20, "f32"
    s = np.array([0.0, 3 / 2 ** 20], dtype=np.float32)
    limit = cpu_check.exact_limit(add, s)
    assert limit == (2 ** 24 - 3) // 2 - 1
    fin = (s + np.float32(10 * add.step)).astype(np.float32)
    assert cpu_check.check(add, s.tobytes(), fin.tobytes(), 10).verdict == "exact"
    past = cpu_check.check(add, s.tobytes(), (s + np.float32(1)).tobytes(), limit + 5)
    assert past.ok and past.verdict == "bounded"
    stuck = cpu_check.check(add, s.tobytes(), s.tobytes(), limit + 5)      # did not grow: wrong
    assert not stuck.ok


def test_a_measured_row_states_its_figures():
    from accelkern.device import get_device_info
    k = _runnable_or_skip("fp32_avx2_fma")
    f = _facts()
    dev = get_device_info("cpu")
    a, u = k.shapes[-1]
    row = cpu_sweep.measure_shape(k, a, u, f.cpus[:1], dev, None, f,
                                  timing.StopRule(max_time_s=0.05, min_samples=3, min_time_s=0.01))
    assert row.correct is True and row.value > 0 and row.metric == "TFLOPS"
    c = row.config
    assert c["threads"] == 1 and c["accumulators"] == a and c["path"] == "avx2_fma"
    assert row.flops == c["iters_per_call"] * a * u * 16            # FLOP per call: one thread's passes
    assert row.sm_clock_mean_mhz > 100 and ("add chain" in c["clock_method"] or "perf" in c["clock_method"])
    assert row.flop_per_clk_per_sm == pytest.approx(row.value * 1e12 / (row.sm_clock_mean_mhz * 1e6))
    if c["arch_flop_per_clk_per_core"]:
        assert row.clock_peak == pytest.approx(c["arch_flop_per_clk_per_core"] * row.sm_clock_mean_mhz * 1e6 / 1e12)
    assert "exact" in c["check"]


def test_shapes_for_quick_picks_the_largest():
    k = _kernels()["fp32_avx512_fma"]
    if not k.built:
        pytest.skip(k.why_not_built)
    q = cpu_sweep.shapes_for(k, quick=True)
    assert q and all(s in k.shapes for s in q) and max(a for a, _ in q) == max(a for a, _ in k.shapes)
    assert cpu_sweep.shapes_for(k, quick=False) == list(k.shapes)


def test_cli_bad_input_exits_before_anything_is_written(tmp_path):
    out = tmp_path / "o"
    cores = len(__import__("accelkern.hostcpu.topology", fromlist=["x"]).one_cpu_per_core())
    for args, code, text in ((["--threads", str(cores + 1)], 2, "physical core"),
                             (["--threads", "0"], 2, "0"),
                             (["--kernel", "nope"], 2, "unknown CPU kernel nope"),
                             (["--path", "wgmma"], 2, "unknown CPU path wgmma"),
                             (["--dtype", "tf32"], 2, "unknown CPU dtype tf32")):
        r = CliRunner().invoke(cli, ["peak", "--device", "cpu", "--out", str(out)] + args)
        assert r.exit_code == code and text in r.output and "Traceback" not in r.output, (args, r.output)
        assert not out.exists()
    f = _facts()
    lacking = [k for k in cpu_kernels.all_kernels() if cpu_kernels.unavailable(k, f)]
    if lacking:
        r = CliRunner().invoke(cli, ["peak", "--device", "cpu", "--kernel", lacking[0].name, "--out", str(out)])
        assert r.exit_code == 3 and lacking[0].name in r.output and not out.exists()
    r = CliRunner().invoke(cli, ["peak", "--kernel", "fp32_avx2_fma"])    # CPU options on the GPU path
    assert r.exit_code in (2, 3) and "Traceback" not in r.output


def test_cli_json_run_of_one_kernel(tmp_path, monkeypatch):
    k = _runnable_or_skip("fp64_avx2_fma")
    monkeypatch.setattr(cpu_sweep, "shapes_for", lambda kernel, quick: [kernel.shapes[-1]])
    r = CliRunner().invoke(cli, ["peak", "--device", "cpu", "--kernel", k.name, "--threads", "1", "--budget", "5",
                                 "--json", "--out", str(tmp_path / "p")], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    rows = doc["rows"]
    assert [x["kernel"] for x in rows] == [k.name] and rows[0]["correct"] is True and rows[0]["dtype"] == "fp64"
    assert doc["header"]["cpu"] and doc["header"]["device_kind"] == "cpu"
    assert (tmp_path / "p" / "peak.jsonl").exists()


def test_every_chain_loop_keeps_its_accumulators_in_registers():
    """The built kernels' inner loops (disassembled) touch no memory: a spilled accumulator would time the
    cache, not the execution units."""
    import re
    import shutil
    import subprocess
    if shutil.which("objdump") is None:
        pytest.skip("objdump (binutils) is not installed")
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", "-C", mod.__file__], capture_output=True,
                         text=True, timeout=120).stdout
    loops, spilled = 0, []
    for fn in re.split(r"\n(?=[0-9a-f]+ <)", out):
        m = re.match(r"[0-9a-f]+ <(accelkern_cpu::\w+<\d+, \d+>::run.*)>:", fn)
        if not m or "Amx" in m.group(1):      # tile loads and stores are the AMX kernels' operands
            continue
        lines = {int(x.split(":")[0], 16): x for x in fn.splitlines()[1:] if re.match(r"\s*[0-9a-f]+:", x)}
        for at, line in lines.items():
            j = re.search(r"\bjne\s+([0-9a-f]+)", line)
            if j and int(j.group(1), 16) < at:
                loops += 1
                body = [lines[a] for a in sorted(lines) if int(j.group(1), 16) <= a <= at]
                if any("(%" in b for b in body):
                    spilled.append(m.group(1))
    built = sum(len(k.shapes) for k in cpu_kernels.all_kernels() if k.built and "amx" not in k.path)
    assert loops >= built and not spilled, (loops, built, spilled)


def test_all_cores_below_one_core_per_clock_is_named():
    from accelkern.results import Row
    every = Row(suite="peak", name="x", config={"threads": 2}, flop_per_clk_per_sm=32.0)
    one = Row(suite="peak", name="x", config={"threads": 1}, flop_per_clk_per_sm=64.0)
    cpu_sweep._compare_per_core(every, one)
    assert every.config["per_core_vs_one_core"] == 0.5 and "did 50% of what one core did alone" in every.note
    fine = Row(suite="peak", name="x", config={"threads": 2}, flop_per_clk_per_sm=63.0)
    cpu_sweep._compare_per_core(fine, one)
    assert fine.note is None and fine.config["per_core_vs_one_core"] == pytest.approx(63 / 64)
