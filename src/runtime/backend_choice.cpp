#include "runtime/backend_choice.h"

#include "backend/cpu/cpu_backend.h"
#ifdef MLXS_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;

bool cuda_built() {
#ifdef MLXS_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

Status check_backend_choice(const BackendChoice& choice) {
  if (choice.kind == "cpu") return Status::ok();
  if (choice.kind != "cuda") {
    return core::make_error(ErrorCode::kInvalidParams, "backend \"{}\" is not one of cpu, cuda",
                            choice.kind.substr(0, 32));
  }
  if (!cuda_built()) {
    return Status(ErrorCode::kUnsupported,
                  "this build has no CUDA backend (configure with the CUDA toolkit present)");
  }
  if (choice.device < 0) {
    return core::make_error(ErrorCode::kInvalidParams, "CUDA device {} is negative", choice.device);
  }
  return Status::ok();
}

core::Result<std::unique_ptr<tensor::Backend>> make_backend(
    const BackendChoice& choice, std::shared_ptr<backend::cpu::ThreadPool> pool) {
  MLXS_RETURN_IF_ERROR(check_backend_choice(choice));
  if (choice.kind == "cpu") {
    auto cpu = std::make_unique<backend::cpu::CpuBackend>(std::move(pool));
    cpu->set_int8_activations(choice.int8_activations);
    return std::unique_ptr<tensor::Backend>(std::move(cpu));
  }
#ifdef MLXS_HAVE_CUDA
  backend::cuda::CudaOptions options;
  options.device = choice.device;
  options.exact_f32 = choice.exact_f32;
  MLXS_ASSIGN_OR_RETURN(auto cuda, backend::cuda::CudaBackend::create(options));
  return std::unique_ptr<tensor::Backend>(std::move(cuda));
#else
  return Status(ErrorCode::kUnsupported, "this build has no CUDA backend");
#endif
}

}  // namespace mlxs::runtime
