// Segment attention on the tensor cores (TF32 inputs, f32 accumulation): the
// tower's long segments (4096 rows of SigLIP at 896 px) spend their time in
// Q·Kᵀ and P·V, which the f32 kernel (kernels_encoder.cu) does on the CUDA
// cores. A block takes 64 rows of one head (16 per warp) and walks the keys of
// their segments' union in tiles of 64 staged in shared memory; per tile a
// warp computes its 16 x 64 scores with WMMA, updates each row's online
// softmax (two lanes per row), rescales its output rows in shared memory and
// adds P·V with WMMA. Head dims are padded with zeros to a multiple of 16.
#include <cfloat>

#include <mma.h>

#include "backend/cuda/device_once.cuh"
#include "backend/cuda/kernels_encoder.h"
#include "backend/cuda/segment_bounds.cuh"

namespace mlxs::backend::cuda::k {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarps = 4;
constexpr int kRows = 16 * kWarps;  // query rows per block
constexpr int kKeys = 64;           // keys per tile
constexpr int kMaxDim = 128;

int padded(int head_dim) {
  return (head_dim + 15) / 16 * 16;
}

std::size_t smem_bytes(int head_dim) {
  const int hdp = padded(head_dim);
  // Q, K, V, O tiles and the warps' scores.
  return sizeof(float) *
         static_cast<std::size_t>(kRows * hdp + 2 * kKeys * hdp + kRows * hdp + kRows * kKeys);
}

__device__ __forceinline__ float tf32(float x) {
  return wmma::__float_to_tf32(x);
}

__global__ void __launch_bounds__(kWarps * 32)
    segment_tc_kernel(const float* q, const float* k, const float* v, int N, int heads,
                      int head_dim, int hdp, float scale, const std::int32_t* segments, int count,
                      float* out) {
  extern __shared__ __align__(128) float tc_smem[];
  float* qs = tc_smem;           // [kRows][hdp], pre-scaled
  float* ks = qs + kRows * hdp;  // [kKeys][hdp]
  float* vs = ks + kKeys * hdp;  // [kKeys][hdp]
  float* os = vs + kKeys * hdp;  // [kRows][hdp] unnormalised output
  float* ss = os + kRows * hdp;  // [kRows][kKeys] scores, then probabilities
  const int h = blockIdx.y;
  const int row0 = blockIdx.x * kRows;
  const int last = min(row0 + kRows, N) - 1;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const std::int64_t width = static_cast<std::int64_t>(heads) * head_dim;
  const std::int64_t col = static_cast<std::int64_t>(h) * head_dim;

  for (int i = threadIdx.x; i < kRows * hdp; i += blockDim.x) {
    const int r = row0 + i / hdp;
    const int d = i % hdp;
    qs[i] = r <= last && d < head_dim ? tf32(q[r * width + col + d] * scale) : 0.0f;
    os[i] = 0.0f;
  }
  int union_lo = 0;
  int union_hi = 0;
  int unused = 0;
  segment_bounds(segments, count, row0, union_lo, unused);
  segment_bounds(segments, count, last, unused, union_hi);

  // Two lanes per row of the warp's 16: `half` picks keys [32 half, 32 half + 32).
  const int r = lane >> 1;
  const int half = lane & 1;
  const int row = warp * 16 + r;  // within the block
  const int t = row0 + row;
  int lo = 0;
  int hi = 0;  // rows past N see no keys
  if (t <= last) segment_bounds(segments, count, t, lo, hi);
  float mx = -FLT_MAX;
  float sum = 0.0f;
  float* srow = ss + row * kKeys;
  float* orow = os + row * hdp;

  for (int tile = union_lo; tile < union_hi; tile += kKeys) {
    const int n = min(kKeys, union_hi - tile);
    __syncthreads();  // the previous tile has been read (and qs, os written)
    for (int i = threadIdx.x; i < kKeys * hdp; i += blockDim.x) {
      const int j = i / hdp;
      const int d = i % hdp;
      const bool in = j < n && d < head_dim;
      const std::int64_t at = (tile + j) * width + col + d;
      ks[i] = in ? tf32(k[at]) : 0.0f;
      vs[i] = in ? tf32(v[at]) : 0.0f;
    }
    __syncthreads();
    // Scores of the warp's 16 rows against the tile's 64 keys.
    for (int nb = 0; nb < kKeys / 16; ++nb) {
      wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
      wmma::fill_fragment(acc, 0.0f);
      for (int kk = 0; kk < hdp; kk += 8) {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> b;
        wmma::load_matrix_sync(a, qs + warp * 16 * hdp + kk, hdp);
        wmma::load_matrix_sync(b, ks + nb * 16 * hdp + kk, hdp);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(ss + warp * 16 * kKeys + nb * 16, acc, kKeys, wmma::mem_row_major);
    }
    __syncwarp();
    // Online softmax of this lane's half row.
    float tmax = -FLT_MAX;
    for (int c = 0; c < 32; ++c) {
      const int j = half * 32 + c;
      const int key = tile + j;
      if (j < n && key >= lo && key < hi) tmax = fmaxf(tmax, srow[j]);
    }
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
    const float new_max = fmaxf(mx, tmax);
    const float corr = new_max == -FLT_MAX ? 1.0f : expf(mx - new_max);
    float psum = 0.0f;
    for (int c = 0; c < 32; ++c) {
      const int j = half * 32 + c;
      const int key = tile + j;
      const float p = j < n && key >= lo && key < hi ? expf(srow[j] - new_max) : 0.0f;
      srow[j] = tf32(p);
      psum += p;
    }
    psum += __shfl_xor_sync(0xffffffffu, psum, 1);
    sum = sum * corr + psum;
    mx = new_max;
    for (int d = half; d < hdp; d += 2) orow[d] *= corr;
    __syncwarp();
    // O += P · V for the warp's rows, 16 output dims at a time.
    for (int db = 0; db < hdp / 16; ++db) {
      wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
      float* o = os + warp * 16 * hdp + db * 16;
      wmma::load_matrix_sync(acc, o, hdp, wmma::mem_row_major);
      for (int kk = 0; kk < kKeys; kk += 8) {
        wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b;
        wmma::load_matrix_sync(a, ss + warp * 16 * kKeys + kk, kKeys);
        wmma::load_matrix_sync(b, vs + kk * hdp + db * 16, hdp);
        wmma::mma_sync(acc, a, b, acc);
      }
      wmma::store_matrix_sync(o, acc, hdp, wmma::mem_row_major);
    }
    __syncwarp();
  }
  if (t > last) return;
  const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
  for (int d = half; d < head_dim; d += 2) out[t * width + col + d] = orow[d] * inv;
}

}  // namespace

bool segment_attention_tf32_supports(int head_dim) {
  return head_dim > 0 && head_dim <= kMaxDim;
}

cudaError_t segment_attention_tf32(const float* q, const float* k, const float* v, int N, int heads,
                                   int head_dim, float scale, const std::int32_t* segments,
                                   int count, float* out, cudaStream_t s) {
  if (!segment_attention_tf32_supports(head_dim) || count <= 0) return cudaErrorInvalidValue;
  if (N == 0) return cudaSuccess;
  static PerDeviceOnce smem_once;
  if (const cudaError_t e = opt_in_smem(smem_once, segment_tc_kernel, smem_bytes(kMaxDim));
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid(static_cast<unsigned>((N + kRows - 1) / kRows), static_cast<unsigned>(heads));
  segment_tc_kernel<<<grid, kWarps * 32, smem_bytes(head_dim), s>>>(
      q, k, v, N, heads, head_dim, padded(head_dim), scale, segments, count, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
