#pragma once
// Vectorised CPU kernels, compiled once per instruction set (AVX-512, AVX2,
// NEON, portable) with Google Highway and dispatched at run time to the best
// one the CPU has. Everything computes in f32; bf16 and f16 weights are
// widened in registers, never copied.

#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace mlxs::backend::cpu::kernels {

using tensor::DType;

// Linear inputs are consumed in blocks of 32 elements. For bf16 weights each
// full block of x is stored as its 16 even elements then its 16 odd ones, so
// that a bf16 pair loaded as one 32-bit lane widens with a shift and a mask
// (no shuffles); the K % 32 tail stays in natural order.
inline constexpr std::int64_t kLinearBlock = 32;

// Rearranges rows of x [M, K] into the layout linear_rows expects for `wtype`.
void prepare_linear_input(DType wtype, const float* x, std::int64_t M, std::int64_t K, float* out);

// y[m, n] = bias[n] + sum_k x[m, k] * w[n, k] for m < M and n in [n0, n1).
// x is the prepared input [M, K]; w is [N, K] of `wtype`; y has row stride ldy.
void linear_rows(DType wtype, const float* xprep, std::int64_t M, std::int64_t K, const void* w,
                 std::int64_t n0, std::int64_t n1, const float* bias, float* y, std::int64_t ldy);

float dot(const float* a, const float* b, std::int64_t n);
// y += a * x
void axpy(float a, const float* x, float* y, std::int64_t n);
void scale(float* x, float s, std::int64_t n);
void add(float* x, const float* y, std::int64_t n);
float max_of(const float* x, std::int64_t n);
// x[i] = exp(x[i] - max); returns the sum.
float exp_sub_sum(float* x, float max, std::int64_t n);
// x = cap * tanh(x / cap)
void softcap(float* x, float cap, std::int64_t n);

// out = x / sqrt(mean(x^2) + eps) * (offset + w)
void rms_norm(const float* x, const float* w, float eps, float offset, float* out, std::int64_t n);

// Rotate-half rotary on `heads` heads of head_dim floats each, in place:
// pairs (i, i + half) turned by cos_sin[i] and cos_sin[half + i].
inline void rotate_half(float* x, std::int64_t heads, int head_dim, int half,
                        const float* cos_sin) {
  for (std::int64_t h = 0; h < heads; ++h) {
    float* v = x + h * head_dim;
    for (int i = 0; i < half; ++i) {
      const float a = v[i];
      const float b = v[i + half];
      v[i] = a * cos_sin[i] - b * cos_sin[half + i];
      v[i + half] = b * cos_sin[i] + a * cos_sin[half + i];
    }
  }
}

void silu_mul(const float* gate, const float* up, float* out, std::int64_t n);
void gelu_tanh_mul(const float* gate, const float* up, float* out, std::int64_t n);

// Sums n floats with eight independent vector accumulators: a streaming read
// whose speed is the memory's, not the adder's (the bandwidth probe).
float stream_sum(const float* x, std::int64_t n);

// Widens n elements of src (f32, f16 or bf16) to f32.
void to_f32(DType type, const void* src, float* dst, std::int64_t n);

// The instruction set chosen at run time, e.g. "AVX3".
std::string target_name();

}  // namespace mlxs::backend::cpu::kernels
