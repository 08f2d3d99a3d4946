#!/usr/bin/env bash
# One command for a GPU machine, built for a short window (15 minutes including start-up and the build):
#   scripts/device_check.sh                   the default profile, within DEVICE_CHECK_LIMIT seconds (default 420)
#   scripts/device_check.sh quick             one verdict of each family in <= 240 s
#   scripts/device_check.sh build mamf_grid   only these sections, in this order (tests_extended: the long
#                                             GPU test grids, for a second window)
#   scripts/device_check.sh --dry-run [...]   on any machine, no GPU: every command line the run would use is
#                                             parsed (ACCELKERN_DRY_RUN=1), section names checked, limits added up
# Order (by value): preflight, build, smoke, info, gemm, mamf, peak, hbm, waves, tests, report, verdicts.
# Each section has a limit; a profile's limits add up to what its deadline holds. $OUT gets summary.txt,
# info.json, the report and device_check.tgz (every log and JSONL) after EVERY section, so a kill keeps
# what finished. Exit code: 0 every section ok, 1 a section failed, 3 no usable GPU (found before building).
# Test sections (smoke, tests, tests_extended) fit by construction: every GPU test declares its seconds in
# tests/gpu_costs.py, the dry run adds them up against the section's limit, and on the GPU pytest runs
# them most valuable first under a deadline (tests/gpu_plan.py), reporting the rest as not reached.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
AK="$PY -m accelkern"

DRY=0
if [ "${1:-}" = "--dry-run" ]; then DRY=1; shift; fi

declare -A LIMIT=(
  [preflight]=13 [build]=120 [smoke]=36 [info]=10 [gemm]=45 [mamf]=45 [peak]=30 [hbm]=30 [waves]=25
  [tests]=52 [report]=10 [verdicts]=4
  [gemm_quick]=18 [peak_quick]=20 [hbm_quick]=15 [mamf_quick]=15 [waves_quick]=10
  [mamf_grid]=240 [tests_extended]=240
)
DEFAULT=(preflight build smoke info gemm mamf peak hbm waves tests report verdicts)
QUICK=(preflight build smoke gemm_quick peak_quick hbm_quick mamf_quick waves_quick)

if [ $# -eq 0 ]; then SECTIONS=("${DEFAULT[@]}"); PROFILE=default; DEF_LIMIT=420
elif [ "$1" = quick ] && [ $# -eq 1 ]; then SECTIONS=("${QUICK[@]}"); PROFILE=quick; DEF_LIMIT=240
elif [ "$1" = preflight ]; then SECTIONS=("$@"); PROFILE=custom; DEF_LIMIT=420
else SECTIONS=(preflight "$@"); PROFILE=custom; DEF_LIMIT=420
fi
TOTAL=${DEVICE_CHECK_LIMIT:-$DEF_LIMIT}
if [ "$PROFILE" = quick ]; then LIMIT[build]=110; LIMIT[preflight]=15; fi

for s in "${SECTIONS[@]}"; do
  if [ -z "${LIMIT[$s]:-}" ]; then
    echo "device_check: unknown section '$s' (known: ${!LIMIT[*]}; profiles: quick)" >&2
    exit 2
  fi
done
sum=0; for s in "${SECTIONS[@]}"; do sum=$((sum + LIMIT[$s])); done
if [ "$sum" -gt "$TOTAL" ]; then
  echo "device_check: the sections' limits add up to $sum s, more than DEVICE_CHECK_LIMIT=$TOTAL s" >&2
  exit 2
fi

OUT="${OUT:-$ROOT/out/device_check}"
D="${DETAILS:-$ROOT/out/device_check_details}"
export PYTHONUNBUFFERED=1
if [ "$DRY" = 1 ]; then
  PLAN=$(mktemp); SUMMARY=/dev/null
else
  rm -rf "$D"; mkdir -p "$OUT" "$D"; rm -f "$OUT"/summary.txt "$OUT"/device_check.tgz
  SUMMARY="$D/summary.txt"; : >"$SUMMARY"
fi
T0=$SECONDS
DEADLINE=$((SECONDS + TOTAL))
FAILED=0

note() { printf '%-16s %-10s %s\n' "$1" "$2" "$3" >>"$SUMMARY"; }

refresh_out() {  # what finished so far, back in $OUT (the device tool returns at most 8 files)
  [ "$DRY" = 1 ] && return 0
  cp "$SUMMARY" "$OUT/summary.txt" 2>/dev/null
  [ -s "$D/info.json" ] && cp "$D/info.json" "$OUT/info.json"
  [ -f "$D/report/report.html" ] && cp "$D/report/report.html" "$OUT/report.html"
  tar czf "$OUT/device_check.tgz.tmp" -C "$D" . 2>/dev/null && mv "$OUT/device_check.tgz.tmp" "$OUT/device_check.tgz"
}

# run NAME LIMIT CMD...: one command of a section, its log in $D/NAME.log, stdout also in $D/NAME.out.
# In a dry run it is only recorded, for scripts/dry_run_check.py to parse.
run() {
  local name=$1 limit=$2; shift 2
  if [ "$DRY" = 1 ]; then
    printf '%s\t%s\t%s\t%s\n' "$CUR" "$name" "$limit" "$(printf '%q ' "$@")" >>"$PLAN"
    return 0
  fi
  local left=$((DEADLINE - SECONDS))
  [ "$limit" -gt "$left" ] && limit=$left
  if [ "$limit" -lt 5 ]; then
    note "$name" "skipped" "no time left (DEVICE_CHECK_LIMIT=$TOTAL)"
    return 124
  fi
  local t=$SECONDS
  echo "=== $name (limit ${limit}s): $*"
  timeout -k 10 "$limit" "$@" >"$D/$name.out" 2>"$D/$name.err"
  local rc=$?
  cat "$D/$name.out" "$D/$name.err" >"$D/$name.log"
  tail -n 40 "$D/$name.log"
  local word=ok
  [ "$rc" -ne 0 ] && word="FAIL($rc)"
  [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ] && word="TIMEOUT"
  note "  $name" "$word" "$((SECONDS - t)) s"
  return "$rc"
}

# ---- preflight: < 15 s, before anything is built -----------------------------------------------------------
section_preflight() {
  [ "$DRY" = 1 ] && return 0
  local msg rc
  msg=$(timeout -k 5 30 $PY - <<'PYEOF' 2>&1
import shutil, subprocess, sys
try:
    import torch
except Exception as exc:
    print(f"no usable GPU: torch does not import ({exc})"); sys.exit(3)
if not torch.cuda.is_available():
    print(f"no usable GPU: torch {torch.__version__} sees no CUDA device (torch.cuda.is_available() is False)")
    sys.exit(3)
free, total = torch.cuda.mem_get_info()
p = torch.cuda.get_device_properties(0)
drv = "?"
if shutil.which("nvidia-smi"):
    drv = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True).stdout.strip().splitlines()[0:1] or ["?"]
    drv = drv[0]
nvcc = "none"
for cand in ("/usr/local/cuda/bin/nvcc", shutil.which("nvcc")):
    if cand:
        out = subprocess.run([cand, "--version"], capture_output=True, text=True).stdout
        nvcc = next((w.strip(",") for w in out.split() if w[:1].isdigit() and "release " + w in out), "?")
        break
warn = "" if nvcc.split(".")[0] == (torch.version.cuda or "").split(".")[0] else "  MISMATCH: nvcc vs torch CUDA"
print(f"{p.name}, {p.multi_processor_count} SMs, sm_{p.major}{p.minor}, driver {drv}, torch {torch.__version__} "
      f"(CUDA {torch.version.cuda}), nvcc {nvcc}{warn}, free {free / 2**30:.1f} of {total / 2**30:.1f} GiB")
PYEOF
)
  rc=$?
  echo "preflight: $msg"
  note preflight "$([ $rc -eq 0 ] && echo ok || echo "FAIL($rc)")" "$msg"
  if [ $rc -ne 0 ]; then
    refresh_out
    echo "device_check: $msg" >&2
    exit 3
  fi
}

# ---- build: for this GPU only (90a), ptxas verbose, the spill check reads the pip -v log ---------------------
section_build() {
  run build "${LIMIT[build]}" env MAX_JOBS=16 ACCELKERN_REQUIRE_EXTENSION=1 ACCELKERN_PTXAS_VERBOSE=1 \
    ACCELKERN_CUDA_ARCHS=90a $PY -m pip install -v --no-build-isolation --no-deps -e . || return 1
  [ "$DRY" = 1 ] && return 0
  grep -E "[1-9][0-9]* bytes spill (stores|loads)" "$D/build.log" >"$D/spills.txt"
  note "  spills" "$([ -s "$D/spills.txt" ] && echo CHECK || echo none)" \
    "$(grep -c 'ptxas info' "$D/build.log") ptxas lines read; $(wc -l <"$D/spills.txt") with spills"
  $PY -c "import torch, accelkern._C as C; print(dict(C.build_info()))" >"$D/build_info.txt" 2>&1 || return 1
}

# pytest_section NAME MARKEXPR: the section's tests most valuable first under a deadline just inside its limit
# (tests/gpu_plan.py: a test starts only while its declared cost fits; the rest are "not reached"); the
# verdict comes from the run log written test by test, so it stands even when pytest is killed. FAIL only
# when a test failed or errored (or pytest never collected).
pytest_section() {
  local name=$1 expr=$2 limit=${LIMIT[$CUR]}
  local left=$((DEADLINE - SECONDS))
  [ "$DRY" = 0 ] && [ "$limit" -gt "$left" ] && limit=$left
  run "$name" "$limit" $PY -m pytest -q -m "$expr" -rs --timeout=60 -p no:cacheprovider \
    --section-limit="$limit" --run-log="$D/$name.testlog" --junitxml="$D/$name.xml"
  local rc=$?
  [ "$DRY" = 1 ] && return 0
  if [ ! -e "$D/$name.testlog" ] && [ "$rc" -eq 124 ]; then
    note "  $name" "not run" "no time left: every test not reached"; return 0
  fi
  local line ok
  line=$($PY scripts/test_section_summary.py "$D/$name.testlog" --pytest-rc "$rc")
  ok=$?
  note "  $name" "$([ $ok -eq 0 ] && echo ok || echo FAIL)" "$line"
  [ $ok -eq 0 ]
}

section_smoke() { pytest_section smoke "gpu and smoke"; }
section_tests() { pytest_section tests "gpu and not smoke and not extended"; }
section_tests_extended() { pytest_section tests_extended "gpu and extended"; }

section_info() {  # info.json from stdout alone
  run info "${LIMIT[info]}" $AK info --json || return 1
  [ "$DRY" = 1 ] || cp "$D/info.out" "$D/info.json"
}

# ---- gemm: bf16 8192^3 cuBLASLt top 8 beside cuBLAS and torch; the other dtypes with the top 4 -----------------
section_gemm() {
  local rc=0
  run gemm_bf16 20 $AK gemm --dtype bf16 --shape 8192x8192x8192 --algos 8 --backend cublaslt,cublas,torch \
    --max-time 0.5 --out "$D/gemm_bf16" || rc=1
  run gemm_dtypes 25 $AK gemm --dtype fp32,tf32,fp16,fp8,int8 --shape 8192x8192x8192 --algos 4 \
    --backend cublaslt,torch --max-time 0.3 --out "$D/gemm_dtypes" || rc=1
  return "$rc"
}
section_gemm_quick() {
  run gemm_quick "${LIMIT[gemm_quick]}" $AK gemm --dtype bf16 --shape 8192x8192x8192 --algos 4 \
    --backend cublaslt,torch --max-time 0.5 --out "$D/gemm_quick"
}

# ---- mamf: short guided searches (cold-cache; the winner also sustained) -------------------------------------
section_mamf() {
  local rc=0
  run mamf_bf16 25 $AK mamf --dtype bf16 --budget 12 --warmup 3 --out "$D/mamf_bf16" || rc=1
  run mamf_fp8 20 $AK mamf --dtype fp8 --budget 8 --warmup 2 --out "$D/mamf_fp8" || rc=1
  return "$rc"
}
section_mamf_quick() {
  run mamf_quick "${LIMIT[mamf_quick]}" $AK mamf --dtype bf16 --budget 5 --warmup 2 --top 2 --repeats 2 \
    --out "$D/mamf_quick"
}
# the issue-14 comparison: guided vs the 192-shape grid (m, n = 2048..16384 step 2048, k = 4096, 8192, 16384)
section_mamf_grid() {
  local rc=0
  run mamf_grid "${LIMIT[mamf_grid]}" $AK mamf --dtype bf16 --search grid --m 2048:16385:2048 \
    --n 2048:16385:2048 --k 4096,8192,16384 --warmup 5 --top 1 --repeats 1 --out "$D/mamf_grid" || rc=1
  run mamf_guided "${LIMIT[mamf]}" $AK mamf --dtype bf16 --search guided --m 2048:16385:2048 \
    --n 2048:16385:2048 --k 4096,8192,16384 --warmup 5 --out "$D/mamf_guided" || rc=1
  return "$rc"
}

# ---- peak: every kernel checked against float64 first, best launch shape per kernel --------------------------
section_peak() {
  run peak "${LIMIT[peak]}" $AK peak --budget 20 --quick --out "$D/peak"
}
section_peak_quick() {
  run peak_quick "${LIMIT[peak_quick]}" $AK peak --dtype bf16,fp32 --path wgmma,simt --budget 10 --quick \
    --out "$D/peak_quick"
}

# ---- hbm: every kernel at 2 GiB, then the read size sweep with its plot --------------------------------------
section_hbm() {
  local rc=0
  run hbm 15 $AK hbm --time 0.3 --out "$D/hbm" || rc=1
  run hbm_sweep 15 $PY bench/hbm_sweep.py --kernel read --steps 1 --time 0.3 --out "$D/hbm_sweep" || rc=1
  return "$rc"
}
section_hbm_quick() {
  run hbm_quick "${LIMIT[hbm_quick]}" $AK hbm --kernel copy,read --hint default --time 0.5 --out "$D/hbm_quick"
}

# ---- waves: the staircase (1 and 2 CTAs/SM) and a fixed-algorithm bf16 N sweep -------------------------------
section_waves() {
  local rc=0
  run waves_staircase 10 $AK waves staircase --ctas-per-sm 1,2 --waves 3 --per-wave 4 --max-time 0.1 \
    --out "$D/waves_staircase" --plot "$D/waves_staircase/staircase.png" || rc=1
  run waves_sweep 15 $AK waves sweep --m 8192 --k 8192 --n 256:8193:256 --dtype bf16 --backend cublaslt \
    --fixed-algo --max-time 0.2 --out "$D/waves_sweep" --plot "$D/waves_sweep/sweep.png" || rc=1
  return "$rc"
}
section_waves_quick() {
  run waves_quick "${LIMIT[waves_quick]}" $AK waves staircase --ctas-per-sm 1 --waves 3 --per-wave 4 \
    --max-time 0.1 --out "$D/waves_quick"
}

# ---- report and verdicts: the page from everything measured; speed claims as verdict lines -------------------
section_report() {
  run report "${LIMIT[report]}" $AK report "$D" --out "$D/report/report.html" --title "device_check $PROFILE"
}
section_verdicts() {
  run verdicts "${LIMIT[verdicts]}" $PY scripts/device_verdicts.py "$D" || return 1
  [ "$DRY" = 1 ] || sed 's/^/verdict          /' "$D/verdicts.out" >>"$SUMMARY"
}

for s in "${!LIMIT[@]}"; do
  declare -F "section_$s" >/dev/null || { echo "device_check: section '$s' has a limit but no section_$s" >&2; exit 2; }
done

for CUR in "${SECTIONS[@]}"; do
  t=$SECONDS
  if [ "$DRY" = 0 ] && [ $((DEADLINE - SECONDS)) -lt 5 ]; then
    note "$CUR" "skipped" "no time left (DEVICE_CHECK_LIMIT=$TOTAL)"; FAILED=1; continue
  fi
  "section_$CUR"; rc=$?
  if [ "$DRY" = 0 ]; then
    note "$CUR" "$([ $rc -eq 0 ] && echo ok || echo "FAIL($rc)")" "$((SECONDS - t)) s of ${LIMIT[$CUR]} s"
    [ $rc -ne 0 ] && FAILED=1
    refresh_out
  fi
done

if [ "$DRY" = 1 ]; then
  $PY scripts/dry_run_check.py --plan "$PLAN" --total "$TOTAL" --profile "$PROFILE" \
    $(for s in "${SECTIONS[@]}"; do printf -- '--section %s=%s ' "$s" "${LIMIT[$s]}"; done)
  rc=$?
  rm -f "$PLAN"
  exit $rc
fi

echo
echo "=== device_check $PROFILE: $((SECONDS - T0)) s of $TOTAL s ($(date -u +%FT%TZ)); details in $OUT/device_check.tgz"
cat "$SUMMARY"
refresh_out
exit $FAILED
