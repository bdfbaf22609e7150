// What a step does to its logits on the device before sampling: keep only the
// tokens a structured-output mask allows, and find each row's greedy token,
// so that only ids (and the rows the host samples) cross to the host. The
// rules are those of tensor/logits.h, exactly.
#include <climits>
#include <cmath>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {
namespace {

// One thread per token of masked row blockIdx.y: coalesced writes, the
// mask word read by 32 neighbours at once.
__global__ void apply_masks_kernel(float* logits, std::int64_t vocab, const std::int32_t* rows,
                                   const std::uint32_t* masks, std::int64_t words) {
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= vocab) return;
  const std::uint32_t* mask = masks + static_cast<std::int64_t>(blockIdx.y) * words;
  const std::uint32_t word = (t >> 5) < words ? mask[t >> 5] : 0u;
  if (((word >> (t & 31)) & 1u) == 0) {
    logits[static_cast<std::int64_t>(rows[blockIdx.y]) * vocab + t] = -INFINITY;
  }
}

// (value, index) with the first-maximum rule; NaN never compares greater.
struct Best {
  float value;
  int index;
};

__device__ __forceinline__ Best better(Best a, Best b) {
  if (b.value > a.value || (b.value == a.value && b.index < a.index)) return b;
  return a;
}

constexpr int kArgmaxThreads = 1024;

__global__ void row_argmax_kernel(const float* logits, std::int64_t vocab, std::int32_t* out) {
  const float* row = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
  Best best{-INFINITY, INT_MAX};
  for (std::int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row[i];
    // Strided indices rise, so a tie is already the first one seen.
    if (v > best.value) best = Best{v, static_cast<int>(i)};
  }
  for (int o = 16; o > 0; o >>= 1) {
    const Best other{__shfl_xor_sync(0xffffffffu, best.value, o),
                     __shfl_xor_sync(0xffffffffu, best.index, o)};
    best = better(best, other);
  }
  __shared__ Best warps[kArgmaxThreads / 32];
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  if (lane == 0) warps[warp] = best;
  __syncthreads();
  if (warp == 0) {
    const int count = (blockDim.x + 31) >> 5;
    best = lane < count ? warps[lane] : Best{-INFINITY, INT_MAX};
    for (int o = 16; o > 0; o >>= 1) {
      const Best other{__shfl_xor_sync(0xffffffffu, best.value, o),
                       __shfl_xor_sync(0xffffffffu, best.index, o)};
      best = better(best, other);
    }
    // Nothing above -infinity (or all NaN): token 0, as on the host.
    if (lane == 0)
      out[blockIdx.x] = best.index == INT_MAX || best.value == -INFINITY ? 0 : best.index;
  }
}

}  // namespace

cudaError_t apply_masks(float* logits, std::int64_t vocab, const std::int32_t* rows,
                        const std::uint32_t* masks, std::int64_t words, int count, cudaStream_t s) {
  if (count <= 0) return cudaSuccess;
  constexpr int kThreads = 256;
  const dim3 grid(static_cast<unsigned>((vocab + kThreads - 1) / kThreads),
                  static_cast<unsigned>(count));
  apply_masks_kernel<<<grid, kThreads, 0, s>>>(logits, vocab, rows, masks, words);
  return cudaGetLastError();
}

cudaError_t row_argmax(const float* logits, std::int64_t vocab, int rows, std::int32_t* out,
                       cudaStream_t s) {
  if (rows <= 0) return cudaSuccess;
  row_argmax_kernel<<<static_cast<unsigned>(rows), kArgmaxThreads, 0, s>>>(logits, vocab, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
