#!/usr/bin/env bash
# Runs every test that needs no GPU: sets up, builds the dev preset (ASan +
# UBSan), runs CTest without the gpu label, compiles the CUDA backend when a
# toolkit is present, and runs each fuzz target for a fixed time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh --preset dev
ctest --preset dev --timeout 900

if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null; then
  echo "[test] compiling the CUDA backend (no GPU needed)" >&2
  cmake --preset cuda -B build/cuda-compile >&2
  # The backend, and the one file outside it that includes it (the workers'
  # backend choice), so a CUDA-only compile error cannot reach main.
  cmake --build build/cuda-compile -j "$(nproc)" --target mlxs_backend_cuda \
      src/runtime/CMakeFiles/mlxs_runtime.dir/backend_choice.cpp.o >&2
fi

FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash scripts/fuzz.sh
echo "[test] all tests passed" >&2
