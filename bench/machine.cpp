#include "machine.h"

#include <fstream>
#include <string>
#include <thread>

#include <sys/utsname.h>

#include "backend/cpu/kernels.h"
#include "backend/cpu/thread_pool.h"
#include "build_info.h"

namespace mlxs::bench {

nlohmann::json describe_machine() {
  std::string cpu = "unknown";
  std::string flags;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (cpu == "unknown" && line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
    }
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = line;
  }
  auto has = [&flags](const char* f) {
    return flags.find(std::string(" ") + f + " ") != std::string::npos ||
           flags.ends_with(std::string(" ") + f);
  };
  utsname uts{};
  uname(&uts);
  std::size_t mem_kb = 0;
  std::ifstream mi("/proc/meminfo");
  for (std::string line; std::getline(mi, line);) {
    if (line.rfind("MemTotal:", 0) == 0) mem_kb = std::stoull(line.substr(9));
  }
  return {{"cpu", cpu},
          {"cpus_available", backend::cpu::ThreadPool::available_cpus()},
          {"memory_gib", static_cast<double>(mem_kb) / (1024.0 * 1024.0)},
          {"kernel", uts.release},
          {"simd_target", backend::cpu::kernels::target_name()},
          {"avx512f", has("avx512f")},
          {"avx512_bf16", has("avx512_bf16")},
          {"mlx_serving", MLXS_VERSION},
          {"build", MLXS_BUILD_TYPE}};
}

}  // namespace mlxs::bench
