#include "backend/cuda/copy_bandwidth.h"

#include <algorithm>

#include <cuda_runtime.h>

namespace mlxs::backend::cuda {

core::Result<CopyBandwidth> measure_copy_bandwidth(int device, std::size_t bytes, int reps) {
  auto fail = [](cudaError_t e) {
    return core::make_error(core::ErrorCode::kUnsupported, "copy bandwidth probe: {}",
                            cudaGetErrorString(e));
  };
  if (auto e = cudaSetDevice(device); e != cudaSuccess) return fail(e);
  void* a = nullptr;
  void* b = nullptr;
  if (auto e = cudaMalloc(&a, bytes); e != cudaSuccess) return fail(e);
  if (auto e = cudaMalloc(&b, bytes); e != cudaSuccess) {
    cudaFree(a);
    return fail(e);
  }
  cudaMemset(a, 1, bytes);  // never time on zeros
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  CopyBandwidth out;
  for (int r = -2; r < reps; ++r) {  // two warm-up copies
    cudaEventRecord(start);
    cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    if (r >= 0) out.samples.push_back(2.0 * static_cast<double>(bytes) / (ms * 1e-3) / 1e9);
  }
  const cudaError_t err = cudaGetLastError();
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  if (err != cudaSuccess) return fail(err);
  auto sorted = out.samples;
  std::sort(sorted.begin(), sorted.end());
  out.gbps_median = sorted[sorted.size() / 2];
  out.gbps_best = sorted.back();
  return out;
}

}  // namespace mlxs::backend::cuda
