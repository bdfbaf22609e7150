#include "testing/fixtures.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>
#include <unistd.h>

namespace mlxs::testing {
namespace fs = std::filesystem;

std::string fixtures_dir() {
  if (const char* env = std::getenv("MLXS_FIXTURES"); env != nullptr && *env != '\0') return env;
  const char* src = std::getenv("MLXS_SOURCE_DIR");
  const fs::path root = src != nullptr ? fs::path(src) : fs::path(MLXS_TEST_SOURCE_DIR);
  return (root / ".." / "shared" / "fixtures").lexically_normal().string();
}

std::string fixture_path(const std::string& relative) {
  return (fs::path(fixtures_dir()) / relative).string();
}

std::vector<std::string> hf_tiny_cases() {
  return model_cases("hf-tiny");
}

std::vector<std::string> model_cases(const std::string& folder) {
  std::vector<std::string> cases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fixture_path(folder), ec)) {
    if (entry.is_directory() && fs::exists(entry.path() / "config.json") &&
        fs::exists(entry.path() / "reference.safetensors")) {
      cases.push_back(entry.path().filename().string());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

std::string temp_dir() {
  static const std::string dir = [] {
    const fs::path base = fs::temp_directory_path() / ("mlxs-test-" + std::to_string(getpid()));
    fs::create_directories(base);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(fs::temp_directory_path() / ("mlxs-test-" + std::to_string(getpid())), ec);
    });
    return base.string();
  }();
  return dir;
}

const model::TensorEntry* Reference::find(const std::string& name) const {
  for (const auto& t : file->tensors()) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::vector<std::int32_t> Reference::ids(const std::string& name) const {
  const auto* t = find(name);
  std::vector<std::int32_t> out;
  if (t == nullptr || t->dtype != tensor::DType::kI64) return out;
  const std::size_t n = t->nbytes / 8;
  for (std::size_t i = 0; i < n; ++i) {
    std::int64_t v;
    std::memcpy(&v, t->data + i * 8, 8);
    out.push_back(static_cast<std::int32_t>(v));
  }
  return out;
}

std::vector<float> Reference::floats(const std::string& name) const {
  const auto* t = find(name);
  std::vector<float> out;
  if (t == nullptr || t->dtype != tensor::DType::kF32) return out;
  out.resize(t->nbytes / 4);
  std::memcpy(out.data(), t->data, t->nbytes);
  return out;
}

Reference load_reference(const std::string& case_dir) {
  Reference ref;
  auto file = model::SafetensorsFile::open((fs::path(case_dir) / "reference.safetensors").string(),
                                           "reference.safetensors");
  EXPECT_TRUE(file.is_ok()) << file.status().to_string();
  if (file) ref.file = std::make_unique<model::SafetensorsFile>(std::move(file).value());
  return ref;
}

std::pair<std::int32_t, std::int32_t> image_rows(const Reference& ref,
                                                 const core::Json& reference_json) {
  std::int32_t begin = reference_json["image_token_span"][0].get<std::int32_t>();
  std::int32_t end = reference_json["image_token_span"][1].get<std::int32_t>();
  if (ref.find("mm_token_type_ids") != nullptr) {
    const auto types = ref.ids("mm_token_type_ids");
    const auto first = std::find(types.begin(), types.end(), 1);
    begin = static_cast<std::int32_t>(first - types.begin());
    end = begin + static_cast<std::int32_t>(std::count(first, types.end(), 1));
  }
  return {begin, end};
}

}  // namespace mlxs::testing
