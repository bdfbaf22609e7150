#include "backend/cuda/kv_rows_map.h"

#include <cstdint>

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

namespace mlxs::backend::cuda {

namespace {

// The driver's encoder, through the runtime (no link against libcuda).
PFN_cuTensorMapEncodeTiled_v12000 tensor_map_encoder() {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found{};
  if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault,
                                       &found) != cudaSuccess ||
      found != cudaDriverEntryPointSuccess) {
    return nullptr;
  }
  return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
}

}  // namespace

const void* make_kv_rows_map(void* base, std::size_t bytes, int row_bytes) {
  constexpr int kRowBytes = 128;  // the swizzle's span: the kernels' reads assume it
  if (row_bytes != kRowBytes || base == nullptr || bytes % kRowBytes != 0) return nullptr;
  const std::uint64_t rows = bytes / kRowBytes;
  if (rows == 0 || rows > static_cast<std::uint64_t>(INT32_MAX)) return nullptr;
  const auto encode = tensor_map_encoder();
  if (encode == nullptr) return nullptr;
  CUtensorMap map{};
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(kRowBytes), rows};
  const cuuint64_t strides[1] = {static_cast<cuuint64_t>(kRowBytes)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(kRowBytes), kKvRowsBox};
  const cuuint32_t steps[2] = {1, 1};
  if (encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, base, dims, strides, box, steps,
             CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
             CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
             CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS) {
    return nullptr;
  }
  void* device = nullptr;
  if (cudaMalloc(&device, sizeof(map)) != cudaSuccess) return nullptr;
  if (cudaMemcpy(device, &map, sizeof(map), cudaMemcpyHostToDevice) != cudaSuccess) {
    cudaFree(device);
    return nullptr;
  }
  return device;
}

void free_kv_rows_map(const void* map) {
  if (map != nullptr) cudaFree(const_cast<void*>(map));
}

}  // namespace mlxs::backend::cuda
