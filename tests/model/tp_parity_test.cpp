// Tensor parallelism on the CPU: every hf-tiny and hf-tiny-quant case whose head counts allow N
// ranks runs as N threads of one process (each its own CPU backend and its
// shard of the weights, joined by an InProcessGroup) and must give the logits
// of the whole model within 1e-4 and the same greedy tokens, through a
// batched prefill of two prompts (one longer than the sliding windows) and
// incremental decode; the ranks' logits must agree bit for bit. A case N does
// not divide must be refused with ModelLoadError before anything is read.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#include "model/config.h"
#include "model/model.h"
#include "model/runner.h"
#include "tensor/in_process_group.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

constexpr double kTolerance = 1e-4;
constexpr int kDecodeSteps = 6;

struct Trace {
  std::vector<float> logits;  // every row the runs returned, in order
  std::vector<std::int32_t> tokens;
  std::string error;
};

std::int32_t argmax(const float* row, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return static_cast<std::int32_t>(best);
}

// Prefills two prompts in one step (logits of every position), then decodes
// both greedily a token per step; `comm` null runs the whole model.
Trace run(const std::string& dir, const std::vector<std::int32_t>& a,
          const std::vector<std::int32_t>& b, tensor::Communicator* comm) {
  Trace out;
  auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
  backend::cpu::CpuBackend backend(pool);
  LoadOptions o;
  o.max_batch_tokens = 64;
  o.max_seqs = 4;
  o.max_logit_rows = 64;
  o.max_context = 128;
  o.communicator = comm;
  auto model = Model::load(dir, backend, o);
  if (!model) {
    out.error = model.status().to_string();
    return out;
  }
  auto runner = Runner::create(**model, 2, 128);
  if (!runner) {
    out.error = runner.status().to_string();
    return out;
  }
  const std::int64_t vocab = (*model)->config().vocab;
  const int sa = (*runner)->add_sequence(), sb = (*runner)->add_sequence();
  std::vector<SeqFeed> feeds = {{sa, a, true}, {sb, b, true}};
  std::int32_t next[2] = {0, 0};
  for (int step = 0; step <= kDecodeSteps; ++step) {
    auto logits = (*runner)->step(feeds);
    if (!logits) {
      out.error = logits.status().to_string();
      return out;
    }
    out.logits.insert(out.logits.end(), logits->begin(), logits->end());
    // The last row of each feed picks its next token.
    const std::size_t rows = logits->size() / static_cast<std::size_t>(vocab);
    const std::size_t last[2] = {feeds[0].tokens.size() - 1, rows - 1};
    for (int s = 0; s < 2; ++s) {
      next[s] = argmax(logits->data() + last[s] * static_cast<std::size_t>(vocab), vocab);
      out.tokens.push_back(next[s]);
    }
    feeds = {{sa, std::span<const std::int32_t>(&next[0], 1), false},
             {sb, std::span<const std::int32_t>(&next[1], 1), false}};
  }
  return out;
}

bool heads_allow(const ModelConfig& c, int world) {
  return c.heads % world == 0 && c.kv_heads % world == 0 && c.vocab % world == 0 &&
         (c.intermediate % world == 0 || c.num_experts > 0) &&
         (c.num_experts == 0 || c.moe_intermediate % world == 0);
}

// Every case of hf-tiny, and of hf-tiny-quant (pre-quantized checkpoints:
// MLX affine and FP8, split with their scales).
std::vector<std::string> all_cases() {
  std::vector<std::string> out;
  for (const auto& name : testing::hf_tiny_cases()) out.push_back("hf-tiny/" + name);
  for (const auto& name : testing::model_cases("hf-tiny-quant")) {
    out.push_back("hf-tiny-quant/" + name);
  }
  return out;
}

TEST(TensorParallel, RanksAsThreadsMatchTheWholeModel) {
  const auto cases = all_cases();
  ASSERT_FALSE(cases.empty());
  int compared = 0, refused = 0;
  for (const auto& name : cases) {
    const std::string dir = testing::fixture_path(name);
    auto config = load_model_config(dir + "/config.json", "config.json");
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto ref = testing::load_reference(dir);
    const auto a = ref.ids("p0.input_ids");
    const auto b = ref.ids("p2.input_ids");
    const Trace whole = run(dir, a, b, nullptr);
    ASSERT_TRUE(whole.error.empty()) << name << ": " << whole.error;
    for (int world : {2, 4}) {
      SCOPED_TRACE(name + " over " + std::to_string(world) + " ranks");
      tensor::InProcessGroup group(world);
      if (!heads_allow(*config, world)) {
        const Trace t = run(dir, a, b, &group.rank(0));
        EXPECT_NE(t.error.find("ModelLoadError"), std::string::npos) << t.error;
        EXPECT_NE(t.error.find("multiple of " + std::to_string(world)), std::string::npos)
            << t.error;
        ++refused;
        continue;
      }
      std::vector<Trace> traces(static_cast<std::size_t>(world));
      std::vector<std::thread> ranks;
      ranks.reserve(static_cast<std::size_t>(world));
      for (int r = 0; r < world; ++r) {
        ranks.emplace_back([&, r] {
          traces[static_cast<std::size_t>(r)] = run(dir, a, b, &group.rank(r));
          if (!traces[static_cast<std::size_t>(r)].error.empty()) group.abort();
        });
      }
      for (auto& t : ranks) t.join();
      for (int r = 0; r < world; ++r) {
        const Trace& t = traces[static_cast<std::size_t>(r)];
        ASSERT_TRUE(t.error.empty()) << "rank " << r << ": " << t.error;
        ASSERT_EQ(t.logits.size(), whole.logits.size());
        double worst = 0;
        for (std::size_t i = 0; i < t.logits.size(); ++i) {
          worst = std::max(worst, std::fabs(static_cast<double>(t.logits[i]) - whole.logits[i]));
        }
        EXPECT_LE(worst, kTolerance) << "rank " << r;
        if (r == 0)
          std::printf("%s over %d ranks: max |logit diff| %.2e\n", name.c_str(), world, worst);
        EXPECT_EQ(t.tokens, whole.tokens) << "rank " << r;
        EXPECT_EQ(t.logits, traces[0].logits) << "rank " << r << " differs from rank 0";
      }
      ++compared;
    }
  }
  // The fixtures' 4 query / 2 kv heads split over 2 ranks, not over 4.
  EXPECT_GT(compared, 0);
  EXPECT_GT(compared + refused, 0);
}

// A rank whose step fails where the others cannot see it aborts the group,
// and the others' steps end with WorkerCrashed instead of waiting forever
// in their collectives (the group fails as one).
TEST(TensorParallel, ARankThatFailsEndsTheOthersStep) {
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  auto config = load_model_config(dir + "/config.json", "config.json");
  ASSERT_TRUE(config.is_ok());
  if (!heads_allow(*config, 2)) GTEST_SKIP() << "this fixture does not split over 2";
  tensor::InProcessGroup group(2);
  std::vector<core::ErrorCode> codes(2, core::ErrorCode::kOk);
  std::vector<std::thread> ranks;
  ranks.reserve(2);
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
      backend::cpu::CpuBackend backend(pool);
      LoadOptions o;
      o.max_context = 64;
      o.communicator = &group.rank(r);
      auto model = Model::load(dir, backend, o);
      auto runner = model.is_ok() ? Runner::create(**model, 1, 64)
                                  : core::Result<std::unique_ptr<Runner>>(model.status());
      if (!runner) {
        codes[static_cast<std::size_t>(r)] = runner.status().code();
        group.abort();
        return;
      }
      // Rank 0 is handed a token outside the vocabulary; rank 1 a good one.
      const std::int32_t token = r == 0 ? static_cast<std::int32_t>(config->vocab) + 5 : 7;
      const SeqFeed feed{(*runner)->add_sequence(), std::span<const std::int32_t>(&token, 1),
                         false};
      auto out = (*runner)->step(std::span<const SeqFeed>(&feed, 1));
      codes[static_cast<std::size_t>(r)] = out.status().code();
      if (!out) group.rank(r).abort();
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(codes[0], core::ErrorCode::kInvalidParams);
  EXPECT_EQ(codes[1], core::ErrorCode::kWorkerCrashed);
}

// The KV cache of a rank holds its kv heads only.
TEST(TensorParallel, KvCacheIsSplitByKvHeads) {
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  auto config = load_model_config(dir + "/config.json", "config.json");
  ASSERT_TRUE(config.is_ok());
  if (config->kv_heads % 2 != 0) GTEST_SKIP() << "this fixture's kv heads do not split over 2";
  tensor::InProcessGroup group(2);
  auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
  backend::cpu::CpuBackend backend(pool);
  LoadOptions o;
  o.max_context = 64;
  o.communicator = &group.rank(1);
  auto model = Model::load(dir, backend, o);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  EXPECT_EQ((*model)->kv_shape(4, 16).kv_heads * 2, config->kv_heads);
  EXPECT_EQ((*model)->config().heads * 2, config->heads);
  EXPECT_EQ((*model)->config().intermediate * 2, config->intermediate);
  EXPECT_EQ((*model)->config().vocab, config->vocab);
}

}  // namespace
}  // namespace mlxs::model
