#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz/*_fuzz.cc), built with clang + ASan +
# UBSan in a tree of their own ($FUZZ_BUILD, default build-fuzz/), so the
# normal build never compiles them.
#
#   scripts/fuzz.sh smoke        every regression input and seed once, then a
#                                short deterministic run per target (-seed=1,
#                                a fixed number of inputs): `make test` runs this
#   scripts/fuzz.sh long [SECS]  each target for SECS seconds (default 300,
#                                or $FUZZ_SECONDS), with a working corpus kept
#                                in the build tree between runs: `make fuzz`
#
# A crash stops the script with the target's report; its input is saved as
# $FUZZ_BUILD/artifacts/<target>-crash-*. Make it a regression: copy it to
# tests/fuzz/regressions/<target>/ (every file there runs in every smoke run)
# and fix the code.
set -euo pipefail
mode=${1:-smoke}
src=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$src/build-fuzz}
jobs=${JOBS:-$(nproc)}
targets=(cfi report_reader config control)
# Inputs per target in the smoke run: a few seconds each on a slow machine.
declare -A smoke_runs=([cfi]=200000 [report_reader]=30000 [config]=60000 [control]=200000)

if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is not installed (scripts/install-deps.sh installs clang and libclang-rt-14-dev)" >&2
  exit 1
fi
mkdir -p "$build/artifacts"
if ! { cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
         -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEMTRACE_FUZZ=ON &&
       cmake --build "$build" -j"$jobs" --target memtrace_fuzzers -- --no-print-directory; } >"$build/build.log" 2>&1; then
  tail -50 "$build/build.log" >&2
  echo "fuzz: building the fuzz targets failed (the whole log: $build/build.log)" >&2
  exit 1
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/${t}_fuzz
  seeds=$src/tests/fuzz/corpus/$t
  regress=$src/tests/fuzz/regressions/$t
  common=(-artifact_prefix="$build/artifacts/$t-" -timeout=20 -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1)
  # Every regression input and seed, once each.
  inputs=()
  for d in "$regress" "$seeds"; do
    [[ -d $d ]] && while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$d" -type f -print0 | sort -z)
  done
  if [[ ${#inputs[@]} -gt 0 ]]; then
    "$bin" "${common[@]}" "${inputs[@]}" >"$build/$t.replay.log" 2>&1 || { cat "$build/$t.replay.log" >&2; exit 1; }
  fi
  if [[ $mode == smoke ]]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    start=$(date +%s.%N)
    "$bin" "${common[@]}" -seed=1 -runs="${smoke_runs[$t]}" "$work" "$seeds" >"$build/$t.smoke.log" 2>&1 ||
      { cat "$build/$t.smoke.log" >&2; exit 1; }
    end=$(date +%s.%N)
    rm -rf "$work"
    stats=$(grep -E "^stat::(number_of_executed_units|new_units_added)" "$build/$t.smoke.log" | awk '{print $2}' | paste -sd/)
    printf 'fuzz %-14s %3d inputs replayed, %s runs/new units in %.1f s: no crash\n' "$t" "${#inputs[@]}" "$stats" \
           "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')"
  else
    secs=${2:-${FUZZ_SECONDS:-300}}
    corpus=$build/corpus/$t
    mkdir -p "$corpus"
    "$bin" "${common[@]}" -max_total_time="$secs" "$corpus" "$seeds" >"$build/$t.long.log" 2>&1 ||
      { tail -60 "$build/$t.long.log" >&2; exit 1; }
    execs=$(grep -E "^stat::number_of_executed_units" "$build/$t.long.log" | awk '{print $2}')
    cov=$(grep -E "^#[0-9]+.*cov:" "$build/$t.long.log" | tail -1 | sed -E 's/.*cov: ([0-9]+).*ft: ([0-9]+).*corp: ([0-9]+).*/cov \1, features \2, corpus \3/')
    printf 'fuzz %-14s %s s, %s inputs, %s: no crash\n' "$t" "$secs" "$execs" "$cov"
  fi
done
