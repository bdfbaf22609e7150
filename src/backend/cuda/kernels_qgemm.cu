// Packed MLX affine weights times a few rows (2 to 64) on the tensor cores,
// the weight crossing memory once, packed, whatever the batch. 4-bit codes
// with bf16 scales go to qgemm4_mma_kernel (codes dequantized straight into
// mma.sync fragments); the rest to qgemm_kernel, where each block
// dequantizes a 64-row tile to bf16 in shared memory once and multiplies it
// with every input row there (WMMA 16x16x16, f32 sums).
// The products are those of dequantize_rows + the bf16 GEMM (bf16 weights,
// bf16 x, f32 sums). Narrow weights split K over several blocks whose
// partial sums a second kernel adds in a fixed order (no atomics: the same
// inputs give the same bits).
#include <mma.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/mma_util.cuh"
#include "backend/cuda/quant_param.cuh"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kTileN = 64;       // weight rows per block (16 per warp)
constexpr int kTileK = 128;      // K per shared-memory stage
constexpr int kLd = kTileK + 8;  // padded row of a stage, in bf16 (a multiple of 8)
constexpr int kThreads = 128;
constexpr int kWantBlocks = 4 * 132;  // enough blocks to keep every SM of an H100 busy

// VALUES codes of one group from `words` (BITS each, little end first) to
// bf16 at dst, as dequantize_rows rounds them.
template <int BITS, int VALUES>
__device__ __forceinline__ void dequant_to(const uint4& words, float scale, float shift,
                                           __nv_bfloat16* dst) {
  constexpr int kPerWord = 32 / BITS;
  const unsigned w[4] = {words.x, words.y, words.z, words.w};
  __align__(16) __nv_bfloat16 v[VALUES];
#pragma unroll
  for (int j = 0; j < VALUES; ++j) {
    const unsigned code = (w[j / kPerWord] >> ((j % kPerWord) * BITS)) & ((1u << BITS) - 1u);
    v[j] = __float2bfloat16(scale * static_cast<float>(code) + shift);
  }
#pragma unroll
  for (int j = 0; j < VALUES / 8; ++j) {
    reinterpret_cast<uint4*>(dst)[j] = reinterpret_cast<const uint4*>(v)[j];
  }
}

// Eight x values in the order of the mma kernel's code pairs (0 4 1 5 2 6
// 3 7; see qgemm4_mma_kernel).
__device__ __forceinline__ uint4 pair_order(const uint4& v) {
  return make_uint4(__byte_perm(v.x, v.z, 0x5410), __byte_perm(v.x, v.z, 0x7632),
                    __byte_perm(v.y, v.w, 0x5410), __byte_perm(v.y, v.w, 0x7632));
}

// Block (n tile, K split): rows [0, MT * 16) of x against weight rows
// [n0, n0 + 64) over the K chunks of its split. out: y itself (one split,
// bias added) or this split's slice of the partial sums.
template <int BITS, WType P, int MT>
__global__ void __launch_bounds__(kThreads)
    qgemm_kernel(const __nv_bfloat16* x, int M, int K, AffineWeight w, int chunks_per_split,
                 const float* bias, float* out) {
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) __nv_bfloat16 xs[MT * 16][kLd];
  __shared__ __align__(32) __nv_bfloat16 ws[kTileN][kLd];
  __shared__ __align__(32) float stage[kThreads / 32][16][16];
  const int t = static_cast<int>(threadIdx.x);
  const int warp = t / 32;
  const int lane = t % 32;
  const int n0 = static_cast<int>(blockIdx.x) * kTileN;
  const int chunks = K / kTileK;
  const int c0 = static_cast<int>(blockIdx.y) * chunks_per_split;
  const int c1 = min(chunks, c0 + chunks_per_split);
  const std::int64_t row_bytes = static_cast<std::int64_t>(K) * BITS / 8;
  const int groups = K / w.group;

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[MT];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) wmma::fill_fragment(acc[mt], 0.0f);

  // The weight tile: 16 bytes of codes per load, all in one group (a group
  // holds at least 32 codes and starts at a multiple of them). Chunk c + 1's
  // codes are loaded into registers while chunk c is multiplied.
  constexpr int kValuesPerLoad = 128 / BITS;
  constexpr int kLoadsPerRow = kTileK / kValuesPerLoad;
  constexpr int kLoads = kTileN * kLoadsPerRow / kThreads;
  uint4 codes[kLoads];
  auto fetch = [&](int c) {
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int idx = t + i * kThreads;
      const int n = n0 + idx / kLoadsPerRow;
      const int k = c * kTileK + (idx % kLoadsPerRow) * kValuesPerLoad;
      codes[i] = make_uint4(0, 0, 0, 0);
      if (n < w.n) {
        const auto* row = static_cast<const unsigned char*>(w.packed) + n * row_bytes;
        codes[i] = __ldg(reinterpret_cast<const uint4*>(row + k * BITS / 8));
      }
    }
  };
  if (c0 < c1) fetch(c0);

  for (int c = c0; c < c1; ++c) {
    const int k0 = c * kTileK;
    // x: MT * 16 rows of kTileK values, 8 per 16-byte load.
#pragma unroll
    for (int i = 0; i < MT * 16 * (kTileK / 8) / kThreads; ++i) {
      const int idx = t + i * kThreads;
      const int r = idx / (kTileK / 8);
      const int col = (idx % (kTileK / 8)) * 8;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (r < M)
        v = *reinterpret_cast<const uint4*>(x + static_cast<std::int64_t>(r) * K + k0 + col);
      *reinterpret_cast<uint4*>(&xs[r][col]) = v;
    }
#pragma unroll
    for (int i = 0; i < kLoads; ++i) {
      const int idx = t + i * kThreads;
      const int r = idx / kLoadsPerRow;
      const int part = idx % kLoadsPerRow;
      const int n = n0 + r;
      __nv_bfloat16* dst = &ws[r][part * kValuesPerLoad];
      if (n < w.n) {
        const std::int64_t g =
            static_cast<std::int64_t>(n) * groups + (k0 + part * kValuesPerLoad) / w.group;
        dequant_to<BITS, kValuesPerLoad>(codes[i], load_param<P>(w.scales, g),
                                         load_param<P>(w.biases, g), dst);
      } else {
#pragma unroll
        for (int j = 0; j < kValuesPerLoad / 8; ++j)
          reinterpret_cast<uint4*>(dst)[j] = make_uint4(0, 0, 0, 0);
      }
    }
    __syncthreads();
    if (c + 1 < c1) fetch(c + 1);
#pragma unroll
    for (int kk = 0; kk < kTileK; kk += 16) {
      // B(k, n) = W(n, k): column-major over the stage's rows.
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> b;
      wmma::load_matrix_sync(b, &ws[warp * 16][kk], kLd);
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> a;
        wmma::load_matrix_sync(a, &xs[mt * 16][kk], kLd);
        wmma::mma_sync(acc[mt], a, b, acc[mt]);
      }
    }
    __syncthreads();
  }

  const int N = w.n;
  const bool direct = gridDim.y == 1;
  float* dst = direct ? out : out + static_cast<std::int64_t>(blockIdx.y) * M * N;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    wmma::store_matrix_sync(&stage[warp][0][0], acc[mt], 16, wmma::mem_row_major);
    __syncwarp();
    for (int e = lane; e < 256; e += 32) {
      const int m = mt * 16 + e / 16;
      const int n = n0 + warp * 16 + e % 16;
      if (m < M && n < N) {
        float v = stage[warp][e / 16][e % 16];
        if (direct && bias != nullptr) v += bias[n];
        dst[static_cast<std::int64_t>(m) * N + n] = v;
      }
    }
    __syncwarp();
  }
}

// 4-bit codes with bf16 scales and up to 64 rows: no shared-memory stage for
// the weight at all. Each thread dequantizes its codes straight into the A
// fragments of `mma.sync.m16n8k16` (weights as A: 16 rows x 16 k; x as B:
// 16 k x 8 rows). Which physical k fills which slot of a fragment is ours to
// choose as long as x fills the same slots: thread t of a quad owns 32
// consecutive k of each 128-k chunk (one 16-byte load per weight row) and,
// per 8-k word, takes the code pairs (j, j + 4) that one mask extracts; x is
// read in the matching order (pair_order). x is staged per chunk in shared
// memory, laid out so that a quad's reads are conflict-free.
constexpr int kMmaRows = 64;  // the most x rows the mma kernel takes
constexpr int kMmaTiles = 2;  // 16-row weight tiles per warp
constexpr int kMmaBlockRows = 4 * kMmaTiles * 16;
constexpr int kLdX = 160;  // a staged x row, in bf16: 16 words of bank offset per row

// 32-bit word i of v (i in 0..3, unrolled to a register).
__device__ __forceinline__ unsigned word_of(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
}

// Codes j and j + 4 of `word` as a bf16 pair, scaled and shifted.
__device__ __forceinline__ unsigned dequant_pair(unsigned word, int j, __nv_bfloat162 s2,
                                                 __nv_bfloat162 b2) {
  unsigned bits = ((word >> (4 * j)) & 0x000F000Fu) | 0x43004300u;
  const __nv_bfloat162 base = __bfloat162bfloat162(__float2bfloat16(128.0f));
  __nv_bfloat162 v = *reinterpret_cast<const __nv_bfloat162*>(&bits);
  v = __hfma2(__hsub2(v, base), s2, b2);
  return *reinterpret_cast<const unsigned*>(&v);
}

template <int MB>
__global__ void __launch_bounds__(kThreads)
    qgemm4_mma_kernel(const __nv_bfloat16* x, int M, int K, AffineWeight w, int chunks_per_split,
                      const float* bias, float* out) {
  __shared__ __align__(16) __nv_bfloat16 xs[MB * 8][kLdX];
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const int g = lane >> 2;
  const int t = lane & 3;
  const int N = w.n;
  const int chunks = K / kTileK;
  const int c0 = static_cast<int>(blockIdx.y) * chunks_per_split;
  const int c1 = min(chunks, c0 + chunks_per_split);
  const std::int64_t row_bytes = K / 2;
  const int groups = K / w.group;
  const auto* codes = static_cast<const unsigned char*>(w.packed);
  const auto* scales = static_cast<const __nv_bfloat16*>(w.scales);
  const auto* biases = static_cast<const __nv_bfloat16*>(w.biases);
  int rows[kMmaTiles][2];
#pragma unroll
  for (int nt = 0; nt < kMmaTiles; ++nt) {
    rows[nt][0] = static_cast<int>(blockIdx.x) * kMmaBlockRows + (warp * kMmaTiles + nt) * 16 + g;
    rows[nt][1] = rows[nt][0] + 8;
  }
  float acc[kMmaTiles][MB][4] = {};

  for (int c = c0; c < c1; ++c) {
    // This chunk's codes and their groups' parameters, in flight while x is staged.
    uint4 wc[kMmaTiles][2];
    __nv_bfloat162 s2[kMmaTiles][2], b2[kMmaTiles][2];
#pragma unroll
    for (int nt = 0; nt < kMmaTiles; ++nt) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int n = rows[nt][h];
        wc[nt][h] = make_uint4(0, 0, 0, 0);
        __nv_bfloat16 sc = __float2bfloat16(0.0f), sh = sc;
        if (n < N) {
          wc[nt][h] =
              __ldg(reinterpret_cast<const uint4*>(codes + n * row_bytes + c * 64 + 16 * t));
          const std::int64_t gi =
              static_cast<std::int64_t>(n) * groups + (c * kTileK + 32 * t) / w.group;
          sc = scales[gi];
          sh = biases[gi];
        }
        s2[nt][h] = __bfloat162bfloat162(sc);
        b2[nt][h] = __bfloat162bfloat162(sh);
      }
    }
    // x: 8-value piece j of a row goes to slot (j % 4) * 4 + j / 4, where
    // thread t reads piece 4t + kb at 16 (kb * 4 + t) bytes.
    for (int i = static_cast<int>(threadIdx.x); i < MB * 8 * 16; i += kThreads) {
      const int r = i / 16;
      const int j = i % 16;
      uint4 v = make_uint4(0, 0, 0, 0);
      if (r < M) {
        v = *reinterpret_cast<const uint4*>(x + static_cast<std::int64_t>(r) * K + c * kTileK +
                                            8 * j);
      }
      *reinterpret_cast<uint4*>(&xs[r][((j % 4) * 4 + j / 4) * 8]) = v;
    }
    __syncthreads();
#pragma unroll
    for (int kb = 0; kb < 4; ++kb) {
      unsigned bx[MB][4];
#pragma unroll
      for (int mb = 0; mb < MB; ++mb) {
        const uint4 v =
            pair_order(*reinterpret_cast<const uint4*>(&xs[mb * 8 + g][(kb * 4 + t) * 8]));
        bx[mb][0] = v.x;
        bx[mb][1] = v.y;
        bx[mb][2] = v.z;
        bx[mb][3] = v.w;
      }
#pragma unroll
      for (int nt = 0; nt < kMmaTiles; ++nt) {
        const unsigned lo = word_of(wc[nt][0], kb);
        const unsigned hi = word_of(wc[nt][1], kb);
#pragma unroll
        for (int step = 0; step < 2; ++step) {
          // Rows g / g + 8, slots (2t, 2t+1) then (2t+8, 2t+9): code pairs 2s and 2s + 1.
          const unsigned a[4] = {dequant_pair(lo, 2 * step, s2[nt][0], b2[nt][0]),
                                 dequant_pair(hi, 2 * step, s2[nt][1], b2[nt][1]),
                                 dequant_pair(lo, 2 * step + 1, s2[nt][0], b2[nt][0]),
                                 dequant_pair(hi, 2 * step + 1, s2[nt][1], b2[nt][1])};
#pragma unroll
          for (int mb = 0; mb < MB; ++mb)
            mma_bf16(acc[nt][mb], a, bx[mb][2 * step], bx[mb][2 * step + 1]);
        }
      }
    }
    __syncthreads();
  }

  const bool direct = gridDim.y == 1;
  float* dst = direct ? out : out + static_cast<std::int64_t>(blockIdx.y) * M * N;
#pragma unroll
  for (int nt = 0; nt < kMmaTiles; ++nt) {
#pragma unroll
    for (int mb = 0; mb < MB; ++mb) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int n = rows[nt][e / 2];
        const int m = mb * 8 + 2 * t + (e % 2);
        if (n < N && m < M) {
          float v = acc[nt][mb][e];
          if (direct && bias != nullptr) v += bias[n];
          dst[static_cast<std::int64_t>(m) * N + n] = v;
        }
      }
    }
  }
}

__global__ void sum_splits_kernel(const float* partial, int splits, std::int64_t count, int N,
                                  const float* bias, float* y) {
  const std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  float v = bias != nullptr ? bias[i % N] : 0.0f;
  for (int s = 0; s < splits; ++s) v += partial[static_cast<std::int64_t>(s) * count + i];
  y[i] = v;
}

template <int BITS, WType P>
cudaError_t launch(const __nv_bfloat16* x, int M, int K, const AffineWeight& w, dim3 grid,
                   int per_split, const float* bias, float* out, cudaStream_t s) {
  switch ((M + 15) / 16) {
    case 1:
      qgemm_kernel<BITS, P, 1><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
      break;
    case 2:
      qgemm_kernel<BITS, P, 2><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
      break;
    case 3:
      qgemm_kernel<BITS, P, 3><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
      break;
    case 4:
      qgemm_kernel<BITS, P, 4><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

template <int BITS>
cudaError_t launch_bits(const __nv_bfloat16* x, int M, int K, const AffineWeight& w, dim3 grid,
                        int per_split, const float* bias, float* out, cudaStream_t s) {
  return with_param_type(w.param_type, [&](auto p) {
    return launch<BITS, decltype(p)::value>(x, M, K, w, grid, per_split, bias, out, s);
  });
}

}  // namespace

bool qgemm_supports(int bits, int group, std::int64_t K) {
  return (bits == 4 || bits == 8) && (group == 32 || group == 64 || group == 128) &&
         K % kTileK == 0 && K % group == 0;
}

cudaError_t qgemm(const void* x_bf16, int M, int K, const AffineWeight& w, const float* bias,
                  float* y, float* partial, std::size_t partial_floats, cudaStream_t s) {
  if (M < 1 || M > kQgemmMaxRows || !qgemm_supports(w.bits, w.group, K)) {
    return cudaErrorInvalidValue;
  }
  const bool mma = w.bits == 4 && w.param_type == WType::kBF16 && M <= kMmaRows;
  const int n_tiles = (w.n + (mma ? kMmaBlockRows : kTileN) - 1) / (mma ? kMmaBlockRows : kTileN);
  const int chunks = K / kTileK;
  // Split K until the grid fills the device, as far as the partials fit.
  const std::int64_t count = static_cast<std::int64_t>(M) * w.n;
  int splits = 1;
  while (n_tiles * splits < kWantBlocks && splits * 2 <= chunks &&
         static_cast<std::size_t>(count) * static_cast<std::size_t>(splits * 2) <= partial_floats) {
    splits *= 2;
  }
  const int per_split = (chunks + splits - 1) / splits;
  splits = (chunks + per_split - 1) / per_split;
  const dim3 grid(static_cast<unsigned>(n_tiles), static_cast<unsigned>(splits));
  const auto* x = static_cast<const __nv_bfloat16*>(x_bf16);
  float* out = splits == 1 ? y : partial;
  cudaError_t err = cudaSuccess;
  if (mma) {
    switch ((M + 7) / 8) {
      case 1:
        qgemm4_mma_kernel<1><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
        break;
      case 2:
        qgemm4_mma_kernel<2><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
        break;
      case 3:
        qgemm4_mma_kernel<3><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
        break;
      case 4:
        qgemm4_mma_kernel<4><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
        break;
      case 5:
      case 6:
        qgemm4_mma_kernel<6><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
        break;
      default:
        qgemm4_mma_kernel<8><<<grid, kThreads, 0, s>>>(x, M, K, w, per_split, bias, out);
        break;
    }
    err = cudaGetLastError();
  } else {
    err = w.bits == 4 ? launch_bits<4>(x, M, K, w, grid, per_split, bias, out, s)
                      : launch_bits<8>(x, M, K, w, grid, per_split, bias, out, s);
  }
  if (err != cudaSuccess || splits == 1) return err;
  sum_splits_kernel<<<static_cast<unsigned>((count + 255) / 256), 256, 0, s>>>(partial, splits,
                                                                               count, w.n, bias, y);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
