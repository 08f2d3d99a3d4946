#!/usr/bin/env bash
# One command for a GPU machine: build, GPU tests, short benchmarks; a short table last.
#   scripts/device_check.sh                 every section, within DEVICE_CHECK_LIMIT seconds (default 570)
#   scripts/device_check.sh build tests     only these sections, in this order
# Sections: build tests info validate gemm peak hbm waves mamf mamf_grid   (each alone runs in under 4 minutes)
# Every log, JSONL and plot goes to $DETAILS; at the end $OUT receives only summary.txt and
# device_check.tgz (all details), so the results survive a transfer that takes few files.
# Runs with the machine's python3 (torch, click, numpy, pybind11, ninja, pytest preinstalled; no network).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/out/device_check}"
D="${DETAILS:-$PWD/out/device_check_details}"
mkdir -p "$OUT" "$D"
export PYTHONUNBUFFERED=1
SUMMARY="$D/summary.txt"
: >"$SUMMARY"
PY=python3
AK="$PY -m accelkern"
ALL=(build tests info validate gemm peak hbm waves mamf mamf_grid)
SECTIONS=("$@")
[ ${#SECTIONS[@]} -eq 0 ] && SECTIONS=("${ALL[@]}")
DEADLINE=$((SECONDS + ${DEVICE_CHECK_LIMIT:-570}))

pack() {
  cp "$SUMMARY" "$OUT/summary.txt" 2>/dev/null
  tar czf "$OUT/device_check.tgz" -C "$D" . 2>/dev/null
}
trap pack EXIT

note() { printf '%-10s %-8s %s\n' "$1" "$2" "$3" >>"$SUMMARY"; }

# run NAME LIMIT_S CMD...: logs to $D/NAME.log, records pass/fail and seconds
run() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 20 ]; then
    note "$name" "skipped" "no time left (DEVICE_CHECK_LIMIT)"
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name: $*"
  timeout "$limit" "$@" 2>&1 | tee "$D/$name.log"
  local rc=${PIPESTATUS[0]}
  note "$name" "$([ "$rc" -eq 0 ] && echo ok || echo "FAIL($rc)")" "$((SECONDS - t0)) s"
  return "$rc"
}

section_build() {
  run build 300 env MAX_JOBS=16 ACCELKERN_REQUIRE_EXTENSION=1 ACCELKERN_PTXAS_VERBOSE=1 \
    $PY -m pip install --no-build-isolation --no-deps -e . || return 1
  grep -E "spill|ptxas info" "$D/build.log" | grep -E "[1-9][0-9]* bytes spill" >"$D/spills.txt" || true
  note spills "$([ -s "$D/spills.txt" ] && echo CHECK || echo none)" "see spills.txt"
}

section_tests() {
  run tests 300 $PY -m pytest -q -m gpu -rs --junitxml="$D/gpu_tests.xml"
}

section_info() {
  run info 60 $AK info --json
  cp "$D/info.log" "$D/info.json"
}

section_validate() {
  run validate 240 $AK validate --budget 90 --out "$D"
}

# ---- section_hbm
# every kernel at 2 GiB (both hints), a short launch-shape tune, and the read/copy size sweep with its plot
section_hbm() {
  run hbm 150 $AK hbm --time 1 --out "$D/hbm"
  run hbm_tune 120 $AK hbm --tune --kernel copy,read,write,triad --time 1 --out "$D/hbm_tune"
  run hbm_sweep 150 $AK hbm --sweep --kernel read,copy --out "$D/hbm_sweep"
}


# ---- section_gemm
# bf16 8192^3: cuBLASLt's top 8 explored (tile/stages/cluster per row) beside cuBLAS and torch; then fp32,
# tf32, fp16, fp8 (e4m3, bf16 out, fast accum) and int8 with the top 4 beside torch. ~1 minute on an H200.
section_gemm() {
  run gemm_bf16 90 $AK gemm --dtype bf16 --shape 8192x8192x8192 --algos 8 --backend cublaslt,cublas,torch \
    --max-time 1.0 --out "$D/gemm_bf16"
  run gemm_dtypes 120 $AK gemm --dtype fp32,tf32,fp16,fp8,int8 --shape 8192x8192x8192 --algos 4 \
    --backend cublaslt,torch --max-time 1.0 --out "$D/gemm_dtypes"
  $PY bench/gemm_dtypes.py --summary "$D/gemm_bf16" --summary "$D/gemm_dtypes" >"$D/gemm_summary.txt" 2>&1
  sed 's/^/gemm       /' "$D/gemm_summary.txt" >>"$SUMMARY"
}


# ---- section_peak
section_peak() {
  # every kernel is checked against a float64 reference before it is timed; best launch shape per kernel
  run peak 170 $AK peak --budget 80 --out "$D" || return 1
  $PY - "$D/peak.jsonl" >>"$SUMMARY" <<'PYEOF'
import sys
from accelkern.results import read_jsonl
_, rows = read_jsonl(sys.argv[1])
for r in rows:
    if r.suite != "peak":
        continue
    c = r.config or {}
    if r.status != "ok":
        print(f"peak       {r.status:<8} {r.backend} {r.name}: {r.note}")
        continue
    fpc = c.get("flop_per_clk_per_sm_kernel_clock")
    print(f"peak       {'ok' if r.correct is not False else 'WRONG':<8} {r.backend:<8} {r.name:<32} "
          f"{r.value:8.1f} {r.metric:<6} {fpc or 0:6.0f}/{c.get('arch_flop_per_clk_per_sm') or 0:.0f} FLOP/clk/SM "
          f"({c.get('pct_of_arch_at_kernel_clock') or 0:5.1f}% @ {c.get('kernel_clock_mhz') or 0:.0f} MHz kernel, "
          f"{r.sm_clock_mean_mhz or 0:.0f} MHz NVML, {r.power_mean_w or 0:.0f} W, {r.throttle})")
PYEOF
}


# ---- section_waves
# staircase (1 and 2 CTAs/SM: every step at its predicted CTA count?) and a fixed-algorithm bf16 N-sweep at
# M=K=8192, N=128..8192 step 128, with the Pearson r of predicted vs measured time, then the default-algorithm
# sweep (N step 256) whose dips the algorithm switches and waves explain. About 1.5 minutes.
section_waves() {
  run waves_staircase 100 $AK waves staircase --ctas-per-sm 1,2 --waves 3 --per-wave 6 --max-time 0.1 \
    --out "$D/waves" --plot "$D/waves/waves_staircase.png"
  local rc=$?
  grep -E "^[0-9]+ CTA/SM:|verdict" "$D/waves_staircase.log" | while read -r line; do note waves "" "$line"; done
  local backend=(--backend cublaslt --fixed-algo)
  if ! $PY -c "import accelkern.gemm" 2>/dev/null; then
    backend=(--backend torch --tile 128x256)
    note waves "n/a" "accelkern.gemm missing: N-sweep through torch with an assumed 128x256 tile"
  fi
  run waves_sweep 150 $AK waves sweep --m 8192 --k 8192 --n 128:8192:128 --dtype bf16 "${backend[@]}" \
    --max-time 0.3 --out "$D/waves" --plot "$D/waves/waves_sweep_fixed.png"
  rc=$((rc | $?))
  grep -E "Pearson|fixed algorithm|fit:" "$D/waves_sweep.log" | while read -r line; do note waves "" "$line"; done
  if [ "${backend[1]}" = cublaslt ]; then  # what users get: cuBLASLt's own choice per shape, coarser grid
    run waves_sweep_default 90 $AK waves sweep --m 8192 --k 8192 --n 256:8192:256 --dtype bf16 --backend cublaslt \
      --max-time 0.2 --out "$D/waves_default" --plot "$D/waves/waves_sweep_default.png"
    rc=$((rc | $?))
    grep -E "Pearson|switch" "$D/waves_sweep_default.log" | head -8 | while read -r line; do note waves "" "$line"; done
  fi
  return "$rc"
}


# ---- section_mamf
section_mamf() {
  # guided bf16 vs the 192-shape grid in the same run, then guided fp8 (cold-cache; winners also sustained)
  run mamf_bf16 200 $PY bench/mamf_guided_vs_grid.py --dtype bf16 --guided-budget 20 --warmup 5 --out "$D/mamf"
  run mamf_fp8 60 $AK mamf --dtype fp8 --budget 15 --warmup 3 --json --out "$D/mamf_fp8"
  grep -h '"name": "MAMF"' "$D"/mamf/*/mamf.jsonl "$D"/mamf_fp8/mamf.jsonl 2>/dev/null \
    | $PY -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l); print("mamf      ", r["dtype"], round(r["value"], 1), r["shape"], r["config"].get("search"))' >>"$SUMMARY"
}

section_mamf_grid() {
  # the grid over m = 256..20224 step 256, n = k = 4096 (78 shapes) must finish in under 60 s of measuring
  run mamf_grid 150 $AK mamf --dtype bf16 --search grid --m 256:20480:256 --n 4096 --k 4096 --warmup 3 \
    --top 1 --repeats 1 --out "$D/mamf_grid"
}


# an unknown section name is reported, not silently ignored
for s in "${SECTIONS[@]}"; do
  if declare -F "section_$s" >/dev/null; then
    "section_$s" || true
  else
    note "$s" "unknown" "no such section (known: ${ALL[*]})"
  fi
done

echo
pack
echo "=== device_check summary ($(date -u +%FT%TZ); details in $D, packed to $OUT/device_check.tgz)"
[ -f "$D/validate.md" ] && sed -n '3,200p' "$D/validate.md"
cat "$SUMMARY"
