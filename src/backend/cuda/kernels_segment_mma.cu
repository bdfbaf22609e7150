// Segment attention on f16 tensor cores (mma.sync m16n8k16, f32 accumulation
// and softmax): the default for vision towers outside exact_f32. The TF32
// WMMA kernel (kernels_segment_tc.cu) kept scores and outputs in shared
// memory and reconverted f32 K/V in every block (7.6 TFLOP/s on H100 for
// SigLIP's 4096 rows); here K and V are converted once per call into f16
// scratch (K as [head][key][dim], V transposed to [head][dim][key], so both
// MMA operands load with ldmatrix), a block's 64 query rows (16 per warp)
// keep the scores and the output in registers, and key tiles of 64 stream
// through a cp.async double buffer (about 170 TFLOP/s). f16 rather than bf16:
// P lies in [0, 1] and the projections are small, so f16's 10-bit mantissa
// (8x finer than bf16's) costs nothing; inputs are clamped to the f16 range.
#include <cmath>

#include <cuda_fp16.h>

#include "backend/cuda/device_once.cuh"
#include "backend/cuda/kernels_encoder.h"
#include "backend/cuda/segment_bounds.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;
constexpr int kRows = 16 * kWarps;  // query rows per block
constexpr int kKeys = 64;           // keys per tile
constexpr int kMaxDim = 128;
constexpr int kVStride = kKeys + 8;  // halves per V row in shared memory (no bank conflicts)
constexpr float kHalfMax = 65504.0f;

int dim16(int head_dim) {
  return (head_dim + 15) / 16 * 16;
}
// P·V's output width: the kernel's N8 * 8 (see the launch switch below).
int out_dim(int head_dim) {
  const int d16 = dim16(head_dim);
  if (head_dim <= 8) return 8;
  if (d16 == 80 && head_dim <= 72) return 72;
  return d16;
}
std::int64_t padded_rows(std::int64_t n) {
  return (n + kKeys - 1) / kKeys * kKeys;
}

__device__ __forceinline__ __half to_h(float x) {
  return __float2half_rn(fminf(fmaxf(x, -kHalfMax), kHalfMax));
}

__device__ __forceinline__ std::uint32_t pack(float lo, float hi) {
  const __half2 h = __halves2half2(to_h(lo), to_h(hi));
  return *reinterpret_cast<const std::uint32_t*>(&h);
}

__device__ __forceinline__ void mma(float (&c)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                    std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four 8 x 8 f16 matrices from shared memory, each lane holding a row pair
// of each in the MMA fragment layout (lanes 8j..8j+7 name matrix j's rows).
__device__ __forceinline__ void ldsm_x4(std::uint32_t (&r)[4], const __half* p) {
  const auto a = static_cast<unsigned>(__cvta_generic_to_shared(p));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(a));
}

__device__ __forceinline__ float fast_exp2(float x) {  // 2^x; -inf gives 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  const auto dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(dst), "l"(gmem));
}

// K [N, heads * hd] f32 -> kh [heads][Npad][HDP] f16; V -> vt [heads][VD][Npad]
// f16 (a 32 x 32 tile transposed through shared memory). Zeros past N and hd.
__global__ void convert_kv(const float* k, const float* v, int N, int Npad, int heads, int hd,
                           int HDP, int VD, __half* kh, __half* vt) {
  __shared__ float tile[32][33];
  const int h = blockIdx.z;
  const int n0 = blockIdx.x * 32;
  const int d0 = blockIdx.y * 32;
  const std::int64_t width = static_cast<std::int64_t>(heads) * hd;
  const int tx = threadIdx.x;
  for (int i = threadIdx.y; i < 32; i += 8) {
    const int n = n0 + i;
    const int d = d0 + tx;
    const bool in = n < N && d < hd;
    const std::int64_t at = n * width + static_cast<std::int64_t>(h) * hd + d;
    if (d < HDP) kh[(static_cast<std::int64_t>(h) * Npad + n) * HDP + d] = to_h(in ? k[at] : 0.0f);
    tile[i][tx] = in ? v[at] : 0.0f;
  }
  __syncthreads();
  for (int i = threadIdx.y; i < 32; i += 8) {
    const int d = d0 + i;
    if (d < VD) vt[(static_cast<std::int64_t>(h) * VD + d) * Npad + n0 + tx] = to_h(tile[tx][i]);
  }
}

// D16: head dim padded to 16 (Q·Kᵀ's k steps); N8: padded to 8 (P·V's
// output tiles).
template <int D16, int N8, bool QS>
__global__ void __launch_bounds__(kWarps * 32, QS ? 4 : 1)
    segment_mma_kernel(const float* q, const __half* kh, const __half* vt, int N, int Npad,
                       int heads, int head_dim, float scale_log2, const std::int32_t* segments,
                       int count, float* out) {
  constexpr int HDP = 16 * D16;
  constexpr int VD = 8 * N8;
  constexpr int KS = HDP + 8;  // halves per K row in shared memory (no bank conflicts)
  constexpr int kStage = kKeys * KS + VD * kVStride;
  extern __shared__ __align__(128) __half mma_smem[];
  const int h = blockIdx.y;
  const int row0 = blockIdx.x * kRows;
  const int last = min(row0 + kRows, N) - 1;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int g = lane >> 2;
  const int tq = lane & 3;
  const std::int64_t width = static_cast<std::int64_t>(heads) * head_dim;
  const std::int64_t col = static_cast<std::int64_t>(h) * head_dim;
  const int r0 = row0 + warp * 16 + g;
  const int r1 = r0 + 8;

  // Q as A fragments, pre-scaled by scale * log2(e) (exp2 below): in
  // registers, or (QS) in shared memory after the two stages, read back with
  // ldmatrix per tile (fewer registers, more blocks per SM).
  std::uint32_t qa[QS ? 1 : D16][4];
  const auto qv = [&](int r, int c) {
    return r < N && c < head_dim ? q[r * width + col + c] * scale_log2 : 0.0f;
  };
  __half* qs = mma_smem + 2 * kStage;
  if constexpr (QS) {
    for (int i = threadIdx.x; i < kRows * HDP; i += kWarps * 32) {
      const int r = i / HDP;
      const int c = i % HDP;
      qs[r * KS + c] = to_h(qv(row0 + r, c));
    }
  } else {
#pragma unroll
    for (int kk = 0; kk < D16; ++kk) {
      const int c = kk * 16 + 2 * tq;
      qa[kk][0] = pack(qv(r0, c), qv(r0, c + 1));
      qa[kk][1] = pack(qv(r1, c), qv(r1, c + 1));
      qa[kk][2] = pack(qv(r0, c + 8), qv(r0, c + 9));
      qa[kk][3] = pack(qv(r1, c + 8), qv(r1, c + 9));
    }
  }
  int union_lo = 0;
  int union_hi = 0;
  int unused = 0;
  segment_bounds(segments, count, row0, union_lo, unused);
  segment_bounds(segments, count, last, unused, union_hi);
  int lo0 = 0, hi0 = 0, lo1 = 0, hi1 = 0;  // rows past N see no keys
  if (r0 < N) segment_bounds(segments, count, r0, lo0, hi0);
  if (r1 < N) segment_bounds(segments, count, r1, lo1, hi1);

  const __half* kbase = kh + static_cast<std::int64_t>(h) * Npad * HDP;
  const __half* vbase = vt + static_cast<std::int64_t>(h) * VD * Npad;
  // Tiles start on multiples of 64 (aligned copies; the scratch is padded).
  const int first = union_lo / kKeys * kKeys;
  const auto load = [&](int stage, int t0) {
    __half* ks = mma_smem + stage * kStage;
    __half* vs = ks + kKeys * KS;
    for (int i = threadIdx.x; i < kKeys * (HDP / 8); i += kWarps * 32) {
      const int j = i / (HDP / 8);
      const int c = i % (HDP / 8);
      cp_async16(ks + j * KS + c * 8, kbase + static_cast<std::int64_t>(t0 + j) * HDP + c * 8);
    }
    for (int i = threadIdx.x; i < VD * (kKeys / 8); i += kWarps * 32) {
      const int d = i / (kKeys / 8);
      const int c = i % (kKeys / 8);
      cp_async16(vs + d * kVStride + c * 8,
                 vbase + static_cast<std::int64_t>(d) * Npad + t0 + c * 8);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };

  float o[N8][4];
#pragma unroll
  for (int n = 0; n < N8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  float m0 = -INFINITY, m1 = -INFINITY;  // running maxima (log2 units)
  // This lane's row address within ldmatrix's four matrices: K as (key
  // tile n, n + 1) x (dims lo, hi); V as (dims lo, hi) x (key chunk c, c + 1).
  const int mat = lane >> 3;
  const int mrow = lane & 7;
  const int koff = ((mat >> 1) * 8 + mrow) * KS + (mat & 1) * 8;
  const int voff = mrow * kVStride + (mat >> 1) * 16 + (mat & 1) * 8;
  // Q's A fragment: (rows lo, hi) x (dims lo, hi) of the warp's 16 rows.
  const int qoff = (warp * 16 + (mat & 1) * 8 + mrow) * KS + (mat >> 1) * 8;
  float l0 = 0.0f, l1 = 0.0f;  // this lane's share of the row sums

  if (first < union_hi) load(0, first);
  int stage = 0;
  for (int t0 = first; t0 < union_hi; t0 += kKeys, stage ^= 1) {
    if (t0 + kKeys < union_hi) {
      load(stage ^ 1, t0 + kKeys);
      asm volatile("cp.async.wait_group 1;\n" ::);
    } else {
      asm volatile("cp.async.wait_group 0;\n" ::);
    }
    __syncthreads();
    const __half* ks = mma_smem + stage * kStage;
    const __half* vs = ks + kKeys * KS;

    float s[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
    // S = Q · Kᵀ: one ldmatrix gives two key tiles' B fragments.
    if constexpr (QS) {
#pragma unroll
      for (int kk = 0; kk < D16; ++kk) {
        ldsm_x4(qa[0], qs + qoff + kk * 16);
#pragma unroll
        for (int n = 0; n < kKeys / 8; n += 2) {
          std::uint32_t b[4];
          ldsm_x4(b, ks + n * 8 * KS + kk * 16 + koff);
          mma(s[n], qa[0], b[0], b[1]);
          mma(s[n + 1], qa[0], b[2], b[3]);
        }
      }
    } else {
#pragma unroll
      for (int n = 0; n < kKeys / 8; n += 2) {
#pragma unroll
        for (int kk = 0; kk < D16; ++kk) {
          std::uint32_t b[4];
          ldsm_x4(b, ks + n * 8 * KS + kk * 16 + koff);
          mma(s[n], qa[kk], b[0], b[1]);
          mma(s[n + 1], qa[kk], b[2], b[3]);
        }
      }
    }
    // Keys outside a row's segment: -inf, unless the whole tile lies inside
    // every segment of the warp's rows (a single-segment image: always).
    const bool inside =
        __all_sync(0xffffffffu, t0 >= lo0 && t0 + kKeys <= hi0 && t0 >= lo1 && t0 + kKeys <= hi1);
    if (!inside) {
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const int key = t0 + n * 8 + 2 * tq + e;
          if (key < lo0 || key >= hi0) s[n][e] = -INFINITY;
          if (key < lo1 || key >= hi1) s[n][2 + e] = -INFINITY;
        }
      }
    }
    float mx0 = m0, mx1 = m1;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
      mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
    }
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
    mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
    mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
    // A row that has seen no key yet keeps max -inf: nothing to rescale, and
    // its masked scores give exp2(-inf) = 0.
    const float c0 = mx0 == -INFINITY ? 1.0f : fast_exp2(m0 - mx0);
    const float c1 = mx1 == -INFINITY ? 1.0f : fast_exp2(m1 - mx1);
    const float base0 = mx0 == -INFINITY ? 0.0f : mx0;
    const float base1 = mx1 == -INFINITY ? 0.0f : mx1;
    m0 = mx0;
    m1 = mx1;
    l0 *= c0;
    l1 *= c1;
#pragma unroll
    for (int n = 0; n < N8; ++n) {
      o[n][0] *= c0;
      o[n][1] *= c0;
      o[n][2] *= c1;
      o[n][3] *= c1;
    }
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
      s[n][0] = fast_exp2(s[n][0] - base0);
      s[n][1] = fast_exp2(s[n][1] - base0);
      s[n][2] = fast_exp2(s[n][2] - base1);
      s[n][3] = fast_exp2(s[n][3] - base1);
      l0 += s[n][0] + s[n][1];
      l1 += s[n][2] + s[n][3];
    }
    // O += P · V: the score accumulators are already P's A fragments; one
    // ldmatrix gives an output tile's B fragments for two key chunks.
#pragma unroll
    for (int kc = 0; kc < kKeys / 16; kc += 2) {
      std::uint32_t pa[2][4];
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int j = 2 * (kc + c);
        pa[c][0] = pack(s[j][0], s[j][1]);
        pa[c][1] = pack(s[j][2], s[j][3]);
        pa[c][2] = pack(s[j + 1][0], s[j + 1][1]);
        pa[c][3] = pack(s[j + 1][2], s[j + 1][3]);
      }
#pragma unroll
      for (int n = 0; n < N8; ++n) {
        std::uint32_t b[4];
        ldsm_x4(b, vs + n * 8 * kVStride + kc * 16 + voff);
        mma(o[n], pa[0], b[0], b[1]);
        mma(o[n], pa[1], b[2], b[3]);
      }
    }
    __syncthreads();  // the stage is read before the next load refills it
  }
  l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
  l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
  l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
  const float inv0 = l0 > 0.0f ? 1.0f / l0 : 0.0f;
  const float inv1 = l1 > 0.0f ? 1.0f / l1 : 0.0f;
#pragma unroll
  for (int n = 0; n < N8; ++n) {
#pragma unroll
    for (int e = 0; e < 2; ++e) {
      const int d = n * 8 + 2 * tq + e;
      if (d >= head_dim) continue;
      if (r0 < N) out[r0 * width + col + d] = o[n][e] * inv0;
      if (r1 < N) out[r1 * width + col + d] = o[n][2 + e] * inv1;
    }
  }
}

template <int D16, int N8, bool QS = false>
cudaError_t launch(const float* q, const __half* kh, const __half* vt, int N, int Npad, int heads,
                   int head_dim, float scale, const std::int32_t* segments, int count, float* out,
                   cudaStream_t s) {
  constexpr std::size_t smem =
      sizeof(__half) * static_cast<std::size_t>(2 * (kKeys * (16 * D16 + 8) + 8 * N8 * kVStride) +
                                                (QS ? kRows * (16 * D16 + 8) : 0));
  static PerDeviceOnce smem_once;
  if (const cudaError_t e = opt_in_smem(smem_once, segment_mma_kernel<D16, N8, QS>, smem);
      e != cudaSuccess) {
    return e;
  }
  const dim3 grid(static_cast<unsigned>((N + kRows - 1) / kRows), static_cast<unsigned>(heads));
  segment_mma_kernel<D16, N8, QS><<<grid, kWarps * 32, smem, s>>>(
      q, kh, vt, N, Npad, heads, head_dim, scale * 1.4426950408889634f, segments, count, out);
  return cudaGetLastError();
}

}  // namespace

bool segment_attention_f16_supports(int head_dim) {
  return head_dim > 0 && head_dim <= kMaxDim;
}

std::size_t segment_attention_f16_scratch(std::int64_t max_rows, int max_heads) {
  return sizeof(__half) * static_cast<std::size_t>(padded_rows(max_rows)) *
         static_cast<std::size_t>(max_heads) * 2 * kMaxDim;
}

cudaError_t segment_attention_f16(const float* q, const float* k, const float* v, int N, int heads,
                                  int head_dim, float scale, const std::int32_t* segments,
                                  int count, float* out, void* scratch, std::size_t scratch_bytes,
                                  cudaStream_t s) {
  if (!segment_attention_f16_supports(head_dim) || count <= 0) return cudaErrorInvalidValue;
  if (N == 0) return cudaSuccess;
  const int HDP = dim16(head_dim);
  const int VD = out_dim(head_dim);
  const auto Npad = static_cast<int>(padded_rows(N));
  const std::size_t need = sizeof(__half) * static_cast<std::size_t>(Npad) *
                           static_cast<std::size_t>(heads) * static_cast<std::size_t>(HDP + VD);
  if (need > scratch_bytes) return cudaErrorInvalidValue;
  auto* kh = static_cast<__half*>(scratch);
  __half* vt = kh + static_cast<std::size_t>(Npad) * static_cast<std::size_t>(heads * HDP);
  const dim3 cgrid(static_cast<unsigned>(Npad / 32), static_cast<unsigned>((HDP + 31) / 32),
                   static_cast<unsigned>(heads));
  convert_kv<<<cgrid, dim3(32, 8), 0, s>>>(k, v, N, Npad, heads, head_dim, HDP, VD, kh, vt);
  if (const cudaError_t err = cudaGetLastError(); err != cudaSuccess) return err;
  const auto go = [&](auto fn) {
    return fn(q, kh, vt, N, Npad, heads, head_dim, scale, segments, count, out, s);
  };
  // The common head dims get their own output width; others pad to 16.
  switch (HDP / 16) {
    case 1:
      return VD == 8 ? go(launch<1, 1>) : go(launch<1, 2>);
    case 2:
      return go(launch<2, 4>);
    case 3:
      return go(launch<3, 6>);
    case 4:
      return go(launch<4, 8>);
    case 5:
      // head_dim 72 (SigLIP) with Q in shared memory: 4 blocks per SM
      // instead of 3, 4-7% off the tower on H100.
      return VD == 72 ? go(launch<5, 9, true>) : go(launch<5, 10>);
    case 6:
      return go(launch<6, 12>);
    case 7:
      return go(launch<7, 14>);
    default:
      return go(launch<8, 16>);
  }
}

}  // namespace mlxs::backend::cuda::k
