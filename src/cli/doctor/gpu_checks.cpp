// GPUs: only a build with the CUDA backend can use them, so a CPU-only build
// says so without failing.
#include <fmt/format.h>

#include "cli/doctor/checks.h"
#ifdef MLXS_HAVE_CUDA
#include "backend/cuda/device_info.h"
#endif

namespace mlxs::cli::doctor {
namespace {

[[maybe_unused]] std::string cuda_version(int v) {
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}

}  // namespace

void check_gpus(Report& report) {
#ifdef MLXS_HAVE_CUDA
  auto info = backend::cuda::query_cuda();
  if (!info.is_ok()) {
    report.warn("gpu", "", "CUDA backend built, but no usable GPU: " + info.status().message(),
                "install the NVIDIA driver (nvidia-smi must list a GPU); until then models run on "
                "the CPU");
    return;
  }
  if (info->gpus.empty()) {
    report.warn("gpu", "", "CUDA backend built, but the runtime lists no GPU",
                "check nvidia-smi and CUDA_VISIBLE_DEVICES; until then models run on the CPU");
    return;
  }
  for (const auto& g : info->gpus) {
    const std::string detail = fmt::format(
        "{}, compute capability {}.{}, driver {}, runtime {}, {} free of {}", g.name, g.cc_major,
        g.cc_minor, cuda_version(info->driver_version), cuda_version(info->runtime_version),
        format_bytes(g.free_bytes), format_bytes(g.total_bytes));
    const std::string subject = fmt::format("GPU {}", g.index);
    if (info->driver_version < info->runtime_version) {
      report.fail("gpu", subject, detail,
                  "the driver is older than the CUDA runtime this build uses: update the driver");
    } else if (const core::Status s = backend::cuda::self_test(g.index, 1 << 16); !s.is_ok()) {
      // The build's device code may not include this GPU's architecture.
      report.fail("gpu", subject, detail + "; self test failed: " + s.message(),
                  fmt::format("rebuild with -DCMAKE_CUDA_ARCHITECTURES={}{} (this build targets "
                              "sm_90a by default)",
                              g.cc_major, g.cc_minor));
    } else {
      report.pass("gpu", subject, detail);
    }
  }
#else
  report.info("gpu", "",
              "CUDA backend not built: this binary serves on the CPU only (build with "
              "`cmake --preset cuda` on a machine with the CUDA toolkit for GPUs)");
#endif
}

}  // namespace mlxs::cli::doctor
