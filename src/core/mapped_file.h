#pragma once
// A read-only memory-mapped file. Weights are used straight from the mapping
// (zero-copy) when their stored dtype is what the backend computes with.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"

namespace mlxs::core {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Errors name `display_name` (not the absolute path) so messages can reach
  // clients without leaking the server's file layout.
  static Result<MappedFile> open(const std::string& path, const std::string& display_name);

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }

  // Hint that the whole file will be read soon (madvise WILLNEED).
  void prefetch() const;

 private:
  void reset();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace mlxs::core
