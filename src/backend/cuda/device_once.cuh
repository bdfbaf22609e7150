#pragma once
// Per-device launch setup of the kernels, and the device attributes it
// reads. cudaFuncSetAttribute applies to the calling thread's current device
// only. A kernel that opts in to more than 48 KiB of dynamic shared memory
// must do so once on every device it runs on: one process drives several GPUs (its
// workers' devices, tensor-parallel ranks on threads), so a process-wide
// "done" flag left the second device without the opt-in (and raced).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

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
cudaError_t opt_in_smem(PerDeviceOnce& once, Kernel* kernel, std::size_t bytes,
                        bool max_carveout = false) {
  return once.run([&] {
    cudaError_t e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes));
    if (e == cudaSuccess && max_carveout) {
      e = cudaFuncSetAttribute(kernel, cudaFuncAttributePreferredSharedMemoryCarveout,
                               cudaSharedmemCarveoutMaxShared);
    }
    return e;
  });
}

// An attribute of the current device, asked of the driver once per
// (thread, device, attribute): attributes never change, and host paths run
// per linear or per step ask them (a 4-bit linear's routing three times).
inline cudaError_t device_attribute(cudaDeviceAttr attr, int& value) {
  struct Entry {
    int device;
    cudaDeviceAttr attr;
    int value;
  };
  thread_local std::vector<Entry> cache;
  int dev = 0;
  if (const cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
  for (const Entry& c : cache) {
    if (c.device == dev && c.attr == attr) {
      value = c.value;
      return cudaSuccess;
    }
  }
  if (const cudaError_t e = cudaDeviceGetAttribute(&value, attr, dev); e != cudaSuccess) return e;
  cache.push_back({dev, attr, value});
  return cudaSuccess;
}

// The most dynamic shared memory one block of the current device may opt in
// to (0 when the device cannot be asked).
inline int smem_optin_limit() {
  int optin = 0;
  return device_attribute(cudaDevAttrMaxSharedMemoryPerBlockOptin, optin) == cudaSuccess ? optin
                                                                                         : 0;
}

// Blocks of `kernel` (threads, dynamic smem) the current device holds at
// once, asked once per (thread, kernel, device, key: whatever else the smem
// depends on): the queries cost more host time than a small GEMV takes on
// the device, which steps outside graphs pay.
template <typename Kernel>
cudaError_t resident_blocks(Kernel* kernel, int threads, std::size_t smem, std::int64_t key,
                            int& blocks) {
  struct Entry {
    const void* kernel;
    int device;
    std::int64_t key;
    int blocks;
  };
  thread_local std::vector<Entry> cache;
  int dev = 0;
  if (const cudaError_t e = cudaGetDevice(&dev); e != cudaSuccess) return e;
  const auto* id = reinterpret_cast<const void*>(kernel);
  for (const Entry& c : cache) {
    if (c.kernel == id && c.device == dev && c.key == key) {
      blocks = c.blocks;
      return cudaSuccess;
    }
  }
  int sms = 0, per_sm = 0;
  cudaError_t e = device_attribute(cudaDevAttrMultiProcessorCount, sms);
  if (e == cudaSuccess) {
    e = cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, threads, smem);
  }
  if (e != cudaSuccess) return e;
  blocks = std::max(per_sm, 1) * sms;
  cache.push_back({id, dev, key, blocks});
  return cudaSuccess;
}

}  // namespace mlxs::backend::cuda::k
