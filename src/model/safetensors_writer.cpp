#include "model/safetensors_writer.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Status;

Status write_bytes(std::FILE* f, const void* data, std::size_t n, const std::string& name) {
  if (std::fwrite(data, 1, n, f) != n) {
    return core::make_error(ErrorCode::kIoError, "{}: write failed: {}", name,
                            std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace

core::Result<SafetensorsWriter> SafetensorsWriter::create(
    const std::string& path, const std::vector<TensorHeader>& tensors,
    const std::map<std::string, std::string>& metadata) {
  SafetensorsWriter w;
  w.name_ = std::filesystem::path(path).filename().string();
  core::Json header = core::Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", std::string(tensor::dtype_name(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  w.file_.reset(std::fopen(path.c_str(), "wb"));
  if (!w.file_) return core::make_error(ErrorCode::kIoError, "cannot create {}", w.name_);
  std::uint8_t len[8];
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) len[i] = static_cast<std::uint8_t>(n >> (8 * i));
  MLXS_RETURN_IF_ERROR(write_bytes(w.file_.get(), len, 8, w.name_));
  MLXS_RETURN_IF_ERROR(write_bytes(w.file_.get(), text.data(), text.size(), w.name_));
  w.header_bytes_ = 8 + n;
  w.data_bytes_ = offset;
  return w;
}

core::Status SafetensorsWriter::write(const void* data, std::size_t bytes) {
  if (written_ + bytes > data_bytes_) {
    return core::make_error(ErrorCode::kInternalError, "{}: more data than the header declares",
                            name_);
  }
  written_ += bytes;
  return write_bytes(file_.get(), data, bytes, name_);
}

core::Result<std::uint64_t> SafetensorsWriter::finish() {
  if (written_ != data_bytes_) {
    return core::make_error(ErrorCode::kInternalError, "{}: {} of {} data bytes written", name_,
                            written_, data_bytes_);
  }
  if (std::fflush(file_.get()) != 0) {
    return core::make_error(ErrorCode::kIoError, "{}: flush failed", name_);
  }
  return header_bytes_ + data_bytes_;
}

core::Status write_json_file(const std::string& path, const core::Json& doc, int indent) {
  const std::string name = std::filesystem::path(path).filename().string();
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) return core::make_error(ErrorCode::kIoError, "cannot write {}", name);
  const std::string text = doc.dump(indent) + "\n";
  return write_bytes(f.get(), text.data(), text.size(), name);
}

}  // namespace mlxs::model
