// Packed MLX affine weights (4 or 8 bits, groups of 32/64/128 columns, a
// scale and a bias per group) read as they are stored, so that decode reads
// a quarter (half) of a bf16 model's bytes:
// - qgemv: 1 to 8 input rows, f32 math, a warp per weight row; each lane
//   takes 16-byte chunks of codes (32 four-bit or 16 eight-bit), all inside
//   one group, and adds scale·Σx·q + bias·Σx for the chunk. Codes become
//   floats with one byte permute each: 0x4B0000qq is 2^23 + q exactly.
// - dequantize_rows: rows to bf16 for the tensor-core GEMM of prefill.
// - embed: rows of a quantized table for the step's tokens.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;
constexpr int kChunksInFlight = 4;  // 16-byte weight loads per lane before their first use
constexpr unsigned kMagic = 0x4B000000u;
constexpr float kMagicValue = 8388608.0f;  // 2^23

__device__ __forceinline__ float param(const void* p, WType t, std::int64_t i) {
  switch (t) {
    case WType::kBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case WType::kF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case WType::kF32:
      return static_cast<const float*>(p)[i];
  }
  return 0.0f;
}

// Byte b of v as a float (b in 0..3).
template <int B>
__device__ __forceinline__ float byte_as_float(unsigned v) {
  return __uint_as_float(__byte_perm(v, kMagic, 0x7540u | B)) - kMagicValue;
}

// The 32 (4-bit) or 16 (8-bit) codes of a 16-byte chunk as floats, in
// column order.
template <int BITS>
__device__ __forceinline__ void unpack(const uint4& raw, float* q) {
  const unsigned words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if constexpr (BITS == 4) {
      const unsigned lo = words[j] & 0x0F0F0F0Fu;         // codes 0, 2, 4, 6
      const unsigned hi = (words[j] >> 4) & 0x0F0F0F0Fu;  // codes 1, 3, 5, 7
      float* o = q + 8 * j;
      o[0] = byte_as_float<0>(lo);
      o[1] = byte_as_float<0>(hi);
      o[2] = byte_as_float<1>(lo);
      o[3] = byte_as_float<1>(hi);
      o[4] = byte_as_float<2>(lo);
      o[5] = byte_as_float<2>(hi);
      o[6] = byte_as_float<3>(lo);
      o[7] = byte_as_float<3>(hi);
    } else {
      float* o = q + 4 * j;
      o[0] = byte_as_float<0>(words[j]);
      o[1] = byte_as_float<1>(words[j]);
      o[2] = byte_as_float<2>(words[j]);
      o[3] = byte_as_float<3>(words[j]);
    }
  }
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <int BITS, int M>
__global__ void __launch_bounds__(32 * kWarps)
    qgemv_kernel(const float* x, int K, AffineWeight w, const float* bias, float* y) {
  constexpr int kCodes = 128 / BITS;  // per 16-byte chunk
  const int lane = threadIdx.x & 31;
  const int r = blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (r >= w.n) return;
  const int chunks = K / kCodes;
  const int groups = K / w.group;
  const uint4* row =
      reinterpret_cast<const uint4*>(w.packed) + static_cast<std::int64_t>(r) * chunks;
  const std::int64_t param_row = static_cast<std::int64_t>(r) * groups;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();  // see kernels_gemv.cu: launched early
#endif
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  auto consume = [&](const uint4& raw, int c) {
    float q[kCodes];
    unpack<BITS>(raw, q);
    const int k = c * kCodes;
    const std::int64_t g = param_row + k / w.group;
    const float scale = param(w.scales, w.param_type, g);
    const float shift = param(w.biases, w.param_type, g);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const float* xm = x + static_cast<std::int64_t>(m) * K + k;
      float dot = 0.0f, sum = 0.0f;
#pragma unroll
      for (int v = 0; v < kCodes; v += 4) {
        const float4 xv = *reinterpret_cast<const float4*>(xm + v);
        dot += xv.x * q[v] + xv.y * q[v + 1] + xv.z * q[v + 2] + xv.w * q[v + 3];
        sum += (xv.x + xv.y) + (xv.z + xv.w);
      }
      acc[m] += scale * dot + shift * sum;
    }
  };
  constexpr int kStep = 32 * kChunksInFlight;
  const int full = chunks / kStep * kStep;
  for (int c = lane; c < full; c += kStep) {
    uint4 raw[kChunksInFlight];
#pragma unroll
    for (int u = 0; u < kChunksInFlight; ++u) raw[u] = __ldg(row + c + 32 * u);
#pragma unroll
    for (int u = 0; u < kChunksInFlight; ++u) consume(raw[u], c + 32 * u);
  }
  for (int c = full + lane; c < chunks; c += 32) consume(__ldg(row + c), c);
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const float s = warp_sum(acc[m]);
    if (lane == 0) {
      y[static_cast<std::int64_t>(m) * w.n + r] = s + (bias != nullptr ? bias[r] : 0.0f);
    }
  }
}

template <int BITS, int M>
cudaError_t launch_qgemv(const float* x, int K, const AffineWeight& w, const float* bias, float* y,
                         cudaStream_t s) {
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>((w.n + kWarps - 1) / kWarps));
  config.blockDim = dim3(32 * kWarps);
  config.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attr;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, qgemv_kernel<BITS, M>, x, K, w, bias, y);
}

template <int BITS>
cudaError_t qgemv_rows(const float* x, int M, int K, const AffineWeight& w, const float* bias,
                       float* y, cudaStream_t s) {
  switch (M) {
    case 1:
      return launch_qgemv<BITS, 1>(x, K, w, bias, y, s);
    case 2:
      return launch_qgemv<BITS, 2>(x, K, w, bias, y, s);
    case 3:
      return launch_qgemv<BITS, 3>(x, K, w, bias, y, s);
    case 4:
      return launch_qgemv<BITS, 4>(x, K, w, bias, y, s);
    case 5:
      return launch_qgemv<BITS, 5>(x, K, w, bias, y, s);
    case 6:
      return launch_qgemv<BITS, 6>(x, K, w, bias, y, s);
    case 7:
      return launch_qgemv<BITS, 7>(x, K, w, bias, y, s);
    case 8:
      return launch_qgemv<BITS, 8>(x, K, w, bias, y, s);
    default:
      return cudaErrorInvalidValue;
  }
}

// Code k of a packed row (bits [k·BITS, (k+1)·BITS) of the row's words).
__device__ __forceinline__ unsigned code_at(const unsigned* row, int bits, std::int64_t k) {
  const std::int64_t bit = k * bits;
  return (row[bit >> 5] >> (bit & 31)) & ((1u << bits) - 1u);
}

__device__ __forceinline__ float dequant(const AffineWeight& w, int K, std::int64_t r,
                                         std::int64_t k) {
  const auto* row = static_cast<const unsigned*>(w.packed) + r * (K * w.bits / 32);
  const std::int64_t g = r * (K / w.group) + k / w.group;
  return param(w.scales, w.param_type, g) * static_cast<float>(code_at(row, w.bits, k)) +
         param(w.biases, w.param_type, g);
}

__global__ void dequantize_kernel(AffineWeight w, int K, int row0, std::int64_t count,
                                  __nv_bfloat16* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  out[i] = __float2bfloat16(dequant(w, K, row0 + i / K, i % K));
}

__global__ void embed_affine_kernel(AffineWeight w, int K, const std::int32_t* tokens, float scale,
                                    float* out) {
  const int t = blockIdx.x;
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    out[static_cast<std::int64_t>(t) * K + k] = dequant(w, K, tokens[t], k) * scale;
  }
}

unsigned blocks_for(std::int64_t n, int threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

}  // namespace

bool qgemv_supports(int bits, int group, std::int64_t K) {
  return (bits == 4 || bits == 8) && (group == 32 || group == 64 || group == 128) && K % group == 0;
}

cudaError_t qgemv(const float* x, int M, int K, const AffineWeight& w, const float* bias, float* y,
                  cudaStream_t s) {
  if (M == 0 || w.n == 0) return cudaSuccess;
  if (!qgemv_supports(w.bits, w.group, K) || reinterpret_cast<std::uintptr_t>(x) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  return w.bits == 4 ? qgemv_rows<4>(x, M, K, w, bias, y, s)
                     : qgemv_rows<8>(x, M, K, w, bias, y, s);
}

cudaError_t dequantize_rows(const AffineWeight& w, int K, int row0, int rows, void* out_bf16,
                            cudaStream_t s) {
  const std::int64_t count = static_cast<std::int64_t>(rows) * K;
  if (count == 0) return cudaSuccess;
  dequantize_kernel<<<blocks_for(count, 256), 256, 0, s>>>(w, K, row0, count,
                                                           static_cast<__nv_bfloat16*>(out_bf16));
  return cudaGetLastError();
}

cudaError_t embed_affine(const AffineWeight& w, int K, const StepMeta& m, int T, float scale,
                         float* out, cudaStream_t s) {
  if (T == 0) return cudaSuccess;
  embed_affine_kernel<<<T, 256, 0, s>>>(w, K, m.tokens, scale, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
