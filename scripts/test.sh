#!/usr/bin/env bash
# Runs every test that needs no GPU: sets up, builds the dev preset (clang,
# ASan + UBSan, the tests and the libFuzzer targets from one compile of src/),
# runs CTest without the gpu label (the fuzz label fuzzes each target for
# MLXS_FUZZ_SECONDS, 20 s), and compiles the CUDA backend when a toolkit is
# present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Each phase says when it ended, so that a CI log cut short still shows
# where the time went.
export MLXS_TEST_START="${MLXS_TEST_START:-$(date +%s)}"
phase() { echo "[test] $1 done at $(($(date +%s) - MLXS_TEST_START)) s" >&2; }
bash scripts/setup.sh --preset dev
phase "setup + dev build"
ctest --preset dev --timeout 900
phase "ctest"

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
  echo "[test] compiling the CUDA backend (no GPU needed)" >&2
  cmake --preset cuda -B build/cuda-compile >&2
  # The backend, and the one file outside it that includes it (the workers'
  # backend choice), so a CUDA-only compile error cannot reach main.
  cmake --build build/cuda-compile -j "$(nproc)" --target mlxs_backend_cuda \
      src/runtime/CMakeFiles/mlxs_runtime.dir/backend_choice.cpp.o >&2
  phase "CUDA compile"
fi

echo "[test] all tests passed" >&2
