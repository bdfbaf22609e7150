#include "model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <set>

#include "core/json_util.h"

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Json;
using core::make_error;
using core::Result;
using core::Status;

Status load_error(const std::string& file, const std::string& what) {
  return Status(ErrorCode::kModelLoadError, file + ": " + what);
}

std::uint64_t read_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A file name from an index must name a file inside the model directory.
bool is_plain_file_name(const std::string& name) {
  return !name.empty() && name.size() < 256 && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name != "." && name != ".." &&
         name.find('\0') == std::string::npos;
}

}  // namespace

tensor::Tensor TensorEntry::view() const {
  tensor::Tensor t;
  t.data = const_cast<std::uint8_t*>(data);  // weights are read-only by convention
  t.dtype = dtype;
  if (shape.size() > static_cast<std::size_t>(tensor::kMaxDims)) {
    // A convolution kernel (Qwen2-VL's 3-D patch embedding): rows of its
    // output channels, which is how the model multiplies by it.
    std::int64_t cols = 1;
    for (std::size_t i = 1; i < shape.size(); ++i) cols *= shape[i];
    t.ndim = 2;
    t.shape = {shape[0], cols, 0, 0};
    return t;
  }
  t.ndim = static_cast<int>(shape.size());
  for (std::size_t i = 0; i < shape.size(); ++i) t.shape[i] = shape[i];
  return t;
}

Result<std::vector<TensorEntry>> SafetensorsFile::parse(const std::uint8_t* bytes, std::size_t size,
                                                        const std::string& name) {
  if (size < 8) {
    return load_error(name, fmt::format("truncated: {} bytes, but a safetensors file starts "
                                        "with an 8-byte header length",
                                        size));
  }
  const std::uint64_t header_len = read_le64(bytes);
  if (header_len > kMaxSafetensorsHeader) {
    return load_error(name, fmt::format("header length {} exceeds the {} byte limit", header_len,
                                        kMaxSafetensorsHeader));
  }
  if (header_len > size - 8) {
    return load_error(name, fmt::format("truncated: header length {} but only {} bytes follow",
                                        header_len, size - 8));
  }
  const std::string_view text(reinterpret_cast<const char*>(bytes + 8), header_len);
  auto parsed = core::parse_json(text, name + " header", ErrorCode::kModelLoadError);
  if (!parsed) return std::move(parsed).take_status();
  const Json& header = *parsed;
  if (!header.is_object()) return load_error(name, "header is not a JSON object");

  const std::uint8_t* data = bytes + 8 + header_len;
  const std::uint64_t data_size = size - 8 - header_len;
  std::vector<TensorEntry> out;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& [key, entry] : header.items()) {
    if (key == "__metadata__") {
      if (!entry.is_object()) return load_error(name, "__metadata__ is not an object");
      continue;
    }
    const std::string where =
        fmt::format("tensor '{}'", key.size() > 200 ? key.substr(0, 200) : key);
    if (!entry.is_object()) return load_error(name, where + ": entry is not an object");
    const auto dt = entry.find("dtype");
    const auto sh = entry.find("shape");
    const auto off = entry.find("data_offsets");
    if (dt == entry.end() || !dt->is_string()) return load_error(name, where + ": missing dtype");
    if (sh == entry.end() || !sh->is_array()) return load_error(name, where + ": missing shape");
    if (off == entry.end() || !off->is_array() || off->size() != 2 ||
        !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned()) {
      return load_error(name, where + ": data_offsets must be two non-negative integers");
    }
    const auto dtype = tensor::dtype_from_safetensors(dt->get<std::string>());
    if (!dtype) {
      return load_error(name, where + ": unknown dtype " + core::json_excerpt(*dt));
    }
    if (sh->size() > kMaxSafetensorsDims) {
      return load_error(name, where + fmt::format(": {} dimensions (at most {})", sh->size(),
                                                  kMaxSafetensorsDims));
    }
    TensorEntry t;
    t.name = key;
    t.dtype = *dtype;
    std::uint64_t numel = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned())
        return load_error(name, where + ": shape has a non-integer or negative dimension");
      const auto v = d.get<std::uint64_t>();
      if (v > (1ull << 40)) return load_error(name, where + ": dimension too large");
      if (__builtin_mul_overflow(numel, v, &numel)) {
        return load_error(name, where + ": dimension too large");
      }
      t.shape.push_back(static_cast<std::int64_t>(v));
    }
    const std::uint64_t begin = (*off)[0].get<std::uint64_t>();
    const std::uint64_t end = (*off)[1].get<std::uint64_t>();
    if (begin > end || end > data_size) {
      return load_error(name, where + fmt::format(": data_offsets [{}, {}] outside the {} bytes of "
                                                  "data (file truncated?)",
                                                  begin, end, data_size));
    }
    std::uint64_t expected = 0;
    if (__builtin_mul_overflow(numel, tensor::dtype_size(t.dtype), &expected) ||
        expected != end - begin) {
      return load_error(
          name, where + fmt::format(": {} bytes for shape {} of {}, but data_offsets "
                                    "span {}",
                                    static_cast<std::uint64_t>(expected), core::json_excerpt(*sh),
                                    dt->get<std::string>(), end - begin));
    }
    t.data = data + begin;
    t.nbytes = end - begin;
    ranges.emplace_back(begin, end);
    out.push_back(std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second)
      return load_error(name, "tensors overlap in the data section");
  }
  return out;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path,
                                              const std::string& display_name) {
  auto mapped = core::MappedFile::open(path, display_name);
  if (!mapped) return Status(ErrorCode::kModelLoadError, mapped.status().message());
  SafetensorsFile file;
  file.file_ = std::move(mapped).value();
  MLXS_ASSIGN_OR_RETURN(file.tensors_, parse(file.file_.data(), file.file_.size(), display_name));
  // Metadata (string -> string) is informational; re-read it leniently.
  const std::uint64_t header_len = read_le64(file.file_.data());
  const Json header = Json::parse(
      std::string_view(reinterpret_cast<const char*>(file.file_.data() + 8), header_len), nullptr,
      false);
  if (header.is_object() && header.contains("__metadata__")) {
    for (const auto& [k, v] : header["__metadata__"].items()) {
      if (v.is_string()) file.metadata_[k] = v.get<std::string>();
    }
  }
  return file;
}

// ---------------------------------------------------------------- WeightStore

Result<std::unique_ptr<WeightStore>> WeightStore::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  auto store = std::make_unique<WeightStore>();
  const fs::path root(dir);
  const std::string index_name = "model.safetensors.index.json";
  std::error_code ec;
  std::map<std::string, std::string> listed;  // tensor -> file, from the index
  if (fs::exists(root / index_name, ec)) {
    MLXS_ASSIGN_OR_RETURN(Json index, core::read_json_file((root / index_name).string(), index_name,
                                                           ErrorCode::kModelLoadError));
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      return load_error(index_name, "has no weight_map object");
    }
    std::set<std::string> files;
    for (const auto& [tensor_name, file] : index["weight_map"].items()) {
      if (!file.is_string() || !is_plain_file_name(file.get<std::string>())) {
        return load_error(index_name, fmt::format("weight_map entry '{}' does not name a file in "
                                                  "the model directory",
                                                  tensor_name));
      }
      listed[tensor_name] = file.get<std::string>();
      files.insert(file.get<std::string>());
    }
    if (files.empty()) return load_error(index_name, "weight_map is empty");
    store->names_.assign(files.begin(), files.end());
  } else if (fs::exists(root / "model.safetensors", ec)) {
    store->names_.push_back("model.safetensors");
  } else {
    return Status(ErrorCode::kModelLoadError,
                  "no weights: neither model.safetensors nor model.safetensors.index.json exists");
  }
  for (std::size_t i = 0; i < store->names_.size(); ++i) {
    const std::string& name = store->names_[i];
    MLXS_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open((root / name).string(), name));
    for (auto entry : file.tensors()) {
      entry.file = static_cast<int>(i);
      if (store->tensors_.count(entry.name) != 0) {
        return load_error(
            name,
            fmt::format("tensor '{}' also appears in {}", entry.name,
                        store->names_[static_cast<std::size_t>(store->tensors_[entry.name].file)]));
      }
      const std::string key = entry.name;
      store->tensors_.emplace(key, std::move(entry));
    }
    store->files_.push_back(std::move(file));
  }
  for (const auto& [tensor_name, file] : listed) {
    auto it = store->tensors_.find(tensor_name);
    if (it == store->tensors_.end() ||
        store->names_[static_cast<std::size_t>(it->second.file)] != file) {
      return load_error(
          file, fmt::format("tensor '{}' listed in the index is not in this file", tensor_name));
    }
  }
  return store;
}

const TensorEntry* WeightStore::find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

Result<const TensorEntry*> WeightStore::require(const std::string& name) const {
  if (const auto* t = find(name)) return t;
  return Status(ErrorCode::kModelLoadError, fmt::format("missing tensor '{}'", name));
}

std::size_t WeightStore::total_bytes() const {
  std::size_t total = 0;
  for (const auto& [name, t] : tensors_) total += t.nbytes;
  return total;
}

void WeightStore::prefetch() const {
  for (const auto& file : files_) file.mapping().prefetch();
}

void WeightStore::replace(const std::string& name, std::vector<std::int64_t> shape,
                          const std::uint8_t* data, std::size_t nbytes) {
  TensorEntry& e = tensors_.at(name);
  e.shape = std::move(shape);
  e.data = data;
  e.nbytes = nbytes;
}

std::uint8_t* WeightStore::own(std::size_t nbytes) {
  return owned_.emplace_back(nbytes, std::uint8_t{0}).data();
}

}  // namespace mlxs::model
