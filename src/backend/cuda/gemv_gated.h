#pragma once
// A gated MLP's gate and up projections at one input row, with the
// activation fused: h[i] = act(gate_i · x + bias) · (up_i · x + bias).

#include <cuda_runtime.h>

#include "backend/cuda/cuda_kernels.h"

namespace mlxs::backend::cuda::k {

// Whether gemv_gated takes weights of this type and these shapes: 16-bit
// weights and a K the vector loads cover (x 16-byte aligned, K % 8 == 0).
bool gemv_gated_supports(WType t, const void* x, const void* gate_w, const void* up_w, int K);
// gate.y receives h; up.y is not written. gate.n == up.n.
cudaError_t gemv_gated(WType t, const float* x, int K, const GemvSegment& gate,
                       const GemvSegment& up, Act act, cudaStream_t s);

}  // namespace mlxs::backend::cuda::k
