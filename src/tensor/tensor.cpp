#include "tensor/tensor.h"

#include <fmt/format.h>

namespace mlxs::tensor {

std::string Tensor::shape_string() const {
  std::string out = "[";
  for (int i = 0; i < ndim; ++i) {
    if (i > 0) out += ", ";
    out += fmt::format("{}", shape[i]);
  }
  return out + "]";
}

}  // namespace mlxs::tensor
