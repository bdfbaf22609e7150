// Packed MLX affine weights times a few rows (2 to 64) on the tensor cores:
// each block dequantizes a 64-row tile of the weight to bf16 in shared memory
// once and multiplies it with every input row there (WMMA 16x16x16, f32
// sums), so the weight crosses memory once, packed, whatever the batch.
// The products are those of dequantize_rows + the bf16 GEMM (bf16 weights,
// bf16 x, f32 sums). Narrow weights split K over several blocks whose
// partial sums a second kernel adds in a fixed order (no atomics: the same
// inputs give the same bits).
#include <mma.h>

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "backend/cuda/cuda_kernels.h"
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

// 4-bit codes with bf16 scales and biases are dequantized two at a time:
// 0x4300 | n is the bf16 of 128 + n, so one mask makes a pair of them, a
// subtraction gives n exactly and one bf16x2 FMA (a single rounding, as the
// f32 path's) applies the scale and bias. A pair holds codes j and j + 4 of
// a word, so within each 8 columns the stage's order is 0 4 1 5 2 6 3 7;
// the x stage takes the same order (a dot product does not mind).
template <int BITS, WType P>
inline constexpr bool kPaired = BITS == 4 && P == WType::kBF16;

__device__ __forceinline__ void dequant4_pairs(const uint4& words, __nv_bfloat16 scale,
                                               __nv_bfloat16 shift, __nv_bfloat16* dst) {
  const __nv_bfloat162 s2 = __bfloat162bfloat162(scale);
  const __nv_bfloat162 b2 = __bfloat162bfloat162(shift);
  const __nv_bfloat162 base = __bfloat162bfloat162(__float2bfloat16(128.0f));
  const unsigned w[4] = {words.x, words.y, words.z, words.w};
  __align__(16) unsigned out[16];
#pragma unroll
  for (int q = 0; q < 4; ++q) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      unsigned bits = ((w[q] >> (4 * j)) & 0x000F000Fu) | 0x43004300u;
      __nv_bfloat162 v = *reinterpret_cast<const __nv_bfloat162*>(&bits);
      v = __hfma2(__hsub2(v, base), s2, b2);
      out[q * 4 + j] = *reinterpret_cast<const unsigned*>(&v);
    }
  }
#pragma unroll
  for (int j = 0; j < 4; ++j)
    reinterpret_cast<uint4*>(dst)[j] = reinterpret_cast<const uint4*>(out)[j];
}

// Eight x values in the paired stage order (0 4 1 5 2 6 3 7).
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
      if constexpr (kPaired<BITS, P>) v = pair_order(v);
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
        if constexpr (kPaired<BITS, P>) {
          dequant4_pairs(codes[i], static_cast<const __nv_bfloat16*>(w.scales)[g],
                         static_cast<const __nv_bfloat16*>(w.biases)[g], dst);
        } else {
          dequant_to<BITS, kValuesPerLoad>(codes[i], load_param<P>(w.scales, g),
                                           load_param<P>(w.biases, g), dst);
        }
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
  switch (w.param_type) {
    case WType::kBF16:
      return launch<BITS, WType::kBF16>(x, M, K, w, grid, per_split, bias, out, s);
    case WType::kF16:
      return launch<BITS, WType::kF16>(x, M, K, w, grid, per_split, bias, out, s);
    case WType::kF32:
      return launch<BITS, WType::kF32>(x, M, K, w, grid, per_split, bias, out, s);
  }
  return cudaErrorInvalidValue;
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
  const int n_tiles = (w.n + kTileN - 1) / kTileN;
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
  const cudaError_t err = w.bits == 4 ? launch_bits<4>(x, M, K, w, grid, per_split, bias, out, s)
                                      : launch_bits<8>(x, M, K, w, grid, per_split, bias, out, s);
  if (err != cudaSuccess || splits == 1) return err;
  sum_splits_kernel<<<static_cast<unsigned>((count + 255) / 256), 256, 0, s>>>(partial, splits,
                                                                               count, w.n, bias, y);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
