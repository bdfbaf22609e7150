// What libhwy adds to Highway's headers, run-time target selection, for
// MLXS_CPU_BACKEND_ONLY builds for aarch64 (cmake/MlxsCpuBackendOnly.cmake),
// where Debian's libhwy is installed for the host's architecture only. The
// kernels compile NEON and the scalar fallback there (SVE is disabled,
// src/backend/cpu/CMakeLists.txt); NEON is part of the aarch64 Linux ABI, so
// both run on every such CPU and nothing needs detecting. HWY_DYNAMIC_DISPATCH
// and kernels_test's per-target runs go through these as they do through
// libhwy's.
#include <atomic>
#include <cstdint>

#include <hwy/targets.h>

#if !defined(__aarch64__)
#error "hwy_runtime_aarch64.cpp answers for aarch64 only; use libhwy elsewhere"
#endif

namespace hwy {
namespace {

// SetSupportedTargetsForTest's targets; 0: the CPU's own.
std::atomic<std::int64_t> targets_for_test{0};

}  // namespace

std::int64_t SupportedTargets() {
  const std::int64_t forced = targets_for_test.load();
  return forced != 0 ? forced : (HWY_NEON | HWY_EMU128 | HWY_SCALAR);
}

ChosenTarget& GetChosenTarget() {
  static ChosenTarget chosen;
  return chosen;
}

// As libhwy does: the next dispatch picks among `targets` (0: all again).
void SetSupportedTargetsForTest(std::int64_t targets) {
  targets_for_test.store(targets);
  GetChosenTarget().Update(SupportedTargets());
}

}  // namespace hwy
