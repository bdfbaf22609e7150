#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (preset `fuzz`) and runs each for
# FUZZ_SECONDS (default 60); any crash, leak or sanitizer report fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${FUZZ_SECONDS:-60}"
cmake --preset fuzz >&2
cmake --build --preset fuzz --target fuzzers -j "$(nproc)" >&2
shopt -s nullglob
# One fuzzer per core at a time: CI's two cores give every target its full
# time at half the wall-clock cost.
JOBS="${FUZZ_JOBS:-$(nproc)}"
run_one() {
  local fuzzer="$1" name corpus
  name="$(basename "$fuzzer")"
  corpus="build/fuzz/corpus/$name"
  mkdir -p "$corpus"
  echo "[fuzz] $name for ${SECONDS_EACH}s" >&2
    # -timeout: one input running 25 s is a hang (libFuzzer's default waits
  # 20 minutes per input, far past the run's own time).
  if ! "$fuzzer" -max_total_time="$SECONDS_EACH" -timeout=25 -max_len=65536 -rss_limit_mb=2048 \
       -print_final_stats=0 -artifact_prefix=build/fuzz/ "$corpus" fuzz/seeds/"$name" > "build/fuzz/$name.log" 2>&1; then
    echo "[fuzz] $name FAILED; last lines:" >&2
    tail -40 "build/fuzz/$name.log" >&2
    return 1
  fi
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
