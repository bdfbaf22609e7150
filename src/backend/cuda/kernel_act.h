#pragma once
// The kernels' activation code for a Backend activation (the kernels take
// plain ints, not tensor's enum).

#include "backend/cuda/cuda_kernels.h"
#include "tensor/backend.h"

namespace mlxs::backend::cuda {

inline k::Act kernel_act(tensor::Activation act) {
  switch (act) {
    case tensor::Activation::kSilu:
      return k::Act::kSilu;
    case tensor::Activation::kGeluTanh:
      return k::Act::kGeluTanh;
    case tensor::Activation::kGelu:
      return k::Act::kGelu;
    case tensor::Activation::kQuickGelu:
      return k::Act::kQuickGelu;
  }
  return k::Act::kSilu;
}

}  // namespace mlxs::backend::cuda
