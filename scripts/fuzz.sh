#!/usr/bin/env bash
# Long fuzzing by hand: builds the libFuzzer targets with clang at -O2 with
# every module instrumented (preset `fuzz`) and runs each for FUZZ_SECONDS
# (default 60); any crash, leak or sanitizer report fails. (The test command
# fuzzes each target for 30 s from the dev build, as CTest's `fuzz` label.)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
cmake --preset fuzz >&2
cmake --build --preset fuzz --target fuzzers -j "$(nproc)" >&2
START="${MLXS_TEST_START:-$(date +%s)}"
elapsed() { echo "$(($(date +%s) - START))"; }
echo "[fuzz] built at $(elapsed) s" >&2
shopt -s nullglob
# One fuzzer per core at a time: every target gets its full time.
JOBS="${FUZZ_JOBS:-$(nproc)}"
run_one() {
  local fuzzer="$1" name corpus
  name="$(basename "$fuzzer")"
  corpus="build/fuzz/corpus/$name"
  mkdir -p "$corpus"
  echo "[fuzz] $name for ${SECONDS_EACH}s (at $(elapsed) s)" >&2
  # -timeout: one input running 25 s is a hang (libFuzzer's default waits
  # 20 minutes per input, far past the run's own time). `timeout` bounds the
  # whole process too, so a fuzzer that never stops fails CI by name
  # instead of running it out of time.
  local rc=0
  timeout -k 15 $((SECONDS_EACH + 240)) "$fuzzer" -max_total_time="$SECONDS_EACH" -timeout=25 \
      -max_len=65536 -rss_limit_mb=2048 -print_final_stats=0 -artifact_prefix=build/fuzz/ \
      "$corpus" fuzz/seeds/"$name" > "build/fuzz/$name.log" 2>&1 || rc=$?
  if [ "$rc" != 0 ]; then
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then echo "[fuzz] $name did not stop in time" >&2; fi
    echo "[fuzz] $name FAILED (exit $rc); last lines:" >&2
    tail -40 "build/fuzz/$name.log" >&2
    return 1
  fi
  echo "[fuzz] $name passed (at $(elapsed) s)" >&2
}
status=0
pids=()
for fuzzer in build/fuzz/fuzzers/*; do
  run_one "$fuzzer" &
  pids+=("$!")
  if [ "${#pids[@]}" -ge "$JOBS" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
