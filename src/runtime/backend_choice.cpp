#include "runtime/backend_choice.h"

#include "backend/cpu/cpu_backend.h"
// Brings backend/cuda/cuda_backend.h, which needs no CUDA headers: the
// options are built in every build, the backend only where it exists.
#include "runtime/cuda_options.h"
#include "tensor/dtype.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;

std::optional<KvCacheDtype> parse_kv_cache_dtype(std::string_view text) {
  if (text == "auto") return KvCacheDtype::kAuto;
  if (text == "bf16") return KvCacheDtype::kBf16;
  if (text == "fp8" || text == "fp8_e4m3") return KvCacheDtype::kFp8;
  if (text == "f32") return KvCacheDtype::kF32;
  return std::nullopt;
}

std::string_view kv_cache_dtype_name(KvCacheDtype dtype) {
  switch (dtype) {
    case KvCacheDtype::kAuto:
      return "auto";
    case KvCacheDtype::kBf16:
      return "bf16";
    case KvCacheDtype::kFp8:
      return "fp8";
    case KvCacheDtype::kF32:
      return "f32";
  }
  return "auto";
}

std::string_view kv_cache_dtype_name(tensor::DType dtype) {
  if (dtype == tensor::DType::kBF16) return "bf16";
  if (dtype == tensor::DType::kF8E4M3) return "fp8";
  if (dtype == tensor::DType::kF32) return "f32";
  // No backend keeps another today; the type's own name then.
  return tensor::dtype_name(dtype);
}

backend::cuda::CudaOptions cuda_options_for(const BackendChoice& choice, int device) {
  backend::cuda::CudaOptions options;
  options.device = device;
  options.exact_f32 = choice.exact_f32;
  // kAuto keeps CudaOptions' default (bf16). The backend itself lets
  // exact_f32 win over it, and MLXS_CUDA_KV_F32 / MLXS_CUDA_KV_FP8 (A/B runs
  // without touching the flags).
  switch (choice.kv_cache_dtype) {
    case KvCacheDtype::kAuto:
      break;
    case KvCacheDtype::kBf16:
      options.kv_dtype = tensor::DType::kBF16;
      break;
    case KvCacheDtype::kFp8:
      options.kv_dtype = tensor::DType::kF8E4M3;
      break;
    case KvCacheDtype::kF32:
      options.kv_dtype = tensor::DType::kF32;
      break;
  }
  return options;
}

bool cuda_built() {
#ifdef MLXS_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

Status check_backend_choice(const BackendChoice& choice) {
  if (choice.kind == "cpu") {
    if (choice.kv_cache_dtype == KvCacheDtype::kBf16 ||
        choice.kv_cache_dtype == KvCacheDtype::kFp8) {
      return core::make_error(ErrorCode::kUnsupported,
                              "kv_cache_dtype {}: the cpu backend keeps its KV cache in f32 only "
                              "(use auto or f32, or the cuda backend)",
                              kv_cache_dtype_name(choice.kv_cache_dtype));
    }
    return Status::ok();
  }
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
  MLXS_ASSIGN_OR_RETURN(
      auto cuda, backend::cuda::CudaBackend::create(cuda_options_for(choice, choice.device)));
  return std::unique_ptr<tensor::Backend>(std::move(cuda));
#else
  return Status(ErrorCode::kUnsupported, "this build has no CUDA backend");
#endif
}

}  // namespace mlxs::runtime
