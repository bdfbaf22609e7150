#pragma once
// Flash-decoding's merge of key splits inside the attention launch: every
// block of a (row, KV head) writes its split's partial softmax, and the last
// to finish (a ticket counter) merges them, so a step has no merge launch.
// Shared by the decode kernels (kernels_attention_decode*.cu).

#include <cfloat>
#include <cstdint>

namespace mlxs::backend::cuda::k {

// A split's partial for one head: [max, sum, acc[D]] in natural-log units of
// the scaled scores; an empty split has sum 0 and is skipped.
__device__ __forceinline__ float* split_partial(float* partial, std::int64_t head, int splits,
                                                int split, int D) {
  return partial + (head * splits + split) * (D + 2);
}

// Called by every thread of the block after it wrote its partials; the
// block that takes the last ticket merges the group's heads
// (head0 .. head0 + group - 1) into out and zeroes the ticket again.
__device__ __forceinline__ void merge_if_last(const float* partial, unsigned* ticket, int splits,
                                              int group, int D, std::int64_t head0, float* out) {
  __shared__ bool last_s;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last_s = atomicAdd(ticket, 1u) == static_cast<unsigned>(splits - 1);
  __syncthreads();
  if (!last_s) return;
  __threadfence();
  if (threadIdx.x == 0) *ticket = 0;  // ready for the next layer and the next replay
  const int width = D + 2;
  // The heads' largest max and total weight: a warp per head, its lanes
  // over the splits (a walk of the splits one after another was a chain of
  // dependent L2 loads: ~9 us a layer at 32 splits). Fixed lanes and a
  // fixed shuffle tree, so the merge is deterministic.
  constexpr int kMaxMergeGroup = 16;
  __shared__ float gmax_s[kMaxMergeGroup];
  __shared__ float total_s[kMaxMergeGroup];
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int warps = static_cast<int>(blockDim.x) >> 5;
  for (int h = static_cast<int>(threadIdx.x) >> 5; h < group; h += warps) {
    const float* p = partial + (head0 + h) * splits * width;
    float m = -FLT_MAX;
    for (int s = lane; s < splits; s += 32) {
      if (__ldcg(p + s * width + 1) > 0.0f) m = fmaxf(m, __ldcg(p + s * width));
    }
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float total = 0.0f;
    for (int s = lane; s < splits; s += 32) {
      const float l = __ldcg(p + s * width + 1);
      if (l > 0.0f) total += l * __expf(__ldcg(p + s * width) - m);
    }
    for (int o = 16; o > 0; o >>= 1) total += __shfl_xor_sync(0xffffffffu, total, o);
    if (lane == 0) {
      gmax_s[h] = m;
      total_s[h] = total;
    }
  }
  __syncthreads();
  // Each output element: its splits' accumulators, weighted, four loads in
  // flight (an empty split has zero accumulators and a zero weight).
  for (int i = static_cast<int>(threadIdx.x); i < group * D; i += static_cast<int>(blockDim.x)) {
    const int h = i / D;
    const int dd = i % D;
    const float* p = partial + (head0 + h) * splits * width;
    const float m = gmax_s[h];
    float a = 0.0f;
    int s = 0;
    for (; s + 4 <= splits; s += 4) {
      float acc[4], mx[4], l[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        acc[u] = __ldcg(p + (s + u) * width + 2 + dd);
        mx[u] = __ldcg(p + (s + u) * width);
        l[u] = __ldcg(p + (s + u) * width + 1);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) a += l[u] > 0.0f ? acc[u] * __expf(mx[u] - m) : 0.0f;
    }
    for (; s < splits; ++s) {
      if (__ldcg(p + s * width + 1) > 0.0f) {
        a += __ldcg(p + s * width + 2 + dd) * __expf(__ldcg(p + s * width) - m);
      }
    }
    out[(head0 + h) * D + dd] = a / total_s[h];
  }
}

}  // namespace mlxs::backend::cuda::k
