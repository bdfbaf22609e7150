// Paged decode attention on the tensor cores, for bf16 and e4m3 caches. The CUDA-core decode kernel
// (kernels_attention_decode.cu) spends per key shuffles, exponentials and scalar FMAs; at 128-256
// rows of 1-2k keys it ran at about a third of the copy bandwidth, which made long-context batched
// decode (the 1k/1k serving benchmark) bound by that arithmetic rather than by the cache's bytes.
// Here a block takes one decode row and the GQA group of one KV head: the group's query heads
// (padded to 16) are the A operand of bf16 m16n8k16 mma.sync, each warp takes 16 keys of a 64-key
// tile (Q·Kᵀ, online softmax in f32, P·V), key tiles stream through cp.async stages, and
// the four warps' softmax states are merged in shared memory at the end. Key splits
// (flash-decoding) use the same partials and in-launch merge as the CUDA-core kernel
// (split_merge.cuh). An e4m3 cache runs on f16 MMAs whose fragments are
// converted from the staged codes in registers (KvWiden below), and at
// heads of 128 and more with GQA groups of up to 8 on transposed MMAs:
// keys as M, heads as N (kKeyRows below).
#include <atomic>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/kv_access.cuh"
#include "backend/cuda/kv_rows_map.h"
#include "backend/cuda/kv_tile.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/mma_util.cuh"
#include "backend/cuda/rope_angle.cuh"
#include "backend/cuda/split_merge.cuh"
#include "backend/cuda/tensor_copy.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kWarpKeys = 16;                  // keys per warp per tile (one k16 of P·V)
constexpr int kTileKeys = kWarps * kWarpKeys;  // keys per tile
constexpr int kRows = 16;                      // the MMA's M: query heads of the group, padded
constexpr int kPad = kTilePad;
constexpr float kLn2 = 0.6931471805599453f;

using bf16 = __nv_bfloat16;

// Q, then the 16-bit (K tile, V tile) stages, rows padded, then an e4m3
// cache's staging area (kv_tile.cuh); a kernel that reads K and V from the
// codes (KvWiden::kNone) has no tiles. The warps' final states (f32
// [warp][row][D + 2]) reuse the space after Q.
template <typename E, int D, KvWiden W>
constexpr std::size_t tile_bytes() {
  return W == KvWiden::kNone ? 0 : kv_tile_bytes<E, D, kTileKeys>();
}
// kKeyRows (see the kernel): the group's heads are the MMA's N, so Q and the
// warps' states take 8 rows instead of 16.
template <bool kKeyRows>
constexpr int kHeadRows = kKeyRows ? 8 : kRows;
// kTma (with kKeyRows, 128-wide heads): each warp's 16 K and 16 V code rows
// of a stage land by two tensor copies (KvLayout::rows_map) counted on the
// warp's own barrier of that stage, swizzled by the copy engine (128-byte
// pattern: chunk c of row r at c ^ (r % 8), kv_key_chunk's) into a staging
// area aligned at run time to the swizzle's 1,024 bytes; no block barrier
// per tile (a warp reads only its own keys' rows).
constexpr int kTmaAlign = 1024;
constexpr int kTmaBarriers = 2 * kWarps;  // [warp][stage]
template <typename E, int D, KvWiden W, bool kKeyRows, bool kTma = false>
constexpr std::size_t shared_bytes() {
  constexpr std::size_t staging = kv_staging_bytes<E, D, kTileKeys>() +
                                  (kTma ? kTmaAlign + sizeof(std::uint64_t) * kTmaBarriers : 0);
  constexpr std::size_t kv = tile_bytes<E, D, W>() + staging;
  constexpr std::size_t merge = sizeof(float) * kWarps * kHeadRows<kKeyRows> * (D + 2);
  return sizeof(bf16) * static_cast<std::size_t>(kHeadRows<kKeyRows>) * (D + kPad) +
         (kv > merge ? kv : merge);
}
// A folded RoPE's floats, after the rest: the angles' cosines and sines
// (D), the new key and value as the cache holds them (D each) and the
// group's scores of the new key (kRows).
template <int D>
constexpr std::size_t fold_floats() {
  return 3 * D + kRows;
}
template <typename E, int D, KvWiden W, bool kFold, bool kKeyRows, bool kTma = false>
constexpr std::size_t smem_bytes() {
  return shared_bytes<E, D, W, kKeyRows, kTma>() + (kFold ? sizeof(float) * fold_floats<D>() : 0);
}

// Four dimensions d .. d + 3 of a vector `row` rotated by RoPE (pairs d and
// d + half, cos and sin of pair i at cs[i] and cs[half + i]); v holds them
// unrotated. half and d multiples of 4, so no pair straddles a float4.
__device__ __forceinline__ float4 rotate4(const float* row, int d, float4 v, const float* cs,
                                          int half) {
  if (d >= 2 * half) return v;
  const bool low = d < half;
  const int i = low ? d : d - half;
  const float4 p = *reinterpret_cast<const float4*>(row + (low ? d + half : i));
  const float sg = low ? -1.0f : 1.0f;  // a·c − b·s below half, b·c + a·s above
  const float* c = cs + i;
  const float* sn = cs + half + i;
  return make_float4(v.x * c[0] + sg * p.x * sn[0], v.y * c[1] + sg * p.y * sn[1],
                     v.z * c[2] + sg * p.z * sn[2], v.w * c[3] + sg * p.w * sn[3]);
}

__device__ __forceinline__ float to_float(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
__device__ __forceinline__ float to_float(__half x) {
  return __half2float(x);
}

// What the cache gives back for x stored in it (E's rounding), as a float.
template <typename E>
__device__ __forceinline__ float kv_stored(float x) {
  E e;
  kv_store(&e, x);
  return kv_load(&e);
}

// Lean (kNone at 128-wide heads): Q's fragments are re-read from shared
// memory instead of held, so the kernel fits 128 registers and four blocks
// share an SM instead of three (without f16 tiles its shared memory allows
// it). At 256 rows of 1k keys the three-block kernel read 2.35 TB/s (H100)
// with under one eligible warp per scheduler, stalled mostly on the
// conversions' dependent chains rather than on loads: three or four copy
// stages instead of two changed nothing, 32- or 64-token cache blocks
// instead of 16 under 1%. Lean: +4.6% decode tok/s at 64 rows, +1.3% at 256.
template <int D, KvWiden W>
constexpr bool lean_fits() {
  return W == KvWiden::kNone && D == 128;
}
// Its blocks per SM (5 measured the same, with 96 registers and a spill).
constexpr int kLeanBlocks = 4;

// kKeyRows (e4m3 codes read in place, kNone, heads of 128 and more, GQA
// groups of up to 8): the MMAs run transposed, Sᵀ = K·Qᵀ and Oᵀ = Vᵀ·Pᵀ, so
// the tile's 16 keys (and for P·V 16 dimensions) are the MMA's M and the
// group's heads its N of 8. The untransposed kernel pads a group of 4 to the
// M of 16, so three quarters of its MMAs and of its output accumulators (64
// registers a thread at 128-wide heads) were padding; here half the MMAs,
// half the accumulators, Q's fragments held in registers, and the
// probabilities turned into P·V's B fragments by movmatrix. The codes'
// conversions are the same in number.
constexpr bool key_rows_fit(int D, int group) {
  return D >= 128 && group <= 8;
}
// Blocks per SM asked at 128-wide heads (the registers allow; the shared
// memory would allow 6: 80 registers, a spill in the folded kernel, and
// decode 0.4-1.4% slower at 512 rows of 1k keys, 0.7% at 64); wider heads
// ask none.
template <int D>
constexpr int kKeyRowsBlocks = D == 128 ? 5 : 1;

// The four words of V's codes a lane pairs for P·V (kNone): 4 bytes at
// column group g (= lane / 4) of span a4, dimensions 32 a4 + 4g .. + 3, of
// keys r0, r0 + 1, r0 + 8 and r0 + 9 (r0 = the warp's first key + 2t).
// kTma: chunks swizzled as K's rows are (the copy engine's pattern).
template <int D, bool kTma = false>
__device__ __forceinline__ void value_words(const unsigned char* values, int r0, int g, int a4,
                                            unsigned (&w)[4]) {
  const int c = 2 * a4 + (g >> 2);
  const int rows[4] = {r0, r0 + 1, r0 + 8, r0 + 9};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int chunk = kTma ? kv_key_chunk<D>(rows[i], c) : kv_value_chunk<D>(rows[i], c);
    w[i] = *reinterpret_cast<const unsigned*>(values + rows[i] * D + chunk * 16 + (g & 3) * 4);
  }
}

// W (e4m3 caches): which staged rows go through the f16 widen in shared
// memory. kValues: Q·Kᵀ takes K's codes straight from the staging area, each
// lane converting the 4 bytes its B fragment needs; the fragments' k order is
// permuted to make those 4 bytes adjacent (logical k 2t, 2t + 1, 2t + 8,
// 2t + 9 of each 16 are dimensions 4t .. 4t + 3, in Q's fragments and K's
// alike: the dot product is the same sum). kNone (heads of 128 and more):
// P·V too takes V's codes in place: a lane reads 4 bytes of the same column
// from keys 2t, 2t + 1, 2t + 8 and 2t + 9 and pairs them with byte permutes,
// which gives four n8 tiles whose output columns are permuted (put back in
// order in the warps' merge).
//
// kFold (pure decode steps): q, fold.k and fold.v arrive unrotated. Every
// block rotates its group's queries as it stages them (the angles computed
// before the dependency wait); the tiles stop before the row's own key, so
// every one of them was written by an earlier step and starts loading
// before the wait. The block whose split holds that key rotates it, appends
// it and its value to the cache, and scores it apart from the tiles: its
// state joins the warps' in the final merge. Nothing here reads the
// appended row back (an earlier fold that did, through a fence, lost).
template <typename E, int D, KvWiden W, int kBlocks, bool kFold, bool kKeyRows, bool kTma>
__global__ void __launch_bounds__(kThreads, kBlocks)
    decode_tc_kernel(KvLayout kv, int layer, const float* q, int heads, float scale, float softcap,
                     int window, int splits, int split_len, StepMeta m, float* partial,
                     unsigned* tickets, float* out, bool skip_multi, RopeFold fold) {
  constexpr bool kDirectK = W != KvWiden::kAll;
  constexpr bool kDirectV = W == KvWiden::kNone;
  static_assert(!kDirectK || kv_staged<E>());
  static_assert(!kDirectV || D >= 128);  // kv_value_chunk's swizzle
  static_assert(!kKeyRows || (kDirectV && key_rows_fit(D, 1)));
  // kTma: a warp's keys are one box of the cache's rows map.
  static_assert(!kTma || (kKeyRows && D == 128 && kWarpKeys == kKvRowsBox && kv_stages<E>() == 2));
  constexpr int S = D + kPad;                       // bf16 per shared row
  constexpr int KT = D / 16;                        // k-steps of Q·Kᵀ
  constexpr int DT = kKeyRows ? D / 16 : D / 8;     // output tiles of P·V (m16 or n8)
  constexpr int kHeads = kHeadRows<kKeyRows>;       // Q's and the states' rows
  constexpr bool kLean = kBlocks > 1 && !kKeyRows;  // Q re-read, blocks asked of the compiler
  static_assert(!kLean || lean_fits<D, W>());
  using T16 = KvTile<E>;  // the MMA's operand type: bf16, or f16 for an e4m3 cache
  extern __shared__ __align__(128) unsigned char decode_tc_smem[];
  T16* qs = reinterpret_cast<T16*>(decode_tc_smem);  // [kHeads][S]
  T16* stages = qs + kHeads * S;                     // (K tile, V tile) stages
  unsigned char* staging =
      reinterpret_cast<unsigned char*>(stages) + tile_bytes<E, D, W>();  // e4m3 codes in flight
  if constexpr (kTma) {
    staging += (kTmaAlign - shared_addr(staging) % kTmaAlign) % kTmaAlign;
  }
  // kTma: the warps' barriers, [warp][stage], after the stages.
  [[maybe_unused]] std::uint64_t* bars =
      reinterpret_cast<std::uint64_t*>(staging + kv_staging_bytes<E, D, kTileKeys>());
  // kFold: cosines and sines, the new key and value, its scores.
  float* fold_cs =
      reinterpret_cast<float*>(decode_tc_smem + shared_bytes<E, D, W, kKeyRows, kTma>());
  float* fold_k = fold_cs + D;
  float* fold_v = fold_k + D;
  float* fold_score = fold_v + D;

  const int t = static_cast<int>(blockIdx.x) / kv.kv_heads;
  const int g = static_cast<int>(blockIdx.x) % kv.kv_heads;
  const int split = static_cast<int>(blockIdx.y);
  const int group = heads / kv.kv_heads;
  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid >> 5;
  const int lane = tid & 31;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // the o projection may start prefetching weights
#endif
  // Rows of prefill chunks are attention_prefill's.
  if (skip_multi && multi_row(m, t, static_cast<int>(gridDim.x) / kv.kv_heads)) return;
  const KeyRange keys = decode_keys(m, t, window, split, split_len);
  const int begin = keys.begin;
  const int pos = m.positions[t];
  // kFold: the tiles end before the row's own key, which the block whose
  // split holds it (`appends`) takes apart.
  const int end = kFold ? min(keys.end, pos) : keys.end;
  const bool appends = kFold && begin <= pos && pos < keys.end;
  const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
  const E* layer_base = static_cast<const E*>(kv.base) + layer * kv.layer_stride;
  const std::int64_t head_off = static_cast<std::int64_t>(g) * kv.block_size * D;
  const std::int64_t head0 = static_cast<std::int64_t>(t) * heads + g * group;
  scale *= kv_scale(kv, layer, 0, g);
  const float v_scale = kv_scale(kv, layer, 1, g);

  const int tiles = begin < end ? (end - begin + kTileKeys - 1) / kTileKeys : 0;
  auto issue = [&](int p) {
    if constexpr (kTma) {
      // This warp's 16 keys of tile p lie in one cache block (tiles start at
      // multiples of 16: the dispatch's condition): lane 0 copies their K
      // and V rows, where any of them is before the end.
      const int key = begin + p * kTileKeys + warp * kWarpKeys;
      if (lane == 0 && key < end) {
        std::uint64_t* bar = bars + 2 * warp + (p & 1);
        mbar_expect_bytes(bar, 2u * kWarpKeys * D);
        const std::int64_t row =
            (layer * kv.layer_stride +
             static_cast<std::int64_t>(table[kv_block_of(kv, key)]) * kv.block_stride + head_off) /
                D +
            kv_slot_of(kv, key);
        unsigned char* dst = staging + (p & 1) * (2 * kTileKeys * D) + warp * kWarpKeys * D;
        tensor_rows_copy(dst, kv.rows_map, 0, static_cast<int>(row), bar);
        tensor_rows_copy(dst + kTileKeys * D, kv.rows_map, 0,
                         static_cast<int>(row + kv.kv_stride / D), bar);
      }
    } else {
      kv_tile_load<E, D, kTileKeys, kThreads>(kv, layer_base, table, head_off,
                                              begin + p * kTileKeys, end, p % kv_stages<E>(),
                                              stages, staging, tid);
    }
  };
  if constexpr (kTma) {
    if (lane == 0) {
      mbar_init(bars + 2 * warp);
      mbar_init(bars + 2 * warp + 1);
      mbar_init_fence();
    }
    __syncwarp();
  }
  // A lone row (a decode row: one row of its sequence in the step) appends
  // key `pos` (RoPE and the cache write: the previous kernel); the keys
  // before it were written by earlier steps, so the tiles wholly before it
  // start loading before the dependency wait, while that kernel still runs.
  // Not for the rows of a chunk (the chunk's other keys are this step's) nor
  // under a bidirectional span (it may reach past pos).
  const bool lone = !multi_row(m, t, static_cast<int>(gridDim.x) / kv.kv_heads);
  const int ready = kFold                                ? tiles
                    : m.attend_until != nullptr || !lone ? 0
                    : pos >= end                         ? tiles
                                                         : max(0, (pos - begin) / kTileKeys);
  const int early = min(ready, kv_tiles_ahead<E>());
  kv_pipeline_start<E>(tiles, issue, 0, early);
  const int half = fold.rot_dim / 2;
  if constexpr (kFold) {
    for (int i = tid; i < half; i += kThreads) {
      const float2 cs = rope_cos_sin(pos, fold.inv_freq[i], fold.attention_factor);
      fold_cs[i] = cs.x;
      fold_cs[half + i] = cs.y;
    }
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();  // q and the cache's new row come from the previous kernels
#endif
  kv_pipeline_start<E>(tiles, issue, early);  // in flight while Q is staged
  if constexpr (kFold) __syncthreads();       // the angles
  // Q as T16, the group's heads in rows 0 .. group - 1, zeros below.
  for (int i = tid; i < kHeads * (D / 4); i += kThreads) {
    const int r = i / (D / 4);
    const int c = i % (D / 4);
    float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < group) {
      const float* row = q + (head0 + r) * D;
      v = reinterpret_cast<const float4*>(row)[c];
      if constexpr (kFold) v = rotate4(row, c * 4, v, fold_cs, half);
    }
    uint2 packed;
    packed.x = pack2<T16>(v.x, v.y);
    packed.y = pack2<T16>(v.z, v.w);
    *reinterpret_cast<uint2*>(qs + r * S + c * 4) = packed;
  }
  if constexpr (kFold) {
    // The new key (rotated) and value of KV head g: appended to the cache,
    // and kept as the cache holds them (unscaled) for the score and merge.
    if (appends && tid < D / 2) {
      const bool is_k = tid < D / 4;
      const int d = (is_k ? tid : tid - D / 4) * 4;
      const std::int64_t src = (static_cast<std::int64_t>(t) * kv.kv_heads + g) * D;
      const float* row = (is_k ? fold.k : fold.v) + src;
      float4 v = reinterpret_cast<const float4*>(row)[d / 4];
      if (is_k) v = rotate4(row, d, v, fold_cs, half);
      const float inv = kv_inv_scale(kv, layer, is_k ? 0 : 1, g);
      E* dst =
          kv_row<E>(kv, layer, is_k ? 0 : 1, table[kv_block_of(kv, pos)], g, kv_slot_of(kv, pos)) +
          d;
      float* keep = (is_k ? fold_k : fold_v) + d;
      const float x[4] = {v.x * inv, v.y * inv, v.z * inv, v.w * inv};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        kv_store(dst + j, x[j]);
        keep[j] = kv_stored<E>(x[j]);
      }
    }
  }
  __syncthreads();
  if constexpr (kFold) {
    // The new key's score per head of the group, in the log2 units of
    // online_softmax_step, from Q as the MMAs see it.
    if (appends) {
      for (int h = warp; h < group; h += kWarps) {
        float dot = 0.0f;
        for (int d = lane; d < D; d += 32) dot += to_float(qs[h * S + d]) * fold_k[d];
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        constexpr float kLog2e = 1.4426950408889634f;
        if (lane == 0) {
          fold_score[h] = softcap > 0.0f ? softcap * tanhf(dot * scale / softcap) * kLog2e
                                         : dot * scale * kLog2e;
        }
      }
    }
  }
  // Q's A fragment for k-step kk (permuted for kDirectK, see above).
  auto q_fragment = [&](unsigned(&a)[4], int kk) {
    if constexpr (kDirectK) {
      const T16* r0 = qs + (lane >> 2) * S + kk * 16 + (lane & 3) * 4;
      const T16* r1 = r0 + 8 * S;
      a[0] = *reinterpret_cast<const unsigned*>(r0);
      a[1] = *reinterpret_cast<const unsigned*>(r1);
      a[2] = *reinterpret_cast<const unsigned*>(r0 + 2);
      a[3] = *reinterpret_cast<const unsigned*>(r1 + 2);
    } else {
      ldsm_x4(a, qs + (lane & 15) * S + kk * 16 + (lane >> 4) * 8);
    }
  };
  // The same for every tile: in registers up to 128-wide heads, re-read
  // from shared memory for 256 (registers are short there) and when lean.
  constexpr bool kQInRegisters = D <= 128 && !kLean && !kKeyRows;
  unsigned qa[kQInRegisters ? KT : 1][4];
  if constexpr (kQInRegisters) {
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) q_fragment(qa[kk], kk);
  }
  // kKeyRows: Qᵀ's B fragments (head lane / 4; dimensions 4t .. 4t + 3 of
  // each 16 as logical k 2t, 2t + 1, 2t + 8, 2t + 9, as K's below).
  unsigned qb[kKeyRows ? KT : 1][2];
  if constexpr (kKeyRows) {
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) {
      const T16* r0 = qs + (lane >> 2) * S + kk * 16 + (lane & 3) * 4;
      qb[kk][0] = *reinterpret_cast<const unsigned*>(r0);
      qb[kk][1] = *reinterpret_cast<const unsigned*>(r0 + 2);
    }
  }

  float o[DT][4];
#pragma unroll
  for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.0f;
  // Running max (log2 units) and this lane's share of the running sum of
  // rows lane / 4 and lane / 4 + 8, or (kKeyRows) of heads 2t and 2t + 1.
  float mx[2] = {-INFINITY, -INFINITY};
  float sum[2] = {0.0f, 0.0f};

  // kKeyRows: this warp's 16 keys of a tile (from key0), straight from the
  // stage's codes. Sᵀ: a lane holds keys lane / 4 and lane / 4 + 8 of heads
  // 2t and 2t + 1 (t = lane % 4). Oᵀ's m-tile 2a + p holds dimensions
  // 32a + 4(lane / 4) + 2p (rows lane / 4) and that + 1 (rows lane / 4 + 8).
  [[maybe_unused]] auto key_rows_tile = [&](const unsigned char* codes, int key0) {
    const int lr = lane >> 2;
    const int lq = lane & 3;
    float st[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int r = warp * kWarpKeys + lr;
#pragma unroll
    for (int kk = 0; kk < KT; ++kk) {
      const unsigned w0 =
          *reinterpret_cast<const unsigned*>(codes + r * D + kv_key_chunk<D>(r, kk) * 16 + lq * 4);
      const unsigned w1 = *reinterpret_cast<const unsigned*>(
          codes + (r + 8) * D + kv_key_chunk<D>(r + 8, kk) * 16 + lq * 4);
      const unsigned a[4] = {e4m3x2_to_half2_bits(static_cast<unsigned short>(w0 & 0xFFFFu)),
                             e4m3x2_to_half2_bits(static_cast<unsigned short>(w1 & 0xFFFFu)),
                             e4m3x2_to_half2_bits(static_cast<unsigned short>(w0 >> 16)),
                             e4m3x2_to_half2_bits(static_cast<unsigned short>(w1 >> 16))};
      mma16<T16>(st, a, qb[kk][0], qb[kk][1]);
    }
    online_softmax_step_t(st, o, mx, sum, scale, softcap, key0, end);
    // Pᵀ's B fragments: keys 2t, 2t + 1 (and + 8) of head lane / 4.
    const unsigned pb0 = movmatrix_t(pack2<T16>(st[0], st[1]));
    const unsigned pb1 = movmatrix_t(pack2<T16>(st[2], st[3]));
    // Vᵀ's A fragments: 4 bytes of one column from keys 2t, 2t + 1, 2t + 8
    // and 2t + 9, paired by byte permutes.
    const unsigned char* values = codes + kTileKeys * D;
    const int r0 = warp * kWarpKeys + lq * 2;
#pragma unroll
    for (int a4 = 0; a4 < D / 32; ++a4) {
      unsigned w[4];
      value_words<D, kTma>(values, r0, lr, a4, w);
#pragma unroll
      for (int p = 0; p < 2; ++p) {
        // Byte 2p of both keys in the low half, byte 2p + 1 in the high.
        const unsigned sel = static_cast<unsigned>((2 * p) | ((2 * p + 4) << 4) |
                                                   ((2 * p + 1) << 8) | ((2 * p + 5) << 12));
        const unsigned x01 = __byte_perm(w[0], w[1], sel);
        const unsigned x23 = __byte_perm(w[2], w[3], sel);
        const unsigned a[4] = {e4m3x2_to_half2_bits(static_cast<unsigned short>(x01 & 0xFFFFu)),
                               e4m3x2_to_half2_bits(static_cast<unsigned short>(x01 >> 16)),
                               e4m3x2_to_half2_bits(static_cast<unsigned short>(x23 & 0xFFFFu)),
                               e4m3x2_to_half2_bits(static_cast<unsigned short>(x23 >> 16))};
        mma16<T16>(o[2 * a4 + p], a, pb0, pb1);
      }
    }
  };

  for (int it = 0; it < tiles; ++it) {
    const int k0 = begin + it * kTileKeys;
    if constexpr (kTma) {
      // The warp's own pipeline: its keys of the tile (none past the last
      // tile's end), started a tile ahead, read once they land.
      const int key0 = k0 + warp * kWarpKeys;
      if (key0 >= end) break;
      if (it + 1 < tiles) issue(it + 1);
      mbar_wait(bars + 2 * warp + (it & 1), static_cast<unsigned>((it >> 1) & 1));
      unsigned char* codes = staging + (it & 1) * (2 * kTileKeys * D);
      if (end - key0 < kWarpKeys) {
        // V rows past the end (the block's stale or unwritten slots) as
        // zeros: 0 · NaN is NaN. Their keys' scores are masked.
        auto* values = reinterpret_cast<uint4*>(codes + (kTileKeys + warp * kWarpKeys) * D);
        for (int i = (end - key0) * (D / 16) + lane; i < kWarpKeys * (D / 16); i += 32) {
          values[i] = make_uint4(0u, 0u, 0u, 0u);
        }
        __syncwarp();
      }
      key_rows_tile(codes, key0);
      __syncwarp();  // the stage's reads, before lane 0 refills it
      continue;
    }
    const T16* ks =
        kv_tile_next<E, D, kTileKeys, kThreads, W>(it, tiles, issue, stages, staging, tid) +
        warp * kWarpKeys * S;
    const T16* vs = ks + kTileKeys * S;
    // The stage's codes (kDirectK: K's rows, then V's), read in place.
    [[maybe_unused]] const unsigned char* codes =
        kv_staged_codes<E, D, kTileKeys>(staging, it % kv_stages<E>());
    if constexpr (kKeyRows) {
      key_rows_tile(codes, k0 + warp * kWarpKeys);
    } else {
      // Scores of the 16 rows x this warp's 16 keys (two n8 tiles).
      float sc[2][4];
#pragma unroll
      for (int n = 0; n < 2; ++n) sc[n][0] = sc[n][1] = sc[n][2] = sc[n][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < KT; ++kk) {
        unsigned a[4];
        if constexpr (kQInRegisters) {
#pragma unroll
          for (int i = 0; i < 4; ++i) a[i] = qa[kk][i];
        } else {
          q_fragment(a, kk);
        }
        if constexpr (kDirectK) {
#pragma unroll
          for (int n = 0; n < 2; ++n) {
            const int r = warp * kWarpKeys + n * 8 + (lane >> 2);
            const unsigned w = *reinterpret_cast<const unsigned*>(
                codes + r * D + kv_key_chunk<D>(r, kk) * 16 + (lane & 3) * 4);
            mma16<T16>(sc[n], a, e4m3x2_to_half2_bits(static_cast<unsigned short>(w & 0xFFFFu)),
                       e4m3x2_to_half2_bits(static_cast<unsigned short>(w >> 16)));
          }
        } else {
          unsigned b[4];
          ldsm_x4(b, ks + ((lane & 7) + ((lane >> 4) << 3)) * S + kk * 16 + ((lane >> 3) & 1) * 8);
          mma16<T16>(sc[0], a, b[0], b[1]);
          mma16<T16>(sc[1], a, b[2], b[3]);
        }
      }
      // Scale, soft-cap, mask (every row is the same query position), then the
      // online softmax per row over the quad that holds it.
      online_softmax_step(sc, o, mx, sum, scale, softcap, k0 + warp * kWarpKeys,
                          [&](int, int key) { return key < end; });
      // O += P · V over the warp's 16 keys (the score tiles as the A operand).
      unsigned pa[4];
      pa[0] = pack2<T16>(sc[0][0], sc[0][1]);
      pa[1] = pack2<T16>(sc[0][2], sc[0][3]);
      pa[2] = pack2<T16>(sc[1][0], sc[1][1]);
      pa[3] = pack2<T16>(sc[1][2], sc[1][3]);
      if constexpr (kDirectV) {
        // Output tile 4a + b, column g: dimension 32a + 4g + b.
        const unsigned char* values = codes + kTileKeys * D;
        const int r0 = warp * kWarpKeys + (lane & 3) * 2;
        const int g = lane >> 2;
#pragma unroll
        for (int a4 = 0; a4 < D / 32; ++a4) {
          unsigned w[4];
          value_words<D>(values, r0, g, a4, w);
#pragma unroll
          for (int b = 0; b < 4; ++b) {
            const unsigned sel = static_cast<unsigned>(b | ((b + 4) << 4));
            mma16<T16>(o[4 * a4 + b], pa,
                       e4m3x2_to_half2_bits(
                           static_cast<unsigned short>(__byte_perm(w[0], w[1], sel) & 0xFFFFu)),
                       e4m3x2_to_half2_bits(
                           static_cast<unsigned short>(__byte_perm(w[2], w[3], sel) & 0xFFFFu)));
          }
        }
      } else {
#pragma unroll
        for (int dp = 0; dp < DT / 2; ++dp) {
          unsigned b[4];
          ldsm_x4_t(b, vs + (lane & 15) * S + dp * 16 + (lane >> 4) * 8);
          mma16<T16>(o[2 * dp], pa, b[0], b[1]);
          mma16<T16>(o[2 * dp + 1], pa, b[2], b[3]);
        }
      }
    }
    __syncthreads();  // the stage is refilled kv_stages tiles on
  }

  // The warps' states into shared memory, over the stages (the loop's last
  // barrier, or this one when a split has no keys, follows their last read).
  __syncthreads();
  float* ws = reinterpret_cast<float*>(stages);  // [warp][row][D + 2]: o, max, sum
  constexpr int kWidth = D + 2;
  if constexpr (kKeyRows) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      float l = sum[h];
      l += __shfl_xor_sync(0xffffffffu, l, 4);
      l += __shfl_xor_sync(0xffffffffu, l, 8);
      l += __shfl_xor_sync(0xffffffffu, l, 16);
      float* row = ws + (warp * kHeads + 2 * (lane & 3) + h) * kWidth;
#pragma unroll
      for (int mt = 0; mt < DT; ++mt) {
        const int d = 32 * (mt >> 1) + 4 * (lane >> 2) + 2 * (mt & 1);
        row[d] = o[mt][h];
        row[d + 1] = o[mt][2 + h];
      }
      if ((lane >> 2) == 0) {
        row[D] = mx[h];
        row[D + 1] = l;
      }
    }
  }
#pragma unroll
  for (int ri = 0; ri < (kKeyRows ? 0 : 2); ++ri) {
    float l = sum[ri];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int r = (lane >> 2) + 8 * ri;
    float* row = ws + (warp * kHeads + r) * kWidth;
#pragma unroll
    for (int dt = 0; dt < DT; ++dt) {
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        // Column 2t + j of output tile dt: dimension dt * 8 + 2t + j, or
        // 32a + 4(2t + j) + b for tile 4a + b when V came from the codes.
        const int col = (lane & 3) * 2 + j;
        const int d = kDirectV ? (dt >> 2) * 32 + 4 * col + (dt & 3) : dt * 8 + col;
        row[d] = o[dt][2 * ri + j];
      }
    }
    if ((lane & 3) == 0) {
      row[D] = mx[ri];
      row[D + 1] = l;
    }
  }
  __syncthreads();
  // Merge the warps: head h, dimension d per thread step.
  for (int i = tid; i < group * D; i += kThreads) {
    const int h = i / D;
    const int d = i % D;
    float top = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) top = fmaxf(top, ws[(w * kHeads + h) * kWidth + D]);
    if (appends) top = fmaxf(top, fold_score[h]);  // the new key, a fifth state of one key
    float num = 0.0f;
    float den = 0.0f;
    if (top != -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float* row = ws + (w * kHeads + h) * kWidth;
        const float f = fast_exp2(row[D] - top);
        num += row[d] * f;
        den += row[D + 1] * f;
      }
      if (appends) {
        const float f = fast_exp2(fold_score[h] - top);
        num += fold_v[d] * f;
        den += f;
      }
    }
    num *= v_scale;
    if (splits == 1) {
      out[(head0 + h) * D + d] = num / den;
    } else {
      float* p = split_partial(partial, head0 + h, splits, split, D);
      p[2 + d] = num;
      if (d == 0) {
        p[0] = top == -INFINITY ? -FLT_MAX : top * kLn2;  // natural-log units, as the merge reads
        p[1] = den;
      }
    }
  }
  if (splits > 1) merge_if_last(partial, tickets + blockIdx.x, splits, group, D, head0, out);
}

template <typename E, int D, KvWiden W, int kBlocks, bool kFold, bool kKeyRows, bool kTma = false>
cudaError_t launch(const KvLayout& kv, int layer, const float* q, float* out, int T, int heads,
                   float scale, float softcap, int window, int splits, int split_len,
                   const StepMeta& m, float* partial, unsigned* tickets, cudaStream_t s,
                   bool skip_multi, const RopeFold& fold) {
  static PerDeviceOnce once;  // one per kernel (a template's static)
  constexpr auto kernel = decode_tc_kernel<E, D, W, kBlocks, kFold, kKeyRows, kTma>;
  constexpr std::size_t smem = smem_bytes<E, D, W, kFold, kKeyRows, kTma>();
  if (const cudaError_t e = opt_in_smem(once, kernel, smem, kBlocks > 1); e != cudaSuccess) {
    return e;
  }
  const dim3 grid(static_cast<unsigned>(T * kv.kv_heads), static_cast<unsigned>(splits));
  return launch_early_smem(kernel, grid, kThreads, smem, s, kv, layer, q, heads, scale, softcap,
                           window, splits, split_len, m, partial, tickets, out, skip_multi, fold);
}

// What an e4m3 cache's decode widens through shared memory (process-wide:
// an A/B switch the backends set as they are created).
std::atomic<KvWiden> fp8_decode_widen{KvWiden::kNone};
// Whether kNone takes the lean kernel where it fits (likewise set by the
// backends; off for A/B runs only).
std::atomic<bool> fp8_decode_lean{true};
// Whether kNone takes the transposed kernel (kKeyRows) where it fits
// (likewise).
std::atomic<bool> fp8_decode_key_rows{true};
// Whether the transposed kernel copies its code rows with tensor copies
// where the cache has a rows map (likewise).
std::atomic<bool> fp8_decode_tma{true};

template <int D>
KvWiden fp8_widen() {
  const KvWiden asked = fp8_decode_widen.load(std::memory_order_relaxed);
  return asked == KvWiden::kNone && D < 128 ? KvWiden::kValues : asked;
}

}  // namespace

void set_fp8_decode_widen(KvWiden w, bool lean, bool key_rows, bool tma) {
  fp8_decode_widen.store(w, std::memory_order_relaxed);
  fp8_decode_lean.store(lean, std::memory_order_relaxed);
  fp8_decode_key_rows.store(key_rows, std::memory_order_relaxed);
  fp8_decode_tma.store(tma, std::memory_order_relaxed);
}

bool attention_decode_tc_supported(int heads, int head_dim, const KvLayout& kv) {
  return tc_kernels_take(kv, head_dim) && heads % kv.kv_heads == 0 && heads / kv.kv_heads <= kRows;
}

bool attention_decode_tc_folds(int heads, int head_dim, int rot_dim, const KvLayout& kv) {
  return attention_decode_tc_supported(heads, head_dim, kv) && rot_dim > 0 && rot_dim % 8 == 0 &&
         rot_dim <= head_dim;
}

namespace {

// attention_decode_tc, with the fold or without (null).
cudaError_t decode_tc(const KvLayout& kv, int layer, const float* q, float* out, int T, int heads,
                      int head_dim, float scale, float softcap, int window, int splits,
                      int split_len, const StepMeta& m, float* partial, unsigned* tickets,
                      cudaStream_t s, bool skip_multi, const RopeFold* fold) {
  if (T == 0) return cudaSuccess;
  const RopeFold none{};
  return with_tc_kernel(kv, head_dim, [&](auto tag, auto dim) {
    using E = typename decltype(tag)::type;
    constexpr int D = decltype(dim)::value;
    // The kernel of a widen mode at a number of blocks per SM (1: no
    // minimum asked of the compiler), transposed or not, as integral
    // constants.
    const auto run = [&](auto widen, auto blocks, auto key_rows, auto tma) {
      constexpr KvWiden kW = decltype(widen)::value;
      constexpr int kB = decltype(blocks)::value;
      constexpr bool kK = decltype(key_rows)::value;
      constexpr bool kU = decltype(tma)::value;
      if (fold != nullptr) {
        return launch<E, D, kW, kB, true, kK, kU>(kv, layer, q, out, T, heads, scale, softcap,
                                                  window, splits, split_len, m, partial, tickets, s,
                                                  skip_multi, *fold);
      }
      return launch<E, D, kW, kB, false, kK, kU>(kv, layer, q, out, T, heads, scale, softcap,
                                                 window, splits, split_len, m, partial, tickets, s,
                                                 skip_multi, none);
    };
    using None = std::integral_constant<KvWiden, KvWiden::kNone>;
    using AnyBlocks = std::integral_constant<int, 1>;
    using Straight = std::false_type;
    if constexpr (kv_staged<E>()) {
      const KvWiden w = fp8_widen<D>();
      if constexpr (D >= 128) {
        if (w == KvWiden::kNone) {
          if (key_rows_fit(D, heads / kv.kv_heads) &&
              fp8_decode_key_rows.load(std::memory_order_relaxed)) {
            using Blocks = std::integral_constant<int, kKeyRowsBlocks<D>>;
            if constexpr (D == 128) {
              // Tensor copies: the warps' 16-key runs must start at
              // multiples of 16 (no sliding window, splits of whole runs).
              if (kv.rows_map != nullptr && window == 0 &&
                  (splits == 1 || split_len % kWarpKeys == 0) &&
                  fp8_decode_tma.load(std::memory_order_relaxed)) {
                return run(None{}, Blocks{}, std::true_type{}, std::true_type{});
              }
            }
            return run(None{}, Blocks{}, std::true_type{}, Straight{});
          }
          if constexpr (lean_fits<D, KvWiden::kNone>()) {
            if (fp8_decode_lean.load(std::memory_order_relaxed)) {
              return run(None{}, std::integral_constant<int, kLeanBlocks>{}, Straight{},
                         Straight{});
            }
          }
          return run(None{}, AnyBlocks{}, Straight{}, Straight{});
        }
      }
      if (w == KvWiden::kValues) {
        return run(std::integral_constant<KvWiden, KvWiden::kValues>{}, AnyBlocks{}, Straight{},
                   Straight{});
      }
    }
    return run(std::integral_constant<KvWiden, KvWiden::kAll>{}, AnyBlocks{}, Straight{},
               Straight{});
  });
}

}  // namespace

cudaError_t attention_decode_tc(const KvLayout& kv, int layer, const float* q, float* out, int T,
                                int heads, int head_dim, float scale, float softcap, int window,
                                int splits, int split_len, const StepMeta& m, float* partial,
                                unsigned* tickets, cudaStream_t s, bool skip_multi) {
  if (!attention_decode_tc_supported(heads, head_dim, kv)) return cudaErrorInvalidValue;
  return decode_tc(kv, layer, q, out, T, heads, head_dim, scale, softcap, window, splits, split_len,
                   m, partial, tickets, s, skip_multi, nullptr);
}

cudaError_t attention_decode_tc_folded(const KvLayout& kv, int layer, const float* q, float* out,
                                       int T, int heads, int head_dim, float scale, float softcap,
                                       int window, int splits, int split_len, const StepMeta& m,
                                       float* partial, unsigned* tickets, const RopeFold& fold,
                                       cudaStream_t s) {
  if (!attention_decode_tc_folds(heads, head_dim, fold.rot_dim, kv)) return cudaErrorInvalidValue;
  return decode_tc(kv, layer, q, out, T, heads, head_dim, scale, softcap, window, splits, split_len,
                   m, partial, tickets, s, false, &fold);
}

}  // namespace mlxs::backend::cuda::k
