// Paged attention for decode-sized steps (up to a few dozen query rows,
// head_dim 16, 32, 64 or 128): a block per (row, KV head, key split) covers the whole
// GQA group, as in kernels_attention.cu, but spreads each chunk of 16 keys
// over all 128 threads instead of one warp per key. The warp-per-key kernel
// spent a 96-key Llama-8B layer (17.6 us) in serial chains of five shuffles
// and two exponentials per (key, head); here a chunk costs three shuffles per
// head for the scores, one softmax pass per head, and a P·V pass where each
// thread owns one dimension. Splits are merged by the last block of a (row,
// KV head) to finish (a ticket counter), so a step has no merge launch.
// T: the cache's element type (f32 or bf16, kv_access.cuh); f32 math.
#include <cfloat>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/kv_access.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/split_merge.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kThreads = 128;
constexpr int kMaxGroup = 8;                // query heads per KV head
constexpr int kSlices = 8;                  // threads sharing one key's dot products
constexpr int kChunk = kThreads / kSlices;  // keys per chunk

template <typename T>
__device__ __forceinline__ const T* key_row(const KvLayout& kv, const T* layer_base,
                                            const std::int32_t* table, std::int64_t head_off,
                                            int key, int D) {
  const std::int64_t block = table[kv_block_of(kv, key)];
  return layer_base + block * kv.block_stride + head_off +
         static_cast<std::int64_t>(kv_slot_of(kv, key)) * D;
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads)
    attention_decode_kernel(KvLayout kv, int layer, const float* q, int heads, float scale,
                            float softcap, int window, int splits, int split_len, StepMeta m,
                            float* partial, unsigned* tickets, float* out, bool skip_multi) {
  constexpr int kSliceDims = D / kSlices;   // 2 to 16 floats of a key per thread
  constexpr int kKeyGroups = kThreads / D;  // P·V: threads per dimension (1 to 8)
  constexpr int kVKeys = kChunk / kKeyGroups;
  const int t = blockIdx.x / kv.kv_heads;
  const int g = blockIdx.x % kv.kv_heads;
  const int split = blockIdx.y;
  const int group = heads / kv.kv_heads;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // the o projection may start prefetching weights
#endif
  // Rows of prefill chunks are attention_prefill's (the same for every split,
  // so no ticket of theirs is taken).
  if (skip_multi && multi_row(m, t, static_cast<int>(gridDim.x) / kv.kv_heads)) return;
  const KeyRange keys = decode_keys(m, t, window, split, split_len);
  const int begin = keys.begin;
  const int end = keys.end;
  const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
  const std::int64_t head_off = static_cast<std::int64_t>(g) * kv.block_size * D;
  const T* layer_base = static_cast<const T*>(kv.base) + layer * kv.layer_stride;
  scale *= kv_scale(kv, layer, 0, g);
  const float v_scale = kv_scale(kv, layer, 1, g);
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int slice = tid % kSlices;  // score pass: key tid / kSlices, dims slice * kSliceDims
  const int d = tid % D;            // P·V pass: dimension d of keys kg, kg + kKeyGroups, ...
  const int kg = tid / D;

  __shared__ __align__(16) float qs[kMaxGroup][D];
  __shared__ float ps[2][kMaxGroup][kChunk];  // scores, then probabilities (double-buffered)
  __shared__ float m_s[kMaxGroup];            // running max per head
  __shared__ float l_s[kMaxGroup];            // running sum per head
  __shared__ float corr_s[kMaxGroup];         // this chunk's rescale of the accumulators

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();  // q and the cache's new row come from the previous kernel
#endif
  for (int i = tid; i < group * D; i += kThreads) {
    qs[i / D][i % D] =
        q[(static_cast<std::int64_t>(t) * heads + g * group) * D + i];  // the group is contiguous
  }
  if (tid < kMaxGroup) {
    m_s[tid] = -FLT_MAX;
    l_s[tid] = 0.0f;
  }
  float acc[kMaxGroup];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) acc[h] = 0.0f;
  __syncthreads();

  int buf = 0;
  for (int c0 = begin; c0 < end; c0 += kChunk, buf ^= 1) {
    const int n = min(kChunk, end - c0);
    // V rows of this chunk for the P·V pass, loaded before the scores so
    // their latency overlaps the dot products (a repeat of the last key
    // fills the tail: its probability is 0).
    float vreg[kVKeys];
#pragma unroll
    for (int u = 0; u < kVKeys; ++u) {
      const int key = c0 + min(kg + u * kKeyGroups, n - 1);
      vreg[u] = kv_load(key_row(kv, layer_base, table, head_off, key, D) + kv.kv_stride + d);
    }
    // Scores: kSlices threads per key, each a kSliceDims-wide piece of the
    // dot product with every head of the group.
    const int j = tid / kSlices;
    float kreg[kSliceDims];
    load_vec(key_row(kv, layer_base, table, head_off, c0 + min(j, n - 1), D) + slice * kSliceDims,
             kreg);
    float mine = -FLT_MAX;  // the score of head `slice` for key j, after the reduction
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h < group) {
        float qreg[kSliceDims];
        load_vec(&qs[h][slice * kSliceDims], qreg);
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < kSliceDims; ++i) s += qreg[i] * kreg[i];
        s += __shfl_xor_sync(0xffffffffu, s, 1);
        s += __shfl_xor_sync(0xffffffffu, s, 2);
        s += __shfl_xor_sync(0xffffffffu, s, 4);
        if (h == slice) mine = s;
      }
    }
    if (slice < group) {
      float s = mine * scale;
      if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
      ps[buf][slice][j] = j < n ? s : -FLT_MAX;
    }
    __syncthreads();
    // Online softmax: half a warp per head, a lane per key (every lane runs
    // the shuffles; only live heads write).
    {
      const int h = warp * 2 + (lane >> 4);
      const int jj = lane & 15;
      const bool live = h < group;
      const float s = live ? ps[buf][h][jj] : -FLT_MAX;
      float cmax = s;
#pragma unroll
      for (int o = 8; o > 0; o >>= 1) cmax = fmaxf(cmax, __shfl_xor_sync(0xffffffffu, cmax, o));
      const float old_max = m_s[h];
      const float new_max = fmaxf(old_max, cmax);
      const float p = live && jj < n ? __expf(s - new_max) : 0.0f;
      float psum = p;
#pragma unroll
      for (int o = 8; o > 0; o >>= 1) psum += __shfl_xor_sync(0xffffffffu, psum, o);
      if (live) {
        ps[buf][h][jj] = p;
        if (jj == 0) {
          const float c = __expf(old_max - new_max);
          corr_s[h] = c;
          l_s[h] = l_s[h] * c + psum;
          m_s[h] = new_max;
        }
      }
    }
    __syncthreads();
    // P·V into this thread's dimension (ps is double-buffered: the next
    // chunk's scores go to the other half, so no barrier is needed here).
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h < group) {
        float a = acc[h] * corr_s[h];
#pragma unroll
        for (int u = 0; u < kVKeys; ++u) a += ps[buf][h][kg + u * kKeyGroups] * vreg[u];
        acc[h] = a;
      }
    }
  }
  if constexpr (kKeyGroups > 1) {  // the key groups' shares of each dimension
    __shared__ float red[kKeyGroups][kMaxGroup][D];
    __syncthreads();
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) red[kg][h][d] = acc[h];
    __syncthreads();
    if (kg == 0) {
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
#pragma unroll
        for (int r = 1; r < kKeyGroups; ++r) acc[h] += red[r][h][d];
      }
    }
  } else {
    __syncthreads();  // m_s / l_s of the last chunk
  }
  const std::int64_t head0 = static_cast<std::int64_t>(t) * heads + g * group;
  if (splits == 1) {
    if (kg == 0) {
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h < group) out[(head0 + h) * D + d] = acc[h] * v_scale / l_s[h];
      }
    }
    return;
  }
  // This split's partial softmax (an empty split writes a zero sum, which
  // the merge skips); the last split to finish merges.
  if (kg == 0) {
#pragma unroll
    for (int h = 0; h < kMaxGroup; ++h) {
      if (h < group) {
        float* row = split_partial(partial, head0 + h, splits, split, D);
        row[2 + d] = acc[h] * v_scale;
        if (d == 0) {
          row[0] = m_s[h];
          row[1] = l_s[h];
        }
      }
    }
  }
  merge_if_last(partial, tickets + blockIdx.x, splits, group, D, head0, out);
}

}  // namespace

bool attention_decode_supported(int heads, int head_dim, const KvLayout& kv) {
  return (head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 128) &&
         heads % kv.kv_heads == 0 && heads / kv.kv_heads <= kMaxGroup;
}

cudaError_t attention_decode(const KvLayout& kv, int layer, const float* q, float* out, int T,
                             int heads, int head_dim, float scale, float softcap, int window,
                             int splits, int split_len, const StepMeta& m, float* partial,
                             unsigned* tickets, cudaStream_t s, bool skip_multi) {
  if (!attention_decode_supported(heads, head_dim, kv)) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(T * kv.kv_heads), static_cast<unsigned>(splits));
  return with_kv_type(kv, [&](auto tag) {
    using E = typename decltype(tag)::type;
    auto launch = [&](auto kernel) {
      return launch_early(kernel, grid, kThreads, s, kv, layer, q, heads, scale, softcap, window,
                          splits, split_len, m, partial, tickets, out, skip_multi);
    };
    switch (head_dim) {
      case 16:
        return launch(attention_decode_kernel<E, 16>);
      case 32:
        return launch(attention_decode_kernel<E, 32>);
      case 64:
        return launch(attention_decode_kernel<E, 64>);
      default:
        break;
    }
    return launch(attention_decode_kernel<E, 128>);
  });
}

}  // namespace mlxs::backend::cuda::k
