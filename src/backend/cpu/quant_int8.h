#pragma once
// The fast path for 4- and 8-bit affine weights at decode: the input row is
// written as two int8 digits per element (x ≈ dx · (hi + lo / 256), dx =
// max|x_b| / 127 per 32-element block) and each block's dot product with the
// codes runs as u8 × s8 integer multiply-adds (AVX-512 VNNI, 64 products per
// instruction, one pass per digit) instead of widening every code to f32.
// Codes are centred (c = 8 for 4 bits, 128 for 8): q·x = (q - c)·x +
// c·sum(x), and that second term, like the bias term sum_g bias_g ·
// sum(x_g), comes from exact f32 sums. The only error left is the rounding of
// x to 16 bits of its block's range against the centred codes:
// |Δ| ≤ sum_b |s_b| · (max|x_b| / 65024) · sum|q_b - c|, far below the
// weights' own rounding; the parity test checks whole models against the
// float64 references at the exact path's 1e-3. x86 CPUs without VNNI use
// the f32 kernels for two digits; aarch64 ones with the dot product
// instructions run both digit counts (quant_int8_neon.h).
//
// With `single` set, x keeps one digit (x ≈ dx · hi, llama.cpp's Q8 blocks of
// 32): half the dot products and a lighter per-chunk tail
// (quant_int8_single.h), at 8 bits of each block's range:
// |Δ| ≤ sum_b |s_b| · (max|x_b| / 254) · sum|q_b - c|.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "backend/cpu/quant_kernels.h"

namespace mlxs::backend::cpu::kernels {

// Whether this CPU runs the int8 path with x in `digits` int8 digits fast:
// one digit on AVX-512 VNNI, AVX2 (quant_int8_avx2.h) or aarch64 with the dot
// product (quant_int8_neon.h), two on VNNI and that. MLXS_INT8_ISA=avx2|none,
// read once, narrows the choice (tests).
bool int8_path_available(int digits);

// The instruction set the int8 kernels run on: "avx512vnni", "avx2",
// "neon-dotprod", "none".
std::string_view int8_isa_name();

// One input row quantized for the int8 path.
struct Int8Row {
  // Digit 0 is hi, digit 1 is lo. natural: [K] in column order (8-bit
  // weights); interleaved: [K + 128] per 4 blocks their even columns, then
  // their odd ones (4-bit weights).
  std::int8_t* natural[2] = {nullptr, nullptr};
  std::int8_t* interleaved[2] = {nullptr, nullptr};
  float* block_scale = nullptr;      // [K / 32]
  float* block_scale_256 = nullptr;  // [K / 32] the same / 256 (the lo digit's step)
  // Exact f32 sums of x per group of 32, 64 and 128 columns ([K / 32],
  // [K / 64], [K / 128]): the bias term of each group size.
  float* sum32 = nullptr;
  float* sum64 = nullptr;
  float* sum128 = nullptr;
  // What rounding x lost per group: sum(x) - sum_b dx_b · sum(xq_b), the
  // same three granularities (the centring correction multiplies it by c).
  float* lost32 = nullptr;
  float* lost64 = nullptr;
  float* lost128 = nullptr;
  // The single-digit path: only digit 0 is written, and dx of every 32-bit
  // lane of a 64-byte code vector: [K / 8] for 4-bit chunks (128 columns,
  // 4 lanes per block), [K / 4] for 8-bit ones (64 columns, 8 per block).
  bool single = false;
  float* lanes4 = nullptr;
  float* lanes8 = nullptr;
  const float* sums(std::int64_t group) const {
    return group == 32 ? sum32 : group == 64 ? sum64 : sum128;
  }
  const float* lost(std::int64_t group) const {
    return group == 32 ? lost32 : group == 64 ? lost64 : lost128;
  }
};

// Floats of scratch an Int8Row of width K takes (int8_row_in lays it out).
std::size_t int8_row_floats(std::int64_t K);

// An Int8Row over `scratch` (int8_row_floats(K) floats, 64-byte aligned).
Int8Row int8_row_in(float* scratch, std::int64_t K, bool single);

// K must be a multiple of 32.
void quantize_row_int8(const float* x, std::int64_t K, const Int8Row& out);

// y[n] = bias[n] + W[n] · x for n in [n0, n1), w 4- or 8-bit affine.
void int8_linear_rows(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                      const float* bias, float* y);

}  // namespace mlxs::backend::cpu::kernels
