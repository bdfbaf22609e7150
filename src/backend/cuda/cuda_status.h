#pragma once
// A CUDA runtime result as a Status (RuntimeError naming what failed), for
// host code that reports setup and launch failures outside the backend's
// ops (the tensor-parallel communicator, benchmarks).

#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include "core/status.h"

namespace mlxs::backend::cuda {

inline core::Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return core::Status::ok();
  return core::Status(core::ErrorCode::kRuntimeError,
                      fmt::format("CUDA {}: {}", what, cudaGetErrorString(e)));
}

}  // namespace mlxs::backend::cuda
