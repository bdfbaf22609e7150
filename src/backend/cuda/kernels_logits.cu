// What a step does to its logits on the device before sampling: keep only the
// tokens a structured-output mask allows, and find each row's greedy token,
// so that only ids (and the rows the host samples) cross to the host. The
// rules are those of tensor/logits.h, exactly.
#include <climits>
#include <cmath>
#include <cstdlib>

#include <cooperative_groups.h>

#include "backend/cuda/cuda_kernels.h"
#include "backend/cuda/device_once.cuh"

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
// A cluster of blocks per sampled row (see row_blocks), the host sampler's
// definitions exactly (engine/sampling_cutoff.h): the filters tighten one cutoff in the order
// "higher logit, then lower id", the draw walks kept tokens in id order.
// Sums are float per thread, double across threads and blocks, in a fixed
// tree: the same row and uniform give the same token every time. One block
// of one SM took ~0.85 ms a 128k-token row (Nsight Compute: ~88k issued
// instructions a warp); a cluster spreads each pass over its SMs and
// combines the blocks' partial results through distributed shared memory.

namespace cg = cooperative_groups;

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

// N reductions at once over the threads of a row's cluster, each in the same
// fixed tree: a warp's lanes by xor shuffles, the block's warps likewise
// through scratch ([N][kWarps]), then the blocks in rank order through
// distributed shared memory. Every thread gets every result; the same
// values give the same results every time.
struct Sum {
  template <class T>
  __device__ T operator()(T a, T b) const {
    return a + b;
  }
};
struct Max {  // NaN never wins, as in the host's comparisons
  template <class T>
  __device__ T operator()(T a, T b) const {
    return b > a ? b : a;
  }
};

template <int N, class T, class Op>
__device__ void row_reduce(T (&v)[N], T identity, Op op, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int n = 0; n < N; ++n) {
    for (int o = 16; o > 0; o >>= 1) v[n] = op(v[n], __shfl_xor_sync(0xffffffffu, v[n], o));
  }
  __syncthreads();  // the previous reduction's readers are done with scratch
  if (lane == 0) {
#pragma unroll
    for (int n = 0; n < N; ++n) scratch[n * kWarps + warp] = v[n];
  }
  __syncthreads();
  // Warp n reduces result n over the warps (every warp reducing every
  // result repeated top_p's 15 double sums 32 times); the xor tree gives
  // every lane, and so every warp, the same bits, as before.
  __shared__ T block_result[N];
  for (int n = warp; n < N; n += kWarps) {
    T x = lane < kWarps ? scratch[n * kWarps + lane] : identity;
    for (int o = 16; o > 0; o >>= 1) x = op(x, __shfl_xor_sync(0xffffffffu, x, o));
    if (lane == 0) block_result[n] = x;
  }
  const cg::cluster_group c = cg::this_cluster();
  if (c.num_blocks() == 1) {
    __syncthreads();
#pragma unroll
    for (int n = 0; n < N; ++n) v[n] = block_result[n];
    return;
  }
  __shared__ T merged[N];
  c.sync();  // every block's results are written
  // Thread n folds result n over the blocks in rank order and shares it
  // through the block's own memory. Every thread folding every result was
  // N x blocks remote reads a thread (top_p's 15 sums: ~1 MB of distributed
  // shared memory traffic a block, the larger part of its passes).
  if (threadIdx.x < static_cast<unsigned>(N)) {
    T acc = *c.map_shared_rank(&block_result[threadIdx.x], 0);
    for (unsigned b = 1; b < c.num_blocks(); ++b) {
      acc = op(acc, *c.map_shared_rank(&block_result[threadIdx.x], b));
    }
    merged[threadIdx.x] = acc;
  }
  c.sync();  // merged is written, and no block reuses its results (or exits) while another reads
             // them
#pragma unroll
  for (int n = 0; n < N; ++n) v[n] = merged[n];
}

template <class T, class Op>
__device__ T row_reduce(T v, T identity, Op op, T* scratch) {
  T one[1] = {v};
  row_reduce(one, identity, op, scratch);
  return one[0];
}

__device__ double row_sum_d(double v, double* scratch) {
  return row_reduce(v, 0.0, Sum{}, scratch);
}
__device__ float row_max_f(float v, float* scratch) {
  return row_reduce(v, -INFINITY, Max{}, scratch);
}
__device__ int row_max_i(int v, int* scratch) {
  return row_reduce(v, INT_MIN, Max{}, scratch);
}

// Calls f(i) for this thread's indices of a row, i = threadIdx.x + j ·
// kSampleThreads in rising j, kSampleUnroll at a time so that their loads are
// in flight together: one at a time, each pass over a 128k vocabulary was a
// chain of ~125 dependent L2 round trips per thread (at one sampled row, the
// top_p search's 33 passes cost ~0.8 ms a step).
constexpr int kSampleUnroll = 4;
template <class F>
__device__ __forceinline__ void each_index(std::int64_t vocab, F f) {
  // The cluster's threads share the row: this block takes every
  // num_blocks-th run of kSampleThreads ids.
  const cg::cluster_group c = cg::this_cluster();
  const std::int64_t stride = static_cast<std::int64_t>(c.num_blocks()) * kSampleThreads;
  for (std::int64_t base = static_cast<std::int64_t>(c.block_rank()) * kSampleThreads + threadIdx.x;
       base < vocab; base += stride * kSampleUnroll) {
#pragma unroll
    for (int u = 0; u < kSampleUnroll; ++u) {
      const std::int64_t i = base + static_cast<std::int64_t>(u) * stride;
      if (i < vocab) f(i);
    }
  }
}

// The first id (in id order) where `weight` summed from `base` passes `goal`
// (strictly when `strict`, else reaching it); -1 when the row never gets
// there. Warp w owns the ids [w · span, (w + 1) · span) and reads them 32 at
// a time, lane l id start + l, so every load is coalesced (a contiguous chunk
// per thread made each load touch 32 lines: ~0.4 ms a row at 128k tokens).
// The warps' totals are summed in id order; the warp where the goal falls
// walks its ids in double, an inclusive scan across the lanes a step.
template <class Weight>
__device__ int find_in_id_order(std::int64_t vocab, double base, double goal, bool strict,
                                Weight weight, double* dscratch, int* iscratch) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warp = static_cast<int>(threadIdx.x) >> 5;
  const cg::cluster_group c = cg::this_cluster();
  const std::int64_t warps = static_cast<std::int64_t>(c.num_blocks()) * kWarps;
  const std::int64_t span = ((vocab + warps - 1) / warps + 31) / 32 * 32;
  const std::int64_t begin =
      min(vocab, (static_cast<std::int64_t>(c.block_rank()) * kWarps + warp) * span);
  const std::int64_t end = min(vocab, begin + span);
  float mine = 0.0f;
#pragma unroll 4
  for (std::int64_t i = begin + lane; i < end; i += 32) mine += weight(i);
  double total = mine;
  for (int o = 16; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
  __syncthreads();
  if (lane == 0) dscratch[warp] = total;
  __syncthreads();
  // The blocks before this one in the cluster, then the warps before this
  // one in the block, in id order.
  double before = base;
  if (c.num_blocks() > 1) {
    __shared__ double block_total;
    __shared__ double blocks_before;  // base + the totals of the blocks before this one
    if (threadIdx.x == 0) {
      double t = 0.0;
      for (int v = 0; v < kWarps; ++v) t += dscratch[v];
      block_total = t;
    }
    c.sync();
    if (threadIdx.x == 0) {  // one thread reads the other blocks (not every thread)
      double b_sum = base;
      for (unsigned b = 0; b < c.block_rank(); ++b) b_sum += *c.map_shared_rank(&block_total, b);
      blocks_before = b_sum;
    }
    c.sync();
    before = blocks_before;
  }
  for (int v = 0; v < warp; ++v) before += dscratch[v];
  const bool reaches = strict ? goal < before + total : goal <= before + total;
  const bool started = strict ? goal < before : goal <= before;
  int found = -1;  // the same in every lane of the warp
  if (reaches && !started) {
    double cum = before;
    for (std::int64_t at = begin; at < end && found < 0; at += 32) {
      const std::int64_t i = at + lane;
      const float w = i < end ? weight(i) : 0.0f;
      double inc = w > 0.0f ? static_cast<double>(w) : 0.0;
      for (int o = 1; o < 32; o <<= 1) {
        const double up = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) inc += up;
      }
      const double here = cum + inc;
      const unsigned hits =
          __ballot_sync(0xffffffffu, w > 0.0f && (strict ? goal < here : goal <= here));
      if (hits != 0) found = static_cast<int>(at) + __ffs(static_cast<int>(hits)) - 1;
      cum += __shfl_sync(0xffffffffu, inc, 31);
    }
    // Rounding between the warp's total and its walk: its last kept id.
    for (std::int64_t at = (end - 1 - begin) / 32 * 32 + begin; found < 0 && at >= begin;
         at -= 32) {
      const std::int64_t i = at + lane;
      const unsigned kept = __ballot_sync(0xffffffffu, i < end && weight(i) > 0.0f);
      if (kept != 0) found = static_cast<int>(at) + 31 - __clz(static_cast<int>(kept));
    }
  }
  // The lowest id found (several warps may claim one after rounding).
  const int claim = found < 0 ? INT_MIN : -found;
  const int best = row_max_i(claim, iscratch);
  return best == INT_MIN ? -1 : -best;
}

__global__ void __launch_bounds__(kSampleThreads)
    sample_rows_kernel(float* logits, std::int64_t vocab, const RowDraw* draws, float* weights,
                       std::int32_t* out) {
  __shared__ double dscratch[kWarps];
  __shared__ double top_p_scratch[15 * kWarps];
  __shared__ float fscratch[kWarps];
  __shared__ int iscratch[kWarps];
  __shared__ unsigned hist[256];
  __shared__ unsigned hist_all[256];  // the cluster's counts
  __shared__ unsigned pick[2];
  const cg::cluster_group cluster = cg::this_cluster();
  const bool first_block = cluster.block_rank() == 0;
  const unsigned draw = blockIdx.x / cluster.num_blocks();
  const RowDraw d = draws[draw];
  float* l = logits + static_cast<std::int64_t>(d.row) * vocab;
  float* w = weights + static_cast<std::int64_t>(draw) * vocab;
  const float inv_t = 1.0f / d.temperature;

  float m = -INFINITY;
  each_index(vocab, [&](std::int64_t i) {
    const float v = l[i] * inv_t;
    l[i] = v;
    m = v > m ? v : m;
  });
  const float mx = row_max_f(m, fscratch);
  if (!(mx > -INFINITY) || mx == INFINITY) {
    if (first_block && threadIdx.x == 0) out[d.row] = 0;
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
      // One atomic per distinct bin of a warp's tokens: the first byte of
      // a model's logits is nearly the same for all of them, and 128k
      // atomics on one or two bins queued for ~0.1 ms a pass.
      each_index(vocab, [&](std::int64_t i) {
        const float v = l[i];
        const unsigned key = mono(v);
        const bool counted =
            cut.keeps(v, static_cast<int>(i)) && (key & high_mask) == (prefix & high_mask);
        const int bin = counted ? static_cast<int>((key >> shift) & 255u) : -1;
        const unsigned peers = __match_any_sync(__activemask(), bin);
        if (counted &&
            (threadIdx.x & 31) == static_cast<unsigned>(__ffs(static_cast<int>(peers)) - 1)) {
          atomicAdd(&hist[bin], static_cast<unsigned>(__popc(peers)));
        }
      });
      __syncthreads();
      const unsigned* counts = hist;
      if (cluster.num_blocks() > 1) {
        cluster.sync();
        for (int b = threadIdx.x; b < 256; b += kSampleThreads) {
          unsigned t = 0;
          for (unsigned r = 0; r < cluster.num_blocks(); ++r)
            t += *cluster.map_shared_rank(&hist[b], r);
          hist_all[b] = t;
        }
        cluster.sync();  // every block has read every hist before any zeroes its own
        counts = hist_all;
      }
      if (threadIdx.x == 0) {
        unsigned above = 0;
        int digit = -1;
        for (int b = 255; b >= 0; --b) {
          if (above + counts[b] >= rank) {
            digit = b;
            break;
          }
          above += counts[b];
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
  each_index(vocab, [&](std::int64_t i) {
    const float v = l[i];
    const float e = cut.keeps(v, static_cast<int>(i)) ? expf(v - mx) : 0.0f;
    w[i] = e;
    part += e;
  });
  const double total = row_sum_d(part, dscratch);

  if (d.top_p < 1.0f && total > 0.0) {
    // The largest logit key T whose tokens at or above it hold the mass,
    // four bits of it a pass: the mass at or above each of the 15 keys
    // lo + j · 2^shift, the largest that holds it the next lo (mass(>= lo)
    // >= target throughout). Each mass is summed as a bisection's would be,
    // so T is the same; 8 passes instead of 32.
    const double target = static_cast<double>(d.top_p) * total;
    unsigned lo = 0;
    for (int shift = 28; shift >= 0; shift -= 4) {
      float part_at[15] = {};
      each_index(vocab, [&](std::int64_t i) {
        const float wi = w[i];
        if (!(wi > 0.0f)) return;
        const unsigned key = mono(l[i]);
        if (key < lo) return;
        const unsigned digit = min((key - lo) >> shift, 15u);
#pragma unroll
        for (int j = 0; j < 15; ++j) part_at[j] += digit > static_cast<unsigned>(j) ? wi : 0.0f;
      });
      double mass_at[15];
#pragma unroll
      for (int j = 0; j < 15; ++j) mass_at[j] = part_at[j];
      row_reduce(mass_at, 0.0, Sum{}, top_p_scratch);
      unsigned step = 0;
#pragma unroll
      for (int j = 0; j < 15; ++j) {
        if (mass_at[j] >= target) step = static_cast<unsigned>(j + 1);
      }
      lo += step << shift;
    }
    float s = 0.0f;
    each_index(vocab, [&](std::int64_t i) {
      if (w[i] > 0.0f && mono(l[i]) > lo) s += w[i];
    });
    const double above = row_sum_d(s, dscratch);
    const float value = unmono(lo);
    const int id = find_in_id_order(
        vocab, above, target, false, [&](std::int64_t i) { return l[i] == value ? w[i] : 0.0f; },
        dscratch, iscratch);
    if (id >= 0) cut = Cut{value, id};
  }

  // The draw over what is kept, in id order.
  float kept_part = 0.0f;
  int last = -1;
  each_index(vocab, [&](std::int64_t i) {
    if (w[i] > 0.0f && cut.keeps(l[i], static_cast<int>(i))) {
      kept_part += w[i];
      last = static_cast<int>(i);
    }
  });
  const double kept_total = row_sum_d(kept_part, dscratch);
  last = row_max_i(last, iscratch);
  const Cut final_cut = cut;
  const int id = find_in_id_order(
      vocab, 0.0, d.uniform * kept_total, true,
      [&](std::int64_t i) {
        return w[i] > 0.0f && final_cut.keeps(l[i], static_cast<int>(i)) ? w[i] : 0.0f;
      },
      dscratch, iscratch);
  if (first_block && threadIdx.x == 0) out[d.row] = id >= 0 ? id : (last >= 0 ? last : 0);
}

// Blocks per drawn row: a power of two up to what leaves no SM idle, at
// most MLXS_SAMPLE_CLUSTER_MAX (8 by default, the portable cluster size; 16
// on Hopper with non-portable clusters), one where the device has no
// clusters. The current device's own figures: one process may drive
// several GPUs (device_once.cuh).
int row_blocks(int rows) {
  static const int limit = [] {
    const char* env = std::getenv("MLXS_SAMPLE_CLUSTER_MAX");
    const int v = env == nullptr ? 8 : std::atoi(env);
    return v == 1 || v == 2 || v == 4 || v == 8 || v == 16 ? v : 8;
  }();
  int sms = 0, clusters = 0;
  if (device_attribute(cudaDevAttrMultiProcessorCount, sms) != cudaSuccess ||
      device_attribute(cudaDevAttrClusterLaunch, clusters) != cudaSuccess) {
    return 1;
  }
  int blocks = 1;
  while (clusters != 0 && blocks * 2 <= limit && rows * blocks * 2 <= sms) blocks *= 2;
  return blocks;
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
  const auto per_row = static_cast<unsigned>(row_blocks(count));
  if (per_row > 8) {
    static PerDeviceOnce once;
    const cudaError_t e = once.run([] {
      return cudaFuncSetAttribute(sample_rows_kernel,
                                  cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
    });
    if (e != cudaSuccess) return e;
  }
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(static_cast<unsigned>(count) * per_row);
  config.blockDim = dim3(kSampleThreads);
  config.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = per_row;
  attr.val.clusterDim.y = 1;
  attr.val.clusterDim.z = 1;
  config.attrs = &attr;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, sample_rows_kernel, logits, vocab, draws, weights, out);
}

cudaError_t row_argmax(const float* logits, std::int64_t vocab, int rows, std::int32_t* out,
                       cudaStream_t s) {
  if (rows <= 0) return cudaSuccess;
  row_argmax_kernel<<<static_cast<unsigned>(rows), kArgmaxThreads, 0, s>>>(logits, vocab, out);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
