#pragma once
// A group's scale or bias of a packed affine weight, by its stored dtype,
// through the read-only cache: shared by the quantized GEMV and qgemm.

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {

template <WType P>
__device__ __forceinline__ float load_param(const void* p, std::int64_t i) {
  if constexpr (P == WType::kBF16) {
    return __bfloat162float(__ldg(static_cast<const __nv_bfloat16*>(p) + i));
  } else if constexpr (P == WType::kF16) {
    return __half2float(__ldg(static_cast<const __half*>(p) + i));
  } else {
    return __ldg(static_cast<const float*>(p) + i);
  }
}

}  // namespace mlxs::backend::cuda::k
