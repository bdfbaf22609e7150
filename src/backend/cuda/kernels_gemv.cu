// Matrix-vector products for decode (1 to 8 input rows): one warp per weight
// row, 16-byte loads of the weights (8 bf16/f16 or 4 f32 per lane per step),
// f32 accumulation against f32 activations, so a bf16 model decodes with f32
// math while reading each weight byte once.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 8;

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Eight weights from 16 bytes.
template <typename W>
struct Vec;

template <>
struct Vec<__nv_bfloat16> {
  static constexpr int kN = 8;
  __device__ static void load(const __nv_bfloat16* p, float* out) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      out[2 * i] = __uint_as_float(words[i] << 16);
      out[2 * i + 1] = __uint_as_float(words[i] & 0xffff0000u);
    }
  }
  __device__ static float scalar(const __nv_bfloat16* p) { return __bfloat162float(*p); }
};

template <>
struct Vec<__half> {
  static constexpr int kN = 8;
  __device__ static void load(const __half* p, float* out) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __half22float2(h[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  }
  __device__ static float scalar(const __half* p) { return __half2float(*p); }
};

template <>
struct Vec<float> {
  static constexpr int kN = 4;
  __device__ static void load(const float* p, float* out) {
    const float4 f = *reinterpret_cast<const float4*>(p);
    out[0] = f.x;
    out[1] = f.y;
    out[2] = f.z;
    out[3] = f.w;
  }
  __device__ static float scalar(const float* p) { return *p; }
};

template <typename W, int M, bool kVector>
__global__ void gemv_kernel(const float* __restrict__ x, int K, const W* __restrict__ w, int N,
                            const float* __restrict__ bias, float* __restrict__ y) {
  const int lane = threadIdx.x & 31;
  const int n = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (n >= N) return;
  const W* row = w + static_cast<std::int64_t>(n) * K;
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  int k0 = 0;
  if constexpr (kVector) {
    constexpr int V = Vec<W>::kN;
    const int full = K / (32 * V) * (32 * V);
    for (int k = lane * V; k < full; k += 32 * V) {
      float wv[V];
      Vec<W>::load(row + k, wv);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float* xm = x + static_cast<std::int64_t>(m) * K + k;
#pragma unroll
        for (int i = 0; i < V; i += 4) {
          const float4 xv = *reinterpret_cast<const float4*>(xm + i);
          acc[m] += wv[i] * xv.x + wv[i + 1] * xv.y + wv[i + 2] * xv.z + wv[i + 3] * xv.w;
        }
      }
    }
    k0 = full;
  }
  for (int k = k0 + lane; k < K; k += 32) {
    const float wk = Vec<W>::scalar(row + k);
#pragma unroll
    for (int m = 0; m < M; ++m) acc[m] += wk * x[static_cast<std::int64_t>(m) * K + k];
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const float s = warp_sum(acc[m]);
    if (lane == 0) y[static_cast<std::int64_t>(m) * N + n] = s + (bias != nullptr ? bias[n] : 0.0f);
  }
}

template <typename W, int M>
cudaError_t launch(const float* x, int K, const void* w, int N, const float* bias, float* y, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((N + kWarps - 1) / kWarps);
  const auto* wp = static_cast<const W*>(w);
  // 16-byte loads need 16-byte aligned rows of weights and of x.
  const bool aligned = (K * sizeof(W)) % 16 == 0 && (reinterpret_cast<std::uintptr_t>(w) % 16) == 0 &&
                       (reinterpret_cast<std::uintptr_t>(x) % 16) == 0 && K % 4 == 0;
  if (aligned) {
    gemv_kernel<W, M, true><<<blocks, 32 * kWarps, 0, s>>>(x, K, wp, N, bias, y);
  } else {
    gemv_kernel<W, M, false><<<blocks, 32 * kWarps, 0, s>>>(x, K, wp, N, bias, y);
  }
  return cudaGetLastError();
}

template <typename W>
cudaError_t dispatch_rows(const float* x, int M, int K, const void* w, int N, const float* bias, float* y,
                          cudaStream_t s) {
  switch (M) {
    case 1: return launch<W, 1>(x, K, w, N, bias, y, s);
    case 2: return launch<W, 2>(x, K, w, N, bias, y, s);
    case 3: return launch<W, 3>(x, K, w, N, bias, y, s);
    case 4: return launch<W, 4>(x, K, w, N, bias, y, s);
    case 5: return launch<W, 5>(x, K, w, N, bias, y, s);
    case 6: return launch<W, 6>(x, K, w, N, bias, y, s);
    case 7: return launch<W, 7>(x, K, w, N, bias, y, s);
    case 8: return launch<W, 8>(x, K, w, N, bias, y, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t gemv(WType t, const float* x, int M, int K, const void* w, int N, const float* bias, float* y,
                 cudaStream_t s) {
  if (M == 0 || N == 0) return cudaSuccess;
  switch (t) {
    case WType::kF32: return dispatch_rows<float>(x, M, K, w, N, bias, y, s);
    case WType::kF16: return dispatch_rows<__half>(x, M, K, w, N, bias, y, s);
    case WType::kBF16: return dispatch_rows<__nv_bfloat16>(x, M, K, w, N, bias, y, s);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mlxs::backend::cuda::k
