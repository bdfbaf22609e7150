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

// A writable copy of a fixture case ("llama" in hf-tiny, or
// "<folder>/<case>"), then `mutate` breaks it.
fs::path broken_copy(const std::string& name, const std::string& tag,
                     const std::function<void(const fs::path&)>& mutate) {
  const bool has_folder = name.find('/') != std::string::npos;
  std::string flat = name;
  for (auto& ch : flat) ch = ch == '/' ? '-' : ch;
  const fs::path dst = fs::path(testing::temp_dir()) / (flat + "-" + tag);
  fs::remove_all(dst);
  fs::copy(testing::fixture_path(has_folder ? name : "hf-tiny/" + name), dst);
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

// Quantized checkpoints (hf-tiny-quant): each inconsistency names the tensor.
const std::string kMlxQ4 = "hf-tiny-quant/llama_mlx_q4";
const std::string kFp8Block = "hf-tiny-quant/llama_fp8_block";
const std::string kFp8Channel = "hf-tiny-quant/qwen2_fp8_channel";

// Drops a tensor from a single-file checkpoint and from its index.
void drop_tensor(const fs::path& d, const std::string& name) {
  edit_header(d / "model.safetensors", [&](Json& h) { h.erase(name); });
  if (fs::exists(d / "model.safetensors.index.json")) {
    Json index = Json::parse(read_bytes(d / "model.safetensors.index.json"));
    index["weight_map"].erase(name);
    write_bytes(d / "model.safetensors.index.json", index.dump());
  }
}

void edit_mlx_quantization(const fs::path& d, const std::function<void(Json&)>& edit) {
  edit_config(d, [&](Json& c) {
    for (const char* key : {"quantization", "quantization_config"}) {
      if (c.contains(key)) edit(c[key]);
    }
  });
}

TEST(ModelLoadErrors, QuantizedPackingAndParameters) {
  expect_load_error(broken_copy(kMlxQ4, "bits",
                                [](const fs::path& d) {
                                  edit_mlx_quantization(d, [](Json& q) { q["bits"] = 8; });
                                }),
                    "packed shape");
  expect_load_error(broken_copy(kMlxQ4, "bits7",
                                [](const fs::path& d) {
                                  edit_mlx_quantization(d, [](Json& q) { q["bits"] = 7; });
                                }),
                    "bits 7 is not supported");
  expect_load_error(broken_copy(kMlxQ4, "group",
                                [](const fs::path& d) {
                                  edit_mlx_quantization(d, [](Json& q) { q["group_size"] = 48; });
                                }),
                    "group_size 48 is not supported");
  expect_load_error(broken_copy(kMlxQ4, "mode",
                                [](const fs::path& d) {
                                  edit_mlx_quantization(d, [](Json& q) { q["mode"] = "mxfp4"; });
                                }),
                    "mode \"mxfp4\" is not supported");
  expect_load_error(broken_copy(kMlxQ4, "noscales",
                                [](const fs::path& d) {
                                  drop_tensor(d, "model.layers.0.self_attn.q_proj.scales");
                                }),
                    "'model.layers.0.self_attn.q_proj.weight' is packed (U32) but "
                    "'model.layers.0.self_attn.q_proj.scales' is missing");
  expect_load_error(
      broken_copy(kMlxQ4, "nobiases",
                  [](const fs::path& d) { drop_tensor(d, "model.layers.1.mlp.down_proj.biases"); }),
      "'model.layers.1.mlp.down_proj.biases' is missing");
  expect_load_error(broken_copy(kMlxQ4, "scaledtype",
                                [](const fs::path& d) {
                                  edit_header(d / "model.safetensors", [](Json& h) {
                                    h["lm_head.scales"]["dtype"] = "I16";
                                  });
                                }),
                    "'lm_head.scales' has dtype I16");
  expect_load_error(broken_copy(kMlxQ4, "unquantized",
                                [](const fs::path& d) {
                                  edit_mlx_quantization(
                                      d, [](Json& q) { q["model.layers.0.mlp.up_proj"] = false; });
                                }),
                    "leaves 'model.layers.0.mlp.up_proj' unquantized");
}

TEST(ModelLoadErrors, QuantizedMethodsAndBlocks) {
  expect_load_error(
      broken_copy(kFp8Block, "method",
                  [](const fs::path& d) {
                    edit_config(d, [](Json& c) {
                      c["quantization_config"] = {{"quant_method", "gptq"}, {"bits", 4}};
                    });
                  }),
      "quantization method \"gptq\" is not supported");
  expect_load_error(broken_copy(kFp8Block, "blocks",
                                [](const fs::path& d) {
                                  edit_config(d, [](Json& c) {
                                    c["quantization_config"]["weight_block_size"] = {64, 64};
                                  });
                                }),
                    "the quantization implies [1, 1]");
  expect_load_error(broken_copy(kFp8Block, "noscale",
                                [](const fs::path& d) {
                                  edit_header(d / "model.safetensors", [](Json& h) {
                                    h.erase("model.layers.0.mlp.gate_proj.weight_scale_inv");
                                  });
                                }),
                    "'model.layers.0.mlp.gate_proj.weight_scale_inv' is missing");
  expect_load_error(
      broken_copy(kFp8Channel, "strategy",
                  [](const fs::path& d) {
                    edit_config(d, [](Json& c) {
                      c["quantization_config"]["config_groups"]["group_0"]["weights"]["strategy"] =
                          "group";
                    });
                  }),
      "strategy \"group\" is not supported");
  expect_load_error(broken_copy(kFp8Channel, "noscale",
                                [](const fs::path& d) {
                                  edit_header(d / "model.safetensors", [](Json& h) {
                                    h.erase("model.layers.1.self_attn.o_proj.weight_scale");
                                  });
                                }),
                    "'model.layers.1.self_attn.o_proj.weight_scale' is missing");
}

}  // namespace
}  // namespace mlxs::model
