#pragma once
// What the CUDA runtime reports about the GPUs of this machine, and a one-
// kernel self test that proves the build's device code runs on them.

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxs::backend::cuda {

struct GpuInfo {
  int index = 0;
  std::string name;
  int cc_major = 0;
  int cc_minor = 0;
  std::uint64_t total_bytes = 0;
  std::uint64_t free_bytes = 0;
  int multiprocessors = 0;
};

struct CudaInfo {
  int driver_version = 0;   // e.g. 13000
  int runtime_version = 0;  // e.g. 13000
  std::vector<GpuInfo> gpus;
};

// Errors (no driver, no device) are kUnsupported with the runtime's words.
core::Result<CudaInfo> query_cuda();

// Runs y = a*x + y over n elements on `device` and checks the result.
core::Status self_test(int device, int n = 1 << 20);

}  // namespace mlxs::backend::cuda
