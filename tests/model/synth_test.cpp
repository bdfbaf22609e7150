// Synthetic models load and run for every architecture, shard when asked to,
// and depend only on the seed.
#include "model/synth.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "model/model.h"
#include "model/runner.h"
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

TEST(Synth, RejectsBadOptions) {
  SynthOptions o;
  o.out_dir = testing::temp_dir() + "/x";
  o.preset = "gpt-5";
  EXPECT_EQ(write_synthetic_model(o).status().code(), core::ErrorCode::kInvalidParams);
  o.preset = "tiny";
  o.arch = "bert";
  EXPECT_EQ(write_synthetic_model(o).status().code(), core::ErrorCode::kInvalidParams);
  o.arch = "llama";
  o.tokenizer = "llama3";
  o.tokenizer_dir = testing::temp_dir() + "/no-tokenizer-here";
  EXPECT_EQ(write_synthetic_model(o).status().code(), core::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace mlxs::model
