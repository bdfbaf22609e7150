#pragma once
// e4m3 conversions shared by the activation quantizes and FP8 GEMV
// (kernels_fp8.cu), the KV cache (kv_access.cuh) and the MoE experts'
// e4m3 codes (kernels_moe.cu). Device code only.

#include <cuda_fp16.h>
#include <cuda_fp8.h>

namespace mlxs::backend::cuda::k {

constexpr float kE4m3Max = 448.0f;  // the largest finite e4m3

// A row's per-token scale from its largest |x| (amax / 448; 1 for a zero
// row) and its inverse, the factor its values take before conversion.
struct E4m3Scale {
  float scale;
  float inv;
};
__device__ __forceinline__ E4m3Scale e4m3_row_scale(float amax) {
  return amax > 0.0f ? E4m3Scale{amax / kE4m3Max, kE4m3Max / amax} : E4m3Scale{1.0f, 1.0f};
}

// Four values as four e4m3 codes (round to nearest, saturating), the first
// in the low byte: one 32-bit store.
__device__ __forceinline__ unsigned e4m3x4_bits(float4 v) {
  const unsigned lo = __nv_cvt_float2_to_fp8x2(make_float2(v.x, v.y), __NV_SATFINITE, __NV_E4M3);
  const unsigned hi = __nv_cvt_float2_to_fp8x2(make_float2(v.z, v.w), __NV_SATFINITE, __NV_E4M3);
  return lo | (hi << 16);
}

// Two e4m3 codes (the low byte first) as an f16 pair's bits, exactly.
__device__ __forceinline__ unsigned e4m3x2_to_half2_bits(unsigned short codes) {
  const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(codes, __NV_E4M3);
  return static_cast<unsigned>(h.x) | (static_cast<unsigned>(h.y) << 16);
}
// The same as floats.
__device__ __forceinline__ float2 e4m3x2_to_float2(unsigned short codes) {
  const unsigned bits = e4m3x2_to_half2_bits(codes);
  return __half22float2(*reinterpret_cast<const __half2*>(&bits));
}

}  // namespace mlxs::backend::cuda::k
