#pragma once
// Key and value tiles of the paged cache for the tensor-core attention
// kernels (kernels_attention_prefill.cu, kernels_attention_decode_tc.cu),
// which read them from shared memory as 16-bit rows of D + kTilePad elements
// (KvTileTraits::Tile: the MMA's operand type). A bf16 cache is copied there
// directly with cp.async, double-buffered. An e4m3 cache is copied as codes
// into a double-buffered staging area (half the bytes in flight per key,
// rows swizzled: kv_key_chunk, kv_value_chunk) and widened into one f16 tile
// once it has landed: e4m3 -> f16 is exact and one instruction per pair
// (bf16 would need a trip through f32), and the kernels then run f16 MMAs
// (Q and P rounded to f16, finer than bf16). The decode kernel skips the
// widen and converts its fragments from the codes (KvWiden).

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/kv_access.cuh"
#include "backend/cuda/mma_util.cuh"

namespace mlxs::backend::cuda::k {

constexpr int kTilePad = 8;  // bf16 after each shared row: ldmatrix rows hit distinct banks

// Per cache type: the tiles' element type, how many tile stages the copies
// land in, and how many staging stages (0: copied straight into the tiles).
template <typename E>
struct KvTileTraits;

template <>
struct KvTileTraits<__nv_bfloat16> {
  using Tile = __nv_bfloat16;
  static constexpr int kTileStages = 2;  // bf16 tiles: the copies land there
  static constexpr int kStagingStages = 0;
};

template <>
struct KvTileTraits<__nv_fp8_e4m3> {
  using Tile = __half;
  static constexpr int kTileStages = 1;  // widened in place of the copy
  // Two stages: three (two tiles in flight while one is computed) made the
  // decode kernel's shared memory 88 KB, two blocks per SM instead of three,
  // and 256 rows at 1k context went 13.2k -> 12.1k tok/s (H100).
  static constexpr int kStagingStages = 2;
};

template <typename E>
constexpr bool kv_staged() {
  return KvTileTraits<E>::kStagingStages > 0;
}

// Stages the copies rotate through, and how many tiles are in flight ahead
// of the one being computed.
template <typename E>
constexpr int kv_stages() {
  return kv_staged<E>() ? KvTileTraits<E>::kStagingStages : KvTileTraits<E>::kTileStages;
}
template <typename E>
constexpr int kv_tiles_ahead() {
  return kv_stages<E>() - 1;
}

// Shared bytes of the tiles and of the staging area for BN keys of width D.
template <typename E, int D, int BN>
constexpr std::size_t kv_tile_bytes() {
  return sizeof(std::uint16_t) * static_cast<std::size_t>(KvTileTraits<E>::kTileStages) * 2 * BN *
         (D + kTilePad);
}
template <typename E, int D, int BN>
constexpr std::size_t kv_staging_bytes() {
  return static_cast<std::size_t>(KvTileTraits<E>::kStagingStages) * 2 * BN * D * sizeof(E);
}

template <typename E>
using KvTile = typename KvTileTraits<E>::Tile;

// The K tile of stage `st` (V follows it, BN rows on).
template <typename E, int D, int BN>
__device__ __forceinline__ KvTile<E>* kv_tile(KvTile<E>* tiles, int st) {
  return tiles + (KvTileTraits<E>::kTileStages == 1 ? 0 : st) * 2 * BN * (D + kTilePad);
}

// Where chunk c (16 codes) of key row `row` of an e4m3 stage lies in that
// row: XOR-swizzled over the 128 bytes that rows share, so that eight lanes
// reading the same 4 bytes of eight consecutive keys (the decode kernel's K
// fragments, taken straight from the codes) hit distinct banks.
template <int D>
__device__ __forceinline__ int kv_key_chunk(int row, int c) {
  constexpr int kChunks = D / 16;
  constexpr int kRowsPerLine = kChunks >= 8 ? 1 : 8 / kChunks;  // rows per 128 bytes
  constexpr int kMask = (kChunks < 8 ? kChunks : 8) - 1;
  return c ^ ((row / kRowsPerLine) & kMask);
}

// The same for chunk c of value row `row`, for heads of 128 and more: a lane
// reads 4 bytes at one column of keys 2t, 2t + 1, 2t + 8 and 2t + 9 (t = lane
// % 4), which the swizzle by (row / 2) % 4 spreads over distinct banks.
// Narrower heads are not swizzled (their rows share a 128-byte line).
template <int D>
__device__ __forceinline__ int kv_value_chunk(int row, int c) {
  if constexpr (D >= 128) {
    return c ^ (((row >> 1) & 3) << 1);
  } else {
    return c;
  }
}

// The e4m3 codes of staging stage `st`: BN K rows, then BN V rows.
template <typename E, int D, int BN>
__device__ __forceinline__ const unsigned char* kv_staged_codes(const unsigned char* staging,
                                                                int st) {
  return staging + static_cast<std::size_t>(st) * 2 * BN * D;
}

// Starts copying keys k0 .. k0 + BN - 1 of one KV head (its rows at
// head_off in each cache block) into stage `st`, as one cp.async group;
// keys at or past `end` read as zeros (V must stay finite: 0 · NaN is NaN).
template <typename E, int D, int BN, int kThreads>
__device__ __forceinline__ void kv_tile_load(const KvLayout& kv, const E* layer_base,
                                             const std::int32_t* table, std::int64_t head_off,
                                             int k0, int end, int st, KvTile<E>* tiles,
                                             unsigned char* staging, int tid) {
  constexpr int kPer = 16 / static_cast<int>(sizeof(E));  // elements per 16-byte piece
  constexpr int kChunks = D / kPer;
  constexpr int S = D + kTilePad;
  for (int i = tid; i < BN * kChunks; i += kThreads) {
    const int j = i / kChunks;
    const int c = i % kChunks;
    const int key = k0 + j;
    const bool ok = key < end;
    const E* src = layer_base;
    if (ok) {
      src += static_cast<std::int64_t>(table[kv_block_of(kv, key)]) * kv.block_stride + head_off +
             static_cast<std::int64_t>(kv_slot_of(kv, key)) * D + c * kPer;
    }
    const E* vsrc = ok ? src + kv.kv_stride : src;
    if constexpr (kv_staged<E>()) {
      E* ks = reinterpret_cast<E*>(staging) + st * 2 * BN * D;
      cp_async16(ks + j * D + kv_key_chunk<D>(j, c) * kPer, src, ok);
      cp_async16(ks + BN * D + j * D + kv_value_chunk<D>(j, c) * kPer, vsrc, ok);
    } else {
      KvTile<E>* ks = kv_tile<E, D, BN>(tiles, st);
      cp_async16(ks + j * S + c * kPer, src, ok);
      cp_async16(ks + BN * S + j * S + c * kPer, vsrc, ok);
    }
  }
  cp_async_commit();
}

// The caches and head sizes the tensor-core kernels take: bf16 or e4m3,
// head_dim 16, 32, 64, 128 or 256.
inline bool tc_kernels_take(const KvLayout& kv, int head_dim) {
  return (kv.type == WType::kBF16 || kv.type == WType::kFP8E4M3) && kv.head_dim == head_dim &&
         (head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128 || head_dim == 256);
}

// f(KvTag<E>{}, std::integral_constant<int, D>{}) for the cache's element
// type and the head size (tc_kernels_take must hold).
template <typename F>
cudaError_t with_tc_kernel(const KvLayout& kv, int head_dim, F&& f) {
  return with_kv_type(kv, [&](auto tag) -> cudaError_t {
    if constexpr (std::is_same_v<typename decltype(tag)::type, float>) {
      return cudaErrorInvalidValue;
    } else {
      switch (head_dim) {
        case 16:
          return f(tag, std::integral_constant<int, 16>{});
        case 32:
          return f(tag, std::integral_constant<int, 32>{});
        case 64:
          return f(tag, std::integral_constant<int, 64>{});
        case 128:
          return f(tag, std::integral_constant<int, 128>{});
        case 256:
          return f(tag, std::integral_constant<int, 256>{});
        default:
          break;
      }
      return cudaErrorInvalidValue;
    }
  });
}

// The copy pipeline of a kernel walking `tiles` key tiles: issue(p) starts
// tile p (one cp.async group: kv_tile_load), or commits an empty group past
// the end so that every iteration waits for the same count. [from, to)
// starts part of it (in order: a kernel may start the first tiles before
// its dependency wait and the rest after).
template <typename E, typename Issue>
__device__ __forceinline__ void kv_pipeline_start(int tiles, Issue&& issue, int from = 0,
                                                  int to = kv_tiles_ahead<E>()) {
#pragma unroll
  for (int p = 0; p < kv_tiles_ahead<E>(); ++p) {
    if (p < from || p >= to) continue;
    if (p < tiles) {
      issue(p);
    } else {
      cp_async_commit();
    }
  }
}

// After stage `st` has landed (cp_async_wait + a barrier): an e4m3 stage's
// rows that W names are widened into the f16 tile, followed by a barrier;
// nothing for bf16.
template <typename E, int D, int BN, int kThreads, KvWiden W = KvWiden::kAll>
__device__ __forceinline__ void kv_tile_widen(int st, KvTile<E>* tiles,
                                              const unsigned char* staging, int tid) {
  if constexpr (kv_staged<E>() && W != KvWiden::kNone) {
    constexpr int S = D + kTilePad;
    constexpr int kChunks = D / 16;  // 16 codes per piece
    constexpr int kFirst = W == KvWiden::kAll ? 0 : BN;
    const unsigned char* src = kv_staged_codes<E, D, BN>(staging, st);
    KvTile<E>* dst = kv_tile<E, D, BN>(tiles, 0);
    for (int i = tid + kFirst * kChunks; i < 2 * BN * kChunks; i += kThreads) {
      const int row = i / kChunks;  // K rows, then V rows
      const int c = i % kChunks;
      const int from = row < BN ? kv_key_chunk<D>(row, c) : kv_value_chunk<D>(row - BN, c);
      const uint4 v = *reinterpret_cast<const uint4*>(src + row * D + from * 16);
      const unsigned w[4] = {v.x, v.y, v.z, v.w};
      unsigned out[8];
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        out[2 * q] = e4m3x2_to_half2_bits(static_cast<unsigned short>(w[q] & 0xFFFFu));
        out[2 * q + 1] = e4m3x2_to_half2_bits(static_cast<unsigned short>(w[q] >> 16));
      }
      uint4* d = reinterpret_cast<uint4*>(dst + row * S + c * 16);
      d[0] = make_uint4(out[0], out[1], out[2], out[3]);
      d[1] = make_uint4(out[4], out[5], out[6], out[7]);
    }
    __syncthreads();
  }
}

// Before computing tile `it`: starts tile it + ahead, waits for tile it,
// makes every thread's copies visible (and widens an e4m3 stage), and
// returns its K tile (V follows, BN rows on).
template <typename E, int D, int BN, int kThreads, KvWiden W = KvWiden::kAll, typename Issue>
__device__ __forceinline__ const KvTile<E>* kv_tile_next(int it, int tiles, Issue&& issue,
                                                         KvTile<E>* tiles_smem,
                                                         const unsigned char* staging, int tid) {
  const int next = it + kv_tiles_ahead<E>();
  if (next < tiles) {
    issue(next);
  } else {
    cp_async_commit();
  }
  cp_async_wait<kv_tiles_ahead<E>()>();
  __syncthreads();
  const int st = it % kv_stages<E>();
  kv_tile_widen<E, D, BN, kThreads, W>(st, tiles_smem, staging, tid);
  return kv_tile<E, D, BN>(tiles_smem, st);
}

}  // namespace mlxs::backend::cuda::k
