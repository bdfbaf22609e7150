#pragma once
// Linear layers over quantized weights (tensor/quant.h), computed exactly in
// f32: codes are widened in registers, never copied out for a single input
// row; several input rows dequantize a tile of weight rows at a time and run
// the f32 tile kernel over it, so the weights are widened once per step.

#include <cstdint>

#include "core/half.h"
#include "tensor/quant.h"

namespace mlxs::backend::cpu::kernels {

// How a weight's per-group scales and biases are stored. Affine weights keep
// the checkpoint's 16-bit floats: widening them to f32 at import made decode
// read 11% more bytes (4-bit, group 64) for no gain in precision.
enum class ParamType : std::uint8_t { kF32, kBF16, kF16 };

// kF32 for f32 (and anything import widened to it), else the 16-bit type.
ParamType param_type(tensor::DType dtype);

// An imported quantized weight: codes in place, scales and biases as stored.
struct QuantMatrix {
  tensor::QuantFormat format = tensor::QuantFormat::kNone;
  int bits = 0;
  std::int64_t group = 0;       // columns per scale
  std::int64_t block_rows = 1;  // rows per scale
  std::int64_t K = 0;           // logical columns
  std::int64_t row_bytes = 0;
  std::int64_t groups_per_row = 0;
  const std::uint8_t* codes = nullptr;
  ParamType params = ParamType::kF32;
  const void* scales = nullptr;
  const void* biases = nullptr;  // affine only

  // Element i of scales or biases in f32 (per group; the kernels' hot loops
  // widen them in registers instead).
  float scale(std::int64_t i) const { return param(scales, i); }
  float bias(std::int64_t i) const { return param(biases, i); }
  float param(const void* p, std::int64_t i) const;
};

inline float QuantMatrix::param(const void* p, std::int64_t i) const {
  switch (params) {
    case ParamType::kBF16:
      return core::bf16_to_f32(static_cast<const std::uint16_t*>(p)[i]);
    case ParamType::kF16:
      return core::f16_to_f32(static_cast<const std::uint16_t*>(p)[i]);
    case ParamType::kF32:
      break;
  }
  return static_cast<const float*>(p)[i];
}

// Rows of weight a tile holds when several input rows share it.
inline constexpr std::int64_t kQuantTileRows = 16;

// Whether the weight reads the input in the bf16 block layout (16 even then
// 16 odd elements per 32, prepare_linear_input) rather than in order: 4-bit
// codes pack an even and an odd column into each byte.
bool quant_reads_reordered(const QuantMatrix& w);

// Per input row, the sum of each 32-element block of x: [M, ceil(K / 32)].
// Affine weights add bias · sum(x) per group from it.
void block_sums(const float* x, std::int64_t M, std::int64_t K, float* out);

// y[m, n] = bias[n] + sum_k x[m, k] · W[n, k] for n in [n0, n1). x is in order,
// xr the same rows in the reordered layout, xsum from block_sums; tile has
// room for kQuantTileRows · K floats (used when M > 1).
void quant_linear_rows(const QuantMatrix& w, const float* x, const float* xr, const float* xsum,
                       std::int64_t M, std::int64_t n0, std::int64_t n1, const float* bias,
                       float* y, std::int64_t ldy, float* tile);

// Rows [r0, r1) of W in f32, in the layout the weight reads its input in.
void quant_dequantize_rows(const QuantMatrix& w, std::int64_t r0, std::int64_t r1, float* out);

}  // namespace mlxs::backend::cpu::kernels
