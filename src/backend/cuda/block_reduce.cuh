#pragma once
#include <cmath>
// Sums and maxima across a warp and across a block, for the row kernels that
// normalise or quantize (kernels_basic.cu, kernels_peer.cu, kernels_fp8.cu)
// and the MoE routing (kernels_moe.cu).
// Device code only.

namespace mlxs::backend::cuda::k {

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over a block of blockDim.x (a multiple of 32, at most 1024) threads;
// every thread gets it. The order of the additions depends only on the block
// size, so blocks of the same size on different GPUs give the same bits.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? partial[threadIdx.x] : 0.0f;
  if (warp == 0) v = warp_sum(v);
  __shared__ float total;
  if (threadIdx.x == 0) total = v;
  __syncthreads();
  return total;
}

// The largest value over such a block; every thread gets it.
__device__ __forceinline__ float block_max(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  v = warp_max(v);
  __syncthreads();  // partial[] may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = threadIdx.x < warps ? partial[threadIdx.x] : -INFINITY;
  if (warp == 0) v = warp_max(v);
  __shared__ float total;
  if (threadIdx.x == 0) total = v;
  __syncthreads();
  return total;
}

// One row of add + RMSNorm, a float4 a thread (blockDim.x >= n / 4): x +=
// delta, out = rms_norm(x) · (w + offset); returns this thread's four out
// values (zeros past the row). Shared by the norm kernels so that their
// outputs agree to the bit.
__device__ __forceinline__ float4 add_rms_norm_quad(float* x, const float* delta, const float* w,
                                                    float eps, float offset, float* out, int n) {
  const int i = static_cast<int>(threadIdx.x);
  const bool live = i < n / 4;
  float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  if (live) {
    const float4 a = reinterpret_cast<const float4*>(x)[i];
    const float4 d = reinterpret_cast<const float4*>(delta)[i];
    v = make_float4(a.x + d.x, a.y + d.y, a.z + d.z, a.w + d.w);
    reinterpret_cast<float4*>(x)[i] = v;
  }
  const float ss = block_sum(v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w);
  const float inv = rsqrtf(ss / static_cast<float>(n) + eps);
  if (live) {
    const float4 g = reinterpret_cast<const float4*>(w)[i];
    v = make_float4(v.x * inv * (g.x + offset), v.y * inv * (g.y + offset),
                    v.z * inv * (g.z + offset), v.w * inv * (g.w + offset));
    reinterpret_cast<float4*>(out)[i] = v;
  }
  return v;
}

}  // namespace mlxs::backend::cuda::k
