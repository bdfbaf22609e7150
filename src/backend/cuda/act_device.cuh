#pragma once
// The activations of gated MLPs, in device code (the gated activation pass
// and the GEMV that fuses it).

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {

__device__ __forceinline__ float activate(Act a, float g) {
  switch (a) {
    case Act::kSilu:
      return g / (1.0f + expf(-g));
    case Act::kGeluTanh:
      return 0.5f * g * (1.0f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g)));
    case Act::kGelu:
      return 0.5f * g * (1.0f + erff(g * 0.7071067811865476f));
    case Act::kQuickGelu:
      return g / (1.0f + expf(-1.702f * g));
  }
  return g;
}

}  // namespace mlxs::backend::cuda::k
