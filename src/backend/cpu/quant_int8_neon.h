#pragma once
// The int8 path (quant_int8.h) on aarch64 CPUs with the Armv8.2 dot product
// (SDOT, HWCAP_ASIMDDP): one or two digits, 4- and 8-bit affine weights, the
// same Int8Row as the x86 kernels and the same error bound. SDOT multiplies
// s8 by s8, so 4-bit codes (0..15) go in as they are and 8-bit ones are
// centred (q - 128, one XOR), which moves their centring term from the
// rounding loss to the exact group sums: c · scale_g · sum(x_g) in place of
// c · scale_g · lost_g, the same total. A 128-column chunk is 4 blocks; each
// block's SDOT lanes are added pairwise so that one vector holds the 4
// blocks' dot products, scaled by dx and the group scale in one multiply and
// one fused multiply-add.

#include <cstdint>

#include "backend/cpu/quant_int8.h"

namespace mlxs::backend::cpu::kernels {

// Whether this CPU is aarch64 with the dot product instructions.
bool int8_neon_available();

// quantize_row_int8 with NEON: the same digits (round to nearest even), and
// no Int8Row::lanes4/lanes8, which only the x86 kernels read.
void quantize_row_int8_neon(const float* x, std::int64_t K, const Int8Row& out);

// y[n] = bias[n] + W[n] · x for n in [n0, n1); one or two digits
// (x.single), int8_neon_available().
void int8_rows_neon(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                    const float* bias, float* y);

}  // namespace mlxs::backend::cpu::kernels
