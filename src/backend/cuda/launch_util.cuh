#pragma once
// Launch helpers shared by the decode GEMV kernels (plain and quantized).

#include <cstddef>
#include <type_traits>

#include <cuda_runtime.h>

namespace mlxs::backend::cuda::k {

// f(std::integral_constant<int, M>{}) for the run-time row count M in
// [1, kMax]: the kernels are specialised per row count.
template <int kMax, int M = 1, typename F>
cudaError_t with_rows(int rows, F&& f) {
  if constexpr (M > kMax) {
    return cudaErrorInvalidValue;
  } else {
    if (rows == M) return f(std::integral_constant<int, M>{});
    return with_rows<kMax, M + 1>(rows, f);
  }
}

// A launch that may start before the previous kernel on the stream finishes
// (programmatic dependent launch): its blocks get resident and wait in
// cudaGridDependencySynchronize for that kernel's output. `smem`: bytes of
// dynamic shared memory.
template <typename... Params, typename... Args>
cudaError_t launch_early_smem(void (*kernel)(Params...), dim3 blocks, unsigned threads,
                              std::size_t smem, cudaStream_t s, Args... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = blocks;
  config.blockDim = dim3(threads);
  config.dynamicSmemBytes = smem;
  config.stream = s;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attr;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, kernel, args...);
}

// The same without dynamic shared memory.
template <typename... Params, typename... Args>
cudaError_t launch_early(void (*kernel)(Params...), dim3 blocks, unsigned threads, cudaStream_t s,
                         Args... args) {
  return launch_early_smem(kernel, blocks, threads, 0, s, args...);
}

}  // namespace mlxs::backend::cuda::k
