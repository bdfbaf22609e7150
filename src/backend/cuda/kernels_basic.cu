// Element-wise, normalisation, RoPE, KV-cache and data-movement kernels.
// Activations are f32; weights and tables may be f32, f16 or bf16.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <type_traits>

#include "backend/cuda/act_device.cuh"
#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/kv_access.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/rope_angle.cuh"

namespace mlxs::backend::cuda::k {
namespace {

__device__ __forceinline__ float load_as_float(WType t, const void* p, std::int64_t i) {
  switch (t) {
    case WType::kF32:
      return static_cast<const float*>(p)[i];
    case WType::kF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case WType::kBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case WType::kFP8E4M3:
      return static_cast<float>(static_cast<const __nv_fp8_e4m3*>(p)[i]);
  }
  return 0.0f;
}

int norm_threads(int n) {
  int t = 32;
  while (t < n && t < 1024) t <<= 1;
  return t;
}

unsigned blocks_for(std::int64_t n, int threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

__global__ void embed_kernel(WType t, const void* table, std::int64_t hidden, VocabRows rows,
                             StepMeta m, float scale, float* out) {
  const int row = blockIdx.x;
  const std::int64_t local = table_row(m, row, rows);
  const std::int64_t base = local * hidden;
  for (std::int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    out[row * hidden + i] = local < 0 ? 0.0f : load_as_float(t, table, base + i) * scale;
  }
}

__global__ void rms_norm_kernel(const float* x, const float* w, float eps, float offset, float* out,
                                int n) {
  const float* xr = x + static_cast<std::int64_t>(blockIdx.x) * n;
  float* yr = out + static_cast<std::int64_t>(blockIdx.x) * n;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) ss += xr[i] * xr[i];
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(n) + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * inv * (w[i] + offset);
}

__global__ void add_rms_norm_kernel(float* x, const float* delta, const float* w, float eps,
                                    float offset, float* out, int n) {
  float* xr = x + static_cast<std::int64_t>(blockIdx.x) * n;
  const float* dr = delta + static_cast<std::int64_t>(blockIdx.x) * n;
  float* yr = out + static_cast<std::int64_t>(blockIdx.x) * n;
  float ss = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float v = xr[i] + dr[i];
    xr[i] = v;
    ss += v * v;
  }
  ss = block_sum(ss);
  const float inv = rsqrtf(ss / static_cast<float>(n) + eps);
  for (int i = threadIdx.x; i < n; i += blockDim.x) yr[i] = xr[i] * inv * (w[i] + offset);
}

constexpr int kMaxRotHalf = 256;  // rot_dim <= 512 (checked at launch)

// The same for rows of at most 4096 floats: one float4 per thread stays in
// registers between the sum of squares and the write (one pass over memory,
// no second read of x).
__global__ void add_rms_norm_vec_kernel(float* x, const float* delta, const float* w, float eps,
                                        float offset, float* out, int n) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // the next GEMV may start prefetching weights
  cudaGridDependencySynchronize();  // launched early (decode): delta is the previous kernel's
#endif
  const std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * n;
  add_rms_norm_quad(x + row, delta + row, w, eps, offset, out + row, n);
}

// The rotary position of frequency i of row t: the row's own position, or
// with M-RoPE that of the frequency's axis (one block per row: T = gridDim.x).
__device__ __forceinline__ double rope_position(const StepMeta& m, const std::int32_t* axis, int i,
                                                int t) {
  if (axis == nullptr || m.rope_positions == nullptr) return m.positions[t];
  return m.rope_positions[axis[i] * static_cast<int>(gridDim.x) + t];
}

// One block per token; threads cover heads x rot_dim/2 pairs.
__global__ void rope_kernel(float* x, int heads, int head_dim, int rot_dim, const double* inv_freq,
                            const std::int32_t* axis, double attention_factor, StepMeta m) {
  const int t = blockIdx.x;
  const int half = rot_dim / 2;
  __shared__ float cos_s[kMaxRotHalf];
  __shared__ float sin_s[kMaxRotHalf];
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float2 cs = rope_cos_sin(rope_position(m, axis, i, t), inv_freq[i], attention_factor);
    cos_s[i] = cs.x;
    sin_s[i] = cs.y;
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < heads * half; idx += blockDim.x) {
    const int h = idx / half;
    const int i = idx % half;
    const float c = cos_s[i];
    const float s = sin_s[i];
    float* v = x + (static_cast<std::int64_t>(t) * heads + h) * head_dim;
    const float a = v[i];
    const float b = v[i + half];
    v[i] = a * c - b * s;
    v[i + half] = b * c + a * s;
  }
}

// Rotates the pair (i, i + half) of one head's vector in place, and copies
// it times `kinv` (kv_inv_scale) to the KV cache row `kdst` (a key) unless
// that is null (a query).
template <typename T>
__device__ __forceinline__ void rotate_pair(float* vec, int i, int half, float c, float s, T* kdst,
                                            float kinv) {
  const float a = vec[i];
  const float b = vec[i + half];
  const float ra = a * c - b * s;
  const float rb = b * c + a * s;
  vec[i] = ra;
  vec[i + half] = rb;
  if (kdst != nullptr) {
    kv_store(kdst + i, ra * kinv);
    kv_store(kdst + i + half, rb * kinv);
  }
}

// T: the cache's element type (kv_access.cuh).
template <typename T>
__global__ void kv_write_kernel(KvLayout kv, int layer, const float* k, const float* v,
                                StepMeta m) {
  const int t = blockIdx.x;
  const int pos = m.positions[t];
  const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
  const std::int32_t block = table[kv_block_of(kv, pos)];
  const int slot = kv_slot_of(kv, pos);
  const int width = kv.kv_heads * kv.head_dim;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    const int h = i / kv.head_dim;
    const int d = i % kv.head_dim;
    kv_store(kv_row<T>(kv, layer, 0, block, h, slot) + d,
             k[static_cast<std::int64_t>(t) * width + i] * kv_inv_scale(kv, layer, 0, h));
    kv_store(kv_row<T>(kv, layer, 1, block, h, slot) + d,
             v[static_cast<std::int64_t>(t) * width + i] * kv_inv_scale(kv, layer, 1, h));
  }
}

// rotate_pair for the four pairs (i .. i + 3, i + half .. i + half + 3) in
// float4s, the key's rotated values stored four at a time.
template <typename T>
__device__ __forceinline__ void rotate_quad(float* vec, int i, int half, float4 c, float4 s,
                                            T* kdst, float kinv) {
  const float4 a = *reinterpret_cast<const float4*>(vec + i);
  const float4 b = *reinterpret_cast<const float4*>(vec + i + half);
  const float4 ra = make_float4(a.x * c.x - b.x * s.x, a.y * c.y - b.y * s.y, a.z * c.z - b.z * s.z,
                                a.w * c.w - b.w * s.w);
  const float4 rb = make_float4(b.x * c.x + a.x * s.x, b.y * c.y + a.y * s.y, b.z * c.z + a.z * s.z,
                                b.w * c.w + a.w * s.w);
  *reinterpret_cast<float4*>(vec + i) = ra;
  *reinterpret_cast<float4*>(vec + i + half) = rb;
  if (kdst != nullptr) {
    kv_store4(kdst + i, make_float4(ra.x * kinv, ra.y * kinv, ra.z * kinv, ra.w * kinv));
    kv_store4(kdst + i + half, make_float4(rb.x * kinv, rb.y * kinv, rb.z * kinv, rb.w * kinv));
  }
}

template <typename T>
__global__ void rope_cache_kernel(float* q, float* k, const float* v, int heads, int head_dim,
                                  int rot_dim, const double* inv_freq, const std::int32_t* axis,
                                  double attention_factor, KvLayout kv, int layer, StepMeta m) {
  const int t = blockIdx.x;
  const int half = rot_dim / 2;
  const int pos = m.positions[t];
  const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
  const std::int32_t block = table[kv_block_of(kv, pos)];
  const int slot = kv_slot_of(kv, pos);
  // One double-precision sincos per frequency (large positions need it),
  // shared by every head.
  __shared__ __align__(16) float cos_s[kMaxRotHalf];
  __shared__ __align__(16) float sin_s[kMaxRotHalf];
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const float2 cs = rope_cos_sin(rope_position(m, axis, i, t), inv_freq[i], attention_factor);
    cos_s[i] = cs.x;
    sin_s[i] = cs.y;
  }
  __syncthreads();
  if (half % 4 == 0 && head_dim % 4 == 0) {
    // Four pairs a thread in float4s: the scalar walk (a dependent load and
    // store per value) ran at under half the bus (Nsight, H200: 47.7 us a
    // layer for an 8B 2,048-row prefill).
    const int quads = half / 4;
    const int total = (heads + kv.kv_heads) * quads;
    for (int idx = threadIdx.x; idx < total; idx += blockDim.x) {
      const bool is_q = idx < heads * quads;
      const int j = is_q ? idx : idx - heads * quads;
      const int h = j / quads;
      const int i = (j % quads) * 4;
      float* vec = is_q ? q + (static_cast<std::int64_t>(t) * heads + h) * head_dim
                        : k + (static_cast<std::int64_t>(t) * kv.kv_heads + h) * head_dim;
      rotate_quad(vec, i, half, *reinterpret_cast<const float4*>(cos_s + i),
                  *reinterpret_cast<const float4*>(sin_s + i),
                  is_q ? nullptr : kv_row<T>(kv, layer, 0, block, h, slot),
                  is_q ? 1.0f : kv_inv_scale(kv, layer, 0, h));
    }
    const int width = kv.kv_heads * head_dim;
    for (int idx = threadIdx.x * 4; idx < width; idx += blockDim.x * 4) {
      const int h = idx / head_dim;
      const int d = idx % head_dim;
      const std::int64_t at = static_cast<std::int64_t>(t) * width + idx;
      if (d >= rot_dim) {  // rot_dim is a multiple of 8: a quad is all in or all out
        const float ks = kv_inv_scale(kv, layer, 0, h);
        const float4 x = *reinterpret_cast<const float4*>(k + at);
        kv_store4(kv_row<T>(kv, layer, 0, block, h, slot) + d,
                  make_float4(x.x * ks, x.y * ks, x.z * ks, x.w * ks));
      }
      const float vs = kv_inv_scale(kv, layer, 1, h);
      const float4 x = *reinterpret_cast<const float4*>(v + at);
      kv_store4(kv_row<T>(kv, layer, 1, block, h, slot) + d,
                make_float4(x.x * vs, x.y * vs, x.z * vs, x.w * vs));
    }
    return;
  }
  const int total = (heads + kv.kv_heads) * half;
  for (int idx = threadIdx.x; idx < total; idx += blockDim.x) {
    const bool is_q = idx < heads * half;
    const int j = is_q ? idx : idx - heads * half;
    const int h = j / half;
    const int i = j % half;
    const float c = cos_s[i];
    const float sv = sin_s[i];
    float* vec = is_q ? q + (static_cast<std::int64_t>(t) * heads + h) * head_dim
                      : k + (static_cast<std::int64_t>(t) * kv.kv_heads + h) * head_dim;
    rotate_pair(vec, i, half, c, sv, is_q ? nullptr : kv_row<T>(kv, layer, 0, block, h, slot),
                is_q ? 1.0f : kv_inv_scale(kv, layer, 0, h));
  }
  // The rest of K (dims past the rotary part) and all of V.
  const int width = kv.kv_heads * head_dim;
  for (int idx = threadIdx.x; idx < width; idx += blockDim.x) {
    const int h = idx / head_dim;
    const int d = idx % head_dim;
    if (d >= rot_dim)
      kv_store(kv_row<T>(kv, layer, 0, block, h, slot) + d,
               k[static_cast<std::int64_t>(t) * width + idx] * kv_inv_scale(kv, layer, 0, h));
    kv_store(kv_row<T>(kv, layer, 1, block, h, slot) + d,
             v[static_cast<std::int64_t>(t) * width + idx] * kv_inv_scale(kv, layer, 1, h));
  }
}

// The same for decode-sized steps: one block per (row, head) of q and k, a
// thread per rotated pair. One 256-thread block per row made each thread walk
// ten dependent load/store pairs for a Llama-8B token (11.2 us a layer for a
// few KB); here each thread does one. The angles only need the positions, so
// they are computed before waiting on the qkv projection (launched early).
// The K heads' blocks also append K (rotated) and V to the cache.
template <typename T>
__global__ void rope_cache_head_kernel(float* q, float* k, const float* v, int heads, int head_dim,
                                       int rot_dim, const double* inv_freq,
                                       const std::int32_t* axis, double attention_factor,
                                       KvLayout kv, int layer, StepMeta m) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // attention may start its prologue
#endif
  const int t = blockIdx.x;
  const bool is_q = static_cast<int>(blockIdx.y) < heads;
  const int h = is_q ? static_cast<int>(blockIdx.y) : static_cast<int>(blockIdx.y) - heads;
  const int half = rot_dim / 2;
  const int i = threadIdx.x;  // blockDim.x >= half (checked at launch)
  float c = 0.0f;
  float sv = 0.0f;
  if (i < half) {
    const float2 cs = rope_cos_sin(rope_position(m, axis, i, t), inv_freq[i], attention_factor);
    c = cs.x;
    sv = cs.y;
  }
  T* kdst = nullptr;
  T* vdst = nullptr;
  if (!is_q) {
    const int pos = m.positions[t];
    const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
    const std::int32_t block = table[kv_block_of(kv, pos)];
    const int slot = kv_slot_of(kv, pos);
    kdst = kv_row<T>(kv, layer, 0, block, h, slot);
    vdst = kv_row<T>(kv, layer, 1, block, h, slot);
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
  float* vec = is_q ? q + (static_cast<std::int64_t>(t) * heads + h) * head_dim
                    : k + (static_cast<std::int64_t>(t) * kv.kv_heads + h) * head_dim;
  const float kinv = is_q ? 1.0f : kv_inv_scale(kv, layer, 0, h);
  if (i < half) rotate_pair(vec, i, half, c, sv, is_q ? nullptr : kdst, kinv);
  if (!is_q) {
    const float* vr = v + (static_cast<std::int64_t>(t) * kv.kv_heads + h) * head_dim;
    const float vinv = kv_inv_scale(kv, layer, 1, h);
    for (int d = i; d < head_dim; d += blockDim.x) {
      if (d >= rot_dim) kv_store(kdst + d, vec[d] * kinv);
      kv_store(vdst + d, vr[d] * vinv);
    }
  }
}

__global__ void gated_act_kernel(Act a, const float* gate, const float* up, float* out,
                                 std::int64_t n) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();  // the next GEMV may start prefetching weights
  cudaGridDependencySynchronize();  // launched early (decode): gate/up are the previous kernel's
#endif
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  out[i] = activate(a, gate[i]) * up[i];
}

// Four elements a thread, written in the next GEMM's 16-bit input type.
template <typename H>
__global__ void gated_act_half_kernel(Act a, const float* gate, const float* up, H* out,
                                      std::int64_t n4) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n4) return;
  const float4 g = reinterpret_cast<const float4*>(gate)[i];
  const float4 u = reinterpret_cast<const float4*>(up)[i];
  const float r[4] = {activate(a, g.x) * u.x, activate(a, g.y) * u.y, activate(a, g.z) * u.z,
                      activate(a, g.w) * u.w};
  H h[4];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    if constexpr (std::is_same_v<H, __half>) {
      h[j] = __float2half(r[j]);
    } else {
      h[j] = __float2bfloat16(r[j]);
    }
  }
  reinterpret_cast<uint2*>(out)[i] = *reinterpret_cast<const uint2*>(h);
}

__global__ void add_kernel(float* x, const float* y, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void add_bias_kernel(float* y, const float* bias, std::int64_t n, std::int64_t cols) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += bias[i % cols];
}

// A float4 per thread: its row, its column, and the part that column falls in.
__global__ void split_columns_kernel(const float4* src, int width4, std::int64_t n4,
                                     ColumnParts parts) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n4) return;
  const std::int64_t row = i / width4;
  int c = static_cast<int>(i - row * width4);
  int p = 0;
  while (p + 1 < parts.count && c >= parts.part[p].cols / 4) c -= parts.part[p++].cols / 4;
  reinterpret_cast<float4*>(parts.part[p].dst)[row * (parts.part[p].cols / 4) + c] = src[i];
}

__global__ void softcap_kernel(float* x, float cap, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = cap * tanhf(x[i] / cap);
}

__global__ void gather_rows_kernel(const float* x, const std::int32_t* rows, std::int64_t cols,
                                   float* out) {
  const std::int64_t src = static_cast<std::int64_t>(rows[blockIdx.x]) * cols;
  const std::int64_t dst = static_cast<std::int64_t>(blockIdx.x) * cols;
  for (std::int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[dst + i] = x[src + i];
}

__global__ void scatter_add_rows_kernel(const float* x, const std::int32_t* rows,
                                        const float* weight, std::int64_t cols, float* out) {
  const std::int64_t dst = static_cast<std::int64_t>(rows[blockIdx.x]) * cols;
  const std::int64_t src = static_cast<std::int64_t>(blockIdx.x) * cols;
  const float w = weight[blockIdx.x];
  for (std::int64_t i = threadIdx.x; i < cols; i += blockDim.x) out[dst + i] += w * x[src + i];
}

__global__ void to_half_kernel(WType t, const float* x, void* out, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (t == WType::kBF16) {
    static_cast<__nv_bfloat16*>(out)[i] = __float2bfloat16(x[i]);
  } else {
    static_cast<__half*>(out)[i] = __float2half(x[i]);
  }
}

__global__ void widen_kernel(WType t, const void* x, float* out, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = load_as_float(t, x, i);
}

__global__ void fill_kernel(float* x, float v, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] = v;
}

}  // namespace

cudaError_t embed(WType t, const void* table, std::int64_t hidden, VocabRows rows,
                  const StepMeta& m, int T, float scale, float* out, cudaStream_t s) {
  if (T == 0) return cudaSuccess;
  embed_kernel<<<T, 256, 0, s>>>(t, table, hidden, rows, m, scale, out);
  return cudaGetLastError();
}

cudaError_t rms_norm(const float* x, const float* w, float eps, float offset, float* out,
                     std::int64_t rows, int n, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  rms_norm_kernel<<<static_cast<unsigned>(rows), norm_threads(n), 0, s>>>(x, w, eps, offset, out,
                                                                          n);
  return cudaGetLastError();
}

cudaError_t add_rms_norm(float* x, const float* delta, const float* w, float eps, float offset,
                         float* out, std::int64_t rows, int n, cudaStream_t s, bool early) {
  if (rows == 0) return cudaSuccess;
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  if (n % 4 == 0 && n / 4 <= 1024 && aligned(x) && aligned(delta) && aligned(w) && aligned(out)) {
    const auto threads = static_cast<unsigned>((n / 4 + 31) / 32 * 32);
    if (early) {
      return launch_early(add_rms_norm_vec_kernel, static_cast<unsigned>(rows), threads, s, x,
                          delta, w, eps, offset, out, n);
    }
    add_rms_norm_vec_kernel<<<static_cast<unsigned>(rows), threads, 0, s>>>(x, delta, w, eps,
                                                                            offset, out, n);
    return cudaGetLastError();
  }
  add_rms_norm_kernel<<<static_cast<unsigned>(rows), norm_threads(n), 0, s>>>(x, delta, w, eps,
                                                                              offset, out, n);
  return cudaGetLastError();
}

cudaError_t rope(float* x, int T, int heads, int head_dim, int rot_dim, const double* inv_freq,
                 const std::int32_t* axis, double attention_factor, const StepMeta& m,
                 cudaStream_t s) {
  if (rot_dim / 2 > kMaxRotHalf) return cudaErrorInvalidValue;
  rope_kernel<<<T, 256, 0, s>>>(x, heads, head_dim, rot_dim, inv_freq, axis, attention_factor, m);
  return cudaGetLastError();
}

cudaError_t kv_write(const KvLayout& kv, int layer, const float* k, const float* v, int T,
                     const StepMeta& m, cudaStream_t s) {
  return with_kv_type(kv, [&](auto tag) {
    kv_write_kernel<typename decltype(tag)::type><<<T, 256, 0, s>>>(kv, layer, k, v, m);
    return cudaGetLastError();
  });
}

cudaError_t rope_and_cache(float* q, float* k, const float* v, int T, int heads, int head_dim,
                           int rot_dim, const double* inv_freq, const std::int32_t* axis,
                           double attention_factor, const KvLayout& kv, int layer,
                           const StepMeta& m, cudaStream_t s, bool per_head) {
  if (rot_dim / 2 > kMaxRotHalf) return cudaErrorInvalidValue;
  return with_kv_type(kv, [&](auto tag) {
    using E = typename decltype(tag)::type;
    if (per_head) {
      const auto threads = static_cast<unsigned>(std::max(32, (rot_dim / 2 + 31) / 32 * 32));
      const dim3 grid(static_cast<unsigned>(T), static_cast<unsigned>(heads + kv.kv_heads));
      return launch_early(rope_cache_head_kernel<E>, grid, threads, s, q, k, v, heads, head_dim,
                          rot_dim, inv_freq, axis, attention_factor, kv, layer, m);
    }
    rope_cache_kernel<E><<<T, 256, 0, s>>>(q, k, v, heads, head_dim, rot_dim, inv_freq, axis,
                                           attention_factor, kv, layer, m);
    return cudaGetLastError();
  });
}

cudaError_t gated_act(Act a, const float* gate, const float* up, float* out, std::int64_t n,
                      cudaStream_t s, bool early) {
  if (n == 0) return cudaSuccess;
  if (early) return launch_early(gated_act_kernel, blocks_for(n, 256), 256, s, a, gate, up, out, n);
  gated_act_kernel<<<blocks_for(n, 256), 256, 0, s>>>(a, gate, up, out, n);
  return cudaGetLastError();
}

cudaError_t gated_act_half(Act a, const float* gate, const float* up, WType t, void* out,
                           std::int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  if (n % 4 != 0 || (t != WType::kBF16 && t != WType::kF16)) return cudaErrorInvalidValue;
  const std::int64_t n4 = n / 4;
  if (t == WType::kBF16) {
    gated_act_half_kernel<<<blocks_for(n4, 256), 256, 0, s>>>(a, gate, up,
                                                              static_cast<__nv_bfloat16*>(out), n4);
  } else {
    gated_act_half_kernel<<<blocks_for(n4, 256), 256, 0, s>>>(a, gate, up,
                                                              static_cast<__half*>(out), n4);
  }
  return cudaGetLastError();
}

cudaError_t add(float* x, const float* y, std::int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  add_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, y, n);
  return cudaGetLastError();
}

cudaError_t add_bias(float* y, const float* bias, std::int64_t rows, std::int64_t cols,
                     cudaStream_t s) {
  const std::int64_t n = rows * cols;
  if (n == 0) return cudaSuccess;
  add_bias_kernel<<<blocks_for(n, 256), 256, 0, s>>>(y, bias, n, cols);
  return cudaGetLastError();
}

cudaError_t split_columns(const float* src, std::int64_t rows, const ColumnParts& parts,
                          cudaStream_t s) {
  int width = 0;
  for (int p = 0; p < parts.count; ++p) width += parts.part[p].cols;
  const std::int64_t n4 = rows * (width / 4);
  if (n4 == 0) return cudaSuccess;
  split_columns_kernel<<<blocks_for(n4, 256), 256, 0, s>>>(reinterpret_cast<const float4*>(src),
                                                           width / 4, n4, parts);
  return cudaGetLastError();
}

cudaError_t softcap(float* x, float cap, std::int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  softcap_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, cap, n);
  return cudaGetLastError();
}

cudaError_t gather_rows(const float* x, const std::int32_t* rows, int count, std::int64_t cols,
                        float* out, cudaStream_t s) {
  if (count == 0) return cudaSuccess;
  gather_rows_kernel<<<count, 256, 0, s>>>(x, rows, cols, out);
  return cudaGetLastError();
}

cudaError_t scatter_add_rows(const float* x, const std::int32_t* rows, const float* weight,
                             int count, std::int64_t cols, float* out, cudaStream_t s) {
  if (count == 0) return cudaSuccess;
  scatter_add_rows_kernel<<<count, 256, 0, s>>>(x, rows, weight, cols, out);
  return cudaGetLastError();
}

cudaError_t to_half(WType t, const float* x, void* out, std::int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  to_half_kernel<<<blocks_for(n, 256), 256, 0, s>>>(t, x, out, n);
  return cudaGetLastError();
}

cudaError_t widen(WType t, const void* x, float* out, std::int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  widen_kernel<<<blocks_for(n, 256), 256, 0, s>>>(t, x, out, n);
  return cudaGetLastError();
}

cudaError_t fill(float* x, float v, std::int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  fill_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, v, n);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
