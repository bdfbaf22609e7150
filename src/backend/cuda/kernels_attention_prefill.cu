// Paged prefill attention on the tensor cores, flash-attention-2 style. The
// per-row kernels (kernels_attention.cu) give every query row its own block
// on CUDA cores and re-read each key for every row: a 2,048-token Llama-8B
// prefill spent most of its time there. Here a block takes a tile of
// consecutive query rows times the GQA group of one KV head (64 (row, head)
// pairs, 16 per warp, so each K/V tile serves the whole group), stages key
// tiles of the sequence's cache blocks through a cp.async double buffer, and
// keeps scores and outputs in registers: Q·Kᵀ and P·V on bf16 mma.sync
// (m16n8k16), softmax and accumulation in f32 (f16 MMAs for an e4m3 cache,
// whose codes widen to f16 exactly: kv_tile.cuh).
//
// Rows are masked per key as the per-row kernels do: causal by position,
// the sliding window, StepMeta::attend_until's bidirectional spans. A tile
// may straddle sequences (chunk boundaries): it walks each sequence it
// holds in turn, with the other rows masked out. Rows of sequences that
// bring only one row (decode rows of a mixed step) are not written here.
#include <atomic>
#include <climits>
#include <cmath>

#include <cuda_bf16.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/kv_access.cuh"
#include "backend/cuda/kv_tile.cuh"
#include "backend/cuda/mma_util.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kPairs = 16 * kWarps;  // (query row, head) pairs per block
constexpr int kPad = kTilePad;

using bf16 = __nv_bfloat16;

// Q, then the bf16 (K tile, V tile) stages, rows padded, then an e4m3
// cache's staging area (kv_tile.cuh), for BN keys a tile.
template <typename E, int D, int BN>
constexpr std::size_t smem_bytes() {
  return sizeof(bf16) * static_cast<std::size_t>(kPairs) * (D + kPad) + kv_tile_bytes<E, D, BN>() +
         kv_staging_bytes<E, D, BN>();
}

template <typename E, int D, int BN>
__global__ void __launch_bounds__(kThreads)
    prefill_kernel(KvLayout kv, int layer, const float* q, int T, int heads, float scale,
                   float softcap, int window, StepMeta m, float* out) {
  constexpr int S = D + kPad;  // bf16 per shared row
  constexpr int NT = BN / 8;   // score tiles (n8) per warp
  constexpr int DT = D / 8;    // output tiles (n8) per warp
  using T16 = KvTile<E>;       // the MMA's operand type: bf16, or f16 for an e4m3 cache
  extern __shared__ __align__(128) unsigned char prefill_smem[];
  T16* qs = reinterpret_cast<T16*>(prefill_smem);  // [kPairs][S]
  T16* stages = qs + kPairs * S;                   // ([BN][S] K, [BN][S] V) stages
  unsigned char* staging =
      reinterpret_cast<unsigned char*>(stages) + kv_tile_bytes<E, D, BN>();  // e4m3 codes

  const int g = blockIdx.y;  // KV head
  const int group = heads / kv.kv_heads;
  scale *= kv_scale(kv, layer, 0, g);
  const float v_scale = kv_scale(kv, layer, 1, g);
  const int tile_rows = kPairs / group;
  // The last tiles first: under the causal mask a tile's work grows with its
  // rows' positions, and the blocks launch in index order, so the longest
  // run in the first wave and the short ones fill the tail.
  const int r0 = (static_cast<int>(gridDim.x) - 1 - static_cast<int>(blockIdx.x)) * tile_rows;
  const int rows = min(tile_rows, T - r0);
  const int tid = threadIdx.x;
  const int warp = tid >> 5;
  const int lane = tid & 31;

  // Q as T16: pair i = (row i / group, head g * group + i % group).
  for (int i = tid; i < kPairs * (D / 4); i += kThreads) {
    const int pair = i / (D / 4);
    const int c = i % (D / 4);
    const int r = pair / group;
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < rows) {
      const std::int64_t head =
          static_cast<std::int64_t>(r0 + r) * heads + g * group + pair % group;
      v = reinterpret_cast<const float4*>(q + head * D)[c];
    }
    uint2 packed;
    packed.x = pack2<T16>(v.x, v.y);
    packed.y = pack2<T16>(v.z, v.w);
    *reinterpret_cast<uint2*>(qs + pair * S + c * 4) = packed;
  }

  // This thread's two rows of the warp's 16 pairs (the MMA's lane / 4 and
  // lane / 4 + 8), their query rows and key bounds.
  int row_t[2];
  int row_head[2];
  bool row_live[2];
  int row_lo[2];
  int row_hi[2];
#pragma unroll
  for (int ri = 0; ri < 2; ++ri) {
    const int pair = warp * 16 + (lane >> 2) + 8 * ri;
    const int r = pair / group;
    row_live[ri] = r < rows;
    row_t[ri] = r0 + min(r, rows - 1);
    row_head[ri] = g * group + pair % group;
    const int pos = m.positions[row_t[ri]];
    row_lo[ri] = first_key(pos, window);
    row_hi[ri] = last_key(m, row_t[ri], pos) + 1;
    row_live[ri] = row_live[ri] && multi_row(m, row_t[ri], T);
  }

  float o[DT][4];
#pragma unroll
  for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  float mx[2] = {-INFINITY, -INFINITY};  // running max, log2 units
  float sum[2] = {0.0f, 0.0f};           // this lane's share of the running sum

  __shared__ int s_lo, s_hi;
  const E* layer_base = static_cast<const E*>(kv.base) + layer * kv.layer_stride;
  const std::int64_t head_off = static_cast<std::int64_t>(g) * kv.block_size * D;
  const int seq_first = m.row_seq[r0];
  const int seq_last = m.row_seq[r0 + rows - 1];

  for (int seq = seq_first; seq <= seq_last; ++seq) {
    // The keys any of this sequence's rows in the tile attends to.
    __syncthreads();  // the previous pass has read s_lo / s_hi
    if (tid == 0) {
      s_lo = INT_MAX;
      s_hi = INT_MIN;
    }
    __syncthreads();
    if (tid < rows) {
      const int t = r0 + tid;
      if (m.row_seq[t] == seq && multi_row(m, t, T)) {
        const int pos = m.positions[t];
        atomicMin(&s_lo, first_key(pos, window));
        atomicMax(&s_hi, last_key(m, t, pos) + 1);
      }
    }
    __syncthreads();
    const int kv_lo = s_lo;
    const int kv_hi = s_hi;
    if (kv_lo >= kv_hi) continue;  // no row of this sequence here
    int lo[2];
    int hi[2];
#pragma unroll
    for (int ri = 0; ri < 2; ++ri) {
      const bool mine = row_live[ri] && m.row_seq[row_t[ri]] == seq;
      lo[ri] = mine ? row_lo[ri] : 0;
      hi[ri] = mine ? row_hi[ri] : 0;  // an empty range: every key masked
    }
    const std::int32_t* table = m.tables + m.seq_table[seq];

    // Key tile p into its stage; keys past the range read as zeros (the
    // table has no entry for them).
    auto issue = [&](int p) {
      kv_tile_load<E, D, BN, kThreads>(kv, layer_base, table, head_off, kv_lo + p * BN, kv_hi,
                                       p % kv_stages<E>(), stages, staging, tid);
    };
    const int tiles = (kv_hi - kv_lo + BN - 1) / BN;
    kv_pipeline_start<E>(tiles, issue);
    for (int it = 0; it < tiles; ++it) {
      const int k0 = kv_lo + it * BN;
      const T16* ks = kv_tile_next<E, D, BN, kThreads>(it, tiles, issue, stages, staging, tid);
      const T16* vs = ks + BN * S;

      // Scores of the warp's 16 pairs x BN keys.
      float sc[NT][4];
#pragma unroll
      for (int n = 0; n < NT; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        unsigned a[4];
        ldsm_x4(a, qs + (warp * 16 + (lane & 15)) * S + kk * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int np = 0; np < NT / 2; ++np) {
          unsigned b[4];
          ldsm_x4(b, ks + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * S + kk * 16 +
                         ((lane >> 3) & 1) * 8);
          mma16<T16>(sc[2 * np], a, b[0], b[1]);
          mma16<T16>(sc[2 * np + 1], a, b[2], b[3]);
        }
      }
      // Scale, soft-cap, mask (unless every key of the tile is live for
      // every row of the warp); then the online softmax per row (a row's
      // scores are spread over the four lanes of a quad), its running max
      // raised lazily.
      const bool inside = lo[0] <= k0 && k0 + BN <= hi[0] && lo[1] <= k0 && k0 + BN <= hi[1];
      online_softmax_step_lazy(sc, o, mx, sum, scale, softcap, k0, !__all_sync(0xffffffffu, inside),
                               [&](int ri, int key) { return key >= lo[ri] && key < hi[ri]; });
      // O += P · V: the score tiles 2kc and 2kc + 1 are the A operand of the
      // keys 16kc .. 16kc + 15 as they lie in the registers.
#pragma unroll
      for (int kc = 0; kc < BN / 16; ++kc) {
        unsigned a[4];
        a[0] = pack2<T16>(sc[2 * kc][0], sc[2 * kc][1]);
        a[1] = pack2<T16>(sc[2 * kc][2], sc[2 * kc][3]);
        a[2] = pack2<T16>(sc[2 * kc + 1][0], sc[2 * kc + 1][1]);
        a[3] = pack2<T16>(sc[2 * kc + 1][2], sc[2 * kc + 1][3]);
#pragma unroll
        for (int dp = 0; dp < DT / 2; ++dp) {
          unsigned b[4];
          ldsm_x4_t(b, vs + (kc * 16 + (lane & 15)) * S + dp * 16 + (lane >> 4) * 8);
          mma16<T16>(o[2 * dp], a, b[0], b[1]);
          mma16<T16>(o[2 * dp + 1], a, b[2], b[3]);
        }
      }
      __syncthreads();  // the stage is refilled kv_stages tiles on
    }
  }

#pragma unroll
  for (int ri = 0; ri < 2; ++ri) {
    float l = sum[ri];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    if (!row_live[ri]) continue;
    const float inv = v_scale / l;
    float* dst =
        out + (static_cast<std::int64_t>(row_t[ri]) * heads + row_head[ri]) * D + (lane & 3) * 2;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
      *reinterpret_cast<float2*>(dst + dt * 8) =
          make_float2(o[dt][2 * ri] * inv, o[dt][2 * ri + 1] * inv);
    }
  }
}

template <typename E, int D, int BN>
cudaError_t launch_tile(const KvLayout& kv, int layer, const float* q, float* out, int T, int heads,
                        float scale, float softcap, int window, const StepMeta& m, cudaStream_t s) {
  static PerDeviceOnce once;  // one per kernel (a template's static)
  constexpr auto kernel = prefill_kernel<E, D, BN>;
  constexpr std::size_t smem = smem_bytes<E, D, BN>();
  if (const cudaError_t e = opt_in_smem(once, kernel, smem); e != cudaSuccess) return e;
  const int tile_rows = kPairs / (heads / kv.kv_heads);
  const dim3 grid(static_cast<unsigned>((T + tile_rows - 1) / tile_rows),
                  static_cast<unsigned>(kv.kv_heads));
  kernel<<<grid, kThreads, smem, s>>>(kv, layer, q, T, heads, scale, softcap, window, m, out);
  return cudaGetLastError();
}

std::atomic<bool> prefill_wide_tiles{false};  // set_prefill_key_tile

// Tiles of 32 keys: half the shared memory of 64 (three blocks an SM
// instead of two on an e4m3 cache). H200, 8B FP8 at load, e4m3 cache,
// prefill of 64 prompts: 1k tokens 55,164/55,388 -> 56,369/56,197 tok/s,
// 4k 44,018/43,985 -> 44,747/44,752. Two 16-pair m-tiles a warp (each K
// and V fragment feeding two MMAs) measured no better and, at 2,048 rows
// of one prompt, 19% slower (half the blocks: under two waves).
template <typename E, int D>
cudaError_t launch(const KvLayout& kv, int layer, const float* q, float* out, int T, int heads,
                   float scale, float softcap, int window, const StepMeta& m, cudaStream_t s) {
  if constexpr (D <= 128) {
    if (prefill_wide_tiles.load(std::memory_order_relaxed)) {
      return launch_tile<E, D, 64>(kv, layer, q, out, T, heads, scale, softcap, window, m, s);
    }
  }
  return launch_tile<E, D, 32>(kv, layer, q, out, T, heads, scale, softcap, window, m, s);
}

}  // namespace

void set_prefill_key_tile(int keys) {
  prefill_wide_tiles.store(keys == 64, std::memory_order_relaxed);
}

bool attention_prefill_supported(int heads, int head_dim, const KvLayout& kv) {
  return tc_kernels_take(kv, head_dim) && heads % kv.kv_heads == 0 && heads / kv.kv_heads <= kPairs;
}

cudaError_t attention_prefill(const KvLayout& kv, int layer, const float* q, float* out, int T,
                              int heads, int head_dim, float scale, float softcap, int window,
                              const StepMeta& m, cudaStream_t s) {
  if (!attention_prefill_supported(heads, head_dim, kv)) return cudaErrorInvalidValue;
  if (T == 0) return cudaSuccess;
  return with_tc_kernel(kv, head_dim, [&](auto tag, auto dim) {
    return launch<typename decltype(tag)::type, decltype(dim)::value>(kv, layer, q, out, T, heads,
                                                                      scale, softcap, window, m, s);
  });
}

}  // namespace mlxs::backend::cuda::k
