// Matrix-vector products for decode (1 to 8 input rows): a warp per four
// weight rows, several 16-byte loads in flight per lane (8 bf16/f16 or 4 f32 each),
// f32 accumulation against f32 activations, so a bf16 model decodes with f32
// math while reading each weight byte once. Up to four weights that share the
// input (q/k/v, gate/up) run as one launch: more rows in flight, one launch.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdlib>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;      // warps per block
constexpr int kLoadsInFlight = 8;  // 16-byte loads per lane before their first use

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

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
  __device__ static float scalar(const __nv_bfloat16* p) { return __bfloat162float(*p); }
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
  __device__ static float scalar(const __half* p) { return __half2float(*p); }
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

struct Segments {
  GemvSegment seg[kGemvMaxSegments];
  int count;
};

// Each warp computes kRows consecutive rows of one segment, so every x load
// serves kRows weight rows (x traffic through L1 would otherwise grow with M
// and bound the kernel at batch 8).
template <typename W, int M, bool kVector, int kRows>
__global__ void __launch_bounds__(32 * kWarps) gemv_kernel(const float* __restrict__ x, int K, Segments segs) {
  const int lane = threadIdx.x & 31;
  // Warp w covers rows [kRows * w, kRows * w + kRows) of the segments' row
  // space, where each segment is rounded up to a multiple of kRows.
  int r = (blockIdx.x * kWarps + (threadIdx.x >> 5)) * kRows;
  int s = 0;
  while (s < segs.count) {
    const int padded = (segs.seg[s].n + kRows - 1) / kRows * kRows;
    if (r < padded) break;
    r -= padded;
    ++s;
  }
  if (s >= segs.count) return;
  const GemvSegment& g = segs.seg[s];
  const int live = min(kRows, g.n - r);  // rows of this warp inside the segment
  const W* rows[kRows];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    rows[i] = static_cast<const W*>(g.w) + static_cast<std::int64_t>(r + min(i, live - 1)) * K;
  }
  float acc[kRows][M];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
#pragma unroll
    for (int m = 0; m < M; ++m) acc[i][m] = 0.0f;
  }
  int k0 = 0;
  if constexpr (kVector) {
    constexpr int kUnroll = kLoadsInFlight / kRows;
    constexpr int V = Vec<W>::kN;
    constexpr int kStep = 32 * V * kUnroll;
    const int full = K / kStep * kStep;
    for (int k = lane * V; k < full; k += kStep) {
      uint4 raw[kUnroll][kRows];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
        for (int i = 0; i < kRows; ++i) raw[u][i] = __ldg(reinterpret_cast<const uint4*>(rows[i] + k + u * 32 * V));
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int kk = k + u * 32 * V;
        float wv[kRows][V];
#pragma unroll
        for (int i = 0; i < kRows; ++i) Vec<W>::widen(raw[u][i], wv[i]);
#pragma unroll
        for (int m = 0; m < M; ++m) {
          const float* xm = x + static_cast<std::int64_t>(m) * K + kk;
#pragma unroll
          for (int v = 0; v < V; v += 4) {
            const float4 xv = *reinterpret_cast<const float4*>(xm + v);
#pragma unroll
            for (int i = 0; i < kRows; ++i) {
              acc[i][m] += wv[i][v] * xv.x + wv[i][v + 1] * xv.y + wv[i][v + 2] * xv.z + wv[i][v + 3] * xv.w;
            }
          }
        }
      }
    }
    const int vec_end = K / V * V;
    for (int k = full + lane * V; k < vec_end; k += 32 * V) {
      float wv[kRows][V];
#pragma unroll
      for (int i = 0; i < kRows; ++i) Vec<W>::widen(__ldg(reinterpret_cast<const uint4*>(rows[i] + k)), wv[i]);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float* xm = x + static_cast<std::int64_t>(m) * K + k;
#pragma unroll
        for (int v = 0; v < V; v += 4) {
          const float4 xv = *reinterpret_cast<const float4*>(xm + v);
#pragma unroll
          for (int i = 0; i < kRows; ++i) {
            acc[i][m] += wv[i][v] * xv.x + wv[i][v + 1] * xv.y + wv[i][v + 2] * xv.z + wv[i][v + 3] * xv.w;
          }
        }
      }
    }
    k0 = vec_end;
  }
  for (int k = k0 + lane; k < K; k += 32) {
#pragma unroll
    for (int i = 0; i < kRows; ++i) {
      const float wk = Vec<W>::scalar(rows[i] + k);
#pragma unroll
      for (int m = 0; m < M; ++m) acc[i][m] += wk * x[static_cast<std::int64_t>(m) * K + k];
    }
  }
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const float sum = warp_sum(acc[i][m]);
      if (lane == 0 && i < live) {
        g.y[static_cast<std::int64_t>(m) * g.n + r + i] = sum + (g.bias != nullptr ? g.bias[r + i] : 0.0f);
      }
    }
  }
}

template <typename W, int M, int kRows>
cudaError_t launch_rows(const float* x, int K, const Segments& segs, cudaStream_t s) {
  int warps = 0;
  bool aligned = (K * sizeof(W)) % 16 == 0 && (reinterpret_cast<std::uintptr_t>(x) % 16) == 0 && K % 4 == 0;
  for (int i = 0; i < segs.count; ++i) {
    warps += (segs.seg[i].n + kRows - 1) / kRows;
    aligned = aligned && (reinterpret_cast<std::uintptr_t>(segs.seg[i].w) % 16) == 0;
  }
  const unsigned blocks = static_cast<unsigned>((warps + kWarps - 1) / kWarps);
  if (aligned) {
    gemv_kernel<W, M, true, kRows><<<blocks, 32 * kWarps, 0, s>>>(x, K, segs);
  } else {
    gemv_kernel<W, M, false, kRows><<<blocks, 32 * kWarps, 0, s>>>(x, K, segs);
  }
  return cudaGetLastError();
}

// Rows per warp: 4 by default; MLXS_GEMV_ROWS=1|2|4 picks another (tuning).
int rows_per_warp() {
  static const int rows = [] {
    const char* env = std::getenv("MLXS_GEMV_ROWS");
    const int v = env != nullptr ? std::atoi(env) : 4;
    return v == 1 || v == 2 ? v : 4;
  }();
  return rows;
}

template <typename W, int M>
cudaError_t launch(const float* x, int K, const Segments& segs, cudaStream_t s) {
  switch (rows_per_warp()) {
    case 1: return launch_rows<W, M, 1>(x, K, segs, s);
    case 2: return launch_rows<W, M, 2>(x, K, segs, s);
    default: return launch_rows<W, M, 4>(x, K, segs, s);
  }
}

template <typename W>
cudaError_t dispatch_rows(const float* x, int M, int K, const Segments& segs, cudaStream_t s) {
  switch (M) {
    case 1: return launch<W, 1>(x, K, segs, s);
    case 2: return launch<W, 2>(x, K, segs, s);
    case 3: return launch<W, 3>(x, K, segs, s);
    case 4: return launch<W, 4>(x, K, segs, s);
    case 5: return launch<W, 5>(x, K, segs, s);
    case 6: return launch<W, 6>(x, K, segs, s);
    case 7: return launch<W, 7>(x, K, segs, s);
    case 8: return launch<W, 8>(x, K, segs, s);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

cudaError_t gemv(WType t, const float* x, int M, int K, const GemvSegment* segments, int count, cudaStream_t s) {
  if (M == 0 || count == 0) return cudaSuccess;
  if (count > kGemvMaxSegments) return cudaErrorInvalidValue;
  Segments segs{};
  segs.count = count;
  for (int i = 0; i < count; ++i) segs.seg[i] = segments[i];
  switch (t) {
    case WType::kF32: return dispatch_rows<float>(x, M, K, segs, s);
    case WType::kF16: return dispatch_rows<__half>(x, M, K, segs, s);
    case WType::kBF16: return dispatch_rows<__nv_bfloat16>(x, M, K, segs, s);
  }
  return cudaErrorInvalidValue;
}

}  // namespace mlxs::backend::cuda::k
