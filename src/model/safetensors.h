#pragma once
// Safetensors files, single and sharded, memory-mapped. Every header field is
// checked before use: a hostile or truncated file gives ModelLoadError naming
// the file and the problem, never a crash or an out-of-bounds read.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/status.h"
#include "tensor/tensor.h"

namespace mlxs::model {

struct TensorEntry {
  std::string name;
  tensor::DType dtype = tensor::DType::kF32;
  std::vector<std::int64_t> shape;
  const std::uint8_t* data = nullptr;
  std::size_t nbytes = 0;
  int file = 0;  // index into the store's files

  // A host view; a shape of more than tensor::kMaxDims dimensions is seen
  // as [shape[0], the product of the others].
  tensor::Tensor view() const;
};

// One parsed file. `display_name` (e.g. "model-00001-of-00004.safetensors")
// is what error messages show.
class SafetensorsFile {
 public:
  static core::Result<SafetensorsFile> open(const std::string& path,
                                            const std::string& display_name);
  // Parses an in-memory image (the fuzz target and tests use it).
  static core::Result<std::vector<TensorEntry>> parse(const std::uint8_t* bytes, std::size_t size,
                                                      const std::string& display_name);

  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const core::MappedFile& mapping() const { return file_; }

 private:
  core::MappedFile file_;
  std::vector<TensorEntry> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All weights of a model directory: model.safetensors, or the shards listed by
// model.safetensors.index.json.
class WeightStore {
 public:
  static core::Result<std::unique_ptr<WeightStore>> open_dir(const std::string& dir);

  const TensorEntry* find(const std::string& name) const;
  // Like find, but an absent tensor is a ModelLoadError naming it.
  core::Result<const TensorEntry*> require(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name) != nullptr; }

  const std::map<std::string, TensorEntry>& tensors() const { return tensors_; }
  std::size_t total_bytes() const;
  std::vector<std::string> file_names() const { return names_; }
  // Asks the kernel to read every file ahead (load-time warm-up).
  void prefetch() const;

  // Tensor parallelism (shard_loader.h): tensor `name` becomes one rank's
  // slice of it, `data` either inside the mapping (a row range) or bytes from
  // own() (strided columns, a zeroed bias).
  void replace(const std::string& name, std::vector<std::int64_t> shape, const std::uint8_t* data,
               std::size_t nbytes);
  // `nbytes` zeroed bytes that live as long as the store.
  std::uint8_t* own(std::size_t nbytes);

 private:
  std::vector<SafetensorsFile> files_;
  std::vector<std::string> names_;
  std::map<std::string, TensorEntry> tensors_;
  std::vector<std::vector<std::uint8_t>> owned_;
};

// Most dimensions a tensor may have (convolutions over time have five).
inline constexpr std::size_t kMaxSafetensorsDims = 8;

// Largest header we accept (the format's reference implementation uses 100 MB).
inline constexpr std::uint64_t kMaxSafetensorsHeader = 100u << 20;

}  // namespace mlxs::model
