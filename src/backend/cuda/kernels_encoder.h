#pragma once
// Launchers of the vision-encoder kernels (tensor/encoder_ops.h on CUDA), in
// plain C++17 like cuda_kernels.h. f32 rows throughout; every launcher
// enqueues on `s` and returns the launch error.

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {

// out = (x - mean) / sqrt(var + eps) * w + b per row of n; b may be null;
// out may be x.
cudaError_t layer_norm(const float* x, const float* w, const float* b, float eps, float* out,
                       std::int64_t rows, int n, cudaStream_t s);
// x = act(x), elementwise.
cudaError_t activation(Act a, float* x, std::int64_t n, cudaStream_t s);
// Bidirectional attention within segments: rows [segments[i], segments[i +
// 1]) of q, k, v ([N, heads * head_dim]) attend to each other only.
// `segments` (device, count + 1 entries) starts at 0 and ends at N.
inline constexpr int kSegmentMaxHeadDim = 256;
cudaError_t segment_attention(const float* q, const float* k, const float* v, int N, int heads,
                              int head_dim, float scale, const std::int32_t* segments, int count,
                              float* out, cudaStream_t s);
// The same on the tensor cores: inputs rounded to TF32 (10-bit mantissa),
// f32 accumulation and softmax, for head_dim up to 128
// (kernels_segment_tc.cu). The backend's non-exact mode uses it, as its
// linears use 16-bit tensor-core GEMMs.
bool segment_attention_tf32_supports(int head_dim);
cudaError_t segment_attention_tf32(const float* q, const float* k, const float* v, int N, int heads,
                                   int head_dim, float scale, const std::int32_t* segments,
                                   int count, float* out, cudaStream_t s);
// The same on f16 tensor cores (mma.sync, f32 accumulation and softmax) for
// head_dim up to 128 (kernels_segment_mma.cu): the default outside exact
// f32. K and V are first converted into `scratch`, which must hold
// segment_attention_f16_scratch(N, heads) bytes.
bool segment_attention_f16_supports(int head_dim);
std::size_t segment_attention_f16_scratch(std::int64_t max_rows, int max_heads);
cudaError_t segment_attention_f16(const float* q, const float* k, const float* v, int N, int heads,
                                  int head_dim, float scale, const std::int32_t* segments,
                                  int count, float* out, void* scratch, std::size_t scratch_bytes,
                                  cudaStream_t s);
// Rotate-half in place on x [N, heads * head_dim]; cos_sin [N, head_dim]
// holds each row's head_dim / 2 cosines then sines.
cudaError_t rotary(float* x, std::int64_t N, int heads, int head_dim, const float* cos_sin,
                   cudaStream_t s);
// x [h * w, C] -> out [(h / k) * (w / k), C], the mean of each k x k cell.
cudaError_t avg_pool(const float* x, int h, int w, int k, std::int64_t C, float* out,
                     cudaStream_t s);

}  // namespace mlxs::backend::cuda::k
