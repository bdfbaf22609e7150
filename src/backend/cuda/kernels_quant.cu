// Packed MLX affine weights (4 or 8 bits, groups of 32/64/128 columns, a
// scale and a bias per group) read as they are stored, so that decode reads
// a quarter (half) of a bf16 model's bytes:
// - qgemv: 1 to 8 input rows, up to four weights sharing x in one launch,
//   a warp per weight row (see qgemv_kernel), or a warp per row pair
//   (qgemv4_kernel) for 1-4 rows of 4-bit codes; 1-4 rows at groups of 64
//   and 128 go to the tensor cores instead (kernels_quant_mma.cu), 8-bit
//   codes first to kernels_quant8.cu where x fits its staging.
// - dequantize_rows: rows to bf16 for the tensor-core GEMM of prefill.
// - embed: rows of a quantized table for the step's tokens.
#include <algorithm>
#include <cstdlib>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/quant_param.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 4;
constexpr unsigned kMagic = 0x4B000000u;
constexpr float kMagicValue = 8388608.0f;  // 2^23

__device__ __forceinline__ float param(const void* p, WType t, std::int64_t i) {
  switch (t) {
    case WType::kBF16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case WType::kF16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case WType::kF32:
      return static_cast<const float*>(p)[i];
    case WType::kFP8E4M3:  // scales and biases are never e4m3
      break;
  }
  return 0.0f;
}

// Byte B of v as a float (B in 0..3): 0x4B0000bb is 2^23 + bb exactly.
template <int B>
__device__ __forceinline__ float byte_as_float(unsigned v) {
  return __uint_as_float(__byte_perm(v, kMagic, 0x7540u | B)) - kMagicValue;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

struct QSegments {
  QSegment seg[kQgemvMaxSegments];
  int count;
};

// One warp per weight row (the rows of up to four weights sharing x, end to
// end). Lane l reads 32-bit words l, l + 32, ... of the row: every
// warp-wide weight load is 128 contiguous bytes, and so are the lanes' x
// loads (16 bytes per lane for 8-bit words, 32 for 4-bit ones). A word's
// codes share one group:
//   y = Σ_words scale · Σ x·(c - z) + (bias + z · scale) · Σ x,
// z = 8 for 4 bits, 0 for 8 bits. 4-bit words go through f16 pairs: four
// masks with a magic exponent turn the nibbles into half2 (1024 + c, or
// 64 + c for the odd nibbles), one HFMA2 each makes them (c - 8) / 32
// exactly, and four HFMA2 multiply them with x packed to half2, summing
// eight products in f16 (|Σ| <= 2 · max|x|, far from f16's range). 8-bit
// codes become floats with one byte permute each (f32 math).
template <int BITS, WType P, int M>
__global__ void __launch_bounds__(32 * kWarps) qgemv_kernel(const float* x, int K, QSegments segs) {
  constexpr int kPerWord = 32 / BITS;
  constexpr int kUnroll = M <= 2 ? 16 : 8;  // word loads in flight per lane
  const int lane = threadIdx.x & 31;
  int r = blockIdx.x * kWarps + (threadIdx.x >> 5);
  int s = 0;
  while (s < segs.count && r >= segs.seg[s].w.n) r -= segs.seg[s++].w.n;
  if (s >= segs.count) return;
  const QSegment& seg = segs.seg[s];
  const AffineWeight& w = seg.w;
  const int words = K / kPerWord;
  const int groups = K / w.group;
  const unsigned* row =
      static_cast<const unsigned*>(w.packed) + static_cast<std::int64_t>(r) * words;
  const std::int64_t param_row = static_cast<std::int64_t>(r) * groups;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();  // see kernels_gemv.cu: launched early
#endif
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  // A word's scale and bias are loaded with the word, not after it: their
  // first touch misses the caches, and a load issued inside the math would
  // put that latency in series with every word.
  auto consume = [&](unsigned word, int wi, float scale, float bias) {
    const int k = wi * kPerWord;
    if constexpr (BITS == 4) {
      const float shift = bias + 8.0f * scale;
      const __half2 kMul = __floats2half2_rn(1.0f / 32.0f, 1.0f / 32.0f);
      const __half2 kLow = __floats2half2_rn(-1032.0f / 32.0f, -1032.0f / 32.0f);
      const __half2 kHigh = __floats2half2_rn(-72.0f / 32.0f, -72.0f / 32.0f);
      const unsigned shifted = word >> 8;
      const unsigned q0 = (word & 0x000F000Fu) | 0x64006400u;     // c0, c4
      const unsigned q1 = (word & 0x00F000F0u) | 0x54005400u;     // c1, c5
      const unsigned q2 = (shifted & 0x000F000Fu) | 0x64006400u;  // c2, c6
      const unsigned q3 = (shifted & 0x00F000F0u) | 0x54005400u;  // c3, c7
      const __half2 h0 = __hfma2(*reinterpret_cast<const __half2*>(&q0), kMul, kLow);
      const __half2 h1 = __hfma2(*reinterpret_cast<const __half2*>(&q1), kMul, kHigh);
      const __half2 h2 = __hfma2(*reinterpret_cast<const __half2*>(&q2), kMul, kLow);
      const __half2 h3 = __hfma2(*reinterpret_cast<const __half2*>(&q3), kMul, kHigh);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float4* xm =
            reinterpret_cast<const float4*>(x + static_cast<std::int64_t>(m) * K + k);
        const float4 a = xm[0], b = xm[1];
        __half2 sum = __hmul2(__floats2half2_rn(a.x, b.x), h0);
        sum = __hfma2(__floats2half2_rn(a.y, b.y), h1, sum);
        sum = __hfma2(__floats2half2_rn(a.z, b.z), h2, sum);
        sum = __hfma2(__floats2half2_rn(a.w, b.w), h3, sum);
        const float2 f = __half22float2(sum);
        const float total = ((a.x + a.y) + (a.z + a.w)) + ((b.x + b.y) + (b.z + b.w));
        acc[m] += scale * (32.0f * (f.x + f.y)) + shift * total;
      }
    } else {
      const float shift = bias;
      const float q0 = byte_as_float<0>(word), q1 = byte_as_float<1>(word);
      const float q2 = byte_as_float<2>(word), q3 = byte_as_float<3>(word);
#pragma unroll
      for (int m = 0; m < M; ++m) {
        const float4 a = *reinterpret_cast<const float4*>(x + static_cast<std::int64_t>(m) * K + k);
        const float dot = a.x * q0 + a.y * q1 + a.z * q2 + a.w * q3;
        acc[m] += scale * dot + shift * ((a.x + a.y) + (a.z + a.w));
      }
    }
  };
  int wi = lane;
  for (; wi + 32 * (kUnroll - 1) < words; wi += 32 * kUnroll) {
    unsigned raw[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) raw[u] = __ldg(row + wi + 32 * u);
    float sc[kUnroll], sh[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t g = param_row + ((wi + 32 * u) * kPerWord) / w.group;
      sc[u] = load_param<P>(w.scales, g);
      sh[u] = load_param<P>(w.biases, g);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) consume(raw[u], wi + 32 * u, sc[u], sh[u]);
  }
  for (; wi < words; wi += 32) {
    const std::int64_t g = param_row + (wi * kPerWord) / w.group;
    consume(__ldg(row + wi), wi, load_param<P>(w.scales, g), load_param<P>(w.biases, g));
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    const float sum = warp_sum(acc[m]);
    if (lane == 0) {
      seg.y[static_cast<std::int64_t>(m) * w.n + r] =
          sum + (seg.bias != nullptr ? seg.bias[r] : 0.0f);
    }
  }
}

template <int BITS, WType P>
cudaError_t qgemv_rows(const float* x, int M, int K, const QSegments& segs, cudaStream_t s) {
  int rows = 0;
  for (int i = 0; i < segs.count; ++i) rows += segs.seg[i].w.n;
  const auto blocks = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  return with_rows<kGemvMaxRows>(M, [&](auto m) {
    return launch_early(qgemv_kernel<BITS, P, decltype(m)::value>, blocks, 32 * kWarps, s, x, K,
                        segs);
  });
}

// 4-bit codes, 1 to kQ4MaxRows input rows: the bandwidth path. A lane reads
// 16 bytes (32 codes, one group's) per load, kQ4Unroll loads per weight row
// for kQ4Rows rows at once, so that 8 independent loads are in flight per
// lane. x is staged once per block in shared memory as f16, each 8-value
// piece in the order the code masks produce (0 4 1 5 2 6 3 7), its 16-byte
// pieces laid out [row][word of chunk][chunk] (a warp's reads are
// contiguous: no bank conflicts), with each 32-value chunk's f32 sum beside
// it. Per word: four masks with a magic exponent give (1024 + c) and
// (64 + c) half pairs, one HFMA2 each makes them (c - 8) / 64 exactly, four
// HFMA2 multiply them with x; sixteen products are summed in f16 (|Σ| <=
// 2 · max|x|, the old path's range), then f32:
//   y = Σ_chunks 64 · scale · Σ x·(c - 8)/64 + (bias + 8 · scale) · Σ x.
// The grid is sized to what fits on the device at once and the warps
// stride over row pairs, so x is staged once per resident block.
constexpr int kQ4Warps = 8;
constexpr int kQ4Rows = 2;    // weight rows per warp pass, sharing x loads
constexpr int kQ4Unroll = 4;  // 16-byte code loads per row per pass
constexpr int kQ4MaxRows = 4;
constexpr int kQ4Ahead = 2;  // passes of codes prefetched to L2 ahead of use

// The staged x of M rows: f16 values and a float sum per 32-value chunk.
constexpr std::size_t q4_smem_bytes(int M, int K) {
  return static_cast<std::size_t>(M) * (K / 32) * (64 + 4);
}

// Weight row `row` of the segments laid end to end: its segment and its
// index there (s == count when past the end).
__device__ __forceinline__ int find_segment(const QSegments& segs, int& row) {
  int s = 0;
  while (s < segs.count && row >= segs.seg[s].w.n) row -= segs.seg[s++].w.n;
  return s;
}

// A warp's current pair of weight rows (past the end: seg == segs.count).
struct Q4Rows {
  const uint4* codes[kQ4Rows];
  const void* scales[kQ4Rows];
  const void* biases[kQ4Rows];
  std::int64_t prow[kQ4Rows];  // the row's first group
  int gshift[kQ4Rows];         // log2 of the 32-code chunks per group
  int seg[kQ4Rows];
  int row[kQ4Rows];
};

__device__ __forceinline__ void q4_locate(const QSegments& segs, int pair, int C, int K,
                                          Q4Rows& r) {
#pragma unroll
  for (int i = 0; i < kQ4Rows; ++i) {
    int n = pair * kQ4Rows + i;
    r.seg[i] = find_segment(segs, n);
    r.row[i] = n;
    const AffineWeight& w = segs.seg[r.seg[i] < segs.count ? r.seg[i] : 0].w;
    r.codes[i] = static_cast<const uint4*>(w.packed) + static_cast<std::int64_t>(n) * C;
    r.scales[i] = w.scales;
    r.biases[i] = w.biases;
    r.prow[i] = static_cast<std::int64_t>(n) * (K / w.group);
    r.gshift[i] = w.group == 32 ? 0 : w.group == 64 ? 1 : 2;
  }
}

// One pass's loads: kQ4Unroll chunks (c0, c0 + 32, ...) of each row, with
// their groups' parameters; zeros past the end (they then add nothing).
template <WType P>
__device__ __forceinline__ void q4_load(const QSegments& segs, const Q4Rows& r, int c0, int C,
                                        uint4 (&q)[kQ4Rows][kQ4Unroll],
                                        float (&sc)[kQ4Rows][kQ4Unroll],
                                        float (&bi)[kQ4Rows][kQ4Unroll]) {
#pragma unroll
  for (int i = 0; i < kQ4Rows; ++i) {
#pragma unroll
    for (int u = 0; u < kQ4Unroll; ++u) {
      const int c = c0 + 32 * u;
      q[i][u] = make_uint4(0, 0, 0, 0);
      sc[i][u] = 0.0f;
      bi[i][u] = 0.0f;
      if (r.seg[i] < segs.count && c < C) {
        const std::int64_t g = r.prow[i] + (c >> r.gshift[i]);
        q[i][u] = __ldg(r.codes[i] + c);
        sc[i][u] = load_param<P>(r.scales[i], g);
        bi[i][u] = load_param<P>(r.biases[i], g);
      }
    }
  }
}

// Asks L2 for the codes of pass `t` of this warp (pass t: row pair
// first + (t / passes) * stride, chunks from lane + 32 * kQ4Unroll * (t % passes)):
// the DRAM stream runs kQ4Ahead passes ahead of the loads into registers.
__device__ __forceinline__ void q4_prefetch(const QSegments& segs, int first, int stride, int pairs,
                                            int passes, int t, int lane, int C) {
  const int pair = first + (t / passes) * stride;
  if (pair >= pairs) return;
  const int c0 = lane + 32 * kQ4Unroll * (t % passes);
#pragma unroll
  for (int i = 0; i < kQ4Rows; ++i) {
    int n = pair * kQ4Rows + i;
    const int s = find_segment(segs, n);
    if (s >= segs.count) continue;
    const uint4* row =
        static_cast<const uint4*>(segs.seg[s].w.packed) + static_cast<std::int64_t>(n) * C;
#pragma unroll
    for (int u = 0; u < kQ4Unroll; ++u) {
      if (c0 + 32 * u < C) asm volatile("prefetch.global.L2 [%0];" ::"l"(row + c0 + 32 * u));
    }
  }
}

template <WType P, int M>
__global__ void __launch_bounds__(32 * kQ4Warps, M <= 2 ? 2 : 1)
    qgemv4_kernel(const float* x, int K, QSegments segs, int total_rows) {
  extern __shared__ uint4 q4_smem[];
  const int C = K / 32;  // 32-code chunks per row
  uint4* xh = q4_smem;   // [M][4][C]: f16 x, 8 values a word
  float* xsum = reinterpret_cast<float*>(q4_smem + static_cast<std::size_t>(M) * 4 * C);  // [M][C]
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int stride = static_cast<int>(gridDim.x) * kQ4Warps;
  const int pairs = (total_rows + kQ4Rows - 1) / kQ4Rows;
  const int first = static_cast<int>(blockIdx.x) * kQ4Warps + warp;

  // The first pass's codes are constant: loaded before waiting for the
  // kernel that writes x (launched early, see launch_q4), in flight while x
  // is staged, with the next passes' asked of L2.
  const int passes = (C + 32 * kQ4Unroll - 1) / (32 * kQ4Unroll);  // per row pair
  const int total = first < pairs ? (pairs - first + stride - 1) / stride * passes : 0;
  Q4Rows rows;
  uint4 q[kQ4Rows][kQ4Unroll];
  float sc[kQ4Rows][kQ4Unroll], bi[kQ4Rows][kQ4Unroll];
  q4_locate(segs, first, C, K, rows);
  q4_load<P>(segs, rows, lane, C, q, sc, bi);
  for (int t = 1; t <= kQ4Ahead && t < total; ++t) {
    q4_prefetch(segs, first, stride, pairs, passes, t, lane, C);
  }
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
  // Stage x: a thread per 8 values, the four threads of a chunk adjacent;
  // kStage words' loads in flight per thread before any is used.
  {
    constexpr int kStage = 4;
    const int words = K / 8;
    const int n = M * words;
    const int step = static_cast<int>(blockDim.x);
    for (int base = 0; base < n; base += kStage * step) {
      float4 a[kStage], b[kStage];
#pragma unroll
      for (int j = 0; j < kStage; ++j) {
        const int i = base + j * step + static_cast<int>(threadIdx.x);
        a[j] = make_float4(0.f, 0.f, 0.f, 0.f);
        b[j] = a[j];
        if (i < n) {
          a[j] = reinterpret_cast<const float4*>(x)[2 * i];
          b[j] = reinterpret_cast<const float4*>(x)[2 * i + 1];
        }
      }
#pragma unroll
      for (int j = 0; j < kStage; ++j) {
        const int i = base + j * step + static_cast<int>(threadIdx.x);
        float sum =
            ((a[j].x + a[j].y) + (a[j].z + a[j].w)) + ((b[j].x + b[j].y) + (b[j].z + b[j].w));
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        sum += __shfl_xor_sync(0xffffffffu, sum, 2);
        if (i < n) {
          const int m = i / words;
          const int w = i - m * words;
          const __half2 h[4] = {
              __floats2half2_rn(a[j].x, b[j].x), __floats2half2_rn(a[j].y, b[j].y),
              __floats2half2_rn(a[j].z, b[j].z), __floats2half2_rn(a[j].w, b[j].w)};
          xh[(m * 4 + (w & 3)) * C + (w >> 2)] = *reinterpret_cast<const uint4*>(h);
          if ((w & 3) == 0) xsum[m * C + (w >> 2)] = sum;
        }
      }
    }
  }
  __syncthreads();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // x is read: the next kernel may get resident as blocks here finish (it
  // waits for this grid's completion before reading y).
  cudaTriggerProgrammaticLaunchCompletion();
#endif

  const __half2 kMul = __floats2half2_rn(1.0f / 64.0f, 1.0f / 64.0f);
  const __half2 kLow = __floats2half2_rn(-1032.0f / 64.0f, -1032.0f / 64.0f);
  const __half2 kHigh = __floats2half2_rn(-72.0f / 64.0f, -72.0f / 64.0f);
  float acc[kQ4Rows][M];
  int p = first;
  int pass = 0;  // within the row pair
  for (int t = 0; t < total; ++t) {
    if (t > 0) {
      if (pass == 0) q4_locate(segs, p, C, K, rows);
      q4_load<P>(segs, rows, lane + 32 * kQ4Unroll * pass, C, q, sc, bi);
    }
    if (t + kQ4Ahead < total)
      q4_prefetch(segs, first, stride, pairs, passes, t + kQ4Ahead, lane, C);
    if (pass == 0) {
#pragma unroll
      for (int i = 0; i < kQ4Rows; ++i) {
#pragma unroll
        for (int m = 0; m < M; ++m) acc[i][m] = 0.0f;
      }
    }
    {
      const int c0 = lane + 32 * kQ4Unroll * pass;
#pragma unroll
      for (int u = 0; u < kQ4Unroll; ++u) {
        const int c = c0 + 32 * u;
        if (c >= C) break;
        uint4 xv[M][4];
        float xs[M];
#pragma unroll
        for (int m = 0; m < M; ++m) {
#pragma unroll
          for (int j = 0; j < 4; ++j) xv[m][j] = xh[(m * 4 + j) * C + c];
          xs[m] = xsum[m * C + c];
        }
#pragma unroll
        for (int i = 0; i < kQ4Rows; ++i) {
          const unsigned wd[4] = {q[i][u].x, q[i][u].y, q[i][u].z, q[i][u].w};
          __half2 h[4][4];
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const unsigned hi = wd[j] >> 8;
            const unsigned b0 = mask_or<0x000F000Fu, 0x64006400u>(wd[j]);  // 1024 + c0, c4
            const unsigned b1 = mask_or<0x00F000F0u, 0x54005400u>(wd[j]);  // 64 + c1, c5
            const unsigned b2 = mask_or<0x000F000Fu, 0x64006400u>(hi);     // 1024 + c2, c6
            const unsigned b3 = mask_or<0x00F000F0u, 0x54005400u>(hi);     // 64 + c3, c7
            h[j][0] = __hfma2(*reinterpret_cast<const __half2*>(&b0), kMul, kLow);
            h[j][1] = __hfma2(*reinterpret_cast<const __half2*>(&b1), kMul, kHigh);
            h[j][2] = __hfma2(*reinterpret_cast<const __half2*>(&b2), kMul, kLow);
            h[j][3] = __hfma2(*reinterpret_cast<const __half2*>(&b3), kMul, kHigh);
          }
          const float s64 = 64.0f * sc[i][u];
          const float sh = bi[i][u] + 8.0f * sc[i][u];
#pragma unroll
          for (int m = 0; m < M; ++m) {
            float dot = 0.0f;
#pragma unroll
            for (int half = 0; half < 2; ++half) {
              const __half2* xa = reinterpret_cast<const __half2*>(&xv[m][2 * half]);
              const __half2* xb = reinterpret_cast<const __half2*>(&xv[m][2 * half + 1]);
              __half2 sum = __hmul2(xa[0], h[2 * half][0]);
#pragma unroll
              for (int e = 1; e < 4; ++e) sum = __hfma2(xa[e], h[2 * half][e], sum);
#pragma unroll
              for (int e = 0; e < 4; ++e) sum = __hfma2(xb[e], h[2 * half + 1][e], sum);
              const float2 f = __half22float2(sum);
              dot += f.x + f.y;
            }
            acc[i][m] += s64 * dot + sh * xs[m];
          }
        }
      }
    }
    if (++pass < passes) continue;
    pass = 0;
#pragma unroll
    for (int i = 0; i < kQ4Rows; ++i) {
#pragma unroll
      for (int m = 0; m < M; ++m) acc[i][m] = warp_sum(acc[i][m]);
      if (lane == 0 && rows.seg[i] < segs.count) {
        const QSegment& sg = segs.seg[rows.seg[i]];
#pragma unroll
        for (int m = 0; m < M; ++m) {
          sg.y[static_cast<std::int64_t>(m) * sg.w.n + rows.row[i]] =
              acc[i][m] + (sg.bias != nullptr ? sg.bias[rows.row[i]] : 0.0f);
        }
      }
    }
    p += stride;
  }
}

// Programmatic dependent launch (as launch_early) with the staged x's
// dynamic shared memory, on a grid of what fits on the device at once.
template <WType P, int M>
cudaError_t launch_q4(const float* x, int K, const QSegments& segs, int rows, cudaStream_t s) {
  const auto kernel = qgemv4_kernel<P, M>;
  const std::size_t smem = q4_smem_bytes(M, K);
  // Opted in once per device to all a block may have (what q4_fits
  // allows), so that no K needs the attribute set again.
  static PerDeviceOnce once;  // one per kernel (a template's static)
  cudaError_t e = opt_in_smem(once, kernel, static_cast<std::size_t>(smem_optin_limit()));
  int blocks_at_once = 0;
  if (e == cudaSuccess) e = resident_blocks(kernel, 32 * kQ4Warps, smem, K, blocks_at_once);
  if (e != cudaSuccess) return e;
  // As many blocks as are resident at once (x staged once per block), fewer
  // when the weights have fewer row pairs than that.
  const int pairs = (rows + kQ4Rows - 1) / kQ4Rows;
  const int need = (pairs + kQ4Warps - 1) / kQ4Warps;
  const auto blocks = static_cast<unsigned>(std::min(need, blocks_at_once));
  return launch_early_smem(kernel, blocks, 32 * kQ4Warps, smem, s, x, K, segs, rows);
}

// Whether the staged x of M rows fits one block's shared memory.
bool q4_fits(int M, int K) {
  return q4_smem_bytes(M, K) <= static_cast<std::size_t>(smem_optin_limit());
}

template <WType P>
cudaError_t qgemv4_rows(const float* x, int M, int K, const QSegments& segs, cudaStream_t s) {
  int rows = 0;
  for (int i = 0; i < segs.count; ++i) rows += segs.seg[i].w.n;
  return with_rows<kQ4MaxRows>(
      M, [&](auto m) { return launch_q4<P, decltype(m)::value>(x, K, segs, rows, s); });
}

// Code k of a packed row (bits [k·BITS, (k+1)·BITS) of the row's words).
__device__ __forceinline__ unsigned code_at(const unsigned* row, int bits, std::int64_t k) {
  const std::int64_t bit = k * bits;
  return (row[bit >> 5] >> (bit & 31)) & ((1u << bits) - 1u);
}

__device__ __forceinline__ float dequant(const AffineWeight& w, int K, std::int64_t r,
                                         std::int64_t k) {
  const auto* row = static_cast<const unsigned*>(w.packed) + r * (K * w.bits / 32);
  const std::int64_t g = r * (K / w.group) + k / w.group;
  return param(w.scales, w.param_type, g) * static_cast<float>(code_at(row, w.bits, k)) +
         param(w.biases, w.param_type, g);
}

// A thread per 32-bit word of codes: its group's scale and bias read once,
// its 8 (4) bf16 values written with one 16-byte (8-byte) store.
template <int BITS>
__global__ void dequantize_kernel(AffineWeight w, int K, int row0, std::int64_t words,
                                  __nv_bfloat16* out) {
  constexpr int kPerWord = 32 / BITS;
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= words) return;
  const int per_row = K / kPerWord;
  const std::int64_t r = row0 + i / per_row;
  const int k = static_cast<int>(i % per_row) * kPerWord;
  const unsigned word =
      static_cast<const unsigned*>(w.packed)[r * per_row + static_cast<std::int64_t>(k / kPerWord)];
  const std::int64_t g = r * (K / w.group) + k / w.group;
  const float scale = param(w.scales, w.param_type, g);
  const float shift = param(w.biases, w.param_type, g);
  __align__(16) __nv_bfloat16 v[kPerWord];
#pragma unroll
  for (int j = 0; j < kPerWord; ++j) {
    v[j] = __float2bfloat16(scale * static_cast<float>((word >> (j * BITS)) & ((1u << BITS) - 1u)) +
                            shift);
  }
  __nv_bfloat16* dst = out + i * kPerWord;
  if constexpr (BITS == 4) {
    *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(v);
  } else {
    *reinterpret_cast<uint2*>(dst) = *reinterpret_cast<const uint2*>(v);
  }
}

__global__ void embed_affine_kernel(AffineWeight w, int K, VocabRows rows, StepMeta m, float scale,
                                    float* out) {
  const int t = blockIdx.x;
  const std::int64_t local = table_row(m, t, rows);
  for (int k = threadIdx.x; k < K; k += blockDim.x) {
    out[static_cast<std::int64_t>(t) * K + k] = local < 0 ? 0.0f : dequant(w, K, local, k) * scale;
  }
}

unsigned blocks_for(std::int64_t n, int threads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

}  // namespace

bool qgemv_supports(int bits, int group, std::int64_t K) {
  return (bits == 4 || bits == 8) && (group == 32 || group == 64 || group == 128) && K % group == 0;
}

cudaError_t qgemv(const float* x, int M, int K, const QSegment* segments, int count,
                  cudaStream_t s) {
  if (M == 0 || count == 0) return cudaSuccess;
  if (count > kQgemvMaxSegments || reinterpret_cast<std::uintptr_t>(x) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  QSegments segs{};
  segs.count = count;
  for (int i = 0; i < count; ++i) {
    const AffineWeight& w = segments[i].w;
    if (!qgemv_supports(w.bits, w.group, K) || w.bits != segments[0].w.bits ||
        w.param_type != segments[0].w.param_type) {
      return cudaErrorInvalidValue;
    }
    segs.seg[i] = segments[i];
  }
  const bool four = segments[0].w.bits == 4;
  // MLXS_QGEMV_OLD=1 keeps 4-bit codes on the word-per-lane kernel (A/B).
  static const bool old_path = [] {
    const char* v = std::getenv("MLXS_QGEMV_OLD");
    return v != nullptr && v[0] == '1';
  }();
  // The tensor-core paths take segments of one group size.
  bool one_group = true;
  for (int i = 1; i < count; ++i)
    one_group = one_group && segments[i].w.group == segments[0].w.group;
  // 8-bit codes at 1-4 rows: the FP8 GEMV's layout (kernels_quant8.cu)
  // where x fits its staging, unless MLXS_Q8_GEMV=0.
  if (!four && one_group) {
    bool takes = true;
    for (int i = 0; i < count; ++i) takes = takes && qgemv8_takes(M, K, segments[i].w);
    if (takes) return qgemv8(x, M, K, segments, count, s);
  }
  // 1-4 rows at groups of 64 or 128 go to the tensor-core GEMV
  // (kernels_quant_mma.cu; 8B int4 decode 367 -> 430 tok/s at one row on an
  // H100), unless MLXS_Q4_MMA=0.
  if (!(four && old_path) && one_group &&
      qgemv_mma_supports(segments[0].w.bits, M, K, segments[0].w.group)) {
    return qgemv_mma(x, M, K, segments, count, s);
  }
  const bool q4 = four && !old_path && M <= kQ4MaxRows && q4_fits(M, K);
  return with_param_type(segments[0].w.param_type, [&](auto p) {
    constexpr WType P = decltype(p)::value;
    if (q4) return qgemv4_rows<P>(x, M, K, segs, s);
    return four ? qgemv_rows<4, P>(x, M, K, segs, s) : qgemv_rows<8, P>(x, M, K, segs, s);
  });
}

bool qgemv_preferred(int M, std::int64_t K, const AffineWeight& w) {
  return (w.bits == 4 && M <= kQgemv4PreferredRows) || qgemv8_takes(M, K, w) ||
         qgemv_mma_supports(w.bits, M, K, w.group);
}

cudaError_t dequantize_rows(const AffineWeight& w, int K, int row0, int rows, void* out_bf16,
                            cudaStream_t s) {
  if (w.bits != 4 && w.bits != 8) return cudaErrorInvalidValue;
  const std::int64_t words = static_cast<std::int64_t>(rows) * K * w.bits / 32;
  if (words == 0) return cudaSuccess;
  auto* out = static_cast<__nv_bfloat16*>(out_bf16);
  if (w.bits == 4) {
    dequantize_kernel<4><<<blocks_for(words, 256), 256, 0, s>>>(w, K, row0, words, out);
  } else {
    dequantize_kernel<8><<<blocks_for(words, 256), 256, 0, s>>>(w, K, row0, words, out);
  }
  return cudaGetLastError();
}

cudaError_t embed_affine(const AffineWeight& w, int K, VocabRows rows, const StepMeta& m, int T,
                         float scale, float* out, cudaStream_t s) {
  if (T == 0) return cudaSuccess;
  embed_affine_kernel<<<T, 256, 0, s>>>(w, K, rows, m, scale, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
