#pragma once
// Element access of the paged KV cache (KvLayout) for kernels templated on
// its storage type, f32, bf16 or e4m3: rows are converted on load and on
// store, the math stays f32. Also the per-row key bounds every attention
// kernel shares.
//
// The e4m3 cache stores codes of x / scale, one scale per (layer, K or V, kv
// head) from the checkpoint (KvLayout::scales), 1 without one (saturating at
// ±448, as vLLM's FP8 cache does without calibrated scales): every code
// widens to bf16 and f16 exactly, so the tensor-core kernels convert tiles
// without a scale and apply it per head, and the rounding is e4m3's 2^-4
// relative step, below 2^-6 in absolute terms (subnormals).

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/e4m3.cuh"

namespace mlxs::backend::cuda::k {

// A type carried as a value, for run-time dispatch onto templates.
template <typename T>
struct KvTag {
  using type = T;
};

// f(KvTag<float>), f(KvTag<__nv_bfloat16>) or f(KvTag<__nv_fp8_e4m3>) for
// the cache's element type.
template <typename F>
cudaError_t with_kv_type(const KvLayout& kv, F&& f) {
  if (kv.type == WType::kBF16) return f(KvTag<__nv_bfloat16>{});
  if (kv.type == WType::kF32) return f(KvTag<float>{});
  if (kv.type == WType::kFP8E4M3) return f(KvTag<__nv_fp8_e4m3>{});
  return cudaErrorInvalidValue;
}

#ifdef __CUDACC__
// The dequantization scale of (layer, which: 0 K / 1 V, kv head): a cache
// stores x / scale. The attention kernels fold K's into the softmax scale and
// V's into the output of each KV head, so tiles and MMAs stay unscaled.
__device__ __forceinline__ float kv_scale(const KvLayout& kv, int layer, int which, int head) {
  return kv.scales == nullptr ? 1.0f : kv.scales[(layer * 2 + which) * kv.kv_heads + head];
}
// What the cache kernels multiply a value by before storing it.
__device__ __forceinline__ float kv_inv_scale(const KvLayout& kv, int layer, int which, int head) {
  return kv.scales == nullptr ? 1.0f : __frcp_rn(kv_scale(kv, layer, which, head));
}

__device__ __forceinline__ float kv_load(const float* p) {
  return *p;
}
__device__ __forceinline__ float kv_load(const __nv_bfloat16* p) {
  return __bfloat162float(*p);
}
__device__ __forceinline__ void kv_store(float* p, float v) {
  *p = v;
}
__device__ __forceinline__ void kv_store(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}
__device__ __forceinline__ float kv_load(const __nv_fp8_e4m3* p) {
  return static_cast<float>(*p);
}
__device__ __forceinline__ void kv_store(__nv_fp8_e4m3* p, float v) {
  *p = __nv_fp8_e4m3(v);  // round to nearest even, saturating (satfinite)
}

// Four consecutive values in one store (p aligned to four elements).
__device__ __forceinline__ void kv_store4(float* p, float4 v) {
  *reinterpret_cast<float4*>(p) = v;
}
__device__ __forceinline__ void kv_store4(__nv_bfloat16* p, float4 v) {
  const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
  const __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
  uint2 bits;
  bits.x = *reinterpret_cast<const unsigned*>(&lo);
  bits.y = *reinterpret_cast<const unsigned*>(&hi);
  *reinterpret_cast<uint2*>(p) = bits;
}
__device__ __forceinline__ void kv_store4(__nv_fp8_e4m3* p, float4 v) {
  *reinterpret_cast<unsigned*>(p) = e4m3x4_bits(v);
}

// The block-table entry holding key position `key`, and its slot there.
__device__ __forceinline__ int kv_block_of(const KvLayout& kv, int key) {
  return kv.block_shift >= 0 ? key >> kv.block_shift : key / kv.block_size;
}
__device__ __forceinline__ int kv_slot_of(const KvLayout& kv, int key) {
  return kv.block_shift >= 0 ? key & (kv.block_size - 1) : key % kv.block_size;
}

// Row `slot` of KV head `head` in cache block `block` (which: 0 K, 1 V).
template <typename T>
__device__ __forceinline__ T* kv_row(const KvLayout& kv, int layer, int which, std::int32_t block,
                                     int head, int slot) {
  return static_cast<T*>(kv.base) + layer * kv.layer_stride + which * kv.kv_stride +
         static_cast<std::int64_t>(block) * kv.block_stride +
         (static_cast<std::int64_t>(head) * kv.block_size + slot) * kv.head_dim;
}

// N consecutive elements as floats, in the widest loads their alignment
// allows (rows and slices start at multiples of N elements).
template <int N>
__device__ __forceinline__ void load_vec(const float* p, float (&out)[N]) {
  if constexpr (N % 4 == 0) {
#pragma unroll
    for (int i = 0; i < N / 4; ++i) {
      const float4 v = reinterpret_cast<const float4*>(p)[i];
      out[4 * i] = v.x;
      out[4 * i + 1] = v.y;
      out[4 * i + 2] = v.z;
      out[4 * i + 3] = v.w;
    }
  } else if constexpr (N % 2 == 0) {
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const float2 v = reinterpret_cast<const float2*>(p)[i];
      out[2 * i] = v.x;
      out[2 * i + 1] = v.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = p[i];
  }
}

template <int N>
__device__ __forceinline__ void load_vec(const __nv_bfloat16* p, float (&out)[N]) {
  if constexpr (N % 8 == 0) {
#pragma unroll
    for (int i = 0; i < N / 8; ++i) {
      const uint4 v = reinterpret_cast<const uint4*>(p)[i];
      const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[j]));
        out[8 * i + 2 * j] = f.x;
        out[8 * i + 2 * j + 1] = f.y;
      }
    }
  } else if constexpr (N % 4 == 0) {
#pragma unroll
    for (int i = 0; i < N / 4; ++i) {
      const uint2 v = reinterpret_cast<const uint2*>(p)[i];
      const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v.x));
      const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v.y));
      out[4 * i] = a.x;
      out[4 * i + 1] = a.y;
      out[4 * i + 2] = b.x;
      out[4 * i + 3] = b.y;
    }
  } else if constexpr (N % 2 == 0) {
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const float2 f = __bfloat1622float2(reinterpret_cast<const __nv_bfloat162*>(p)[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = __bfloat162float(p[i]);
  }
}

template <int N>
__device__ __forceinline__ void load_vec(const __nv_fp8_e4m3* p, float (&out)[N]) {
  if constexpr (N % 16 == 0) {
#pragma unroll
    for (int i = 0; i < N / 16; ++i) {
      const uint4 v = reinterpret_cast<const uint4*>(p)[i];
      const unsigned w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 a = e4m3x2_to_float2(static_cast<unsigned short>(w[j] & 0xFFFFu));
        const float2 b = e4m3x2_to_float2(static_cast<unsigned short>(w[j] >> 16));
        out[16 * i + 4 * j] = a.x;
        out[16 * i + 4 * j + 1] = a.y;
        out[16 * i + 4 * j + 2] = b.x;
        out[16 * i + 4 * j + 3] = b.y;
      }
    }
  } else if constexpr (N % 2 == 0) {
#pragma unroll
    for (int i = 0; i < N / 2; ++i) {
      const float2 f = e4m3x2_to_float2(reinterpret_cast<const unsigned short*>(p)[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = static_cast<float>(p[i]);
  }
}

// The first key a row at `pos` attends to under a sliding window (0: none).
__device__ __forceinline__ int first_key(int pos, int window) {
  return window > 0 ? max(0, pos - window + 1) : 0;
}

// The last key row t attends to: its own position, or past it for a
// bidirectional span (StepMeta::attend_until).
__device__ __forceinline__ int last_key(const StepMeta& m, int t, int pos) {
  return m.attend_until == nullptr ? pos : max(pos, m.attend_until[t] - 1);
}

// The keys a decode row t attends to within key split `split` of
// `split_len` keys (flash-decoding), after its sliding window; empty where
// the split holds none of them.
struct KeyRange {
  int begin;
  int end;
};
__device__ __forceinline__ KeyRange decode_keys(const StepMeta& m, int t, int window, int split,
                                                int split_len) {
  const int pos = m.positions[t];
  return {max(first_key(pos, window), split * split_len),
          min(last_key(m, t, pos) + 1, (split + 1) * split_len)};
}

// Whether row t's sequence brings other rows to the step (a prefill chunk):
// a sequence's rows are contiguous, so a neighbour of the same sequence
// tells. `rows`: the step's rows.
__device__ __forceinline__ bool multi_row(const StepMeta& m, int t, int rows) {
  const std::int32_t s = m.row_seq[t];
  return (t > 0 && m.row_seq[t - 1] == s) || (t + 1 < rows && m.row_seq[t + 1] == s);
}
#endif

}  // namespace mlxs::backend::cuda::k
