#!/usr/bin/env bash
# One command for a GPU machine: build, GPU tests, short benchmarks -> $OUT (JSON + logs), short table last.
#   scripts/device_check.sh                 every section (under 10 minutes on an H200)
#   scripts/device_check.sh build tests     only these sections, in this order
# Sections: build tests info validate hbm gemm peak waves mamf   (each alone runs in under 4 minutes)
# Runs with the machine's python3 (torch, click, numpy, pybind11, ninja, pytest preinstalled; no network).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/out/device_check}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
PY=python3
AK="$PY -m accelkern.cli"
ALL=(build tests info validate hbm gemm peak waves mamf)
SECTIONS=("$@")
[ ${#SECTIONS[@]} -eq 0 ] && SECTIONS=("${ALL[@]}")

note() { printf '%-10s %-8s %s\n' "$1" "$2" "$3" >>"$SUMMARY"; }

# run NAME LIMIT_S CMD...: logs to $OUT/NAME.log, records pass/fail and seconds
run() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  echo "=== $name: $*"
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]}
  note "$name" "$([ "$rc" -eq 0 ] && echo ok || echo "FAIL($rc)")" "$((SECONDS - t0)) s"
  return "$rc"
}

section_build() {
  run build 300 env MAX_JOBS=16 ACCELKERN_REQUIRE_EXTENSION=1 ACCELKERN_PTXAS_VERBOSE=1 \
    $PY -m pip install --no-build-isolation --no-deps -e . || return 1
  grep -E "spill|ptxas info" "$OUT/build.log" | grep -E "[1-9][0-9]* bytes spill" >"$OUT/spills.txt" || true
  note spills "$([ -s "$OUT/spills.txt" ] && echo CHECK || echo none)" "see spills.txt"
}

section_tests() {
  run tests 300 $PY -m pytest -q -m gpu -rs --junitxml="$OUT/gpu_tests.xml"
}

section_info() {
  run info 60 $AK info --json
  cp "$OUT/info.log" "$OUT/info.json"
}

section_validate() {
  run validate 240 $AK validate --budget 90 --out "$OUT"
}

# ---- section_hbm
# every kernel at 2 GiB (both hints), a short launch-shape tune, and the read/copy size sweep with its plot
section_hbm() {
  run hbm 150 $AK hbm --time 1 --out "$OUT/hbm"
  run hbm_tune 120 $AK hbm --tune --kernel copy,read,write,triad --time 1 --out "$OUT/hbm_tune"
  run hbm_sweep 150 $AK hbm --sweep --kernel read,copy --out "$OUT/hbm_sweep"
}


# ---- section_gemm


# ---- section_peak


# ---- section_waves


# ---- section_mamf


# capability sections are added by their issues; a missing one says so instead of failing silently
for s in "${SECTIONS[@]}"; do
  if declare -F "section_$s" >/dev/null; then
    "section_$s" || true
  else
    note "$s" "n/a" "no such section yet"
  fi
done

echo
echo "=== device_check summary ($(date -u +%FT%TZ), OUT=$OUT)"
[ -f "$OUT/validate.md" ] && sed -n '3,200p' "$OUT/validate.md"
cat "$SUMMARY"
