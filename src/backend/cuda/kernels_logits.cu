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

// Loads of 16 bytes in flight per thread in row_argmax_kernel's vector loop.
constexpr int kArgmaxLoads = 4;

__global__ void row_argmax_kernel(const float* logits, std::int64_t vocab, std::int32_t* out) {
  const float* row = logits + static_cast<std::int64_t>(blockIdx.x) * vocab;
  Best best{-INFINITY, INT_MAX};
  // Each thread's indices rise, so a tie is already the first one seen.
  const auto see = [&](float v, std::int64_t i) {
    if (v > best.value) best = Best{v, static_cast<int>(i)};
  };
  std::int64_t tail = 0;
  if (vocab % 4 == 0 && reinterpret_cast<std::uintptr_t>(row) % 16 == 0) {
    // Four float4 loads in flight a thread: one scalar load at a time made
    // a 128k vocabulary take 57 us, a chain of dependent L2 round trips.
    const auto* row4 = reinterpret_cast<const float4*>(row);
    const std::int64_t n4 = vocab / 4;
    const std::int64_t stride = blockDim.x;
    for (std::int64_t base = threadIdx.x; base < n4; base += stride * kArgmaxLoads) {
      float4 v[kArgmaxLoads];
#pragma unroll
      for (int u = 0; u < kArgmaxLoads; ++u) {
        const std::int64_t at = base + u * stride;
        v[u] = at < n4 ? row4[at] : make_float4(-INFINITY, -INFINITY, -INFINITY, -INFINITY);
      }
#pragma unroll
      for (int u = 0; u < kArgmaxLoads; ++u) {
        const std::int64_t at = 4 * (base + u * stride);
        see(v[u].x, at);
        see(v[u].y, at + 1);
        see(v[u].z, at + 2);
        see(v[u].w, at + 3);
      }
    }
    tail = vocab;
  }
  for (std::int64_t i = tail + threadIdx.x; i < vocab; i += blockDim.x) see(row[i], i);
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

// ---------------------------------------------------------------- sampling
// One block per sampled row, the host sampler's definitions exactly
// (engine/sampling_cutoff.h): the filters tighten one cutoff in the order
// "higher logit, then lower id", the draw walks kept tokens in id order.
// Sums are float per thread, double across threads, in a fixed tree: the
// same row and uniform give the same token every time.

constexpr int kSampleThreads = 1024;
constexpr int kWarps = kSampleThreads / 32;

struct Cut {
  float value;
  int index;
  __device__ bool keeps(float l, int i) const { return l > value || (l == value && i <= index); }
};

// Floats as unsigned integers in the same order (NaN aside).
__device__ __forceinline__ unsigned mono(float f) {
  const unsigned b = __float_as_uint(f);
  return (b & 0x80000000u) != 0 ? ~b : b | 0x80000000u;
}
__device__ __forceinline__ float unmono(unsigned m) {
  return __uint_as_float((m & 0x80000000u) != 0 ? m & 0x7fffffffu : ~m);
}

__device__ double block_sum_d(double v, double* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < kWarps ? scratch[lane] : 0.0;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;  // every thread holds the total
}

__device__ float block_max_f(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = other > v ? other : v;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < kWarps ? scratch[lane] : -INFINITY;
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, v, o);
    v = other > v ? other : v;
  }
  return v;
}

__device__ int block_max_i(int v, int* scratch) {
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < kWarps ? scratch[lane] : INT_MIN;
  for (int o = 16; o > 0; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Exclusive prefix sum over the block's threads, in thread order.
__device__ double block_exclusive_scan_d(double v, double* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  double inc = v;
  for (int o = 1; o < 32; o <<= 1) {
    const double up = __shfl_up_sync(0xffffffffu, inc, o);
    if (lane >= o) inc += up;
  }
  __syncthreads();
  if (lane == 31) scratch[warp] = inc;
  __syncthreads();
  if (warp == 0) {
    double w = lane < kWarps ? scratch[lane] : 0.0;
    for (int o = 1; o < 32; o <<= 1) {
      const double up = __shfl_up_sync(0xffffffffu, w, o);
      if (lane >= o) w += up;
    }
    if (lane < kWarps) scratch[lane] = w;  // inclusive per warp
  }
  __syncthreads();
  const double before_warp = warp > 0 ? scratch[warp - 1] : 0.0;
  return before_warp + inc - v;
}

// The first id (in id order) where `weight` summed from `base` passes `goal`
// (strictly when `strict`, else reaching it): each thread owns one
// contiguous chunk. -1 when the row never gets there.
template <class Weight>
__device__ int find_in_id_order(std::int64_t vocab, double base, double goal, bool strict,
                                Weight weight, double* dscratch, int* iscratch) {
  const std::int64_t chunk = (vocab + kSampleThreads - 1) / kSampleThreads;
  const std::int64_t first = static_cast<std::int64_t>(threadIdx.x) * chunk;
  const std::int64_t begin = first < vocab ? first : vocab;
  const std::int64_t end = begin + chunk < vocab ? begin + chunk : vocab;
  float mine = 0.0f;
  for (std::int64_t i = begin; i < end; ++i) mine += weight(i);
  const double before = base + block_exclusive_scan_d(mine, dscratch);
  int found = -1;
  double cum = before;
  const bool reaches = strict ? goal < before + mine : goal <= before + mine;
  const bool started = strict ? goal < before : goal <= before;
  if (reaches && !started) {
    for (std::int64_t i = begin; i < end; ++i) {
      const float w = weight(i);
      if (w <= 0.0f) continue;
      cum += w;
      if (strict ? goal < cum : goal <= cum) {
        found = static_cast<int>(i);
        break;
      }
    }
    if (found < 0) {  // rounding between the chunk's sum and its walk
      for (std::int64_t i = end; i-- > begin;) {
        if (weight(i) > 0.0f) {
          found = static_cast<int>(i);
          break;
        }
      }
    }
  }
  // The lowest id found (several threads may claim one after rounding).
  const int claim = found < 0 ? INT_MIN : -found;
  const int best = block_max_i(claim, iscratch);
  return best == INT_MIN ? -1 : -best;
}

__global__ void sample_rows_kernel(float* logits, std::int64_t vocab, const RowDraw* draws,
                                   float* weights, std::int32_t* out) {
  __shared__ double dscratch[kWarps];
  __shared__ float fscratch[kWarps];
  __shared__ int iscratch[kWarps];
  __shared__ unsigned hist[256];
  __shared__ unsigned pick[2];
  const RowDraw d = draws[blockIdx.x];
  float* l = logits + static_cast<std::int64_t>(d.row) * vocab;
  float* w = weights + static_cast<std::int64_t>(blockIdx.x) * vocab;
  const float inv_t = 1.0f / d.temperature;

  float m = -INFINITY;
  for (std::int64_t i = threadIdx.x; i < vocab; i += kSampleThreads) {
    const float v = l[i] * inv_t;
    l[i] = v;
    m = v > m ? v : m;
  }
  const float mx = block_max_f(m, fscratch);
  if (!(mx > -INFINITY) || mx == INFINITY) {
    if (threadIdx.x == 0) out[d.row] = 0;
    return;
  }
  Cut cut{-INFINITY, -1};
  if (d.min_p > 0.0f) cut = Cut{mx + logf(d.min_p), INT_MAX};

  if (d.top_k > 0) {
    // Radix select of the k-th kept logit, a byte at a time from the top.
    unsigned prefix = 0, rank = static_cast<unsigned>(d.top_k);
    bool cut_needed = true;
    for (int shift = 24; shift >= 0 && cut_needed; shift -= 8) {
      for (int b = threadIdx.x; b < 256; b += kSampleThreads) hist[b] = 0;
      __syncthreads();
      const unsigned high_mask = shift == 24 ? 0u : ~0u << (shift + 8);
      for (std::int64_t i = threadIdx.x; i < vocab; i += kSampleThreads) {
        const float v = l[i];
        if (!cut.keeps(v, static_cast<int>(i))) continue;
        const unsigned key = mono(v);
        if ((key & high_mask) == (prefix & high_mask)) atomicAdd(&hist[(key >> shift) & 255u], 1u);
      }
      __syncthreads();
      if (threadIdx.x == 0) {
        unsigned above = 0;
        int digit = -1;
        for (int b = 255; b >= 0; --b) {
          if (above + hist[b] >= rank) {
            digit = b;
            break;
          }
          above += hist[b];
        }
        // Fewer than k kept at the first byte: top_k keeps them all.
        pick[0] = digit < 0 ? 0xffffffffu : static_cast<unsigned>(digit);
        pick[1] = rank - above;
      }
      __syncthreads();
      if (pick[0] == 0xffffffffu) {
        cut_needed = false;
      } else {
        prefix |= pick[0] << shift;
        rank = pick[1];
      }
      __syncthreads();
    }
    if (cut_needed) {
      // The k-th token is the rank-th of the ties at that logit, in id order.
      const float value = unmono(prefix);
      const Cut prior = cut;
      const int id = find_in_id_order(
          vocab, 0.0, static_cast<double>(rank), false,
          [&](std::int64_t i) {
            return l[i] == value && prior.keeps(l[i], static_cast<int>(i)) ? 1.0f : 0.0f;
          },
          dscratch, iscratch);
      if (id >= 0) cut = Cut{value, id};
    }
  }

  float part = 0.0f;
  for (std::int64_t i = threadIdx.x; i < vocab; i += kSampleThreads) {
    const float v = l[i];
    const float e = cut.keeps(v, static_cast<int>(i)) ? expf(v - mx) : 0.0f;
    w[i] = e;
    part += e;
  }
  const double total = block_sum_d(part, dscratch);

  if (d.top_p < 1.0f && total > 0.0) {
    // The largest logit key T whose tokens at or above it hold the mass.
    const double target = static_cast<double>(d.top_p) * total;
    unsigned lo = 0, hi = 0xffffffffu;  // mass(>= lo) >= target; answer in [lo, hi]
    while (lo < hi) {
      // The upper middle, in 64 bits: hi - lo + 1 overflows at the start.
      const auto mid =
          static_cast<unsigned>(lo + ((static_cast<unsigned long long>(hi) - lo + 1ull) >> 1));
      float s = 0.0f;
      for (std::int64_t i = threadIdx.x; i < vocab; i += kSampleThreads) {
        if (w[i] > 0.0f && mono(l[i]) >= mid) s += w[i];
      }
      if (block_sum_d(s, dscratch) >= target) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    float s = 0.0f;
    for (std::int64_t i = threadIdx.x; i < vocab; i += kSampleThreads) {
      if (w[i] > 0.0f && mono(l[i]) > lo) s += w[i];
    }
    const double above = block_sum_d(s, dscratch);
    const float value = unmono(lo);
    const int id = find_in_id_order(
        vocab, above, target, false, [&](std::int64_t i) { return l[i] == value ? w[i] : 0.0f; },
        dscratch, iscratch);
    if (id >= 0) cut = Cut{value, id};
  }

  // The draw over what is kept, in id order.
  float kept_part = 0.0f;
  int last = -1;
  for (std::int64_t i = threadIdx.x; i < vocab; i += kSampleThreads) {
    if (w[i] > 0.0f && cut.keeps(l[i], static_cast<int>(i))) {
      kept_part += w[i];
      last = static_cast<int>(i);
    }
  }
  const double kept_total = block_sum_d(kept_part, dscratch);
  last = block_max_i(last, iscratch);
  const Cut final_cut = cut;
  const int id = find_in_id_order(
      vocab, 0.0, d.uniform * kept_total, true,
      [&](std::int64_t i) {
        return w[i] > 0.0f && final_cut.keeps(l[i], static_cast<int>(i)) ? w[i] : 0.0f;
      },
      dscratch, iscratch);
  if (threadIdx.x == 0) out[d.row] = id >= 0 ? id : (last >= 0 ? last : 0);
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

cudaError_t sample_rows(float* logits, std::int64_t vocab, const RowDraw* draws, int count,
                        float* weights, std::int32_t* out, cudaStream_t s) {
  if (count <= 0) return cudaSuccess;
  sample_rows_kernel<<<static_cast<unsigned>(count), kSampleThreads, 0, s>>>(logits, vocab, draws,
                                                                             weights, out);
  return cudaGetLastError();
}

cudaError_t row_argmax(const float* logits, std::int64_t vocab, int rows, std::int32_t* out,
                       cudaStream_t s) {
  if (rows <= 0) return cudaSuccess;
  row_argmax_kernel<<<static_cast<unsigned>(rows), kArgmaxThreads, 0, s>>>(logits, vocab, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
