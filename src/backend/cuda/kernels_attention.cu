// Paged causal attention, flash-decoding style. A block handles one query
// token and one KV head (all query heads of its GQA group, so each K/V row is
// read once for the group) over one split of the keys, in tiles staged in
// shared memory with an online softmax; a second kernel merges the splits.
// Sliding windows and soft-capping apply per key. T: the cache's element
// type (f32 or bf16, kv_access.cuh); the math is f32.
#include <cfloat>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/kv_access.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kThreads = 128;
constexpr int kTile = 16;     // keys per tile
constexpr int kMaxGroup = 8;  // query heads per KV head
constexpr int kMaxHeadDim = 256;

template <typename T>
__global__ void __launch_bounds__(kThreads)
    attention_split_kernel(KvLayout kv, int layer, const float* q, int heads, int head_dim,
                           float scale, float softcap, int window, int splits, int split_len,
                           StepMeta m, float* partial, float* out, bool skip_multi) {
  const int t = blockIdx.x / kv.kv_heads;
  if (skip_multi && multi_row(m, t, static_cast<int>(gridDim.x) / kv.kv_heads)) return;
  const int g = blockIdx.x % kv.kv_heads;
  const int split = blockIdx.y;
  const int group = heads / kv.kv_heads;
  const KeyRange keys = decode_keys(m, t, window, split, split_len);
  const int begin = keys.begin;
  const int end = keys.end;
  const int stride = head_dim + 1;  // padded rows: no bank conflicts across keys
  scale *= kv_scale(kv, layer, 0, g);
  const float v_scale = kv_scale(kv, layer, 1, g);

  extern __shared__ float smem[];
  float* qs = smem;                       // [group][head_dim]
  float* ks = qs + kMaxGroup * head_dim;  // [kTile][stride]
  float* vs = ks + kTile * stride;        // [kTile][stride]
  float* ps = vs + kTile * stride;        // [group][kTile]
  float* mx = ps + kMaxGroup * kTile;     // [group]
  float* sum = mx + kMaxGroup;            // [group]
  float* corr = sum + kMaxGroup;          // [group]
  float* acc = corr + kMaxGroup;          // [group][head_dim]

  for (int i = threadIdx.x; i < group * head_dim; i += kThreads) {
    const int h = g * group + i / head_dim;
    qs[i] = q[(static_cast<std::int64_t>(t) * heads + h) * head_dim + i % head_dim];
    acc[i] = 0.0f;
  }
  if (threadIdx.x < group) {
    mx[threadIdx.x] = -FLT_MAX;
    sum[threadIdx.x] = 0.0f;
  }
  const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
  const std::int64_t head_off = static_cast<std::int64_t>(g) * kv.block_size * head_dim;
  const T* layer_base = static_cast<const T*>(kv.base) + layer * kv.layer_stride;
  __syncthreads();

  for (int tile = begin; tile < end; tile += kTile) {
    const int n = min(kTile, end - tile);
    // Stage K and V rows of this tile.
    for (int i = threadIdx.x; i < n * head_dim; i += kThreads) {
      const int j = i / head_dim;
      const int d = i % head_dim;
      const int key = tile + j;
      const std::int64_t block = table[kv_block_of(kv, key)];
      const T* kp = layer_base + block * kv.block_stride + head_off +
                    static_cast<std::int64_t>(kv_slot_of(kv, key)) * head_dim;
      ks[j * stride + d] = kv_load(kp + d);
      vs[j * stride + d] = kv_load(kp + kv.kv_stride + d);
    }
    __syncthreads();
    // Scores: one (query head, key) pair per thread.
    for (int i = threadIdx.x; i < group * kTile; i += kThreads) {
      const int h = i / kTile;
      const int j = i % kTile;
      float s = -FLT_MAX;
      if (j < n) {
        s = 0.0f;
        for (int d = 0; d < head_dim; ++d) s += qs[h * head_dim + d] * ks[j * stride + d];
        s *= scale;
        if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
      }
      ps[i] = s;
    }
    __syncthreads();
    // Online softmax, per query head.
    if (threadIdx.x < group) {
      const int h = threadIdx.x;
      float tile_max = -FLT_MAX;
      for (int j = 0; j < n; ++j) tile_max = fmaxf(tile_max, ps[h * kTile + j]);
      const float new_max = fmaxf(mx[h], tile_max);
      const float c = __expf(mx[h] - new_max);
      float add = 0.0f;
      for (int j = 0; j < kTile; ++j) {
        const float p = j < n ? __expf(ps[h * kTile + j] - new_max) : 0.0f;
        ps[h * kTile + j] = p;
        add += p;
      }
      sum[h] = sum[h] * c + add;
      corr[h] = c;
      mx[h] = new_max;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < group * head_dim; i += kThreads) {
      const int h = i / head_dim;
      const int d = i % head_dim;
      float a = acc[i] * corr[h];
      for (int j = 0; j < n; ++j) a += ps[h * kTile + j] * vs[j * stride + d];
      acc[i] = a;
    }
    __syncthreads();
  }
  if (splits == 1) {  // the whole range: normalise and write the output directly
    for (int i = threadIdx.x; i < group * head_dim; i += kThreads) {
      const int h = i / head_dim;
      out[(static_cast<std::int64_t>(t) * heads + g * group + h) * head_dim + i % head_dim] =
          acc[i] * v_scale / sum[h];
    }
    return;
  }
  // Partial result of this split: [max, sum, acc[head_dim]] per query head.
  const int width = head_dim + 2;
  for (int i = threadIdx.x; i < group * head_dim; i += kThreads) {
    const int h = i / head_dim;
    const int d = i % head_dim;
    const std::int64_t row =
        ((static_cast<std::int64_t>(t) * heads + g * group + h) * splits + split) * width;
    partial[row + 2 + d] = acc[i] * v_scale;
    if (d == 0) {
      partial[row] = mx[h];
      partial[row + 1] = sum[h];
    }
  }
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The same contract for head_dim = 32 * P: each warp walks its own keys with
// the K/V rows in registers (a lane holds P dims) and an online softmax per
// query head, with no block-wide barrier inside the key loop; the block's
// four warps merge at the end. Short contexts (decode) spend their time in
// latency: the tiled kernel took 31 us for 40 keys of a Llama-8B layer.
template <typename T, int P>
__global__ void __launch_bounds__(kThreads)
    attention_warp_kernel(KvLayout kv, int layer, const float* q, int heads, float scale,
                          float softcap, int window, int splits, int split_len, StepMeta m,
                          float* partial, float* out, bool skip_multi) {
  constexpr int D = 32 * P;
  constexpr int kWarps = kThreads / 32;
  const int t = blockIdx.x / kv.kv_heads;
  if (skip_multi && multi_row(m, t, static_cast<int>(gridDim.x) / kv.kv_heads)) return;
  const int g = blockIdx.x % kv.kv_heads;
  const int split = blockIdx.y;
  const int group = heads / kv.kv_heads;
  const KeyRange keys = decode_keys(m, t, window, split, split_len);
  const int begin = keys.begin;
  const int end = keys.end;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // the o projection may start prefetching weights
#endif
  scale *= kv_scale(kv, layer, 0, g);
  const float v_scale = kv_scale(kv, layer, 1, g);
  const int warp = threadIdx.x >> 5;
  const int lane = threadIdx.x & 31;

  float qv[kMaxGroup][P];
  float mx[kMaxGroup];
  float sum[kMaxGroup];
  float acc[kMaxGroup][P];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    mx[h] = -FLT_MAX;
    sum[h] = 0.0f;
#pragma unroll
    for (int i = 0; i < P; ++i) {
      acc[h][i] = 0.0f;
      qv[h][i] = h < group
                     ? q[(static_cast<std::int64_t>(t) * heads + g * group + h) * D + lane * P + i]
                     : 0.0f;
    }
  }
  const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
  const std::int64_t head_off = static_cast<std::int64_t>(g) * kv.block_size * D;
  const T* layer_base = static_cast<const T*>(kv.base) + layer * kv.layer_stride;
  // Keys are independent until the softmax update, so each warp issues the
  // loads of kUnroll keys (table entry, then the K and V rows) before it uses
  // any: a short context is a chain of dependent memory latencies otherwise.
  constexpr int kUnroll = 4;
  for (int base = begin + warp; base < end; base += kWarps * kUnroll) {
    float kk[kUnroll][P];
    float vv[kUnroll][P];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int key = min(base + u * kWarps, end - 1);  // a repeat is skipped below
      const std::int64_t block = table[kv_block_of(kv, key)];
      const T* kp = layer_base + block * kv.block_stride + head_off +
                    static_cast<std::int64_t>(kv_slot_of(kv, key)) * D + lane * P;
      load_vec(kp, kk[u]);
      load_vec(kp + kv.kv_stride, vv[u]);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (base + u * kWarps >= end) break;
#pragma unroll
      for (int h = 0; h < kMaxGroup; ++h) {
        if (h < group) {
          float s = 0.0f;
#pragma unroll
          for (int i = 0; i < P; ++i) s += qv[h][i] * kk[u][i];
          s = warp_sum(s) * scale;
          if (softcap > 0.0f) s = softcap * tanhf(s / softcap);
          const float new_max = fmaxf(mx[h], s);
          const float c = __expf(mx[h] - new_max);
          const float p = __expf(s - new_max);
          sum[h] = sum[h] * c + p;
#pragma unroll
          for (int i = 0; i < P; ++i) acc[h][i] = acc[h][i] * c + p * vv[u][i];
          mx[h] = new_max;
        }
      }
    }
  }
  __shared__ float s_mx[kWarps][kMaxGroup];
  __shared__ float s_sum[kWarps][kMaxGroup];
  __shared__ float s_acc[kWarps][kMaxGroup][D];
#pragma unroll
  for (int h = 0; h < kMaxGroup; ++h) {
    if (h < group) {
      if (lane == 0) {
        s_mx[warp][h] = mx[h];
        s_sum[warp][h] = sum[h];
      }
#pragma unroll
      for (int i = 0; i < P; ++i) s_acc[warp][h][lane * P + i] = acc[h][i];
    }
  }
  __syncthreads();
  const int width = D + 2;
  for (int i = threadIdx.x; i < group * D; i += kThreads) {
    const int h = i / D;
    const int d = i % D;
    float gmax = -FLT_MAX;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) gmax = fmaxf(gmax, s_mx[w][h]);
    float l = 0.0f;
    float a = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) {
      const float f = s_sum[w][h] > 0.0f ? __expf(s_mx[w][h] - gmax) : 0.0f;
      l += s_sum[w][h] * f;
      a += s_acc[w][h][d] * f;
    }
    const std::int64_t head = static_cast<std::int64_t>(t) * heads + g * group + h;
    if (splits == 1) {
      out[head * D + d] = a * v_scale / l;
    } else {
      const std::int64_t row = (head * splits + split) * width;
      partial[row + 2 + d] = a * v_scale;
      if (d == 0) {
        partial[row] = gmax;
        partial[row + 1] = l;
      }
    }
  }
}

// One warp per (token, head): merges the splits' partial softmaxes.
__global__ void attention_merge_kernel(const float* partial, float* out, int items, int head_dim,
                                       int splits, StepMeta m, int heads, bool skip_multi) {
  const int item = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (item >= items) return;
  if (skip_multi && multi_row(m, item / heads, items / heads)) return;
  const int width = head_dim + 2;
  const float* p = partial + static_cast<std::int64_t>(item) * splits * width;
  float gmax = -FLT_MAX;
  for (int s = 0; s < splits; ++s) {
    if (p[s * width + 1] > 0.0f) gmax = fmaxf(gmax, p[s * width]);
  }
  float total = 0.0f;
  for (int s = 0; s < splits; ++s) {
    const float l = p[s * width + 1];
    if (l > 0.0f) total += l * __expf(p[s * width] - gmax);
  }
  const float inv = 1.0f / total;
  for (int d = lane; d < head_dim; d += 32) {
    float a = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float l = p[s * width + 1];
      if (l > 0.0f) a += p[s * width + 2 + d] * __expf(p[s * width] - gmax);
    }
    out[static_cast<std::int64_t>(item) * head_dim + d] = a * inv;
  }
}

}  // namespace

std::size_t attention_smem_bytes(int head_dim) {
  const int stride = head_dim + 1;
  return sizeof(float) *
         static_cast<std::size_t>(kMaxGroup * head_dim + 2 * kTile * stride + kMaxGroup * kTile +
                                  3 * kMaxGroup + kMaxGroup * head_dim);
}

namespace {

template <typename E>
cudaError_t attention_rows(const KvLayout& kv, int layer, const float* q, float* out, int T,
                           int heads, int head_dim, float scale, float softcap, int window,
                           int splits, int split_len, const StepMeta& m, float* partial,
                           cudaStream_t s, bool skip_multi) {
  const std::size_t smem = attention_smem_bytes(head_dim);
  static PerDeviceOnce smem_once;  // one per element type (a template's static)
  if (const cudaError_t e =
          opt_in_smem(smem_once, attention_split_kernel<E>, attention_smem_bytes(kMaxHeadDim));
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid(static_cast<unsigned>(T * kv.kv_heads), static_cast<unsigned>(splits));
  switch (head_dim) {
    case 64:
      attention_warp_kernel<E, 2><<<grid, kThreads, 0, s>>>(kv, layer, q, heads, scale, softcap,
                                                            window, splits, split_len, m, partial,
                                                            out, skip_multi);
      break;
    case 128:
      attention_warp_kernel<E, 4><<<grid, kThreads, 0, s>>>(kv, layer, q, heads, scale, softcap,
                                                            window, splits, split_len, m, partial,
                                                            out, skip_multi);
      break;
    default:
      attention_split_kernel<E><<<grid, kThreads, smem, s>>>(kv, layer, q, heads, head_dim, scale,
                                                             softcap, window, splits, split_len, m,
                                                             partial, out, skip_multi);
      break;
  }
  if (splits > 1) {
    const int items = T * heads;
    attention_merge_kernel<<<(items + 3) / 4, 128, 0, s>>>(partial, out, items, head_dim, splits, m,
                                                           heads, skip_multi);
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t attention(const KvLayout& kv, int layer, const float* q, float* out, int T, int heads,
                      int head_dim, float scale, float softcap, int window, int splits,
                      int split_len, const StepMeta& m, float* partial, cudaStream_t s,
                      bool skip_multi) {
  if (head_dim > kMaxHeadDim || heads / kv.kv_heads > kMaxGroup || heads % kv.kv_heads != 0) {
    return cudaErrorInvalidValue;
  }
  return with_kv_type(kv, [&](auto tag) {
    return attention_rows<typename decltype(tag)::type>(kv, layer, q, out, T, heads, head_dim,
                                                        scale, softcap, window, splits, split_len,
                                                        m, partial, s, skip_multi);
  });
}

}  // namespace mlxs::backend::cuda::k
