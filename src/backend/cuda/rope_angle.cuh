#pragma once
// The rotary angle every RoPE kernel shares: one frequency's cosine and sine
// at a position, scaled by the rope's attention factor (yarn / longrope).
// The angle is taken in double: a large position times a low frequency loses
// the fraction that matters in float.

#include <cuda_runtime.h>

namespace mlxs::backend::cuda::k {

#ifdef __CUDACC__
// (cos, sin) * attention_factor of position * inv_freq.
__device__ __forceinline__ float2 rope_cos_sin(double position, double inv_freq,
                                               double attention_factor) {
  double sn, cs;
  sincos(position * inv_freq, &sn, &cs);
  return make_float2(static_cast<float>(cs * attention_factor),
                     static_cast<float>(sn * attention_factor));
}
#endif

}  // namespace mlxs::backend::cuda::k
