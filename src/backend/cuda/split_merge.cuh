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
  for (int i = static_cast<int>(threadIdx.x); i < group * D; i += static_cast<int>(blockDim.x)) {
    const int h = i / D;
    const int dd = i % D;
    const float* p = partial + (head0 + h) * splits * width;
    float gmax = -FLT_MAX;
    for (int s = 0; s < splits; ++s) {
      if (__ldcg(p + s * width + 1) > 0.0f) gmax = fmaxf(gmax, __ldcg(p + s * width));
    }
    float total = 0.0f;
    float a = 0.0f;
    for (int s = 0; s < splits; ++s) {
      const float l = __ldcg(p + s * width + 1);
      if (l > 0.0f) {
        const float f = __expf(__ldcg(p + s * width) - gmax);
        total += l * f;
        a += __ldcg(p + s * width + 2 + dd) * f;
      }
    }
    out[(head0 + h) * D + dd] = a / total;
  }
}

}  // namespace mlxs::backend::cuda::k
