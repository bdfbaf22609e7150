#pragma once
// The single-digit int8 path's row kernels (Int8Row::single): x ≈ dx · hi per
// 32-column block, one u8 × s8 VNNI pass per code vector. Per 64 bytes of
// codes the tail is one conversion and two multiplies: dx comes per lane from
// Int8Row::lanes4/lanes8 and the row's group scales are permuted into lanes,
// so no per-block scalar work or horizontal sum is left in the loop.

#include <cstdint>

#include "backend/cpu/quant_int8.h"

namespace mlxs::backend::cpu::kernels {

// A lone 32-column block of row n past the last whole 64-byte chunk (K not a
// multiple of 128 or 64 columns): scale · dx · (q · xq), in scalar code.
float int8_single_lone_block(const QuantMatrix& w, std::int64_t n, const Int8Row& x,
                             std::int64_t blk);

// y[n] = bias[n] + W[n] · x for n in [n0, n1); x.single, AVX-512 VNNI.
void int8_single_rows(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                      const float* bias, float* y);

}  // namespace mlxs::backend::cpu::kernels
