// FP8 e4m3 weights read as stored (see kernels_fp8.h). e4m3 converts to f16
// exactly (every e4m3 value is an f16), two codes per cvt instruction.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "backend/cuda/act_device.cuh"
#include "backend/cuda/block_reduce.cuh"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/e4m3.cuh"
#include "backend/cuda/kernels_fp8.h"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/tile_rows.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 8;
constexpr int kUnroll = 4;  // 16-byte code loads in flight per row per lane

struct Fp8Segs {
  Fp8Segment seg[kFp8MaxSegments];
  int count;
  bool pair_chunks;  // see fp8_gemv_kernel; MLXS_FP8_PAIRED=0 clears it (A/B)
};

__device__ __forceinline__ unsigned half2_bits(float a, float b) {
  const __half2 h = __floats2half2_rn(a, b);
  return *reinterpret_cast<const unsigned*>(&h);
}

__device__ __forceinline__ float scale_at(const Fp8Weight& w, int K, int row, int col) {
  const int groups = (K + w.group - 1) / w.group;
  return __ldg(w.scales + static_cast<std::int64_t>(row / w.block_rows) * groups + col / w.group);
}

__device__ __forceinline__ void mma16816(float (&d)[4], unsigned a0, unsigned a1, unsigned a2,
                                         unsigned a3, unsigned b0, unsigned b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// A block per tile of 16 weight rows; its 8 warps split K in 64-column
// chunks (warp w takes chunks w, w + 8, ...), summed through shared memory
// at the end. Lane (g, t) = (lane / 4, lane % 4) loads 16 bytes of rows g
// and g + 8 at columns 16t.. of a chunk: kUnroll chunks, 2 · kUnroll loads
// in flight. The mma's k order is a permutation of the chunk's columns
// (A and B use the same one): step s takes the lane's bytes 4s..4s+3 as
// k = 2t, 2t+1 (low pair) and 2t+8, 2t+9 (high pair), so the lane's x is the
// same 16 contiguous f16 values, two 16-byte loads per 8 input rows.
// PER_ROW: one scale per row (applied once at the end); otherwise each
// chunk's product is scaled by its block's scale.
template <int NT, bool PER_ROW, bool XF16>
__global__ void __launch_bounds__(32 * kWarps)
    fp8_gemv_kernel(const void* xv, int M, int K, Fp8Segs segs) {
  __shared__ float red[kWarps][NT * 4][32];
  const TileRows at = tile_rows(segs);
  if (at.seg >= segs.count) return;
  const Fp8Segment& sg = segs.seg[at.seg];
  const Fp8Weight& w = sg.w;
  const int lane = at.lane, warp = at.warp, g = at.g, t = at.t, r0 = at.r0, r1 = at.r1;
  const bool v0 = at.v0, v1 = at.v1;
  const auto* codes = static_cast<const uint4*>(static_cast<const void*>(w.codes));
  const uint4* row0 = codes + static_cast<std::int64_t>(r0) * (K / 16);  // 16 bytes a piece
  const uint4* row1 = codes + static_cast<std::int64_t>(r1) * (K / 16);
  const int C = K / 64;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  // Paired chunks: chunks 2p and 2p + 1 go to one warp, and lane t takes
  // columns 32t.. and 32t + 16.. of their 128, so each row's 128-byte line
  // is fetched by one load (the second hits L1) instead of two 64-byte
  // halves by two warps. K must hold whole pairs, and one scale must cover
  // 128 columns.
  const bool paired = segs.pair_chunks && K % 128 == 0 && (PER_ROW || w.group % 128 == 0);
  // Chunk u of this warp's pass i, and the first column of the lane's 16.
  const auto chunk = [&](int i, int u) {
    return paired ? 2 * (warp + kWarps * (i * (kUnroll / 2) + u / 2)) + (u & 1)
                  : warp + kWarps * (i * kUnroll + u);
  };
  const auto column = [&](int cc) {
    return paired ? (cc >> 1) * 128 + 32 * t + (cc & 1) * 16 : cc * 64 + 16 * t;
  };
  uint4 q0[kUnroll], q1[kUnroll];
  const auto load = [&](int i) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int cc = chunk(i, u);
      const int piece = column(cc) / 16;
      q0[u] = v0 && cc < C ? __ldg(row0 + piece) : zero;
      q1[u] = v1 && cc < C ? __ldg(row1 + piece) : zero;
    }
  };
  // The weights are constant: the first loads are in flight while this
  // launch (programmatic, see launch_early) waits for the kernel writing x.
  load(0);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
  // f32 x (XF16 false) is staged as f16 in shared memory by the whole block
  // once: each chunk's fragment is then two shared loads, where each warp
  // converted its chunks' x from four global loads a lane.
  extern __shared__ uint4 x_staged[];  // [M][K / 8]
  if constexpr (!XF16) {
    const auto* xf = static_cast<const float4*>(xv);
    for (int e = static_cast<int>(threadIdx.x); e < M * K / 8; e += 32 * kWarps) {
      const float4 f0 = __ldg(xf + 2 * e), f1 = __ldg(xf + 2 * e + 1);
      x_staged[e] = make_uint4(half2_bits(f0.x, f0.y), half2_bits(f0.z, f0.w),
                               half2_bits(f1.x, f1.y), half2_bits(f1.z, f1.w));
    }
    __syncthreads();
  }
  float acc[NT][4];
#pragma unroll
  for (int j = 0; j < NT; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) acc[j][e] = 0.0f;
  }
  for (int i = 0; chunk(i, 0) < C; ++i) {
    if (i != 0) load(i);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int cc = chunk(i, u);
      if (cc >= C) break;
      // x as f16: staged above from f32 (XF16 false), or as a conversion
      // pass wrote it.
      uint4 xa[NT], xb[NT];
#pragma unroll
      for (int j = 0; j < NT; ++j) {
        const int m = j * 8 + g;
        xa[j] = zero;
        xb[j] = zero;
        if (m >= M) continue;
        const std::int64_t at = static_cast<std::int64_t>(m) * K + column(cc);
        if constexpr (XF16) {
          const uint4* xr = reinterpret_cast<const uint4*>(static_cast<const __half*>(xv) + at);
          xa[j] = __ldg(xr);
          xb[j] = __ldg(xr + 1);
        } else {
          xa[j] = x_staged[at / 8];
          xb[j] = x_staged[at / 8 + 1];
        }
      }
      const unsigned qa[4] = {q0[u].x, q0[u].y, q0[u].z, q0[u].w};
      const unsigned qb[4] = {q1[u].x, q1[u].y, q1[u].z, q1[u].w};
      float part[NT][4];
#pragma unroll
      for (int j = 0; j < NT; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) part[j][e] = 0.0f;
      }
#pragma unroll
      for (int st = 0; st < 4; ++st) {
        const unsigned a0 = e4m3x2_to_half2_bits(static_cast<unsigned short>(qa[st] & 0xFFFFu));
        const unsigned a2 = e4m3x2_to_half2_bits(static_cast<unsigned short>(qa[st] >> 16));
        const unsigned a1 = e4m3x2_to_half2_bits(static_cast<unsigned short>(qb[st] & 0xFFFFu));
        const unsigned a3 = e4m3x2_to_half2_bits(static_cast<unsigned short>(qb[st] >> 16));
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          const unsigned xw[8] = {xa[j].x, xa[j].y, xa[j].z, xa[j].w,
                                  xb[j].x, xb[j].y, xb[j].z, xb[j].w};
          if constexpr (PER_ROW) {
            mma16816(acc[j], a0, a1, a2, a3, xw[2 * st], xw[2 * st + 1]);
          } else {
            mma16816(part[j], a0, a1, a2, a3, xw[2 * st], xw[2 * st + 1]);
          }
        }
      }
      if constexpr (!PER_ROW) {
        const int col0 = paired ? (cc >> 1) * 128 : cc * 64;  // the chunk's first column
        const float s0 = v0 ? scale_at(w, K, r0, col0) : 0.0f;
        const float s1 = v1 ? scale_at(w, K, r1, col0) : 0.0f;
#pragma unroll
        for (int j = 0; j < NT; ++j) {
          acc[j][0] += s0 * part[j][0];
          acc[j][1] += s0 * part[j][1];
          acc[j][2] += s1 * part[j][2];
          acc[j][3] += s1 * part[j][3];
        }
      }
    }
  }
#pragma unroll
  for (int j = 0; j < NT; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) red[warp][j * 4 + e][lane] = acc[j][e];
  }
  __syncthreads();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
  if (warp != 0) return;
#pragma unroll
  for (int j = 0; j < NT; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float v = 0.0f;
#pragma unroll
      for (int i = 0; i < kWarps; ++i) v += red[i][j * 4 + e][lane];
      // C fragment: e 0, 1 row g, e 2, 3 row g + 8; input row 2t + (e & 1).
      const int r = e < 2 ? r0 : r1;
      const int m = j * 8 + 2 * t + (e & 1);
      if (r < w.n && m < M) {
        if constexpr (PER_ROW) v *= scale_at(w, K, r, 0);
        sg.y[static_cast<std::int64_t>(m) * w.n + r] = v + (sg.bias != nullptr ? sg.bias[r] : 0.0f);
      }
    }
  }
}

// A warp per weight row, f32 products: lane l takes 16-byte pieces l,
// l + 32, ... (one scale each).
template <int M>
__global__ void __launch_bounds__(32 * kWarps)
    fp8_gemv_exact_kernel(const float* x, int K, Fp8Segs segs) {
  int r = static_cast<int>(blockIdx.x) * kWarps + (static_cast<int>(threadIdx.x) >> 5);
  int s = 0;
  while (s < segs.count && r >= segs.seg[s].w.n) r -= segs.seg[s++].w.n;
  if (s >= segs.count) return;
  const Fp8Segment& sg = segs.seg[s];
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const uint4* row =
      reinterpret_cast<const uint4*>(sg.w.codes) + static_cast<std::int64_t>(r) * (K / 16);
  float acc[M];
#pragma unroll
  for (int m = 0; m < M; ++m) acc[m] = 0.0f;
  for (int i = lane; i < K / 16; i += 32) {
    const uint4 q = __ldg(row + i);
    const unsigned qw[4] = {q.x, q.y, q.z, q.w};
    float wv[16];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const unsigned lo = e4m3x2_to_half2_bits(static_cast<unsigned short>(qw[j] & 0xFFFFu));
      const unsigned hi = e4m3x2_to_half2_bits(static_cast<unsigned short>(qw[j] >> 16));
      const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&lo));
      const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&hi));
      wv[4 * j] = a.x;
      wv[4 * j + 1] = a.y;
      wv[4 * j + 2] = b.x;
      wv[4 * j + 3] = b.y;
    }
    const float sc = scale_at(sg.w, K, r, i * 16);
#pragma unroll
    for (int m = 0; m < M; ++m) {
      const float4* xm =
          reinterpret_cast<const float4*>(x + static_cast<std::int64_t>(m) * K + i * 16);
      float dot = 0.0f;
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float4 v = xm[j];
        dot += v.x * wv[4 * j] + v.y * wv[4 * j + 1] + v.z * wv[4 * j + 2] + v.w * wv[4 * j + 3];
      }
      acc[m] += sc * dot;
    }
  }
#pragma unroll
  for (int m = 0; m < M; ++m) {
    float v = acc[m];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) {
      sg.y[static_cast<std::int64_t>(m) * sg.w.n + r] =
          v + (sg.bias != nullptr ? sg.bias[r] : 0.0f);
    }
  }
}

// A thread per 16 codes: one scale, one 32-byte store of bf16.
__global__ void fp8_dequantize_kernel(Fp8Weight w, int K, int row0, std::int64_t pieces,
                                      __nv_bfloat16* out) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= pieces) return;
  const int per_row = K / 16;
  const int r = row0 + static_cast<int>(i / per_row);
  const int col = static_cast<int>(i % per_row) * 16;
  const uint4 q = __ldg(reinterpret_cast<const uint4*>(w.codes) +
                        static_cast<std::int64_t>(r) * per_row + col / 16);
  const float sc = scale_at(w, K, r, col);
  const unsigned qw[4] = {q.x, q.y, q.z, q.w};
  __align__(16) __nv_bfloat16 v[16];
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const unsigned lo = e4m3x2_to_half2_bits(static_cast<unsigned short>(qw[j] & 0xFFFFu));
    const unsigned hi = e4m3x2_to_half2_bits(static_cast<unsigned short>(qw[j] >> 16));
    const float2 a = __half22float2(*reinterpret_cast<const __half2*>(&lo));
    const float2 b = __half22float2(*reinterpret_cast<const __half2*>(&hi));
    v[4 * j] = __float2bfloat16(sc * a.x);
    v[4 * j + 1] = __float2bfloat16(sc * a.y);
    v[4 * j + 2] = __float2bfloat16(sc * b.x);
    v[4 * j + 3] = __float2bfloat16(sc * b.y);
  }
  uint4* dst = reinterpret_cast<uint4*>(out + i * 16);
  dst[0] = reinterpret_cast<const uint4*>(v)[0];
  dst[1] = reinterpret_cast<const uint4*>(v)[1];
}

__global__ void fp8_embed_kernel(Fp8Weight w, int K, VocabRows rows, StepMeta m, float scale,
                                 float* out) {
  const int t = static_cast<int>(blockIdx.x);
  const std::int64_t local = table_row(m, t, rows);
  float* dst = out + static_cast<std::int64_t>(t) * K;
  if (local < 0) {
    for (int c = static_cast<int>(threadIdx.x); c < K; c += static_cast<int>(blockDim.x)) {
      dst[c] = 0.0f;
    }
    return;
  }
  const std::uint8_t* row = w.codes + local * K;
  for (int c = static_cast<int>(threadIdx.x); c < K; c += static_cast<int>(blockDim.x)) {
    const __half_raw h = __nv_cvt_fp8_to_halfraw(row[c], __NV_E4M3);
    dst[c] = __half2float(__half(h)) * scale_at(w, K, static_cast<int>(local), c) * scale;
  }
}

// Value pairs i of row `row` of what quantize_rows_kernel quantizes: x's
// rows, or a gated MLP's act(gate) * up.
struct PlainPairs {
  const float* x;
  int K;
  __device__ float2 operator()(std::int64_t row, int i) const {
    return reinterpret_cast<const float2*>(x + row * K)[i];
  }
};
// Pair i of a row of f32 or bf16 values, as floats.
__device__ __forceinline__ float2 pair_at(const float* row, int i) {
  return reinterpret_cast<const float2*>(row)[i];
}
__device__ __forceinline__ float2 pair_at(const __nv_bfloat16* row, int i) {
  return __bfloat1622float2(reinterpret_cast<const __nv_bfloat162*>(row)[i]);
}
// act(gate) * up from f32 products, or from bf16 ones (the FP8 GEMMs' bf16
// outputs: half the bytes of f32 to write and to read back here).
template <typename T>
struct GatedPairs {
  Act a;
  const T* gate;
  const T* up;
  int K;
  __device__ float2 operator()(std::int64_t row, int i) const {
    const float2 g = pair_at(gate + row * K, i);
    const float2 u = pair_at(up + row * K, i);
    return make_float2(activate(a, g.x) * u.x, activate(a, g.y) * u.y);
  }
};

// A block per row: its largest |x| gives the row's scale (amax / 448, 1 for
// a zero row), then the row as e4m3 of x / scale (round to nearest,
// saturating), two values per conversion; the values are read (computed)
// twice rather than held.
template <typename Pairs>
__global__ void __launch_bounds__(256)
    quantize_rows_kernel(Pairs pairs, int K, std::uint8_t* out, float* scales) {
  __shared__ float part[8];
  const std::int64_t row = blockIdx.x;
  float amax = 0.0f;
  for (int i = static_cast<int>(threadIdx.x); i < K / 2; i += 256) {
    const float2 v = pairs(row, i);
    amax = fmaxf(amax, fmaxf(fabsf(v.x), fabsf(v.y)));
  }
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = amax;
  __syncthreads();
  amax = part[0];
#pragma unroll
  for (int w = 1; w < 8; ++w) amax = fmaxf(amax, part[w]);
  const E4m3Scale sc = e4m3_row_scale(amax);
  const float inv = sc.inv;
  if (threadIdx.x == 0) scales[row] = sc.scale;
  auto* o = reinterpret_cast<__nv_fp8x2_storage_t*>(out + row * K);
  for (int i = static_cast<int>(threadIdx.x); i < K / 2; i += 256) {
    const float2 v = pairs(row, i);
    o[i] = __nv_cvt_float2_to_fp8x2(make_float2(v.x * inv, v.y * inv), __NV_SATFINITE, __NV_E4M3);
  }
}

std::atomic<bool> held_quantize_rows{true};  // set_fp8_held_quantize

// The same with the row's values held in registers between the two steps:
// one read (one activation) a value instead of two, and 1,024 threads a
// row. A decode step's few rows each got one 256-thread block that walked
// its 14,336 gated values twice: 29.9 us of a 64-row Llama-8B layer's 222
// (H200, Nsight), more than its o projection.
constexpr int kHeldThreads = 1024;
constexpr int kHeldPairs = 8;  // per thread: rows of up to 16,384 values
template <typename Pairs>
__global__ void __launch_bounds__(kHeldThreads)
    quantize_held_rows_kernel(Pairs pairs, int K, std::uint8_t* out, float* scales) {
  __shared__ float part[kHeldThreads / 32];
  const std::int64_t row = blockIdx.x;
  const int tid = static_cast<int>(threadIdx.x);
  float2 v[kHeldPairs];
  float amax = 0.0f;
#pragma unroll
  for (int j = 0; j < kHeldPairs; ++j) {
    const int i = tid + j * kHeldThreads;
    v[j] = i < K / 2 ? pairs(row, i) : make_float2(0.0f, 0.0f);
    amax = fmaxf(amax, fmaxf(fabsf(v[j].x), fabsf(v[j].y)));
  }
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  if ((tid & 31) == 0) part[tid >> 5] = amax;
  __syncthreads();
  amax = part[tid & 31];
  for (int o = 16; o > 0; o >>= 1) amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, o));
  const E4m3Scale sc = e4m3_row_scale(amax);
  const float inv = sc.inv;
  if (tid == 0) scales[row] = sc.scale;
  auto* o = reinterpret_cast<__nv_fp8x2_storage_t*>(out + row * K);
#pragma unroll
  for (int j = 0; j < kHeldPairs; ++j) {
    const int i = tid + j * kHeldThreads;
    if (i < K / 2) {
      o[i] = __nv_cvt_float2_to_fp8x2(make_float2(v[j].x * inv, v[j].y * inv), __NV_SATFINITE,
                                      __NV_E4M3);
    }
  }
}

// A quantize launch: values held where a row fits the threads' registers.
template <typename Pairs>
cudaError_t launch_quantize_rows(const Pairs& pairs, int M, int K, std::uint8_t* out, float* scales,
                                 cudaStream_t s) {
  if (M == 0) return cudaSuccess;
  if (K % 2 != 0) return cudaErrorInvalidValue;
  if (K / 2 <= kHeldThreads * kHeldPairs && held_quantize_rows.load(std::memory_order_relaxed)) {
    quantize_held_rows_kernel<<<M, kHeldThreads, 0, s>>>(pairs, K, out, scales);
  } else {
    quantize_rows_kernel<<<M, 256, 0, s>>>(pairs, K, out, scales);
  }
  return cudaGetLastError();
}

// add_rms_norm's vector kernel (x += delta; out = rms_norm(x) · (w + offset),
// the same operations in the same order, a float4 a thread) that also
// leaves out's per-token e4m3 codes and scale, as quantize_held_rows_kernel
// computes them, for the FP8 GEMM that reads out next: the quantize's pass
// over out and its launch are gone.
__global__ void add_rms_norm_quantize_kernel(float* x, const float* delta, const float* w,
                                             float eps, float offset, float* out, int n,
                                             std::uint8_t* codes, float* scales) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
  cudaGridDependencySynchronize();  // launched early (decode): delta is the previous kernel's
#endif
  const int quads = n / 4;
  const std::int64_t r = blockIdx.x;
  const std::int64_t row = r * n;
  const int i = static_cast<int>(threadIdx.x);
  const float4 v = add_rms_norm_quad(x + row, delta + row, w, eps, offset, out + row, n);
  const float amax = block_max(
      i < quads ? fmaxf(fmaxf(fabsf(v.x), fabsf(v.y)), fmaxf(fabsf(v.z), fabsf(v.w))) : 0.0f);
  const E4m3Scale sc = e4m3_row_scale(amax);
  if (i == 0) scales[r] = sc.scale;
  if (i < quads) {
    reinterpret_cast<unsigned*>(codes + row)[i] =
        e4m3x4_bits(make_float4(v.x * sc.inv, v.y * sc.inv, v.z * sc.inv, v.w * sc.inv));
  }
}

// A float4 of one row per thread: the slices summed, scaled, biased and
// stored in the part its columns fall in.
__global__ void fp8_splitk_reduce_kernel(const float4* partials, int splits, std::int64_t n4,
                                         int width4, const float* x_scales, const float* w_scales,
                                         const float* bias, ColumnParts parts) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n4) return;
  float4 v = partials[i];
  for (int sl = 1; sl < splits; ++sl) {
    const float4 p = partials[i + sl * n4];
    v.x += p.x;
    v.y += p.y;
    v.z += p.z;
    v.w += p.w;
  }
  const std::int64_t row = i / width4;
  int c = static_cast<int>(i - row * width4);
  const int col = 4 * c;
  const float xs = x_scales[row];
  const float* ws = w_scales + col;
  float4 out = make_float4(v.x * xs * ws[0], v.y * xs * ws[1], v.z * xs * ws[2], v.w * xs * ws[3]);
  if (bias != nullptr) {
    out.x += bias[col];
    out.y += bias[col + 1];
    out.z += bias[col + 2];
    out.w += bias[col + 3];
  }
  int p = 0;
  while (p + 1 < parts.count && c >= parts.part[p].cols / 4) c -= parts.part[p++].cols / 4;
  reinterpret_cast<float4*>(parts.part[p].dst)[row * (parts.part[p].cols / 4) + c] = out;
}

__global__ void fp8_scale_output_kernel(float* y, const float* row_scale, const float* col_scale,
                                        const float* bias, std::int64_t rows, int n) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= rows * n) return;
  const int c = static_cast<int>(i % n);
  y[i] = y[i] * (row_scale[i / n] * col_scale[c]) + (bias != nullptr ? bias[c] : 0.0f);
}

// One FP8 GEMV launch with `staged` bytes of f16 x in shared memory, opted
// in to kFp8StagedXMaxBytes once per device where that passes 48 KiB.
template <int NT, bool PER_ROW, bool XF16>
cudaError_t launch_fp8_gemv(unsigned blocks, std::size_t staged, cudaStream_t s, const void* x,
                            int M, int K, const Fp8Segs& segs) {
  constexpr auto kernel = fp8_gemv_kernel<NT, PER_ROW, XF16>;
  static PerDeviceOnce once;  // one per kernel (a template's static)
  if (staged > 48 * 1024) {
    if (const cudaError_t e = opt_in_smem(once, kernel, kFp8StagedXMaxBytes); e != cudaSuccess) {
      return e;
    }
  }
  return launch_early_smem(kernel, blocks, 32 * kWarps, staged, s, x, M, K, segs);
}

bool load_segs(const Fp8Segment* segments, int count, Fp8Segs& segs) {
  if (count <= 0 || count > kFp8MaxSegments) return false;
  segs.count = count;
  static const bool pair_chunks = [] {
    const char* env = std::getenv("MLXS_FP8_PAIRED");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  segs.pair_chunks = pair_chunks;
  for (int i = 0; i < count; ++i) segs.seg[i] = segments[i];
  return true;
}

}  // namespace

void set_fp8_held_quantize(bool held) {
  held_quantize_rows.store(held, std::memory_order_relaxed);
}

bool fp8_gemv_supports(int group, std::int64_t K) {
  return K % 64 == 0 && group % 64 == 0;
}

bool fp8_gemv_stages_x(std::int64_t M, std::int64_t K) {
  return static_cast<std::size_t>(M * K) * 2 <= kFp8StagedXMaxBytes;
}

bool fp8_exact_supports(int group, std::int64_t K) {
  return K % 16 == 0 && group % 16 == 0;
}

cudaError_t fp8_quantize_rows(const float* x, int M, int K, std::uint8_t* out, float* scales,
                              cudaStream_t s) {
  return launch_quantize_rows(PlainPairs{x, K}, M, K, out, scales, s);
}

cudaError_t fp8_quantize_gated_rows(Act a, const float* gate, const float* up, int M, int K,
                                    std::uint8_t* out, float* scales, cudaStream_t s) {
  return launch_quantize_rows(GatedPairs<float>{a, gate, up, K}, M, K, out, scales, s);
}

cudaError_t fp8_quantize_gated_half_rows(Act a, const void* gate, const void* up, int M, int K,
                                         std::uint8_t* out, float* scales, cudaStream_t s) {
  return launch_quantize_rows(GatedPairs<__nv_bfloat16>{a, static_cast<const __nv_bfloat16*>(gate),
                                                        static_cast<const __nv_bfloat16*>(up), K},
                              M, K, out, scales, s);
}

bool add_rms_norm_quantize_supported(int n, const void* x, const void* delta, const void* w,
                                     const void* out) {
  const auto aligned = [](const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; };
  return n % 4 == 0 && n / 4 <= 1024 && aligned(x) && aligned(delta) && aligned(w) && aligned(out);
}

cudaError_t add_rms_norm_quantize(float* x, const float* delta, const float* w, float eps,
                                  float offset, float* out, std::int64_t rows, int n,
                                  std::uint8_t* codes, float* scales, cudaStream_t s, bool early) {
  if (rows == 0) return cudaSuccess;
  if (!add_rms_norm_quantize_supported(n, x, delta, w, out)) return cudaErrorInvalidValue;
  const auto threads = static_cast<unsigned>((n / 4 + 31) / 32 * 32);
  if (early) {
    return launch_early(add_rms_norm_quantize_kernel, static_cast<unsigned>(rows), threads, s, x,
                        delta, w, eps, offset, out, n, codes, scales);
  }
  add_rms_norm_quantize_kernel<<<static_cast<unsigned>(rows), threads, 0, s>>>(
      x, delta, w, eps, offset, out, n, codes, scales);
  return cudaGetLastError();
}

cudaError_t fp8_splitk_reduce(const float* partials, int splits, std::int64_t M, int N,
                              const float* x_scales, const float* w_scales, const float* bias,
                              const ColumnParts& parts, cudaStream_t s) {
  if (N % 4 != 0 || splits < 1) return cudaErrorInvalidValue;
  const std::int64_t n4 = M * (N / 4);
  if (n4 == 0) return cudaSuccess;
  fp8_splitk_reduce_kernel<<<static_cast<unsigned>((n4 + 255) / 256), 256, 0, s>>>(
      reinterpret_cast<const float4*>(partials), splits, n4, N / 4, x_scales, w_scales, bias,
      parts);
  return cudaGetLastError();
}

cudaError_t fp8_scale_output(float* y, const float* row_scale, const float* col_scale,
                             const float* bias, std::int64_t rows, int n, cudaStream_t s) {
  const std::int64_t total = rows * n;
  if (total == 0) return cudaSuccess;
  fp8_scale_output_kernel<<<static_cast<unsigned>((total + 255) / 256), 256, 0, s>>>(
      y, row_scale, col_scale, bias, rows, n);
  return cudaGetLastError();
}

cudaError_t fp8_gemv(const void* x, bool x_f16, int M, int K, const Fp8Segment* segments, int count,
                     cudaStream_t s) {
  if (M == 0 || count == 0) return cudaSuccess;
  Fp8Segs segs{};
  if (M > kFp8GemvMaxRows || !load_segs(segments, count, segs) ||
      reinterpret_cast<std::uintptr_t>(x) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  int tiles = 0;
  bool per_row = true;
  for (int i = 0; i < count; ++i) {
    const Fp8Weight& w = segments[i].w;
    if (!fp8_gemv_supports(w.group, K)) return cudaErrorInvalidValue;
    tiles += (w.n + 15) / 16;
    per_row = per_row && w.group >= K && w.block_rows == 1;
  }
  const auto blocks = static_cast<unsigned>(tiles);
  if (!x_f16 && !fp8_gemv_stages_x(M, K)) return cudaErrorInvalidValue;
  const std::size_t staged = x_f16 ? 0 : static_cast<std::size_t>(M) * K * 2;
  // The kernel of (row tiles, per-row scales, f16 x), each an integral constant.
  const auto go = [&](auto nt, auto per_row_c, auto xf16_c) {
    return launch_fp8_gemv<decltype(nt)::value, decltype(per_row_c)::value,
                           decltype(xf16_c)::value>(blocks, staged, s, x, M, K, segs);
  };
  using One = std::integral_constant<int, 1>;
  using Two = std::integral_constant<int, 2>;
  const auto with_rows_scales = [&](auto xf16_c) {
    if (M <= 8) {
      return per_row ? go(One{}, std::true_type{}, xf16_c) : go(One{}, std::false_type{}, xf16_c);
    }
    return per_row ? go(Two{}, std::true_type{}, xf16_c) : go(Two{}, std::false_type{}, xf16_c);
  };
  return x_f16 ? with_rows_scales(std::true_type{}) : with_rows_scales(std::false_type{});
}

cudaError_t fp8_gemv_exact(const float* x, int M, int K, const Fp8Segment* segments, int count,
                           cudaStream_t s) {
  if (M == 0 || count == 0) return cudaSuccess;
  Fp8Segs segs{};
  if (!load_segs(segments, count, segs)) return cudaErrorInvalidValue;
  int rows = 0;
  for (int i = 0; i < count; ++i) {
    if (!fp8_exact_supports(segments[i].w.group, K)) return cudaErrorInvalidValue;
    rows += segments[i].w.n;
  }
  const auto blocks = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  return with_rows<kFp8ExactMaxRows>(M, [&](auto m) {
    fp8_gemv_exact_kernel<decltype(m)::value><<<blocks, 32 * kWarps, 0, s>>>(x, K, segs);
    return cudaGetLastError();
  });
}

cudaError_t fp8_dequantize_rows(const Fp8Weight& w, int K, int row0, int rows, void* out_bf16,
                                cudaStream_t s) {
  if (K % 16 != 0 || w.group % 16 != 0) return cudaErrorInvalidValue;
  const std::int64_t pieces = static_cast<std::int64_t>(rows) * (K / 16);
  if (pieces == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>((pieces + 255) / 256);
  fp8_dequantize_kernel<<<blocks, 256, 0, s>>>(w, K, row0, pieces,
                                               static_cast<__nv_bfloat16*>(out_bf16));
  return cudaGetLastError();
}

cudaError_t fp8_embed(const Fp8Weight& w, int K, VocabRows rows, const StepMeta& m, int T,
                      float scale, float* out, cudaStream_t s) {
  if (T == 0) return cudaSuccess;
  fp8_embed_kernel<<<T, 256, 0, s>>>(w, K, rows, m, scale, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
