#pragma once
// A Tensor is a view: dtype, shape, device and a pointer. It owns nothing and
// is always dense row-major (a row range of a 2-D tensor is again a tensor,
// which is how fused checkpoint matrices such as phi3's qkv_proj are split
// without copying).

#include <array>
#include <cassert>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tensor/dtype.h"

namespace mlxs::tensor {

enum class Device : std::uint8_t { kCpu, kCuda };

inline constexpr int kMaxDims = 4;

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::kF32;
  Device device = Device::kCpu;
  int ndim = 0;
  std::array<std::int64_t, kMaxDims> shape{};

  Tensor() = default;
  Tensor(void* ptr, DType type, std::initializer_list<std::int64_t> dims, Device dev = Device::kCpu)
      : data(ptr), dtype(type), device(dev) {
    assert(dims.size() <= kMaxDims);
    for (auto d : dims) shape[ndim++] = d;
  }

  bool empty() const { return data == nullptr; }
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < ndim; ++i) n *= shape[i];
    return n;
  }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype); }
  std::int64_t dim(int i) const { return shape[i]; }
  // Rows and columns of a matrix view (vectors are one row).
  std::int64_t rows() const { return ndim >= 2 ? numel() / shape[ndim - 1] : 1; }
  std::int64_t cols() const { return ndim >= 1 ? shape[ndim - 1] : 1; }

  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }

  // Rows [begin, end) of the tensor seen as a matrix.
  Tensor rows_view(std::int64_t begin, std::int64_t end) const {
    assert(begin >= 0 && begin <= end && end <= rows());
    Tensor t = *this;
    t.data =
        static_cast<char*>(data) + static_cast<std::size_t>(begin * cols()) * dtype_size(dtype);
    t.ndim = 2;
    t.shape = {end - begin, cols(), 0, 0};
    return t;
  }

  // Same memory seen as [rows, cols].
  Tensor as_matrix(std::int64_t rows_, std::int64_t cols_) const {
    assert(rows_ * cols_ == numel());
    Tensor t = *this;
    t.ndim = 2;
    t.shape = {rows_, cols_, 0, 0};
    return t;
  }

  std::string shape_string() const;
};

}  // namespace mlxs::tensor
