#pragma once
// cudaFuncSetAttribute applies to the calling thread's current device only.
// A kernel that opts in to more than 48 KiB of dynamic shared memory must do
// so once on every device it runs on: one process drives several GPUs (its
// workers' devices, tensor-parallel ranks on threads), so a process-wide
// "done" flag left the second device without the opt-in (and raced).

#include <atomic>
#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace mlxs::backend::cuda::k {

// Runs a setup once per device (devices 0-63; beyond, every time).
class PerDeviceOnce {
 public:
  template <typename F>
  cudaError_t run(F&& setup) {
    int device = 0;
    if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
    if (device < 0 || device >= 64) return setup();
    const std::uint64_t bit = std::uint64_t{1} << device;
    if ((done_.load(std::memory_order_acquire) & bit) != 0) return cudaSuccess;
    const cudaError_t e = setup();
    if (e == cudaSuccess) done_.fetch_or(bit, std::memory_order_acq_rel);
    return e;
  }

 private:
  std::atomic<std::uint64_t> done_{0};
};

// The dynamic shared memory opt-in of `kernel`, once per device.
template <typename Kernel>
cudaError_t opt_in_smem(PerDeviceOnce& once, Kernel* kernel, std::size_t bytes) {
  return once.run([&] {
    return cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                static_cast<int>(bytes));
  });
}

}  // namespace mlxs::backend::cuda::k
