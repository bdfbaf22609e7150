// Vision-encoder kernels: LayerNorm, plain activations, segment attention
// (bidirectional within row segments, flash-style online softmax over key
// tiles in shared memory), rotate-half rotary from a table, 2-D average
// pooling. A tower runs once per image, so these aim at correct and simple
// rather than the decoder's tuned paths.
#include <cfloat>

#include "backend/cuda/act_device.cuh"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/kernels_encoder.h"
#include "backend/cuda/segment_bounds.cuh"

namespace mlxs::backend::cuda::k {
namespace {

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// One warp per row (a block of 1024 threads per row spent its time in block
// reductions: 43 us for 4096 rows of 1152 on H100); the mean is subtracted
// before squaring (two passes), as the CPU's LayerNorm does. The second and
// third reads of the row hit L1.
constexpr int kNormRowsPerBlock = 8;
__global__ void __launch_bounds__(kNormRowsPerBlock * 32)
    layer_norm_kernel(const float* x, const float* w, const float* b, float eps, float* out,
                      std::int64_t rows, int n) {
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kNormRowsPerBlock +
                         static_cast<std::int64_t>(threadIdx.x >> 5);
  if (r >= rows) return;
  const int lane = threadIdx.x & 31;
  const float* xr = x + r * n;
  float* o = out + r * n;
  float s = 0.0f;
  for (int i = lane; i < n; i += 32) s += xr[i];
  const float mean = warp_sum(s) / static_cast<float>(n);
  float ss = 0.0f;
  for (int i = lane; i < n; i += 32) {
    const float d = xr[i] - mean;
    ss += d * d;
  }
  const float inv = rsqrtf(warp_sum(ss) / static_cast<float>(n) + eps);
  for (int i = lane; i < n; i += 32) {
    o[i] = (xr[i] - mean) * inv * w[i] + (b != nullptr ? b[i] : 0.0f);
  }
}

__global__ void activation_kernel(Act a, float* x, std::int64_t n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  x[i] = activate(a, x[i]);
}

// Segment attention: a block takes kQueries consecutive rows of one head
// (kWarps warps, kRowsPerWarp rows each) and walks the keys of the union of
// their segments (contiguous: rows and segments are both in order) in tiles
// of 32 keys staged in shared memory. Within a tile a lane scores one key for
// all its warp's rows (each K value loaded once for kRowsPerWarp products,
// the queries read four dims at a time as broadcasts); the warp then updates
// its rows' online softmax and each lane accumulates the output dimensions
// lane, lane + 32, ... of every row (each V value loaded once per tile key).
constexpr int kWarps = 8;
constexpr int kRowsPerWarp = 4;
constexpr int kQueries = kWarps * kRowsPerWarp;
constexpr int kKeyTile = 32;
constexpr int kKeyStride = kKeyTile + 1;  // K stored [dim][key]: conflict-free both ways
constexpr int kDimsPerLane = kSegmentMaxHeadDim / 32;

int round4(int v) {
  return (v + 3) / 4 * 4;
}

std::size_t segment_smem_bytes(int head_dim) {
  const int hd4 = round4(head_dim);
  return sizeof(float) *
         static_cast<std::size_t>(hd4 * kKeyStride + kKeyTile * head_dim + kQueries * hd4);
}

__global__ void __launch_bounds__(kWarps * 32)
    segment_attention_kernel(const float* q, const float* k, const float* v, int N, int heads,
                             int head_dim, float scale, const std::int32_t* segments, int count,
                             float* out) {
  extern __shared__ float smem[];
  // Dims padded to a multiple of 4 (zeros) so queries load as float4.
  const int hd4 = (head_dim + 3) / 4 * 4;
  float* kt = smem;                      // [hd4][kKeyStride]
  float* vs = kt + hd4 * kKeyStride;     // [kKeyTile][head_dim]
  float* qs = vs + kKeyTile * head_dim;  // [kQueries][hd4]
  const int h = blockIdx.y;
  const int row0 = blockIdx.x * kQueries;
  const int last = min(row0 + kQueries, N) - 1;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const std::int64_t width = static_cast<std::int64_t>(heads) * head_dim;
  const std::int64_t col = static_cast<std::int64_t>(h) * head_dim;

  for (int i = threadIdx.x; i < kQueries * hd4; i += blockDim.x) {
    const int r = row0 + i / hd4;
    const int d = i % hd4;
    qs[i] = r <= last && d < head_dim ? q[r * width + col + d] * scale : 0.0f;
  }
  for (int i = threadIdx.x; i < (hd4 - head_dim) * kKeyStride; i += blockDim.x) {
    kt[head_dim * kKeyStride + i] = 0.0f;  // the padding dims, never staged
  }
  int union_lo = 0;
  int union_hi = 0;
  int unused = 0;
  segment_bounds(segments, count, row0, union_lo, unused);
  segment_bounds(segments, count, last, unused, union_hi);

  int lo[kRowsPerWarp];
  int hi[kRowsPerWarp];
  float mx[kRowsPerWarp];
  float sum[kRowsPerWarp];
  float acc[kRowsPerWarp][kDimsPerLane];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int t = row0 + warp * kRowsPerWarp + r;
    lo[r] = 0;
    hi[r] = 0;  // rows past N see no keys
    if (t <= last) segment_bounds(segments, count, t, lo[r], hi[r]);
    mx[r] = -FLT_MAX;
    sum[r] = 0.0f;
#pragma unroll
    for (int i = 0; i < kDimsPerLane; ++i) acc[r][i] = 0.0f;
  }
  const float* qw = qs + warp * kRowsPerWarp * hd4;

  for (int tile = union_lo; tile < union_hi; tile += kKeyTile) {
    const int n = min(kKeyTile, union_hi - tile);
    __syncthreads();  // the previous tile has been read (and qs written)
    for (int i = threadIdx.x; i < n * head_dim; i += blockDim.x) {
      const int j = i / head_dim;
      const int d = i % head_dim;
      const std::int64_t at = (tile + j) * width + col + d;
      kt[d * kKeyStride + j] = k[at];
      vs[j * head_dim + d] = v[at];
    }
    __syncthreads();
    const int key = tile + lane;
    bool valid[kRowsPerWarp];
    bool any = false;
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      valid[r] = lane < n && key >= lo[r] && key < hi[r];
      any |= valid[r];
    }
    if (!__any_sync(0xffffffffu, any)) continue;
    // Scores of this lane's key for the warp's rows (q pre-scaled).
    float s[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) s[r] = 0.0f;
    const float* kl = kt + (lane < n ? lane : 0);
    for (int d = 0; d < hd4; d += 4) {
      const float k0 = kl[(d + 0) * kKeyStride];
      const float k1 = kl[(d + 1) * kKeyStride];
      const float k2 = kl[(d + 2) * kKeyStride];
      const float k3 = kl[(d + 3) * kKeyStride];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        const float4 qv = *reinterpret_cast<const float4*>(qw + r * hd4 + d);
        s[r] += qv.x * k0 + qv.y * k1 + qv.z * k2 + qv.w * k3;
      }
    }
    float p[kRowsPerWarp];
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const float sr = valid[r] ? s[r] : -FLT_MAX;
      const float new_max = fmaxf(mx[r], warp_max(sr));
      const float c = expf(mx[r] - new_max);
      p[r] = valid[r] ? expf(sr - new_max) : 0.0f;
      sum[r] = sum[r] * c + warp_sum(p[r]);
      mx[r] = new_max;
#pragma unroll
      for (int i = 0; i < kDimsPerLane; ++i) acc[r][i] *= c;
    }
    for (int j = 0; j < n; ++j) {
      float pj[kRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) pj[r] = __shfl_sync(0xffffffffu, p[r], j);
      const float* vj = vs + j * head_dim;
#pragma unroll
      for (int i = 0; i < kDimsPerLane; ++i) {
        const int d = lane + 32 * i;
        if (32 * i < head_dim) {  // uniform: whole warps of dims
          const float vv = d < head_dim ? vj[d] : 0.0f;
#pragma unroll
          for (int r = 0; r < kRowsPerWarp; ++r) acc[r][i] += pj[r] * vv;
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int t = row0 + warp * kRowsPerWarp + r;
    if (t > last) continue;
    const float inv = sum[r] > 0.0f ? 1.0f / sum[r] : 0.0f;
#pragma unroll
    for (int i = 0; i < kDimsPerLane; ++i) {
      const int d = lane + 32 * i;
      if (d < head_dim) out[t * width + col + d] = acc[r][i] * inv;
    }
  }
}

// One thread per rotated pair (row, head, i < head_dim / 2).
__global__ void rotary_kernel(float* x, std::int64_t N, int heads, int head_dim,
                              const float* cos_sin) {
  const int half = head_dim / 2;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= N * heads * half) return;
  const std::int64_t t = i / (static_cast<std::int64_t>(heads) * half);
  const int rest = static_cast<int>(i % (static_cast<std::int64_t>(heads) * half));
  const int h = rest / half;
  const int f = rest % half;
  const float c = cos_sin[t * head_dim + f];
  const float sn = cos_sin[t * head_dim + half + f];
  float* row = x + (t * heads + h) * head_dim;
  const float a = row[f];
  const float b = row[f + half];
  row[f] = a * c - b * sn;
  row[f + half] = b * c + a * sn;
}

// One thread per (cell, channel).
__global__ void avg_pool_kernel(const float* x, int w, int k, int ow, std::int64_t C,
                                std::int64_t total, float* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const std::int64_t cell = i / C;
  const std::int64_t ch = i % C;
  const std::int64_t oy = cell / ow;
  const std::int64_t ox = cell % ow;
  float s = 0.0f;
  for (int dy = 0; dy < k; ++dy) {
    for (int dx = 0; dx < k; ++dx) s += x[((oy * k + dy) * w + ox * k + dx) * C + ch];
  }
  out[i] = s / static_cast<float>(k * k);
}

unsigned blocks_for(std::int64_t n, int threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

}  // namespace

cudaError_t layer_norm(const float* x, const float* w, const float* b, float eps, float* out,
                       std::int64_t rows, int n, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>((rows + kNormRowsPerBlock - 1) / kNormRowsPerBlock);
  layer_norm_kernel<<<blocks, kNormRowsPerBlock * 32, 0, s>>>(x, w, b, eps, out, rows, n);
  return cudaGetLastError();
}

cudaError_t activation(Act a, float* x, std::int64_t n, cudaStream_t s) {
  if (n == 0) return cudaSuccess;
  activation_kernel<<<blocks_for(n, 256), 256, 0, s>>>(a, x, n);
  return cudaGetLastError();
}

cudaError_t segment_attention(const float* q, const float* k, const float* v, int N, int heads,
                              int head_dim, float scale, const std::int32_t* segments, int count,
                              float* out, cudaStream_t s) {
  if (head_dim <= 0 || head_dim > kSegmentMaxHeadDim || count <= 0) return cudaErrorInvalidValue;
  if (N == 0) return cudaSuccess;
  const std::size_t smem = segment_smem_bytes(head_dim);
  static PerDeviceOnce smem_once;
  if (const cudaError_t e =
          opt_in_smem(smem_once, segment_attention_kernel, segment_smem_bytes(kSegmentMaxHeadDim));
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid(static_cast<unsigned>((N + kQueries - 1) / kQueries),
                  static_cast<unsigned>(heads));
  segment_attention_kernel<<<grid, kWarps * 32, smem, s>>>(q, k, v, N, heads, head_dim, scale,
                                                           segments, count, out);
  return cudaGetLastError();
}

cudaError_t rotary(float* x, std::int64_t N, int heads, int head_dim, const float* cos_sin,
                   cudaStream_t s) {
  const std::int64_t n = N * heads * (head_dim / 2);
  if (n == 0) return cudaSuccess;
  rotary_kernel<<<blocks_for(n, 256), 256, 0, s>>>(x, N, heads, head_dim, cos_sin);
  return cudaGetLastError();
}

cudaError_t avg_pool(const float* x, int h, int w, int k, std::int64_t C, float* out,
                     cudaStream_t s) {
  if (k <= 0) return cudaErrorInvalidValue;
  const int ow = w / k;
  const std::int64_t total = static_cast<std::int64_t>(h / k) * ow * C;
  if (total == 0) return cudaSuccess;
  avg_pool_kernel<<<blocks_for(total, 256), 256, 0, s>>>(x, w, k, ow, C, total, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
