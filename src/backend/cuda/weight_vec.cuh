#pragma once
// A weight element type's 16-byte vector (bf16, f16, f32) widened to f32
// in registers: the GEMVs of decode (kernels_gemv.cu) and of MoE experts
// (kernels_moe.cu) read weights through it.

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace mlxs::backend::cuda::k {

template <typename W>
struct Vec;

template <>
struct Vec<__nv_bfloat16> {
  static constexpr int kN = 8;
  __device__ static void widen(const uint4& raw, float* out) {
    const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(words[i] << 16);
      out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  }
  __device__ static float scalar(const __nv_bfloat16* p) {
    return __bfloat162float(*p);
  }
};

template <>
struct Vec<__half> {
  static constexpr int kN = 8;
  __device__ static void widen(const uint4& raw, float* out) {
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  }
  __device__ static float scalar(const __half* p) {
    return __half2float(*p);
  }
};

template <>
struct Vec<float> {
  static constexpr int kN = 4;
  __device__ static void widen(const uint4& raw, float* out) {
    out[0] = __uint_as_float(raw.x);
    out[1] = __uint_as_float(raw.y);
    out[2] = __uint_as_float(raw.z);
    out[3] = __uint_as_float(raw.w);
  }
  __device__ static float scalar(const float* p) { return *p; }
};

}  // namespace mlxs::backend::cuda::k
