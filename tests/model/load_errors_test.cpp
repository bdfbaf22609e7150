// Every way a model directory can be broken gives ModelLoadError naming the
// file and the problem (never a crash, never the server's absolute path).
#include <filesystem>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "core/json_util.h"
#include "model/model.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Json;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

// A writable copy of a fixture case, then `mutate` breaks it.
fs::path broken_copy(const std::string& name, const std::string& tag,
                     const std::function<void(const fs::path&)>& mutate) {
  const fs::path dst = fs::path(testing::temp_dir()) / (name + "-" + tag);
  fs::remove_all(dst);
  fs::copy(testing::fixture_path("hf-tiny/" + name), dst);
  for (const auto& e : fs::directory_iterator(dst)) {
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write);
  }
  mutate(dst);
  return dst;
}

void edit_config(const fs::path& dir, const std::function<void(Json&)>& edit) {
  Json cfg = Json::parse(read_bytes(dir / "config.json"));
  edit(cfg);
  write_bytes(dir / "config.json", cfg.dump());
}

// Rewrites a safetensors header through `edit`, keeping the data section.
void edit_header(const fs::path& file, const std::function<void(Json&)>& edit) {
  const std::string bytes = read_bytes(file);
  std::uint64_t len = 0;
  for (int i = 7; i >= 0; --i)
    len = (len << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
  Json header = Json::parse(bytes.substr(8, len));
  edit(header);
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((text.size() >> (8 * i)) & 0xff);
  write_bytes(file, out + text + bytes.substr(8 + len));
}

void expect_load_error(const fs::path& dir, const std::string& fragment) {
  auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
  backend::cpu::CpuBackend backend(pool);
  auto r = Model::load(dir.string(), backend);
  ASSERT_FALSE(r.is_ok()) << "loaded a broken model; expected: " << fragment;
  EXPECT_EQ(r.status().code(), ErrorCode::kModelLoadError) << r.status().to_string();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find(testing::temp_dir()), std::string::npos)
      << "leaks a path: " << r.status().message();
}

TEST(ModelLoadErrors, MissingDirectoryAndFiles) {
  expect_load_error(fs::path(testing::temp_dir()) / "no-such-model", "model directory not found");
  expect_load_error(
      broken_copy("llama", "noconfig", [](const fs::path& d) { fs::remove(d / "config.json"); }),
      "config.json: file not found");
  expect_load_error(broken_copy("llama", "noweights",
                                [](const fs::path& d) { fs::remove(d / "model.safetensors"); }),
                    "no weights");
  expect_load_error(
      broken_copy("qwen3", "noshard",
                  [](const fs::path& d) { fs::remove(d / "model-00002-of-00004.safetensors"); }),
      "model-00002-of-00004.safetensors: file not found");
}

TEST(ModelLoadErrors, CorruptAndTruncatedWeights) {
  expect_load_error(broken_copy("llama", "truncated",
                                [](const fs::path& d) {
                                  const auto bytes = read_bytes(d / "model.safetensors");
                                  write_bytes(d / "model.safetensors",
                                              bytes.substr(0, bytes.size() / 2));
                                }),
                    "model.safetensors: tensor");
  expect_load_error(
      broken_copy("llama", "tiny-file",
                  [](const fs::path& d) { write_bytes(d / "model.safetensors", "abc"); }),
      "model.safetensors: truncated");
  expect_load_error(broken_copy("llama", "garbage-header",
                                [](const fs::path& d) {
                                  auto bytes = read_bytes(d / "model.safetensors");
                                  for (std::size_t i = 8; i < 40; ++i) bytes[i] = '#';
                                  write_bytes(d / "model.safetensors", bytes);
                                }),
                    "invalid JSON");
  expect_load_error(
      broken_copy("llama", "bad-config-json",
                  [](const fs::path& d) { write_bytes(d / "config.json", "{\"model_type\": "); }),
      "config.json: invalid JSON");
}

TEST(ModelLoadErrors, ShapeDtypeAndNameMismatches) {
  expect_load_error(broken_copy("llama", "shape",
                                [](const fs::path& d) {
                                  edit_config(d, [](Json& c) { c["intermediate_size"] = 96; });
                                }),
                    "has shape");
  expect_load_error(broken_copy("llama", "layers",
                                [](const fs::path& d) {
                                  edit_config(d, [](Json& c) { c["num_hidden_layers"] = 3; });
                                }),
                    "missing tensor 'model.layers.2.");
  expect_load_error(broken_copy("llama", "dtype",
                                [](const fs::path& d) {
                                  edit_header(d / "model.safetensors", [](Json& h) {
                                    h["model.norm.weight"]["dtype"] = "I32";
                                  });
                                }),
                    "dtype I32");
  expect_load_error(broken_copy("llama", "untied",
                                [](const fs::path& d) {
                                  edit_header(d / "model.safetensors",
                                              [](Json& h) { h.erase("lm_head.weight"); });
                                }),
                    "missing tensor 'lm_head.weight'");
}

TEST(ModelLoadErrors, UnknownArchitectureAndRope) {
  expect_load_error(broken_copy("llama", "arch",
                                [](const fs::path& d) {
                                  edit_config(d, [](Json& c) { c["model_type"] = "mamba"; });
                                }),
                    "unsupported architecture 'mamba'");
  expect_load_error(broken_copy("llama", "rope",
                                [](const fs::path& d) {
                                  edit_config(d, [](Json& c) {
                                    c["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 2.0}};
                                  });
                                }),
                    "unsupported rope type 'dynamic'");
}

}  // namespace
}  // namespace mlxs::model
