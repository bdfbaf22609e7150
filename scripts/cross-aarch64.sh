#!/usr/bin/env bash
# Cross-compiles the CPU backend and backend_cpu_test for aarch64 and runs the
# tests under qemu-user: the int8 decode kernels on NEON with the dot product
# (qemu's "max" CPU), the exact f32 kernels (MLXS_INT8_ISA=none) and the
# dispatch on an Armv8.0 CPU without it. No Arm hardware needed: this checks
# results, not speed. The build is separate (build/aarch64, or
# MLXS_CROSS_BUILD_DIR: ctest's backend_cpu_aarch64 uses <its build>/aarch64)
# and holds only those targets (MLXS_CPU_BACKEND_ONLY). scripts/setup.sh
# installs the tools.
#
#   scripts/cross-aarch64.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MLXS_CROSS_BUILD_DIR:-$ROOT/build/aarch64}"
JOBS="${MLXS_CROSS_JOBS:-2}"

missing=()
for tool in aarch64-linux-gnu-gcc aarch64-linux-gnu-g++ qemu-aarch64 cmake ctest ninja; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
[ -f /usr/src/googletest/CMakeLists.txt ] || missing+=("/usr/src/googletest")
if [ ${#missing[@]} -gt 0 ]; then
  echo "cross-aarch64: FAILED: missing ${missing[*]}." >&2
  echo "cross-aarch64: install g++-aarch64-linux-gnu, qemu-user and googletest (scripts/setup.sh does)." >&2
  exit 1
fi

launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
start=$SECONDS
# -O2 without NDEBUG: optimised enough for the emulator, asserts kept.
cmake -S "$ROOT" -B "$BUILD" -G Ninja \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" \
  -DMLXS_CPU_BACKEND_ONLY=ON -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE=-O2 \
  -DCMAKE_C_FLAGS_RELEASE=-O2 "${launcher[@]}" >/dev/null
cmake --build "$BUILD" --target backend_cpu_test -j "$JOBS"
echo "cross-aarch64: built in $((SECONDS - start)) s" >&2
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
echo "cross-aarch64: passed in $((SECONDS - start)) s" >&2
