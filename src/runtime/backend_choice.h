#pragma once
// Which device a model runs on. The runtime worker, `generate` and the
// benchmarks all make their backend here, so that every way of running a
// model reaches the GPU the same way (and a build without the CUDA backend
// answers the same coded error).

#include <memory>
#include <string>
#include <string_view>

#include "backend/cpu/thread_pool.h"
#include "core/status.h"
#include "tensor/backend.h"

namespace mlxs::runtime {

struct BackendChoice {
  std::string kind = "cpu";  // "cpu" or "cuda"
  int device = 0;            // CUDA device ordinal
  // CPU: 4/8-bit weights against int8-digit activations (VNNI); off keeps
  // the exact f32 quantized kernels.
  bool int8_activations = true;
  // CUDA: every linear in f32 math (parity), instead of bf16 tensor cores.
  bool exact_f32 = false;
};

// Whether this build has the CUDA backend.
bool cuda_built();

// InvalidParams for a kind that is neither "cpu" nor "cuda", Unsupported
// for "cuda" in a build without the CUDA backend.
core::Status check_backend_choice(const BackendChoice& choice);

// The backend; `pool` serves the CPU backend (ignored for CUDA). Errors:
// those of check_backend_choice, and the CUDA runtime's (no device, bad
// ordinal) as Unsupported with the driver's words.
core::Result<std::unique_ptr<tensor::Backend>> make_backend(
    const BackendChoice& choice, std::shared_ptr<backend::cpu::ThreadPool> pool);

}  // namespace mlxs::runtime
