#pragma once
// The CUDA backend's options from a BackendChoice. CudaOptions is a plain
// struct whose header needs no CUDA headers, so this translation is compiled
// (and tested) in every build, not only where the CUDA backend is.

#include "backend/cuda/cuda_backend.h"
#include "runtime/backend_choice.h"

namespace mlxs::runtime {

// The options of a backend on CUDA device `device` (a tensor-parallel rank
// passes its own): exact_f32 and the KV cache's type (kv_cache_dtype: auto
// keeps the backend's default, bf16). Every CUDA backend the runtime, the
// tensor-parallel ranks and the commands build comes from here.
backend::cuda::CudaOptions cuda_options_for(const BackendChoice& choice, int device);

}  // namespace mlxs::runtime
