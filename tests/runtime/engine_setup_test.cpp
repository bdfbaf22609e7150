// The KV cache's share of a GPU under gpu_memory_fraction: what is in use
// counts against the share, a reserve stays free, and a share already spent
// is a ModelLoadError with the numbers. The step token budget
// (max_batch_tokens): the backend's default for 0, an explicit value as
// given, never below max_running_streams, and one value for the model's
// load options, the scheduler's budget and its prefill chunk.
#include "runtime/engine_setup.h"

#include <gtest/gtest.h>

#include "core/clock.h"
#include "runtime/backend_choice.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kGiB = std::size_t{1} << 30;

TEST(EngineSetup, KvTakesWhatIsLeftOfTheShare) {
  // 80 GiB device, 16 GiB in use (weights): 0.9 leaves 72 - 16 - 0.5 GiB.
  auto kv = kv_bytes_from_device(64 * kGiB, 80 * kGiB, 0.9);
  ASSERT_TRUE(kv.is_ok()) << kv.status().to_string();
  EXPECT_EQ(*kv, static_cast<std::size_t>(80.0 * kGiB * 0.9) - 16 * kGiB - 512 * kMiB);
  // Little left of a large share: only that little.
  auto tight = kv_bytes_from_device(2 * kGiB, 80 * kGiB, 0.99);
  ASSERT_TRUE(tight.is_ok());
  EXPECT_EQ(*tight, static_cast<std::size_t>(80.0 * kGiB * 0.99) - 78 * kGiB - 512 * kMiB);
}

TEST(EngineSetup, ASpentShareIsAModelLoadErrorWithTheNumbers) {
  // Another model already holds 70 of 80 GiB: a 0.8 share has nothing left.
  auto kv = kv_bytes_from_device(10 * kGiB, 80 * kGiB, 0.8);
  ASSERT_FALSE(kv.is_ok());
  EXPECT_EQ(kv.status().code(), core::ErrorCode::kModelLoadError);
  EXPECT_NE(kv.status().message().find("71680 MiB of 81920 MiB"), std::string::npos)
      << kv.status().message();
  EXPECT_FALSE(kv_bytes_from_device(100 * kMiB, 80 * kGiB, 0.9).is_ok()) << "free below reserve";
}

TEST(EngineSetup, MaxBatchTokensDefaultsByBackendAndIsBounded) {
  EXPECT_EQ(default_max_batch_tokens("cpu"), 512);
  EXPECT_EQ(default_max_batch_tokens("cuda"), 2048);
  RuntimeOptions options;
  EXPECT_EQ(options.max_batch_tokens, 0) << "auto unless asked";
  EXPECT_EQ(load_options_for(options, std::nullopt).max_batch_tokens, 512);
  // The GPU's default follows the backend the worker builds (--backend),
  // without a device: nothing here touches CUDA.
  options.backend.kind = "cuda";
  EXPECT_EQ(load_options_for(options, std::nullopt).max_batch_tokens, 2048);
  options.max_batch_tokens = 96;
  EXPECT_EQ(load_options_for(options, std::nullopt).max_batch_tokens, 96) << "explicit wins";
  // Below the streams that may run at once, each of them still gets its
  // decode row in every step.
  options.max_running_streams = 256;
  EXPECT_EQ(load_options_for(options, std::nullopt).max_batch_tokens, 256);
  EXPECT_EQ(resolve_max_batch_tokens(0, "cpu", 1024), 1024);
  EXPECT_EQ(resolve_max_batch_tokens(32, "cpu", 1), 32);

  for (int good : {0, kMinBatchTokens, 512, kMaxBatchTokens}) {
    EXPECT_TRUE(check_max_batch_tokens(good).is_ok()) << good;
  }
  for (int bad : {-1, 1, kMinBatchTokens - 1, kMaxBatchTokens + 1}) {
    const core::Status s = check_max_batch_tokens(bad);
    EXPECT_EQ(s.code(), core::ErrorCode::kInvalidParams) << bad;
    EXPECT_NE(s.message().find("max_batch_tokens " + std::to_string(bad)), std::string::npos)
        << s.message();
  }
}

// A CPU model: the load options, the scheduler's budget and its prefill
// chunk are one value, auto or explicit, and the engine accepts them.
TEST(EngineSetup, MaxBatchTokensReachesTheModelAndTheScheduler) {
  const std::string dir = mlxs::testing::fixture_path("hf-tiny/llama");
  auto backend = make_backend(BackendChoice{}, std::make_shared<backend::cpu::ThreadPool>(1));
  ASSERT_TRUE(backend.is_ok()) << backend.status().to_string();
  struct Case {
    int asked, streams, expected;
  };
  for (const Case c : {Case{0, 64, 512}, Case{32, 4, 32}, Case{4096, 64, 4096}, Case{16, 64, 64},
                       Case{0, 512, 512}}) {
    RuntimeOptions options;
    options.kv_memory_bytes = std::size_t{16} << 20;
    options.max_batch_tokens = c.asked;
    options.max_running_streams = c.streams;
    const model::LoadOptions load = load_options_for(options, std::nullopt);
    EXPECT_EQ(load.max_batch_tokens, c.expected) << c.asked;
    auto model = model::Model::load(dir, **backend, load);
    ASSERT_TRUE(model.is_ok()) << model.status().to_string();
    EXPECT_EQ((*model)->options().max_batch_tokens, c.expected);
    auto setup = engine_setup_for(**model, options, std::nullopt);
    ASSERT_TRUE(setup.is_ok()) << setup.status().to_string();
    EXPECT_EQ(setup->config.scheduler.max_batch_tokens, c.expected) << c.asked;
    EXPECT_EQ(setup->config.scheduler.prefill_chunk, c.expected) << c.asked;
    EXPECT_EQ(setup->config.scheduler.max_seqs, c.streams);
    for (const int waiting : setup->config.scheduler.max_waiting) {
      EXPECT_GE(waiting, 2 * c.streams) << "two batches can wait";
      EXPECT_GE(waiting, engine::SchedulerConfig{}.max_waiting[0]) << "never below the default";
    }
    core::SteadyClock clock;
    auto engine = engine::Engine::create(**model, nullptr, setup->config, clock);
    EXPECT_TRUE(engine.is_ok()) << c.asked << ": " << engine.status().to_string();
  }
}

}  // namespace
}  // namespace mlxs::runtime
