// Matrix-vector products for decode (1 to 8 input rows), f32 math against
// weights read once with 16-byte loads, eight of them in flight per lane.
// One input row: up to four warps per weight row, each streaming a piece of
// it (split_for_one_row). Two to eight input rows: a warp per four weight rows,
// so each x load serves four rows.
// Several weights sharing x (q/k/v, gate/up) run as one launch.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "backend/cuda/act_device.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/gemv_gated.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/stream_load.cuh"
#include "backend/cuda/weight_vec.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;          // warps per block
constexpr int kLoadsInFlight = 8;  // 16-byte weight loads per lane before their first use

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

struct Segments {
  GemvSegment seg[kGemvMaxSegments];
  int count;
};

// Blocks of the one-row kernel resident per SM: at 68 registers only 7
// fitted, and a 4096-row GEMV of a warp per row ran a second, nearly empty
// wave (64% of the copy bound instead of 94%).
constexpr int kOneRowBlocks = 8;

// kSplit warps of a block share a weight row (one input row only), each
// taking a contiguous piece of K; their sums meet in shared memory.
// kGated (a gated MLP's gate and up weights, segments 0 and 1 of equal rows):
// block i computes gate row i with its first kSplit warps and up row i with
// the others, and writes act(gate) * up to segment 0's y, so the activation
// needs no pass of its own.
template <typename W, int M, bool kVector, int kRows, int kSplit, bool kGated = false>
__global__ void __launch_bounds__(32 * (kGated ? 2 * kSplit : kWarps),
                                  kRows == 1
                                      ? kOneRowBlocks * kWarps / (kGated ? 2 * kSplit : kWarps)
                                      : 1)
    gemv_kernel(const float* x, int K, Segments segs, bool early_loads, Act act) {
  static_assert(kSplit == 1 || kRows == 1, "K is split for one-row products only");
  static_assert(kWarps % kSplit == 0, "a row's warps share a block");
  static_assert(!kGated || M == 1, "a gated block holds two rows of one input row");
  constexpr int kBlockWarps = kGated ? 2 * kSplit : kWarps;
  const int lane = threadIdx.x & 31;
  const int unit = static_cast<int>(blockIdx.x) * kBlockWarps + static_cast<int>(threadIdx.x >> 5);
  // Warp w covers rows [kRows * w, kRows * w + kRows) of the segments' row
  // space (w counting row units of kSplit warps), each segment rounded up to
  // a multiple of kRows.
  int r = unit / kSplit * kRows;
  int s = 0;
  if constexpr (kGated) {
    s = unit / kSplit % 2;
    r = static_cast<int>(blockIdx.x);
    if (r >= segs.seg[s].n) s = segs.count;
  } else {
    while (s < segs.count) {
      const int padded = (segs.seg[s].n + kRows - 1) / kRows * kRows;
      if (r < padded) break;
      r -= padded;
      ++s;
    }
  }
  // Past the last row. A split warp still meets its block at the barrier,
  // with an empty piece of K.
  const bool dead = s >= segs.count;
  if (kSplit == 1 && dead) return;
  if (dead) s = r = 0;
  const GemvSegment& g = segs.seg[s];
  const int live = dead ? 0 : min(kRows, g.n - r);
  const W* rows[kRows];
#pragma unroll
  for (int i = 0; i < kRows; ++i) {
    rows[i] =
        static_cast<const W*>(g.w) + static_cast<std::int64_t>(r + min(i, max(live, 1) - 1)) * K;
  }
  constexpr int V = Vec<W>::kN;
  constexpr int kUnroll = kLoadsInFlight / kRows;
  constexpr int kStep = 32 * V * kUnroll;
  // This warp's piece of K: whole 32-lane loads, so every lane's V values
  // are all inside it or all past it (K % V == 0 on the vector path).
  int begin = 0;
  int end = dead ? 0 : K;
  if constexpr (kSplit > 1) {
    const int piece = (K / kSplit + 32 * V - 1) / (32 * V) * (32 * V);
    begin = min(K, unit % kSplit * piece);
    end = dead ? begin : min(K, begin + piece);
  }
  uint4 raw[kUnroll][kRows];
  // A pass's loads at lane offset k; with `guard`, those past the piece's
  // end are zeros (and skipped below).
  auto load_raw = [&](int k, bool guard) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int i = 0; i < kRows; ++i) {
        raw[u][i] = !guard || k + u * 32 * V < end ? load_streamed(rows[i] + k + u * 32 * V)
                                                   : make_uint4(0, 0, 0, 0);
      }
    }
  };
  // The weights are constant: the first pass's loads are issued before the
  // wait below, so they are in flight while the previous kernel (a norm,
  // RoPE, attention: launched to trigger early) still runs. This is the
  // GEMV's ramp, most of a small matrix's time beyond its bytes.
  bool loaded = false;
  if (kVector && early_loads) {
    load_raw(begin + lane * V, true);
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
  if constexpr (kVector) {
    auto consume = [&](int k, bool guard) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (guard && k + u * 32 * V >= end) break;
        float wv[kRows][V];
#pragma unroll
        for (int i = 0; i < kRows; ++i) Vec<W>::widen(raw[u][i], wv[i]);
        fma_vector(wv, k + u * 32 * V);
      }
    };
    // Whole passes, then at most one partial pass with guarded loads.
    const int whole_end = begin + (end - begin) / kStep * kStep;
    int k0 = begin;
    for (; k0 < whole_end; k0 += kStep) {
      if (!loaded) load_raw(k0 + lane * V, false);
      loaded = false;
      consume(k0 + lane * V, false);
    }
    if (k0 < end) {
      if (!loaded) load_raw(k0 + lane * V, true);
      consume(k0 + lane * V, true);
    }
  } else {
    for (int k = begin + lane; k < end; k += 32) {
#pragma unroll
      for (int i = 0; i < kRows; ++i) {
        const float wk = Vec<W>::scalar(rows[i] + k);
#pragma unroll
        for (int m = 0; m < M; ++m) acc[i][m] += wk * x[static_cast<std::int64_t>(m) * K + k];
      }
    }
  }
  if constexpr (kSplit == 1) {
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
  } else {
    __shared__ float piece_sum[kBlockWarps];
    const float sum = warp_sum(acc[0][0]);
    const int warp = static_cast<int>(threadIdx.x >> 5);
    if (lane == 0) piece_sum[warp] = sum;
    __syncthreads();
    if constexpr (kGated) {
      if (threadIdx.x == 0 && live > 0) {
        float gate = 0.0f, up = 0.0f;
#pragma unroll
        for (int p = 0; p < kSplit; ++p) {
          gate += piece_sum[p];
          up += piece_sum[kSplit + p];
        }
        const GemvSegment& gs = segs.seg[0];
        const GemvSegment& us = segs.seg[1];
        gate += gs.bias != nullptr ? gs.bias[r] : 0.0f;
        up += us.bias != nullptr ? us.bias[r] : 0.0f;
        gs.y[r] = activate(act, gate) * up;
      }
      return;
    }
    if (lane == 0 && warp % kSplit == 0 && live > 0) {
      float total = 0.0f;
#pragma unroll
      for (int p = 0; p < kSplit; ++p) total += piece_sum[warp + p];
      g.y[r] = total + (g.bias != nullptr ? g.bias[r] : 0.0f);
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

// Warps per weight row of one-row products (and of the gated GEMV's rows):
// pieces of K of at least 1024 values, at most four warps. MLXS_GEMV_SPLIT=
// 1|2|4 forces it (A/B). H100, same calls: four beat one on every 8B shape
// (bench kernels: down 4096x14336 93% of the copy bound against 90%, o 85%
// against 80%, qkv 91% against 79%; 8B decode 164.1 against 154.4 tok/s, two
// 159.7), while the 1B (K = 2048) decoded 760.5 tok/s with two against 728.2
// with four and 743.0 with one.
int split_for_one_row(int K) {
  static const int forced = [] {
    const char* env = std::getenv("MLXS_GEMV_SPLIT");
    const int v = env == nullptr ? 0 : std::atoi(env);
    return v == 1 || v == 2 || v == 4 ? v : 0;
  }();
  if (forced != 0) return forced;
  return K >= 4096 ? 4 : K >= 2048 ? 2 : 1;
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
  const auto blocks_of = [&](int split) {
    return static_cast<unsigned>((warps * split + kWarps - 1) / kWarps);
  };
  if (!aligned) {
    return launch_early(gemv_kernel<W, M, false, kRows, 1>, blocks_of(1), 32 * kWarps, s, x, K,
                        segs, false, Act::kSilu);
  }
  const bool early = early_loads_enabled();
  if constexpr (M == 1) {
    switch (split_for_one_row(K)) {
      case 1:
        break;
      case 2:
        return launch_early(gemv_kernel<W, M, true, kRows, 2>, blocks_of(2), 32 * kWarps, s, x, K,
                            segs, early, Act::kSilu);
      default:
        return launch_early(gemv_kernel<W, M, true, kRows, 4>, blocks_of(4), 32 * kWarps, s, x, K,
                            segs, early, Act::kSilu);
    }
  }
  return launch_early(gemv_kernel<W, M, true, kRows, 1>, blocks_of(1), 32 * kWarps, s, x, K, segs,
                      early, Act::kSilu);
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

bool gemv_gated_supports(WType t, const void* x, const void* gate_w, const void* up_w, int K) {
  return (t == WType::kBF16 || t == WType::kF16) && K % 8 == 0 && aligned16(x) &&
         aligned16(gate_w) && aligned16(up_w);
}

cudaError_t gemv_gated(WType t, const float* x, int K, const GemvSegment& gate,
                       const GemvSegment& up, Act act, cudaStream_t s) {
  if (gate.n != up.n || !gemv_gated_supports(t, x, gate.w, up.w, K)) return cudaErrorInvalidValue;
  if (gate.n == 0) return cudaSuccess;
  Segments segs{};
  segs.count = 2;
  segs.seg[0] = gate;
  segs.seg[1] = up;
  const auto blocks = static_cast<unsigned>(gate.n);
  const bool early = early_loads_enabled();
  const auto go = [&](auto split_c, auto weight) {
    constexpr int kSplit = decltype(split_c)::value;
    using Wt = decltype(weight);
    return launch_early(gemv_kernel<Wt, 1, true, 1, kSplit, true>, blocks, 64 * kSplit, s, x, K,
                        segs, early, act);
  };
  using Two = std::integral_constant<int, 2>;
  using Four = std::integral_constant<int, 4>;
  // Two or four warps per row (as split_for_one_row; one would leave a
  // block of two warps), twice that per block.
  const bool four = split_for_one_row(K) >= 4;
  if (t == WType::kF16) return four ? go(Four{}, __half{}) : go(Two{}, __half{});
  return four ? go(Four{}, __nv_bfloat16{}) : go(Two{}, __nv_bfloat16{});
}

}  // namespace mlxs::backend::cuda::k
