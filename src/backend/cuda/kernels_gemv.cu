// Matrix-vector products for decode (1 to 8 input rows), f32 math against
// weights read once with 16-byte loads, eight of them in flight per lane.
// One input row: a warp per weight row, one sequential stream per warp (the
// measured best on H200: 92% of the copy bound on 4096x28672). Two to eight
// input rows: a warp per four weight rows, so each x load serves four rows.
// Several weights sharing x (q/k/v, gate/up) run as one launch.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdlib>
#include <cstring>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/launch_util.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;          // warps per block
constexpr int kLoadsInFlight = 8;  // 16-byte weight loads per lane before their first use

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

struct Segments {
  GemvSegment seg[kGemvMaxSegments];
  int count;
};

template <typename W, int M, bool kVector, int kRows>
__global__ void __launch_bounds__(32 * kWarps)
    gemv_kernel(const float* x, int K, Segments segs, bool early_loads) {
  const int lane = threadIdx.x & 31;
  // Warp w covers rows [kRows * w, kRows * w + kRows) of the segments' row
  // space, each segment rounded up to a multiple of kRows.
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
  const int live = min(kRows, g.n - r);
  const W* rows[kRows];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    rows[i] = static_cast<const W*>(g.w) + static_cast<std::int64_t>(r + min(i, live - 1)) * K;
  }
  constexpr int V = Vec<W>::kN;
  constexpr int kUnroll = kLoadsInFlight / kRows;
  constexpr int kStep = 32 * V * kUnroll;
  const int full = kVector ? K / kStep * kStep : 0;
  uint4 raw[kUnroll][kRows];
  auto load_raw = [&](int k) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int i = 0; i < kRows; ++i)
        raw[u][i] = __ldg(reinterpret_cast<const uint4*>(rows[i] + k + u * 32 * V));
    }
  };
  // The weights are constant: the first pass's loads are issued before the
  // wait below, so they are in flight while the previous kernel (a norm,
  // RoPE, attention: launched to trigger early) still runs. This is the
  // GEMV's ramp, most of a small matrix's time beyond its bytes.
  bool loaded = false;
  if (kVector && early_loads && lane * V < full) {
    load_raw(lane * V);
    loaded = true;
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // Launched early (programmatic dependent launch): the block is resident
  // and its row pointers ready when the previous kernel's output lands.
  // (Prefetching the rows into L2 here measured slower: 162 vs 196 tok/s.)
  cudaGridDependencySynchronize();
  // The next kernel (a norm, RoPE, the activation: launched early too) may
  // get resident now and wait for this grid in its own dependency wait, so
  // its launch overlaps this GEMV's tail instead of following it.
  cudaTriggerProgrammaticLaunchCompletion();
#endif
  float acc[kRows][M];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
#pragma unroll
    for (int m = 0; m < M; ++m) acc[i][m] = 0.0f;
  }
  auto fma_vector = [&](const float(&wv)[kRows][V], int k) {
#pragma unroll
    for (int m = 0; m < M; ++m) {
#pragma unroll
      for (int v = 0; v < V; v += 4) {
        const float4 xv =
            *reinterpret_cast<const float4*>(x + static_cast<std::int64_t>(m) * K + k + v);
#pragma unroll
        for (int i = 0; i < kRows; ++i) {
          acc[i][m] +=
              wv[i][v] * xv.x + wv[i][v + 1] * xv.y + wv[i][v + 2] * xv.z + wv[i][v + 3] * xv.w;
        }
      }
    }
  };
  int k0 = 0;
  if constexpr (kVector) {
    for (int k = lane * V; k < full; k += kStep) {
      if (!loaded) load_raw(k);
      loaded = false;
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        float wv[kRows][V];
#pragma unroll
        for (int i = 0; i < kRows; ++i) Vec<W>::widen(raw[u][i], wv[i]);
        fma_vector(wv, k + u * 32 * V);
      }
    }
    const int vec_end = K / V * V;
    for (int k = full + lane * V; k < vec_end; k += 32 * V) {
      float wv[kRows][V];
#pragma unroll
      for (int i = 0; i < kRows; ++i)
        Vec<W>::widen(__ldg(reinterpret_cast<const uint4*>(rows[i] + k)), wv[i]);
      fma_vector(wv, k);
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
        g.y[static_cast<std::int64_t>(m) * g.n + r + i] =
            sum + (g.bias != nullptr ? g.bias[r + i] : 0.0f);
      }
    }
  }
}

// MLXS_GEMV_EARLY_LOADS=0: no weight loads before the dependency wait (A/B).
bool early_loads_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("MLXS_GEMV_EARLY_LOADS");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return on;
}

template <typename W, int M>
cudaError_t launch(const float* x, bool input_aligned, int K, const Segments& segs,
                   cudaStream_t s) {
  constexpr int kRows = M == 1 ? 1 : 4;
  int warps = 0;
  bool aligned = input_aligned && (K * sizeof(W)) % 16 == 0 && K % 4 == 0;
  for (int i = 0; i < segs.count; ++i) {
    warps += (segs.seg[i].n + kRows - 1) / kRows;
    aligned = aligned && (reinterpret_cast<std::uintptr_t>(segs.seg[i].w) % 16) == 0;
  }
  const auto blocks = static_cast<unsigned>((warps + kWarps - 1) / kWarps);
  if (aligned) {
    return launch_early(gemv_kernel<W, M, true, kRows>, blocks, 32 * kWarps, s, x, K, segs,
                        early_loads_enabled());
  }
  return launch_early(gemv_kernel<W, M, false, kRows>, blocks, 32 * kWarps, s, x, K, segs, false);
}

template <typename W>
cudaError_t dispatch_rows(const float* x, bool aligned, int M, int K, const Segments& segs,
                          cudaStream_t s) {
  return with_rows<kGemvMaxRows>(
      M, [&](auto rows) { return launch<W, decltype(rows)::value>(x, aligned, K, segs, s); });
}

cudaError_t dispatch(WType t, const float* x, bool aligned, int M, int K, const Segments& segs,
                     cudaStream_t s) {
  switch (t) {
    case WType::kF32:
      return dispatch_rows<float>(x, aligned, M, K, segs, s);
    case WType::kF16:
      return dispatch_rows<__half>(x, aligned, M, K, segs, s);
    case WType::kBF16:
      return dispatch_rows<__nv_bfloat16>(x, aligned, M, K, segs, s);
    case WType::kFP8E4M3:  // FP8 weights have their own kernels (kernels_fp8)
      break;
  }
  return cudaErrorInvalidValue;
}

bool aligned16(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

}  // namespace

cudaError_t gemv(WType t, const float* x, int M, int K, const GemvSegment* segments, int count,
                 cudaStream_t s) {
  if (M == 0 || count == 0) return cudaSuccess;
  if (count > kGemvMaxSegments) return cudaErrorInvalidValue;
  Segments segs{};
  segs.count = count;
  for (int i = 0; i < count; ++i) segs.seg[i] = segments[i];
  return dispatch(t, x, aligned16(x), M, K, segs, s);
}

}  // namespace mlxs::backend::cuda::k
