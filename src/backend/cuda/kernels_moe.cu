// A MoE layer of a small step on the device: routing, grouping by expert and
// the experts' GEMVs with no host round trip, so a decode step of a MoE model
// replays as one CUDA graph (the host path syncs once a layer to route).
//
// moe_route (one block): per token row, softmax over the experts, the top k
// (ties to the lower index, as the CPU backend), renormalised if asked; then
// a counting sort of the T·k (token, choice) pairs by expert, and tiles of
// at most `bm` pairs of one expert for the GEMVs.
//
// moe_gemv: block (tile, row chunk). Each warp owns R weight rows (of the
// gate and up matrices, or of down) and streams them once for every pair of
// the tile, f32 math as the dense GEMV (kernels_gemv.cu). Gate/up writes
// act(gate)·up per pair; down writes the pair's routing weight times its
// product. moe_combine sums a token's k products in choice order, so the
// result does not depend on how pairs were tiled.
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/act_device.cuh"
#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/e4m3.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/mma_util.cuh"
#include "backend/cuda/stream_load.cuh"
#include "backend/cuda/weight_vec.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kRouteThreads = 1024;
constexpr int kGemvWarps = 4;
constexpr int kLoadsInFlight = 8;  // 16-byte weight loads per lane per pass
constexpr int kMaxPerLane = kMoeMaxExperts / 32;

// The warp's best (value, index): larger value, then lower index.
__device__ __forceinline__ void warp_argmax(float& v, int& i) {
  for (int o = 16; o > 0; o >>= 1) {
    const float ov = __shfl_xor_sync(0xffffffffu, v, o);
    const int oi = __shfl_xor_sync(0xffffffffu, i, o);
    if (ov > v || (ov == v && oi >= 0 && (i < 0 || oi < i))) {
      v = ov;
      i = oi;
    }
  }
}

// Every MoE kernel is launched early (programmatic dependent launch): its
// blocks get resident while the previous kernel runs and wait here for its
// output; the next kernel may then get resident in turn.
__device__ __forceinline__ void wait_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

__global__ void __launch_bounds__(kRouteThreads)
    moe_route_kernel(const float* logits, int T, int E, int topk, bool norm, int bm,
                     std::int32_t* choice, float* weight, std::int32_t* order, int4* tiles,
                     int* n_tiles) {
  __shared__ int count[kMoeMaxExperts];
  __shared__ int start[kMoeMaxExperts];
  __shared__ int tile_start[kMoeMaxExperts];
  __shared__ int cursor[kMoeMaxExperts];
  __shared__ int total_tiles;
  wait_previous_kernel();
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid & 31, warp = tid >> 5;
  for (int e = tid; e < E; e += kRouteThreads) count[e] = cursor[e] = 0;
  __syncthreads();
  for (int t = warp; t < T; t += kRouteThreads / 32) {
    const float* p = logits + static_cast<std::int64_t>(t) * E;
    float v[kMaxPerLane];
    float mx = -INFINITY;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) {
      const int e = lane + 32 * j;
      v[j] = e < E ? p[e] : -INFINITY;
      mx = fmaxf(mx, v[j]);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
#pragma unroll
    for (int j = 0; j < kMaxPerLane; ++j) sum += lane + 32 * j < E ? expf(v[j] - mx) : 0.0f;
    sum = warp_sum(sum);
    unsigned taken = 0;
    float mine = 0.0f, top = 0.0f;
    for (int i = 0; i < topk; ++i) {
      float bv = -INFINITY;
      int bi = -1;
#pragma unroll
      for (int j = 0; j < kMaxPerLane; ++j) {
        const int e = lane + 32 * j;
        if (e < E && !(taken >> j & 1u) && (bi < 0 || v[j] > bv)) {
          bv = v[j];
          bi = e;
        }
      }
      warp_argmax(bv, bi);
      if ((bi & 31) == lane) taken |= 1u << (bi >> 5);
      const float w = expf(bv - mx) / sum;
      top += w;
      if (lane == i) mine = w;
      if (lane == 0) {
        choice[t * topk + i] = bi;
        atomicAdd(&count[bi], 1);
      }
    }
    if (lane < topk) weight[t * topk + lane] = norm ? mine / top : mine;
  }
  __syncthreads();
  // Exclusive scans of the pair counts and of the tiles per expert (one warp).
  if (warp == 0) {
    int carry = 0, carry_tiles = 0;
    for (int base = 0; base < E; base += 32) {
      const int e = base + lane;
      const int c = e < E ? count[e] : 0;
      const int nt = (c + bm - 1) / bm;
      int inc = c, inc_tiles = nt;
      for (int o = 1; o < 32; o <<= 1) {
        const int a = __shfl_up_sync(0xffffffffu, inc, o);
        const int b = __shfl_up_sync(0xffffffffu, inc_tiles, o);
        if (lane >= o) {
          inc += a;
          inc_tiles += b;
        }
      }
      if (e < E) {
        start[e] = carry + inc - c;
        tile_start[e] = carry_tiles + inc_tiles - nt;
      }
      carry += __shfl_sync(0xffffffffu, inc, 31);
      carry_tiles += __shfl_sync(0xffffffffu, inc_tiles, 31);
    }
    if (lane == 0) total_tiles = carry_tiles;
  }
  __syncthreads();
  const int pairs = T * topk;
  for (int p = tid; p < pairs; p += kRouteThreads) {
    const int e = choice[p];
    order[start[e] + atomicAdd(&cursor[e], 1)] = p;
  }
  for (int e = tid; e < E; e += kRouteThreads) {
    const int c = count[e];
    for (int j = 0; j * bm < c; ++j) {
      tiles[tile_start[e] + j] = make_int4(e, start[e] + j * bm, min(bm, c - j * bm), 0);
    }
  }
  if (tid == 0) *n_tiles = total_tiles;
}

template <int kMats>
struct ExpertTable {
  const void* w[kMats][kMoeMaxExperts];
  const float* scale[kMats][kMoeMaxExperts];  // e4m3 experts' scales (else null)
};

struct MoeGemvArgs {
  const float* x;  // gate/up: token rows [T, K]; down: pair rows [T·k, K]
  int x_div;       // x row of pair p: p / x_div
  int K;           // input features
  int N;           // output rows
  const std::int32_t* order;
  const int4* tiles;
  const int* n_tiles;
  const float* pair_weight;  // down: the pair's routing weight (null for gate/up)
  Act act;
  float* y;  // [T·k, N] by pair
  // e4m3 experts: rows and columns sharing a scale, scale groups a row.
  int block_rows;
  int group;
  int groups;
};

// kMats 2: gate and up (y = act(gate·x)·(up·x)); 1: down (y = weight·(down·x)).
// R weight rows a warp, BM pairs a tile.
template <typename W, int kMats, int BM, int R>
__global__ void __launch_bounds__(32 * kGemvWarps)
    moe_gemv_kernel(MoeGemvArgs a, const __grid_constant__ ExpertTable<kMats> table) {
  wait_previous_kernel();
  const int tile = static_cast<int>(blockIdx.x);
  if (tile >= *a.n_tiles) return;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int row0 =
      (static_cast<int>(blockIdx.y) * kGemvWarps + (static_cast<int>(threadIdx.x) >> 5)) * R;
  if (row0 >= a.N) return;
  const int4 td = a.tiles[tile];
  const int count = td.z;
  int pair[BM];
  const float* xr[BM];
#pragma unroll
  for (int j = 0; j < BM; ++j) {
    pair[j] = a.order[td.y + min(j, count - 1)];
    xr[j] = a.x + static_cast<std::int64_t>(pair[j] / a.x_div) * a.K;
  }
  const W* wr[kMats][R];
#pragma unroll
  for (int m = 0; m < kMats; ++m) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      wr[m][r] = static_cast<const W*>(table.w[m][td.x]) +
                 static_cast<std::int64_t>(min(row0 + r, a.N - 1)) * a.K;
    }
  }
  constexpr int V = Vec<W>::kN;
  // Small tiles are latency-bound: twice the loads in flight a pass.
  constexpr int kLoads = BM <= 2 ? 2 * kLoadsInFlight : kLoadsInFlight;
  constexpr int kUnroll = kLoads / (kMats * R) > 0 ? kLoads / (kMats * R) : 1;
  float acc[kMats][R][BM];
#pragma unroll
  for (int m = 0; m < kMats; ++m) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
#pragma unroll
      for (int j = 0; j < BM; ++j) acc[m][r][j] = 0.0f;
    }
  }
  for (int k0 = lane * V; k0 < a.K; k0 += 32 * V * kUnroll) {
    uint4 raw[kUnroll][kMats][R];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int k = k0 + u * 32 * V;
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          raw[u][m][r] = k < a.K ? load_streamed(wr[m][r] + k) : make_uint4(0, 0, 0, 0);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int k = k0 + u * 32 * V;
      if (k >= a.K) break;
      float wv[kMats][R][V];
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
#pragma unroll
        for (int r = 0; r < R; ++r) Vec<W>::widen(raw[u][m][r], wv[m][r]);
      }
#pragma unroll
      for (int j = 0; j < BM; ++j) {
#pragma unroll
        for (int v = 0; v < V; v += 4) {
          const float4 xv = *reinterpret_cast<const float4*>(xr[j] + k + v);
#pragma unroll
          for (int m = 0; m < kMats; ++m) {
#pragma unroll
            for (int r = 0; r < R; ++r) {
              acc[m][r][j] += wv[m][r][v] * xv.x + wv[m][r][v + 1] * xv.y + wv[m][r][v + 2] * xv.z +
                              wv[m][r][v + 3] * xv.w;
            }
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int j = 0; j < BM; ++j) {
      float s[kMats];
#pragma unroll
      for (int m = 0; m < kMats; ++m) s[m] = warp_sum(acc[m][r][j]);
      if (lane == 0 && j < count && row0 + r < a.N) {
        float out;
        if constexpr (kMats == 2) {
          out = activate(a.act, s[0]) * s[1];
        } else {
          out = a.pair_weight[pair[j]] * s[0];
        }
        a.y[static_cast<std::int64_t>(pair[j]) * a.N + row0 + r] = out;
      }
    }
  }
}

// x's four values as bf16 pairs: hi = bf16(x), lo = bf16(x - hi), so that
// w·hi + w·lo keeps x to about 2^-16 (products exact, sums f32).
__device__ __forceinline__ void split_bf16(const float4& x, unsigned (&hi)[2], unsigned (&lo)[2]) {
  hi[0] = pack_bf16(x.x, x.y);
  hi[1] = pack_bf16(x.z, x.w);
  const __nv_bfloat162 h0 = *reinterpret_cast<const __nv_bfloat162*>(&hi[0]);
  const __nv_bfloat162 h1 = *reinterpret_cast<const __nv_bfloat162*>(&hi[1]);
  lo[0] = pack_bf16(x.x - __low2float(h0), x.y - __high2float(h0));
  lo[1] = pack_bf16(x.z - __low2float(h1), x.w - __high2float(h1));
}

// The A registers of one m16n8k16 step from a lane's 16-byte loads of
// rows g (lo) and g + 8 (hi): bf16 codes take two steps a load (kCols 8
// columns a lane), e4m3 codes four (16 columns), widened exactly to bf16.
template <typename WT>
struct MmaCodes;

template <>
struct MmaCodes<__nv_bfloat16> {
  static constexpr int kCols = 8;
  __device__ static void step(const uint4& lo, const uint4& hi, int s, unsigned (&a)[4]) {
    const unsigned l[4] = {lo.x, lo.y, lo.z, lo.w}, h[4] = {hi.x, hi.y, hi.z, hi.w};
    a[0] = l[2 * s];
    a[1] = h[2 * s];
    a[2] = l[2 * s + 1];
    a[3] = h[2 * s + 1];
  }
};

template <>
struct MmaCodes<std::uint8_t> {
  static constexpr int kCols = 16;
  __device__ static unsigned widen2(unsigned short v) {
    const float2 f = e4m3x2_to_float2(v);
    return pack_bf16(f.x, f.y);
  }
  __device__ static void step(const uint4& lo, const uint4& hi, int s, unsigned (&a)[4]) {
    const unsigned l[4] = {lo.x, lo.y, lo.z, lo.w}, h[4] = {hi.x, hi.y, hi.z, hi.w};
    a[0] = widen2(static_cast<unsigned short>(l[s] & 0xFFFFu));
    a[1] = widen2(static_cast<unsigned short>(h[s] & 0xFFFFu));
    a[2] = widen2(static_cast<unsigned short>(l[s] >> 16));
    a[3] = widen2(static_cast<unsigned short>(h[s] >> 16));
  }
};

// bf16 or e4m3 experts on the tensor cores for tiles of up to 8·NB pairs
// (NB n8 blocks of the B operand, each A fragment serving all NB). A warp
// owns 16 weight rows over all of K (splitting K among a block's warps
// measured slower past 8 rows: 4-11%). In each chunk of 4·kCols columns
// lane (g, t) loads 16 bytes of rows g and g + 8 at column kCols·t: the A
// registers of kCols/4 m16n8k16 steps, taking the k slots as a permutation
// of the columns; the lane's B registers are the same columns of pair
// 8·nb + g's x (a float4 a step), split into hi and lo bf16 halves, one MMA
// each. D's lane holds rows g, g + 8 of pairs 8·nb + 2t, 8·nb + 2t + 1. A
// pair's MMAs do not depend on NB, nor its bits. e4m3 codes' scales (per
// block of block_rows x group columns) multiply each group's sums.
//
// kSplit: the block's warps share 16 rows and split K in whole chunks,
// meeting in shared memory (launches of few tiles, whose blocks would not
// fill the GPU otherwise).
template <typename WT, int kMats, int NB, bool kSplit>
__global__ void __launch_bounds__(32 * kGemvWarps)
    moe_mma_kernel(MoeGemvArgs a, const __grid_constant__ ExpertTable<kMats> table) {
  constexpr bool kScaled = std::is_same_v<WT, std::uint8_t>;
  constexpr int kCols = MmaCodes<WT>::kCols;
  constexpr int kChunk = 4 * kCols;
  constexpr int U = 8 / kMats;  // chunks a pass: 16 loads a lane in flight
  wait_previous_kernel();
  const int tile = static_cast<int>(blockIdx.x);
  if (tile >= *a.n_tiles) return;
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int row0 = kSplit ? static_cast<int>(blockIdx.y) * 16
                          : (static_cast<int>(blockIdx.y) * kGemvWarps + warp) * 16;
  if (!kSplit && row0 >= a.N) return;
  int kbeg = 0, kend = a.K;
  if constexpr (kSplit) {
    const int per = ((a.K + kChunk - 1) / kChunk + kGemvWarps - 1) / kGemvWarps * kChunk;
    kbeg = min(a.K, warp * per);
    kend = min(a.K, kbeg + per);
  }
  const int4 td = a.tiles[tile];
  const int count = td.z;
  const float* xr[NB];
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) {
    const int xpair = a.order[td.y + min(8 * nb + g, count - 1)];
    xr[nb] = a.x + static_cast<std::int64_t>(xpair / a.x_div) * a.K + kCols * t;
  }
  const WT* wr[kMats][2];
#pragma unroll
  for (int m = 0; m < kMats; ++m) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      wr[m][h] = static_cast<const WT*>(table.w[m][td.x]) +
                 static_cast<std::int64_t>(min(row0 + g + 8 * h, a.N - 1)) * a.K + kCols * t;
    }
  }
  float d[kMats][NB][4], sum[kMats][NB][4];
#pragma unroll
  for (int m = 0; m < kMats; ++m) {
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int i = 0; i < 4; ++i) d[m][nb][i] = sum[m][nb][i] = 0.0f;
    }
  }
  // The group's sums into the total, times each row's scale.
  auto fold = [&](int k) {
    const int group = k / a.group;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int row = min(row0 + g + 8 * h, a.N - 1);
      const std::int64_t at = static_cast<std::int64_t>(row / a.block_rows) * a.groups + group;
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
        const float sc = table.scale[m][td.x][at];
#pragma unroll
        for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            sum[m][nb][2 * h + c] += sc * d[m][nb][2 * h + c];
            d[m][nb][2 * h + c] = 0.0f;
          }
        }
      }
    }
  };
  for (int k0 = kbeg; k0 < kend; k0 += kChunk * U) {
    uint4 raw[U][kMats][2];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const bool live = k0 + kChunk * u + kCols * t < kend;
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          raw[u][m][h] = live ? load_streamed(wr[m][h] + k0 + kChunk * u) : make_uint4(0, 0, 0, 0);
        }
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int k = k0 + kChunk * u;
      if (k >= kend) break;
      const bool live = k + kCols * t < kend;
#pragma unroll
      for (int s = 0; s < kCols / 4; ++s) {
        unsigned aw[kMats][4];
#pragma unroll
        for (int m = 0; m < kMats; ++m) MmaCodes<WT>::step(raw[u][m][0], raw[u][m][1], s, aw[m]);
#pragma unroll
        for (int nb = 0; nb < NB; ++nb) {
          const float4 xv =
              live ? *reinterpret_cast<const float4*>(xr[nb] + k + 4 * s) : make_float4(0, 0, 0, 0);
          unsigned hi[2], lo[2];
          split_bf16(xv, hi, lo);
#pragma unroll
          for (int m = 0; m < kMats; ++m) {
            mma_bf16(d[m][nb], aw[m], hi[0], hi[1]);
            mma_bf16(d[m][nb], aw[m], lo[0], lo[1]);
          }
        }
      }
      if constexpr (kScaled) {
        if ((k + kChunk) % a.group == 0 || k + kChunk >= kend) fold(k);
      }
    }
  }
  if constexpr (!kScaled) {
#pragma unroll
    for (int m = 0; m < kMats; ++m) {
#pragma unroll
      for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
        for (int i = 0; i < 4; ++i) sum[m][nb][i] = d[m][nb][i];
      }
    }
  }
  if constexpr (kSplit) {
    __shared__ float part[kGemvWarps - 1][kMats][NB][4][32];
    if (warp > 0) {
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
#pragma unroll
        for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
          for (int i = 0; i < 4; ++i) part[warp - 1][m][nb][i][lane] = sum[m][nb][i];
        }
      }
    }
    __syncthreads();
    if (warp > 0) return;
#pragma unroll
    for (int w = 0; w < kGemvWarps - 1; ++w) {
#pragma unroll
      for (int m = 0; m < kMats; ++m) {
#pragma unroll
        for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
          for (int i = 0; i < 4; ++i) sum[m][nb][i] += part[w][m][nb][i][lane];
        }
      }
    }
  }
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int j = 8 * nb + 2 * t + (i & 1);
      const int row = row0 + g + (i >> 1) * 8;
      if (j >= count || row >= a.N) continue;
      const int pair = a.order[td.y + j];
      float out;
      if constexpr (kMats == 2) {
        out = activate(a.act, sum[0][nb][i]) * sum[1][nb][i];
      } else {
        out = a.pair_weight[pair] * sum[0][nb][i];
      }
      a.y[static_cast<std::int64_t>(pair) * a.N + row] = out;
    }
  }
}

// out[t] = Σ_i y[t·k + i], i in order.
__global__ void moe_combine_kernel(const float4* y, int T, int topk, int cols4, float4* out) {
  wait_previous_kernel();
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= static_cast<std::int64_t>(T) * cols4) return;
  const std::int64_t t = i / cols4, c = i % cols4;
  float4 s = y[t * topk * cols4 + c];
  for (int j = 1; j < topk; ++j) {
    const float4 v = y[(t * topk + j) * cols4 + c];
    s.x += v.x;
    s.y += v.y;
    s.z += v.z;
    s.w += v.w;
  }
  out[i] = s;
}

// One launch's experts: kMats weight tables of E pointers (gate, up or
// down) and, for e4m3 codes, their scales'.
struct Mats {
  const void* const* w[2];
  const float* const* scale[2];
  int E;
  bool split;  // tensor-core tiles of 8: the block's warps split K
};

template <int kMats>
ExpertTable<kMats> table_of(const Mats& m) {
  ExpertTable<kMats> table{};
  for (int i = 0; i < kMats; ++i) {
    for (int e = 0; e < m.E; ++e) {
      table.w[i][e] = m.w[i][e];
      table.scale[i][e] = m.scale[i] != nullptr ? m.scale[i][e] : nullptr;
    }
  }
  return table;
}

template <typename W, int kMats, int BM>
cudaError_t launch_gemv(const MoeGemvArgs& a, const Mats& m, int max_tiles, cudaStream_t s) {
  constexpr int R = BM >= 4 ? 2 : 4;
  const int chunks = (a.N + kGemvWarps * R - 1) / (kGemvWarps * R);
  return launch_early(moe_gemv_kernel<W, kMats, BM, R>,
                      dim3(static_cast<unsigned>(max_tiles), static_cast<unsigned>(chunks)),
                      32 * kGemvWarps, s, a, table_of<kMats>(m));
}

template <typename WT, int kMats>
cudaError_t launch_mma(int bm, const MoeGemvArgs& a, const Mats& m, int max_tiles, cudaStream_t s) {
  const int rows = m.split ? 16 : kGemvWarps * 16;
  const dim3 grid(static_cast<unsigned>(max_tiles), static_cast<unsigned>((a.N + rows - 1) / rows));
  if (bm == kMoeMmaTile && m.split) {
    return launch_early(moe_mma_kernel<WT, kMats, 1, true>, grid, 32 * kGemvWarps, s, a,
                        table_of<kMats>(m));
  }
  if (bm == kMoeMmaTile) {
    return launch_early(moe_mma_kernel<WT, kMats, 1, false>, grid, 32 * kGemvWarps, s, a,
                        table_of<kMats>(m));
  }
  if (bm == kMoeMmaWideTile) {
    return launch_early(moe_mma_kernel<WT, kMats, 4, false>, grid, 32 * kGemvWarps, s, a,
                        table_of<kMats>(m));
  }
  return cudaErrorInvalidValue;
}

template <typename W, int kMats>
cudaError_t launch_gemv_bm(int bm, const MoeGemvArgs& a, const Mats& m, int max_tiles,
                           cudaStream_t s) {
  if constexpr (std::is_same_v<W, __nv_bfloat16>) {
    if (bm == kMoeMmaTile || bm == kMoeMmaWideTile) {
      return launch_mma<W, kMats>(bm, a, m, max_tiles, s);
    }
  }
  switch (bm) {
    case 1:
      return launch_gemv<W, kMats, 1>(a, m, max_tiles, s);
    case 2:
      return launch_gemv<W, kMats, 2>(a, m, max_tiles, s);
    case 4:
      return launch_gemv<W, kMats, 4>(a, m, max_tiles, s);
    case 8:
      return launch_gemv<W, kMats, 8>(a, m, max_tiles, s);
    default:
      return cudaErrorInvalidValue;
  }
}

template <int kMats>
cudaError_t launch_typed(WType t, int bm, const MoeGemvArgs& a, const Mats& m, int max_tiles,
                         cudaStream_t s) {
  switch (t) {
    case WType::kBF16:
      return launch_gemv_bm<__nv_bfloat16, kMats>(bm, a, m, max_tiles, s);
    case WType::kF16:
      return launch_gemv_bm<__half, kMats>(bm, a, m, max_tiles, s);
    case WType::kF32:
      return launch_gemv_bm<float, kMats>(bm, a, m, max_tiles, s);
    case WType::kFP8E4M3:
      return launch_mma<std::uint8_t, kMats>(bm, a, m, max_tiles, s);
  }
  return cudaErrorInvalidValue;
}

}  // namespace

int moe_max_tiles(int pairs, int experts, int bm) {
  return bm == 1 ? pairs : pairs / bm + (pairs < experts ? pairs : experts);
}

cudaError_t moe_device(const MoeDeviceArgs& a, cudaStream_t s) {
  if (a.E > kMoeMaxExperts || a.topk > 32 || a.topk > a.E || a.T <= 0) return cudaErrorInvalidValue;
  if (const cudaError_t e =
          launch_early(moe_route_kernel, dim3(1), kRouteThreads, s, a.logits, a.T, a.E, a.topk,
                       a.norm, a.bm, a.choice, a.weight, a.order, a.tiles, a.n_tiles);
      e != cudaSuccess) {
    return e;
  }
  const int pairs = a.T * a.topk;
  const int max_tiles = moe_max_tiles(pairs, a.E, a.bm);
  const int br = a.block_rows > 0 ? a.block_rows : 1;
  const int ggu = a.gate_group > 0 ? a.gate_group : a.H;
  const int gdn = a.down_group > 0 ? a.down_group : a.F;
  const MoeGemvArgs gu{a.x,
                       a.topk,
                       a.H,
                       a.F,
                       a.order,
                       a.tiles,
                       a.n_tiles,
                       nullptr,
                       a.act,
                       a.h,
                       br,
                       ggu,
                       (a.H + ggu - 1) / ggu};
  // Few tiles (a decode step of a few rows): without the split the launch
  // would not fill the GPU.
  bool split = a.ksplit > 0;
  if (a.ksplit < 0) {
    split =
        static_cast<std::int64_t>(max_tiles) * ((a.F + kGemvWarps * 16 - 1) / (kGemvWarps * 16)) <
        2 * a.sms;
  }
  const Mats gum{{a.gate, a.up}, {a.gate_scale, a.up_scale}, a.E, split};
  if (const cudaError_t e = launch_typed<2>(a.wtype, a.bm, gu, gum, max_tiles, s);
      e != cudaSuccess) {
    return e;
  }
  const MoeGemvArgs dn{a.h,
                       1,
                       a.F,
                       a.H,
                       a.order,
                       a.tiles,
                       a.n_tiles,
                       a.weight,
                       a.act,
                       a.y,
                       br,
                       gdn,
                       (a.F + gdn - 1) / gdn};
  const Mats dnm{{a.down, nullptr}, {a.down_scale, nullptr}, a.E, split};
  if (const cudaError_t e = launch_typed<1>(a.wtype, a.bm, dn, dnm, max_tiles, s);
      e != cudaSuccess) {
    return e;
  }
  const int cols4 = static_cast<int>(a.H / 4);
  const std::int64_t n = static_cast<std::int64_t>(a.T) * cols4;
  return launch_early(moe_combine_kernel, dim3(static_cast<unsigned>((n + 255) / 256)), 256, s,
                      reinterpret_cast<const float4*>(a.y), a.T, a.topk, cols4,
                      reinterpret_cast<float4*>(a.out));
}

}  // namespace mlxs::backend::cuda::k
