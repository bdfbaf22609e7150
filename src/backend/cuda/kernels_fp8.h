#pragma once
// FP8 (e4m3) weights kept as their stored bytes on the device, with f32
// scales per block of block_rows x group columns (per output channel:
// block_rows 1, group = K). Decode reads one byte per weight:
// - fp8_gemv: 1 to kFp8GemvMaxRows input rows on the tensor cores (x as
//   f16, f32 accumulation), weights of one K sharing x in one launch;
// - fp8_gemv_exact: f32 products of the exact weights (exact_f32, parity);
// - fp8_quantize_rows: per-token e4m3 activations for cuBLASLt's FP8 GEMM
//   (prefill and large batches, per-channel weights), also straight from a
//   gated MLP's gate and up (fp8_quantize_gated_rows);
// - fp8_dequantize_rows: bf16 tiles for the other GEMMs;
// - fp8_embed: rows of an FP8 table for the step's tokens.

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {

struct Fp8Weight {
  const std::uint8_t* codes;  // [n, K] e4m3
  const float* scales;        // [ceil(n / block_rows), ceil(K / group)]
  int block_rows;
  int group;
  int n;  // rows
};
struct Fp8Segment {
  Fp8Weight w;
  const float* bias;  // [w.n] or null
  float* y;           // [M, w.n]
};
inline constexpr int kFp8MaxSegments = 4;
inline constexpr int kFp8GemvMaxRows = 16;
inline constexpr int kFp8ExactMaxRows = 8;
inline constexpr std::size_t kFp8StagedXMaxBytes = 96 * 1024;

// Whether fp8_gemv takes a weight of this K and group (64-column chunks of
// one scale each) and fp8_gemv_exact one (16-column chunks).
bool fp8_gemv_supports(int group, std::int64_t K);
// Whether fp8_gemv stages M rows of f32 x as f16 in each block's shared
// memory (else x must come as f16).
bool fp8_gemv_stages_x(std::int64_t M, std::int64_t K);
bool fp8_exact_supports(int group, std::int64_t K);

// y[m, n] = sum_k x[m, k] * w[n, k] (+ bias) for 1 <= M <= kFp8GemvMaxRows;
// x [M, K] (16-byte aligned) f16 (x_f16) or f32 (rounded to f16 in each
// block's shared memory, where fp8_gemv_stages_x), up to kFp8MaxSegments
// weights of one K.
cudaError_t fp8_gemv(const void* x, bool x_f16, int M, int K, const Fp8Segment* segs, int count,
                     cudaStream_t s);
// Whether the quantize launches below hold a row's values in registers
// (rows of up to 16,384 values) or read them twice (process-wide, set by
// the backends as they are created; MLXS_FP8_HELD_QUANTIZE=0 for A/B runs).
// Both give the same bits.
void set_fp8_held_quantize(bool held);
// Per-row (per-token) FP8 activations for the FP8 GEMM: scales[m] =
// max|x[m]| / 448 (1 for a zero row), out[m] = e4m3(x[m] / scales[m]).
cudaError_t fp8_quantize_rows(const float* x, int M, int K, std::uint8_t* out, float* scales,
                              cudaStream_t s);
// The same for a gated MLP's product act(gate[m]) * up[m] ([M, K] each),
// computed here: the f32 product is never written.
cudaError_t fp8_quantize_gated_rows(Act a, const float* gate, const float* up, int M, int K,
                                    std::uint8_t* out, float* scales, cudaStream_t s);
// add_rms_norm (x += delta; out = rms_norm(x) · (w + offset), the same bits)
// that also writes out's per-token e4m3 codes and scales as
// fp8_quantize_rows would (the same bits): for n a multiple of 4 up to
// 4,096 and 16-byte aligned rows (add_rms_norm_quantize_supported).
bool add_rms_norm_quantize_supported(int n, const void* x, const void* delta, const void* w,
                                     const void* out);
cudaError_t add_rms_norm_quantize(float* x, const float* delta, const float* w, float eps,
                                  float offset, float* out, std::int64_t rows, int n,
                                  std::uint8_t* codes, float* scales, cudaStream_t s, bool early);
// The same from bf16 gate and up ([M, K] each, the FP8 GEMMs' bf16 outputs).
cudaError_t fp8_quantize_gated_half_rows(Act a, const void* gate, const void* up, int M, int K,
                                         std::uint8_t* out, float* scales, cudaStream_t s);
// y[r, c] = y[r, c] · row_scale[r] · col_scale[c] (+ bias[c]): the token and
// channel scales after an FP8 GEMM of the bare codes.
// A split-K FP8 GEMM's partials [splits][M][N] (each slice's x · wᵀ)
// summed and scaled: (sum) · x_scales[m] · w_scales[n] + bias[n] (bias may
// be null), each row's N columns written part by part (one part: the whole
// row). N and every part's columns multiples of 4, outputs 16-byte aligned.
cudaError_t fp8_splitk_reduce(const float* partials, int splits, std::int64_t M, int N,
                              const float* x_scales, const float* w_scales, const float* bias,
                              const ColumnParts& parts, cudaStream_t s);
cudaError_t fp8_scale_output(float* y, const float* row_scale, const float* col_scale,
                             const float* bias, std::int64_t rows, int n, cudaStream_t s);
// The same from f32 x with f32 products, M <= kFp8ExactMaxRows.
cudaError_t fp8_gemv_exact(const float* x, int M, int K, const Fp8Segment* segs, int count,
                           cudaStream_t s);
// Rows [row0, row0 + rows) of w as bf16 (scale · code, rounded), row-major.
cudaError_t fp8_dequantize_rows(const Fp8Weight& w, int K, int row0, int rows, void* out_bf16,
                                cudaStream_t s);
cudaError_t fp8_embed(const Fp8Weight& w, int K, VocabRows rows, const StepMeta& m, int T,
                      float scale, float* out, cudaStream_t s);

}  // namespace mlxs::backend::cuda::k
