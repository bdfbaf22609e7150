#pragma once
// Quantized weight formats (../shared/fixtures/hf-tiny-quant/README.md):
//   affine  — MLX group quantization: each row a little-endian bit stream of
//             `bits`-bit codes q, w = scale·q + bias per group of columns,
//             scales signed, taken exactly as stored;
//   fp8     — e4m3 codes, w = e4m3(q)·scale per block of block_rows ×
//             group_size (fine-grained FP8) or per row (compressed-tensors
//             per channel: block_rows 1, group_size = in).
// The reference dequantizer here is scalar and exact in f32; backends multiply
// by the packed form directly.

#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"
#include "tensor/tensor.h"

namespace mlxs::tensor {

enum class QuantFormat : std::uint8_t { kNone, kAffine, kFp8 };

struct QuantSpec {
  QuantFormat format = QuantFormat::kNone;
  int bits = 0;                  // affine: 2, 3, 4, 5, 6 or 8; fp8: 8
  std::int64_t group_size = 0;   // columns sharing one scale
  std::int64_t block_rows = 1;   // rows sharing one scale (fp8 blocks)
  std::int64_t in_features = 0;  // logical columns of the weight
  Tensor scales;                 // [ceil(out / block_rows), ceil(in / group_size)], any float dtype
  Tensor biases;                 // affine only: the shape of scales

  bool quantized() const { return format != QuantFormat::kNone; }
  std::int64_t groups_per_row() const { return (in_features + group_size - 1) / group_size; }
};

std::string_view quant_format_name(QuantFormat format);

// Bytes of one packed row of `in` codes of `bits` bits (affine) or e4m3 (fp8).
std::int64_t packed_row_bytes(QuantFormat format, int bits, std::int64_t in);

// e4m3 "fn" (bias 7, no infinities, 0x7F / 0xFF NaN) to f32, exact.
float e4m3_to_f32(std::uint8_t code);
// f32 to e4m3 with round to nearest even, saturating at ±448 (torch's cast of
// a clamped value).
std::uint8_t f32_to_e4m3(float value);

// Code k of a packed affine row (bits [k·bits, (k+1)·bits) of the row's bytes).
std::uint32_t affine_code(const std::uint8_t* row, int bits, std::int64_t k);

// Scale (and bias) element of a quantized weight as f32, whatever its dtype.
float quant_param(const Tensor& t, std::int64_t index);

// Rows [r0, r1) of the quantized weight `packed` ([out, packed_row_bytes])
// dequantized into out ([r1 - r0, in] f32), exactly per the format's formula.
void dequantize_rows(const Tensor& packed, const QuantSpec& spec, std::int64_t r0, std::int64_t r1,
                     float* out);

// Quantizes one row of `in` f32 values the way mx.quantize does (README,
// "What mx.quantize computes"): per group in f32, signed scale, codes
// against the f32 scale and bias, which are then stored rounded to bf16.
// Writes the packed row and in / group bf16 scales and biases.
void quantize_affine_row(const float* w, std::int64_t in, int bits, std::int64_t group,
                         std::uint8_t* packed, std::uint16_t* scales_bf16,
                         std::uint16_t* biases_bf16);

// Checks a format's parameters: bits and group sizes MLX supports, e4m3 only
// with 8 bits. The message names what is wrong.
core::Status validate_quant_params(QuantFormat format, int bits, std::int64_t group_size);

}  // namespace mlxs::tensor
