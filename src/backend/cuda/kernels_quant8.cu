// The GEMV of 8-bit MLX affine codes for 1-4 input rows, in the FP8 GEMV's
// layout (kernels_fp8.cu), which reads e4m3 weights near the copy bound:
// the same bytes per weight, so the same loads and mma fragments, with the
// codes made f16 by byte permutes and the group's bias added from x's sums.
//
// Why: 8-bit codes read at 44-63% of the copy bound on both earlier paths
// (the CUDA-core kernel loads a scale and a bias per 4-byte word; the
// tensor-core one, kernels_quant_mma.cu, is built around 4-bit stages), where
// FP8 weights of the same size read at 90-102% on the 8B's large matrices
// (bench kernels, one H100).
//
// A block takes a tile of 16 weight rows; its 8 warps split K in passes of
// four consecutive 64-column chunks (warp w takes columns 256w.., 256(w +
// 8).., ...), so a row's scales and biases for a pass are one 4- to 16-byte
// load each, where a load per chunk had them outnumber the code loads two
// to one. Chunks are paired as in the FP8 kernel when groups hold 128
// columns (one load fetches each row's 128-byte line). Lane (g, t) loads 16 bytes of rows
// g and g + 8: step s of an m16n8k16 mma takes the lane's bytes 4s..4s+3 as
// k = 2t, 2t+1 and 2t+8, 2t+9 of A (codes c, exact in f16: a byte permute
// makes 1024 + c, one HSUB2 takes the 1024 away), and x the same columns of
// B (column n = input row n, staged as f16 in shared memory by the block).
// Per chunk, inside one group:
//   y += scale · Σ c·x + bias · Σ x,
// Σ c·x exact products summed in f32 (x rounded to f16, as the other
// quantized GEMVs see it), Σ x in f32 from the unrounded x, staged beside
// it per 64 columns.
#include <cstdlib>
#include <cstring>

#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_once.cuh"
#include "backend/cuda/launch_util.cuh"
#include "backend/cuda/mma_util.cuh"
#include "backend/cuda/quant_param.cuh"
#include "backend/cuda/tile_rows.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kWarps = 8;
constexpr int kUnroll = 4;  // 16-byte code loads in flight per row per lane
constexpr int kChunk = 64;  // columns of one chunk
constexpr std::size_t kStagedMaxBytes = 96 * 1024;

struct Q8Segs {
  QSegment seg[kQgemvMaxSegments];
  int count;
};

std::size_t staged_bytes(std::int64_t M, std::int64_t K) {
  return static_cast<std::size_t>(M * K) * 2 + static_cast<std::size_t>(M * (K / kChunk)) * 4;
}

bool turned_off() {
  static const bool off = [] {
    const char* v = std::getenv("MLXS_Q8_GEMV");
    return v != nullptr && std::strcmp(v, "0") == 0;
  }();
  return off;
}

// Four codes (bytes of v) as two exact f16 pairs: (c0, c1) and (c2, c3).
__device__ __forceinline__ void codes_to_half2(unsigned v, unsigned& lo, unsigned& hi) {
  const __half2 k1024 = __floats2half2_rn(1024.0f, 1024.0f);
  unsigned a = __byte_perm(v, 0x64646464u, 0x4140u);  // 1024 + c0, 1024 + c1
  unsigned b = __byte_perm(v, 0x64646464u, 0x4342u);  // 1024 + c2, 1024 + c3
  const __half2 ha = __hsub2(*reinterpret_cast<const __half2*>(&a), k1024);
  const __half2 hb = __hsub2(*reinterpret_cast<const __half2*>(&b), k1024);
  lo = *reinterpret_cast<const unsigned*>(&ha);
  hi = *reinterpret_cast<const unsigned*>(&hb);
}

// The parameters (scales or biases) of one row's groups in a pass (256
// columns: 4 groups of 64 or 2 of 128) in one load, kept as loaded (16-bit
// values stay packed: registers are what bounds the blocks per SM) and
// widened per chunk. Aligned: K % 256 == 0 makes every (row, pass) start a
// multiple of the load's size.
template <WType P, bool PAIRED>
struct PassParams {
  static constexpr int kWords = (P == WType::kF32 ? 2 : 1) * (PAIRED ? 1 : 2);
  unsigned raw[kWords] = {};

  __device__ __forceinline__ void load(const void* p, std::int64_t at) {
    const std::int64_t bytes = at * (P == WType::kF32 ? 4 : 2);
    const auto* base = static_cast<const unsigned char*>(p) + bytes;
    if constexpr (kWords == 1) {
      raw[0] = __ldg(reinterpret_cast<const unsigned*>(base));
    } else if constexpr (kWords == 2) {
      const uint2 v = __ldg(reinterpret_cast<const uint2*>(base));
      raw[0] = v.x;
      raw[1] = v.y;
    } else {
      const uint4 v = __ldg(reinterpret_cast<const uint4*>(base));
      raw[0] = v.x;
      raw[1] = v.y;
      raw[2] = v.z;
      raw[3] = v.w;
    }
  }
  // Chunk u's value (u in 0..3, a compile-time index after unrolling).
  __device__ __forceinline__ float at(int u) const {
    const int group = PAIRED ? u / 2 : u;  // of the pass
    if constexpr (P == WType::kF32) {
      return __uint_as_float(raw[group]);
    } else {
      const unsigned bits = (raw[group / 2] >> (16 * (group & 1))) & 0xFFFFu;
      if constexpr (P == WType::kBF16) {
        return __uint_as_float(bits << 16);
      } else {
        return __half2float(__ushort_as_half(static_cast<unsigned short>(bits)));
      }
    }
  }
};

// Two blocks per SM (about 105 registers, no spills). Capped for three (80
// registers) it spilled 4-60 bytes and read 3-6 points of the copy bound
// slower on every shape (one H100, same call).
template <WType P, bool PAIRED>
__global__ void __launch_bounds__(32 * kWarps, 2)
    qgemv8_kernel(const float* x, int M, int K, Q8Segs segs) {
  __shared__ float red[kWarps][4][32];
  const TileRows at = tile_rows(segs);
  if (at.seg >= segs.count) return;
  const QSegment& sg = segs.seg[at.seg];
  const AffineWeight& w = sg.w;
  const int lane = at.lane, warp = at.warp, g = at.g, t = at.t, r0 = at.r0, r1 = at.r1;
  const bool v0 = at.v0, v1 = at.v1;
  const auto* codes = static_cast<const uint4*>(static_cast<const void*>(w.packed));
  const uint4* row0 = codes + static_cast<std::int64_t>(r0) * (K / 16);  // 16 bytes a piece
  const uint4* row1 = codes + static_cast<std::int64_t>(r1) * (K / 16);
  const int groups = K / w.group;
  const std::int64_t p0 = static_cast<std::int64_t>(r0) * groups;
  const std::int64_t p1 = static_cast<std::int64_t>(r1) * groups;
  const int C = K / kChunk;
  const uint4 zero = make_uint4(0, 0, 0, 0);
  const auto chunk = [&](int i, int u) { return kUnroll * (warp + kWarps * i) + u; };
  const auto column = [&](int cc) {
    return PAIRED ? (cc >> 1) * 128 + 32 * t + (cc & 1) * 16 : cc * kChunk + 16 * t;
  };
  const auto first_column = [&](int cc) { return PAIRED ? (cc >> 1) * 128 : cc * kChunk; };
  static_assert(kUnroll == 4, "a pass is four chunks: 256 columns");
  uint4 q0[kUnroll], q1[kUnroll];
  PassParams<P, PAIRED> sc0, sc1, bi0, bi1;
  // A pass's scales and biases are loaded with its codes: their first touch
  // misses the caches too. (K % 256 == 0: passes are whole.)
  const auto load = [&](int i) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int piece = column(chunk(i, u)) / 16;
      q0[u] = v0 ? __ldg(row0 + piece) : zero;
      q1[u] = v1 ? __ldg(row1 + piece) : zero;
    }
    const int grp = first_column(chunk(i, 0)) / w.group;
    if (v0) {
      sc0.load(w.scales, p0 + grp);
      bi0.load(w.biases, p0 + grp);
    }
    if (v1) {
      sc1.load(w.scales, p1 + grp);
      bi1.load(w.biases, p1 + grp);
    }
  };
  // The weights are constant: the first loads are in flight while this
  // launch (programmatic, see launch_early) waits for the kernel writing x.
  load(0);
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
  // x as f16 [M][K / 8] and its f32 sums per 64 columns [M][K / 64]. Eight
  // consecutive threads stage one chunk's 64 values; their sums meet by
  // shuffles (M · K / 8 is a multiple of 8, so a group of 8 lanes is wholly
  // in or out).
  extern __shared__ uint4 x_staged[];
  auto* x_sums = reinterpret_cast<float*>(x_staged + static_cast<std::int64_t>(M) * K / 8);
  {
    const auto* xf = reinterpret_cast<const float4*>(x);
    const int total = M * K / 8;
    for (int base = 0; base < total; base += 32 * kWarps) {
      const int e = base + static_cast<int>(threadIdx.x);
      float sum = 0.0f;
      if (e < total) {
        const float4 f0 = __ldg(xf + 2 * e), f1 = __ldg(xf + 2 * e + 1);
        x_staged[e] = make_uint4(pack_f16(f0.x, f0.y), pack_f16(f0.z, f0.w), pack_f16(f1.x, f1.y),
                                 pack_f16(f1.z, f1.w));
        sum = ((f0.x + f0.y) + (f0.z + f0.w)) + ((f1.x + f1.y) + (f1.z + f1.w));
      }
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      sum += __shfl_xor_sync(0xffffffffu, sum, 4);
      if (e < total && (e & 7) == 0) x_sums[e / 8] = sum;
    }
    __syncthreads();
  }
  // Input rows of this lane's C fragment columns: 2t and 2t + 1.
  const int m0 = 2 * t, m1 = 2 * t + 1;
  const int chunks_per_row = K / kChunk;
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int i = 0; chunk(i, 0) < C; ++i) {
    if (i != 0) load(i);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int cc = chunk(i, u);
      uint4 xa = zero, xb = zero;
      if (g < M) {
        const std::int64_t at = static_cast<std::int64_t>(g) * K + column(cc);
        xa = x_staged[at / 8];
        xb = x_staged[at / 8 + 1];
      }
      const unsigned qa[4] = {q0[u].x, q0[u].y, q0[u].z, q0[u].w};
      const unsigned qb[4] = {q1[u].x, q1[u].y, q1[u].z, q1[u].w};
      const unsigned xw[8] = {xa.x, xa.y, xa.z, xa.w, xb.x, xb.y, xb.z, xb.w};
      float part[4] = {0.0f, 0.0f, 0.0f, 0.0f};
#pragma unroll
      for (int st = 0; st < 4; ++st) {
        unsigned a[4];
        codes_to_half2(qa[st], a[0], a[2]);
        codes_to_half2(qb[st], a[1], a[3]);
        mma_f16(part, a, xw[2 * st], xw[2 * st + 1]);
      }
      // The bias term once per chunk (paired: once per 128 columns, with the
      // even chunk of the pair).
      float xs0 = 0.0f, xs1 = 0.0f;
      const int c64 = first_column(cc) / kChunk;
      if (!PAIRED || (cc & 1) == 0) {
        if (m0 < M) {
          xs0 = x_sums[m0 * chunks_per_row + c64];
          if (PAIRED) xs0 += x_sums[m0 * chunks_per_row + c64 + 1];
        }
        if (m1 < M) {
          xs1 = x_sums[m1 * chunks_per_row + c64];
          if (PAIRED) xs1 += x_sums[m1 * chunks_per_row + c64 + 1];
        }
      }
      // C fragment: e 0, 1 row g, e 2, 3 row g + 8; input row 2t + (e & 1).
      const float s0 = sc0.at(u), b0 = bi0.at(u), s1 = sc1.at(u), b1 = bi1.at(u);
      acc[0] += s0 * part[0] + b0 * xs0;
      acc[1] += s0 * part[1] + b0 * xs1;
      acc[2] += s1 * part[2] + b1 * xs0;
      acc[3] += s1 * part[3] + b1 * xs1;
    }
  }
#pragma unroll
  for (int e = 0; e < 4; ++e) red[warp][e][lane] = acc[e];
  __syncthreads();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
  if (warp != 0) return;
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    float v = 0.0f;
#pragma unroll
    for (int i = 0; i < kWarps; ++i) v += red[i][e][lane];
    const int r = e < 2 ? r0 : r1;
    const int m = 2 * t + (e & 1);
    if (r < w.n && m < M) {
      sg.y[static_cast<std::int64_t>(m) * w.n + r] = v + (sg.bias != nullptr ? sg.bias[r] : 0.0f);
    }
  }
}

template <WType P, bool PAIRED>
cudaError_t launch(unsigned blocks, std::size_t staged, cudaStream_t s, const float* x, int M,
                   int K, const Q8Segs& segs) {
  constexpr auto kernel = qgemv8_kernel<P, PAIRED>;
  static PerDeviceOnce once;  // one per kernel (a template's static)
  if (staged > 48 * 1024) {
    if (const cudaError_t e = opt_in_smem(once, kernel, kStagedMaxBytes); e != cudaSuccess) {
      return e;
    }
  }
  return launch_early_smem(kernel, blocks, 32 * kWarps, staged, s, x, M, K, segs);
}

template <WType P>
cudaError_t launch_param(bool paired, unsigned blocks, std::size_t staged, cudaStream_t s,
                         const float* x, int M, int K, const Q8Segs& segs) {
  return paired ? launch<P, true>(blocks, staged, s, x, M, K, segs)
                : launch<P, false>(blocks, staged, s, x, M, K, segs);
}

}  // namespace

bool qgemv8_takes(int M, std::int64_t K, const AffineWeight& w) {
  // A pass's parameters are one load of 256 / group values.
  const std::uintptr_t param_bytes =
      (w.param_type == WType::kF32 ? 4u : 2u) * static_cast<std::uintptr_t>(256 / w.group);
  const auto aligned = [](const void* p, std::uintptr_t to) {
    return reinterpret_cast<std::uintptr_t>(p) % to == 0;
  };
  return !turned_off() && w.bits == 8 && M >= 1 && M <= 4 && K % 256 == 0 &&
         (w.group == 64 || w.group == 128) && staged_bytes(M, K) <= kStagedMaxBytes &&
         aligned(w.packed, 16) && aligned(w.scales, param_bytes) && aligned(w.biases, param_bytes);
}

cudaError_t qgemv8(const float* x, int M, int K, const QSegment* segments, int count,
                   cudaStream_t s) {
  if (M == 0 || count == 0) return cudaSuccess;
  if (count > kQgemvMaxSegments || reinterpret_cast<std::uintptr_t>(x) % 16 != 0) {
    return cudaErrorInvalidValue;
  }
  Q8Segs segs{};
  segs.count = count;
  int tiles = 0;
  const bool paired = segments[0].w.group == 128;
  for (int i = 0; i < count; ++i) {
    const AffineWeight& w = segments[i].w;
    if (!qgemv8_takes(M, K, w) || w.group != segments[0].w.group ||
        w.param_type != segments[0].w.param_type) {
      return cudaErrorInvalidValue;
    }
    tiles += (w.n + 15) / 16;
    segs.seg[i] = segments[i];
  }
  const auto blocks = static_cast<unsigned>(tiles);
  const std::size_t staged = staged_bytes(M, K);
  return with_param_type(segments[0].w.param_type, [&](auto p) {
    return launch_param<decltype(p)::value>(paired, blocks, staged, s, x, M, K, segs);
  });
}

}  // namespace mlxs::backend::cuda::k
