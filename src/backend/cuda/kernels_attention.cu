// Paged causal attention: one warp per (query token, query head), an online
// softmax over the sequence's cached keys (sliding window and soft-capping
// included), K/V read through the block table. Each lane holds head_dim / 32
// of the query and of the accumulator.
#include <cfloat>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {
namespace {

constexpr int kMaxPerLane = 8;  // head_dim up to 256
constexpr int kWarpsPerBlock = 4;

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void attention_kernel(KvLayout kv, int layer, const float* q, float* out, int T, int heads,
                                 int head_dim, float scale, float softcap, int window, StepMeta m) {
  const int lane = threadIdx.x & 31;
  const int item = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  if (item >= T * heads) return;
  const int t = item / heads;
  const int h = item % heads;
  const int g = h / (heads / kv.kv_heads);
  const int pos = m.positions[t];
  const std::int32_t* table = m.tables + m.seq_table[m.row_seq[t]];
  const int lo = window > 0 ? max(0, pos - window + 1) : 0;
  const int per_lane = (head_dim + 31) / 32;

  float qv[kMaxPerLane];
  float acc[kMaxPerLane];
  const float* qh = q + (static_cast<std::int64_t>(t) * heads + h) * head_dim;
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + 32 * i;
    qv[i] = (i < per_lane && d < head_dim) ? qh[d] : 0.0f;
    acc[i] = 0.0f;
  }
  float mx = -FLT_MAX;
  float l = 0.0f;
  const std::int64_t head_off = static_cast<std::int64_t>(g) * kv.block_size * head_dim;
  for (int j = lo; j <= pos; ++j) {
    const std::int64_t block = table[j / kv.block_size];
    const std::int64_t row = head_off + static_cast<std::int64_t>(j % kv.block_size) * head_dim;
    const float* kp = kv.base + layer * kv.layer_stride + block * kv.block_stride + row;
    const float* vp = kp + kv.kv_stride;
    float part = 0.0f;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int d = lane + 32 * i;
      if (i < per_lane && d < head_dim) part += qv[i] * kp[d];
    }
    float score = warp_sum(part) * scale;
    if (softcap > 0.0f) score = softcap * tanhf(score / softcap);
    const float nm = fmaxf(mx, score);
    const float corr = __expf(mx - nm);
    const float p = __expf(score - nm);
    l = l * corr + p;
#pragma unroll
    for (int i = 0; i < kMaxPerLane; ++i) {
      const int d = lane + 32 * i;
      if (i < per_lane && d < head_dim) acc[i] = acc[i] * corr + p * vp[d];
    }
    mx = nm;
  }
  float* oh = out + (static_cast<std::int64_t>(t) * heads + h) * head_dim;
  const float inv = 1.0f / l;
#pragma unroll
  for (int i = 0; i < kMaxPerLane; ++i) {
    const int d = lane + 32 * i;
    if (i < per_lane && d < head_dim) oh[d] = acc[i] * inv;
  }
}

}  // namespace

cudaError_t attention(const KvLayout& kv, int layer, const float* q, float* out, int T, int heads,
                      int head_dim, float scale, float softcap, int window, const StepMeta& m,
                      cudaStream_t s) {
  if (head_dim > 32 * kMaxPerLane) return cudaErrorInvalidValue;
  const int items = T * heads;
  const int blocks = (items + kWarpsPerBlock - 1) / kWarpsPerBlock;
  attention_kernel<<<blocks, 32 * kWarpsPerBlock, 0, s>>>(kv, layer, q, out, T, heads, head_dim, scale,
                                                          softcap, window, m);
  return cudaGetLastError();
}

}  // namespace mlxs::backend::cuda::k
