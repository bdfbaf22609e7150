// Synthetic models load and run for every architecture, shard when asked to,
// and depend only on the seed.
#include "model/synth.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "model/config.h"
#include "model/model.h"
#include "model/quantize.h"
#include "model/runner.h"
#include "model/safetensors.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;

std::vector<float> run_prompt(const std::string& dir) {
  auto pool = std::make_shared<backend::cpu::ThreadPool>(2);
  backend::cpu::CpuBackend backend(pool);
  LoadOptions o;
  o.max_batch_tokens = 16;
  o.max_context = 64;
  auto model = Model::load(dir, backend, o);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  if (!model) return {};
  auto runner = Runner::create(**model, 1, 64);
  EXPECT_TRUE(runner.is_ok());
  const int seq = (*runner)->add_sequence();
  const std::vector<std::int32_t> ids = {5, 9, 2, 7, 11};
  const SeqFeed feed{seq, ids, false};
  auto out = (*runner)->step(std::span<const SeqFeed>(&feed, 1));
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  return out.is_ok() ? *out : std::vector<float>();
}

TEST(Synth, EveryArchitectureLoadsAndRuns) {
  for (const std::string arch :
       {"llama", "mistral", "qwen2", "qwen3", "qwen3_moe", "phi3", "gemma2", "gemma3_text"}) {
    SynthOptions o;
    o.preset = "tiny";
    o.arch = arch;
    o.tokenizer = "none";
    o.dtype = tensor::DType::kBF16;
    o.out_dir = (fs::path(testing::temp_dir()) / ("synth-" + arch)).string();
    auto r = write_synthetic_model(o);
    ASSERT_TRUE(r.is_ok()) << arch << ": " << r.status().to_string();
    EXPECT_EQ(r->shards, 1);
    const auto logits = run_prompt(o.out_dir);
    ASSERT_EQ(logits.size(), 512u) << arch;
    bool varied = false;
    for (float v : logits) {
      ASSERT_TRUE(std::isfinite(v)) << arch;
      varied |= v != logits[0];
    }
    EXPECT_TRUE(varied) << arch;
  }
}

// A Qwen2.5-VL around the qwen2 decoder loads as a vision model with M-RoPE,
// and its tower turns a 4 x 8 patch image into 2 x 4 merged rows.
TEST(Synth, QwenVisionLanguageModelLoadsAndEncodes) {
  SynthOptions o;
  o.preset = "tiny";
  o.arch = "qwen2";
  o.vision = "qwen2.5-vl-tiny";
  o.tokenizer = "none";
  o.dtype = tensor::DType::kF32;
  o.out_dir = (fs::path(testing::temp_dir()) / "synth-qwen2.5-vl").string();
  auto r = write_synthetic_model(o);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_TRUE(fs::exists(fs::path(o.out_dir) / "preprocessor_config.json"));
  auto pool = std::make_shared<backend::cpu::ThreadPool>(2);
  backend::cpu::CpuBackend backend(pool);
  LoadOptions lo;
  lo.max_batch_tokens = 64;
  lo.max_context = 128;
  auto model = Model::load(o.out_dir, backend, lo);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  ASSERT_NE((*model)->vision(), nullptr);
  EXPECT_TRUE((*model)->multi_axis_rope());
  const std::int64_t patches = 4 * 8;
  std::vector<float> pixels(static_cast<std::size_t>(patches * 3 * 2 * 14 * 14));
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<float>(i % 13) / 13.0f;
  const ImageInput image{pixels, 1, 4, 8};
  auto rows = (*model)->image_tokens(image);
  ASSERT_TRUE(rows.is_ok()) << rows.status().to_string();
  EXPECT_EQ(*rows, 8);
  std::vector<float> out(static_cast<std::size_t>(*rows * 64));
  EXPECT_GE((*model)->config().vocab, 151656) << "the vision tokens are rows of the embeddings";
  ASSERT_TRUE((*model)->encode_image(image, out).is_ok());
  for (float v : out) ASSERT_TRUE(std::isfinite(v));
  EXPECT_NE(out.front(), out.back());
  // The tower must sit around the architecture it was made for.
  o.arch = "llama";
  EXPECT_FALSE(write_synthetic_model(o).is_ok());
}

TEST(Synth, ShardsAndSeedsAreDeterministic) {
  SynthOptions o;
  o.preset = "tiny";
  o.tokenizer = "none";
  o.dtype = tensor::DType::kF16;
  o.out_dir = (fs::path(testing::temp_dir()) / "synth-sharded").string();
  o.max_shard_bytes = 20000;
  auto sharded = write_synthetic_model(o);
  ASSERT_TRUE(sharded.is_ok()) << sharded.status().to_string();
  EXPECT_GT(sharded->shards, 2);
  EXPECT_TRUE(fs::exists(fs::path(o.out_dir) / "model.safetensors.index.json"));

  SynthOptions one = o;
  one.out_dir = (fs::path(testing::temp_dir()) / "synth-single").string();
  one.max_shard_bytes = 1u << 30;
  one.threads = 1;
  ASSERT_TRUE(write_synthetic_model(one).is_ok());
  // Same seed, different sharding and thread count: same model.
  EXPECT_EQ(run_prompt(o.out_dir), run_prompt(one.out_dir));

  SynthOptions other = one;
  other.seed = 1;
  other.out_dir = (fs::path(testing::temp_dir()) / "synth-seed1").string();
  ASSERT_TRUE(write_synthetic_model(other).is_ok());
  EXPECT_NE(run_prompt(other.out_dir), run_prompt(one.out_dir));
}

// A quantized synthetic model is what `dev quantize` writes from the float
// one (same tensors, same bytes, same config keys), without the float model
// on disk; it loads and runs.
TEST(Synth, QuantizedModelsAreWhatDevQuantizeWrites) {
  for (const std::string format : {"fp8", "mlx"}) {
    SCOPED_TRACE(format);
    QuantizeOptions q;
    q.format = format;
    q.bits = 4;
    q.group_size = 32;
    SynthOptions o;
    o.preset = "tiny";
    o.tokenizer = "none";
    o.dtype = tensor::DType::kF32;  // quantized from the same f32 values both ways
    o.max_shard_bytes = 60000;      // several shards
    o.out_dir = (fs::path(testing::temp_dir()) / ("synth-float-" + format)).string();
    ASSERT_TRUE(write_synthetic_model(o).is_ok());
    q.model_dir = o.out_dir;
    q.out_dir = o.out_dir + "-quantized";
    ASSERT_TRUE(quantize_model_dir(q).is_ok());

    o.out_dir = (fs::path(testing::temp_dir()) / ("synth-direct-" + format)).string();
    o.quant = q;
    auto direct = write_synthetic_model(o);
    ASSERT_TRUE(direct.is_ok()) << direct.status().to_string();
    EXPECT_GT(direct->shards, 1);
    EXPECT_FALSE(fs::exists(o.out_dir + ".float-tmp"));

    auto a = WeightStore::open_dir(q.out_dir);
    auto b = WeightStore::open_dir(o.out_dir);
    ASSERT_TRUE(a.is_ok() && b.is_ok());
    ASSERT_EQ((*a)->tensors().size(), (*b)->tensors().size());
    int quantized = 0;
    for (const auto& [name, e] : (*a)->tensors()) {
      const TensorEntry* other = (*b)->find(name);
      ASSERT_NE(other, nullptr) << name;
      EXPECT_EQ(other->dtype, e.dtype) << name;
      EXPECT_EQ(other->shape, e.shape) << name;
      ASSERT_EQ(other->nbytes, e.nbytes) << name;
      EXPECT_EQ(std::memcmp(other->data, e.data, e.nbytes), 0) << name;
      quantized += e.dtype == tensor::DType::kF8E4M3 || e.dtype == tensor::DType::kU32;
    }
    EXPECT_GT(quantized, 0);
    auto config = load_model_config(o.out_dir + "/config.json", "config.json");
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    EXPECT_TRUE(config->quant.quantized());
    EXPECT_EQ(run_prompt(o.out_dir), run_prompt(q.out_dir));
  }
}

TEST(Synth, RejectsBadOptions) {
  SynthOptions o;
  o.out_dir = testing::temp_dir() + "/x";
  o.preset = "gpt-5";
  EXPECT_EQ(write_synthetic_model(o).status().code(), core::ErrorCode::kInvalidParams);
  o.preset = "tiny";
  o.arch = "bert";
  EXPECT_EQ(write_synthetic_model(o).status().code(), core::ErrorCode::kInvalidParams);
  o.arch = "llama";
  o.quant = QuantizeOptions{};
  o.quant->bits = 7;
  EXPECT_EQ(write_synthetic_model(o).status().code(), core::ErrorCode::kInvalidParams);
  o.quant.reset();
  o.tokenizer = "llama3";
  o.tokenizer_dir = testing::temp_dir() + "/no-tokenizer-here";
  EXPECT_EQ(write_synthetic_model(o).status().code(), core::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace mlxs::model
