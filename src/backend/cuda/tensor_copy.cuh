#pragma once
// Hopper's tensor copies global -> shared (the copy engine's async proxy: one
// instruction a box of rows, swizzled on the way in) and the shared-memory
// barriers that count their bytes. Device code only, sm_90 and later.

#include <cstdint>

#include "backend/cuda/mma_util.cuh"

namespace mlxs::backend::cuda::k {

// A barrier in shared memory expecting one arrival per phase (the thread
// that announces the phase's bytes, mbar_expect_bytes).
__device__ __forceinline__ void mbar_init(std::uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(shared_addr(bar)));
#endif
}
// Makes barrier initializations visible to the copy engine (then a block
// barrier makes them visible to the other threads).
__device__ __forceinline__ void mbar_init_fence() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}
// This phase's arrival, announcing the bytes its copies will deliver.
__device__ __forceinline__ void mbar_expect_bytes(std::uint64_t* bar, unsigned bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_addr(bar)),
               "r"(bytes)
               : "memory");
#endif
}
// Waits until the phase of parity `parity` has completed (its arrival and
// all its bytes).
__device__ __forceinline__ void mbar_wait(std::uint64_t* bar, unsigned parity) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT_%=:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT_%=;\n"
      "}\n" ::"r"(shared_addr(bar)),
      "r"(parity)
      : "memory");
#endif
}
// Rows y .. y + box - 1 of a 2-D tensor map (`map`: a CUtensorMap in
// global memory) from column x, into shared memory at `dst` (aligned as the
// map's swizzle asks), counted on `bar` when they land.
__device__ __forceinline__ void tensor_rows_copy(void* dst, const void* map, int x, int y,
                                                 std::uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3}], [%4];\n" ::"r"(shared_addr(dst)),
      "l"(map), "r"(x), "r"(y), "r"(shared_addr(bar))
      : "memory");
#endif
}

}  // namespace mlxs::backend::cuda::k
