#pragma once
// The current CUDA device is per host thread, and a model is loaded on one
// thread and stepped (or its images encoded) on another: every entry point
// that touches the device first makes its device current on the calling
// thread. One flag per thread for the whole program (an inline function's
// static), so a thread pays for cudaSetDevice only when its device changes.

#include <cuda_runtime.h>

namespace mlxs::backend::cuda {

inline void bind_device(int device) {
  thread_local int current = -1;
  if (current != device && cudaSetDevice(device) == cudaSuccess) current = device;
}

}  // namespace mlxs::backend::cuda
