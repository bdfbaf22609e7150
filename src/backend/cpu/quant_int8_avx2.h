#pragma once
// The single-digit int8 path (quant_int8_single.h) for x86-64 CPUs with AVX2
// but without AVX-512 VNNI: the same Int8Row and the same result up to f32
// rounding, each 64-byte chunk as two 32-byte halves of u8 × s8 pair
// products (vpmaddubsw) summed into 32-bit lanes (vpmaddwd). 8-bit codes are
// split into nibbles so that no pair sum can saturate int16. MLXS_INT8_ISA=avx2
// selects it on a VNNI CPU too (quant_int8.h), which is how its tests run.

#include <cstdint>

#include "backend/cpu/quant_int8.h"

namespace mlxs::backend::cpu::kernels {

// Whether this CPU has AVX2, FMA and F16C.
bool int8_avx2_available();

// y[n] = bias[n] + W[n] · x for n in [n0, n1); x.single, int8_avx2_available().
void int8_single_rows_avx2(const QuantMatrix& w, const Int8Row& x, std::int64_t n0, std::int64_t n1,
                           const float* bias, float* y);

}  // namespace mlxs::backend::cpu::kernels
