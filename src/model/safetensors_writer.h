#pragma once
// Writes safetensors files: the header for a list of tensors laid out back to
// back, then their bytes streamed in the same order. Used by the synthetic
// model writer and the quantizer, so one place knows the format's layout.

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "tensor/dtype.h"

namespace mlxs::model {

struct TensorHeader {
  std::string name;
  tensor::DType dtype = tensor::DType::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t nbytes = 0;  // bytes of data (packed tensors are not numel · width)
};

class SafetensorsWriter {
 public:
  static core::Result<SafetensorsWriter> create(const std::string& path,
                                                const std::vector<TensorHeader>& tensors,
                                                const std::map<std::string, std::string>& metadata);
  // Appends data bytes, tensor after tensor in the header's order.
  core::Status write(const void* data, std::size_t bytes);
  // Flushes and checks that every declared byte was written; returns the
  // file's size.
  core::Result<std::uint64_t> finish();

 private:
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file_{nullptr, &std::fclose};
  std::string name_;
  std::uint64_t header_bytes_ = 0;
  std::uint64_t data_bytes_ = 0;
  std::uint64_t written_ = 0;
};

// A JSON document as a file, indented (config.json, index files).
core::Status write_json_file(const std::string& path, const core::Json& doc, int indent = 2);

}  // namespace mlxs::model
