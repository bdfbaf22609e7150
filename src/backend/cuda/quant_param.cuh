#pragma once
// A group's scale or bias of a packed affine weight, by its stored dtype,
// through the read-only cache, and the code masks of the 4-bit paths:
// shared by the quantized GEMVs and qgemm.

#include <cstdint>
#include <type_traits>

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

// f(std::integral_constant<WType, P>{}) for a packed weight's parameter
// type P (bf16, f16 or f32): the quantized kernels are specialised per type.
template <typename F>
cudaError_t with_param_type(WType t, F&& f) {
  switch (t) {
    case WType::kBF16:
      return f(std::integral_constant<WType, WType::kBF16>{});
    case WType::kF16:
      return f(std::integral_constant<WType, WType::kF16>{});
    case WType::kF32:
      return f(std::integral_constant<WType, WType::kF32>{});
    case WType::kFP8E4M3:  // never a scale's or bias's type
      break;
  }
  return cudaErrorInvalidValue;
}

// (v & MASK) | OR in one LOP3: written out, the compiler splits it in two
// (a LOP3 takes one immediate). With OR a magic f16 exponent this turns the
// nibbles under MASK into (offset + code) half pairs.
template <unsigned MASK, unsigned OR>
__device__ __forceinline__ unsigned mask_or(unsigned v) {
  unsigned r;
  asm("lop3.b32 %0, %1, %2, %3, 0xEA;" : "=r"(r) : "r"(v), "n"(MASK), "n"(OR));
  return r;
}

}  // namespace mlxs::backend::cuda::k
