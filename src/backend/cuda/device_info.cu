#include "backend/cuda/device_info.h"

#include <cmath>
#include <vector>

#include <cuda_runtime.h>

namespace mlxs::backend::cuda {
namespace {

core::Status cuda_error(cudaError_t err, const char* what) {
  return core::make_error(core::ErrorCode::kUnsupported, "{}: {}", what, cudaGetErrorString(err));
}

__global__ void saxpy_kernel(int n, float a, const float* x, float* y) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i] + y[i];
}

}  // namespace

core::Result<CudaInfo> query_cuda() {
  CudaInfo info;
  if (auto err = cudaDriverGetVersion(&info.driver_version); err != cudaSuccess) {
    return cuda_error(err, "cudaDriverGetVersion");
  }
  if (auto err = cudaRuntimeGetVersion(&info.runtime_version); err != cudaSuccess) {
    return cuda_error(err, "cudaRuntimeGetVersion");
  }
  int count = 0;
  if (auto err = cudaGetDeviceCount(&count); err != cudaSuccess) {
    return cuda_error(err, "cudaGetDeviceCount");
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (auto err = cudaGetDeviceProperties(&prop, d); err != cudaSuccess) {
      return cuda_error(err, "cudaGetDeviceProperties");
    }
    GpuInfo gpu;
    gpu.index = d;
    gpu.name = prop.name;
    gpu.cc_major = prop.major;
    gpu.cc_minor = prop.minor;
    gpu.total_bytes = prop.totalGlobalMem;
    gpu.multiprocessors = prop.multiProcessorCount;
    if (cudaSetDevice(d) == cudaSuccess) {
      size_t free_bytes = 0, total_bytes = 0;
      if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) gpu.free_bytes = free_bytes;
    }
    info.gpus.push_back(gpu);
  }
  return info;
}

core::Status self_test(int device, int n) {
  if (auto err = cudaSetDevice(device); err != cudaSuccess) return cuda_error(err, "cudaSetDevice");
  std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    x[static_cast<size_t>(i)] = static_cast<float>(i % 97);
    y[static_cast<size_t>(i)] = 1.0f;
  }
  float* dx = nullptr;
  float* dy = nullptr;
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  if (auto err = cudaMalloc(&dx, bytes); err != cudaSuccess) return cuda_error(err, "cudaMalloc");
  if (auto err = cudaMalloc(&dy, bytes); err != cudaSuccess) {
    cudaFree(dx);
    return cuda_error(err, "cudaMalloc");
  }
  cudaMemcpy(dx, x.data(), bytes, cudaMemcpyHostToDevice);
  cudaMemcpy(dy, y.data(), bytes, cudaMemcpyHostToDevice);
  saxpy_kernel<<<(n + 255) / 256, 256>>>(n, 2.0f, dx, dy);
  const cudaError_t err = cudaMemcpy(y.data(), dy, bytes, cudaMemcpyDeviceToHost);
  cudaFree(dx);
  cudaFree(dy);
  if (err != cudaSuccess) return cuda_error(err, "saxpy");
  for (int i = 0; i < n; ++i) {
    const float want = 2.0f * static_cast<float>(i % 97) + 1.0f;
    if (std::fabs(y[static_cast<size_t>(i)] - want) > 0.0f) {
      return core::make_error(core::ErrorCode::kInternalError,
                              "self test: element {} is {}, expected {}", i,
                              y[static_cast<size_t>(i)], want);
    }
  }
  return core::Status::ok();
}

}  // namespace mlxs::backend::cuda
