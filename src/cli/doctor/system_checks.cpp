// CPU, memory and huge pages: what the machine offers the CPU backend.
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "backend/cpu/kernels.h"
#include "cli/doctor/checks.h"

namespace mlxs::cli::doctor {
namespace {

struct CpuFeatures {
  bool avx2 = false;
  bool avx512f = false;
  bool avx512_vnni = false;
  bool neon = false;
};

CpuFeatures detect_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  f.avx2 = __builtin_cpu_supports("avx2") != 0;
  f.avx512f = __builtin_cpu_supports("avx512f") != 0;
  f.avx512_vnni = __builtin_cpu_supports("avx512vnni") != 0;
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is mandatory on AArch64
#endif
  return f;
}

std::string yes_no(bool b) {
  return b ? "yes" : "no";
}

// Highway's target names, as the instruction sets people know.
std::string readable_target(const std::string& target) {
  if (target.rfind("AVX3", 0) == 0) return " (AVX-512)";
  if (target == "EMU128" || target == "SCALAR") return " (portable C++)";
  return "";
}

}  // namespace

std::string format_bytes(std::uint64_t bytes) {
  const double gib = static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0);
  if (gib >= 1.0) return fmt::format("{:.1f} GiB", gib);
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
}

void check_cpu(Report& report) {
  const CpuFeatures f = detect_features();
#if defined(__aarch64__)
  report.pass("cpu.features", "", "NEON: yes");
#else
  const std::string seen = fmt::format("AVX2: {}, AVX-512: {}, AVX512-VNNI: {}", yes_no(f.avx2),
                                       yes_no(f.avx512f), yes_no(f.avx512_vnni));
  if (f.avx2) {
    report.pass("cpu.features", "", seen);
  } else {
    report.warn("cpu.features", "", seen,
                "this CPU lacks AVX2: decoding runs on the portable kernels, several times "
                "slower; use a machine with AVX2 or AVX-512");
  }
#endif
  // The backend's own run-time choice, so this line cannot disagree with it.
  const std::string target = backend::cpu::kernels::target_name();
  const bool vector = target == "AVX3" || target == "AVX3_ZEN4" || target == "AVX3_SPR" ||
                      target == "AVX2" || target == "NEON" || target == "SVE" || target == "SVE2" ||
                      target == "NEON_BF16";
  const std::string detail = fmt::format("the CPU backend dispatches to its {} kernels{}", target,
                                         readable_target(target));
  if (vector) {
    report.pass("cpu.kernels", "", detail);
  } else {
    report.warn("cpu.kernels", "", detail + " (no vector instruction set)",
                "run on a CPU with AVX2, AVX-512 or NEON for vectorised kernels");
  }
  (void)f;
}

Memory read_memory() {
  Memory m;
  std::ifstream in("/proc/meminfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key;
    std::uint64_t kib = 0;
    if (!(fields >> key >> kib)) continue;
    if (key == "MemTotal:") m.total = kib * 1024;
    if (key == "MemAvailable:") m.available = kib * 1024;
  }
  return m;
}

void check_memory(Report& report, const Memory& m) {
  if (!m.total || !m.available) {
    report.warn("memory", "", "/proc/meminfo gives no MemTotal/MemAvailable",
                "run on Linux 3.14 or later so that model sizes can be checked against memory");
  } else {
    const std::string detail =
        fmt::format("{} total, {} available", format_bytes(*m.total), format_bytes(*m.available));
    if (*m.available < (std::uint64_t{1} << 30)) {
      report.warn("memory", "", detail,
                  "less than 1 GiB is available: stop other processes or use a larger machine");
    } else {
      report.pass("memory", "", detail);
    }
  }

  // Weights are memory-mapped and KV pages are large: huge pages cut TLB misses.
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string setting;
  if (!std::getline(thp, setting)) {
    report.info("memory.huge_pages", "", "transparent huge pages are not available on this kernel");
    return;
  }
  const auto open = setting.find('[');
  const auto close = setting.find(']');
  const std::string chosen = open != std::string::npos && close != std::string::npos && close > open
                                 ? setting.substr(open + 1, close - open - 1)
                                 : setting;
  const std::string detail = "transparent huge pages: " + chosen;
  if (chosen == "never") {
    report.warn("memory.huge_pages", "", detail,
                "echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled");
  } else {
    report.pass("memory.huge_pages", "", detail);
  }
}

}  // namespace mlxs::cli::doctor
