// The engine over a tensor-parallel group on the CPU (ranks as threads of an
// InProcessGroup, each with its own CPU backend and shard): for every hf-tiny
// text model, the prompts of its reference submitted together give the same
// greedy tokens over 2 ranks as the whole model; a rank that fails its step
// ends every stream with WorkerCrashed (bounded: a watchdog ends the process
// instead of a hang) and the engine refuses new requests. Built a second way
// as engine_tp_cuda_test (label gpu): the ranks are threads bound to GPUs 0
// and 1 joined over NCCL on their backends' streams, in f32 math, and the
// failing rank fails while the other's collectives are already queued.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "backend/cpu/cpu_backend.h"
#ifdef MLXS_TP_CUDA
#include <cuda_runtime_api.h>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/nccl_communicator.h"
#endif
#include "engine/engine.h"
#include "engine/tp_group.h"
#include "model/config.h"
#include "tensor/in_process_group.h"
#include "testing/fixtures.h"

namespace mlxs::engine {
namespace {

constexpr int kMaxTokens = 8;

// Ends the process if a test takes longer than it may: a rank waiting
// forever must fail the test, not hang CI.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::fprintf(stderr, "tp_engine_test: the test hung; giving up\n");
            std::_Exit(3);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

model::LoadOptions load_options(int max_seqs) {
  model::LoadOptions o;
  o.max_batch_tokens = 128;
  o.max_seqs = max_seqs;
  o.max_logit_rows = max_seqs;
  o.max_context = 256;
  return o;
}

EngineConfig engine_config(EngineConfig::Overlap overlap = EngineConfig::Overlap::kAuto) {
  EngineConfig c;
  c.overlap = overlap;
  c.scheduler.max_batch_tokens = 128;
  c.scheduler.max_seqs = 8;
  c.scheduler.prefill_chunk = 32;
  c.scheduler.max_context = 256;
  c.kv_memory_bytes = 16u << 20;
  return c;
}

// One model served by `world` ranks (world 1: the whole model, no group).
// Followers may be loaded for fewer sequences than rank 0 (to make one fail).
struct Served {
  core::SteadyClock clock;
  RankParts rank0;
  std::unique_ptr<TensorParallelGroup> group;
  std::unique_ptr<Engine> engine;
  core::Status status = core::Status::ok();
};

#ifdef MLXS_TP_CUDA
// Rank r on GPU r in f32 math, joined over NCCL (world 1: GPU 0 alone).
core::Status make_backend(int r, int world, const backend::cuda::NcclId& id, RankParts& p) {
  backend::cuda::CudaOptions options;
  options.device = r;
  options.exact_f32 = true;
  MLXS_ASSIGN_OR_RETURN(auto cuda, backend::cuda::CudaBackend::create(options));
  if (world > 1) {
    MLXS_ASSIGN_OR_RETURN(p.owned_communicator, backend::cuda::NcclCommunicator::create(
                                                    id, r, world, r, cuda->stream(), cuda.get()));
    p.communicator = p.owned_communicator.get();
  }
  p.backend = std::move(cuda);
  return core::Status::ok();
}

bool two_gpus() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n >= 2;
}
#endif

std::unique_ptr<Served> serve(const std::string& dir, int world, int follower_max_seqs = 8,
                              EngineConfig::Overlap overlap = EngineConfig::Overlap::kAuto) {
  auto s = std::make_unique<Served>();
  auto threads = std::make_shared<tensor::InProcessGroup>(world);
#ifdef MLXS_TP_CUDA
  backend::cuda::NcclId id;
  if (world > 1) {
    auto made = backend::cuda::NcclCommunicator::unique_id();
    if (!made) {
      s->status = made.status();
      return s;
    }
    id = *made;
  }
#endif
  auto make = [&](int r) -> core::Result<RankParts> {
    RankParts p;
#ifdef MLXS_TP_CUDA
    MLXS_RETURN_IF_ERROR(make_backend(r, world, id, p));
#else
    if (world > 1) {
      p.shared = threads;
      p.communicator = &threads->rank(r);
    }
    p.backend =
        std::make_unique<backend::cpu::CpuBackend>(std::make_shared<backend::cpu::ThreadPool>(1));
#endif
    model::LoadOptions o = load_options(r == 0 ? 8 : follower_max_seqs);
    o.communicator = p.communicator;
    MLXS_ASSIGN_OR_RETURN(p.model, model::Model::load(dir, *p.backend, o));
    return p;
  };
  if (world == 1) {
    auto p = make(0);
    if (!p) {
      s->status = p.status();
      return s;
    }
    s->rank0 = std::move(p).value();
  } else {
    auto g = TensorParallelGroup::start(world, make, s->rank0);
    if (!g) {
      s->status = g.status();
      return s;
    }
    s->group = std::move(g).value();
  }
  auto e =
      Engine::create(*s->rank0.model, nullptr, engine_config(overlap), s->clock, s->group.get());
  if (!e) {
    s->status = e.status();
    return s;
  }
  s->engine = std::move(e).value();
  return s;
}

struct Outcome {
  std::vector<std::vector<std::int32_t>> tokens;  // per stream
  std::vector<std::optional<core::Status>> errors;
};

// Submits every prompt at once (one batch) and steps until all end.
Outcome generate(Engine& engine, const std::vector<std::vector<std::int32_t>>& prompts) {
  std::vector<std::shared_ptr<Stream>> streams;
  for (const auto& p : prompts) {
    GenerateRequest r;
    r.prompt = p;
    r.sampling.temperature = 0;
    r.stop.max_tokens = kMaxTokens;
    r.stop.ignore_eos = true;
    auto s = engine.submit(std::move(r));
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    if (s) streams.push_back(*s);
  }
  Outcome out;
  out.tokens.resize(streams.size());
  out.errors.resize(streams.size());
  for (int step = 0; step < 1000; ++step) {
    auto worked = engine.step();
    EXPECT_TRUE(worked.is_ok()) << worked.status().to_string();
    bool done = true;
    for (std::size_t i = 0; i < streams.size(); ++i) {
      for (auto& item : streams[i]->take()) {
        out.tokens[i].insert(out.tokens[i].end(), item.tokens.begin(), item.tokens.end());
      }
      if (streams[i]->done()) out.errors[i] = streams[i]->error();
      done = done && streams[i]->done();
    }
    if (done && !engine.has_work()) return out;
  }
  ADD_FAILURE() << "the streams did not end";
  return out;
}

std::vector<std::vector<std::int32_t>> fixture_prompts(const std::string& dir) {
  auto ref = testing::load_reference(dir);
  std::vector<std::vector<std::int32_t>> out;
  for (int i = 0;; ++i) {
    auto ids = ref.ids("p" + std::to_string(i) + ".input_ids");
    if (ids.empty()) break;
    out.push_back(ids);
  }
  return out;
}

bool splits_over(const model::ModelConfig& c, int world) {
  return c.heads % world == 0 && c.kv_heads % world == 0 && c.vocab % world == 0 &&
         (c.intermediate % world == 0 || c.num_experts > 0) &&
         (c.num_experts == 0 || c.moe_intermediate % world == 0);
}

class TensorParallelEngine : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef MLXS_TP_CUDA
    if (!two_gpus()) GTEST_SKIP() << "needs 2 GPUs";
#endif
  }
};

TEST_F(TensorParallelEngine, TwoRanksGiveTheWholeModelsGreedyTokens) {
  const Watchdog watchdog(std::chrono::seconds(600));
  const auto cases = testing::hf_tiny_cases();
  ASSERT_FALSE(cases.empty());
  int compared = 0;
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    const std::string dir = testing::fixture_path("hf-tiny/" + name);
    auto config = model::load_model_config(dir + "/config.json", "config.json");
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    const auto prompts = fixture_prompts(dir);
    ASSERT_GE(prompts.size(), 2u);
    auto tp = serve(dir, 2);
    if (!splits_over(*config, 2)) {
      EXPECT_EQ(tp->status.code(), core::ErrorCode::kModelLoadError) << tp->status.to_string();
      continue;
    }
    ASSERT_TRUE(tp->status.is_ok()) << tp->status.to_string();
    auto whole = serve(dir, 1);
    ASSERT_TRUE(whole->status.is_ok()) << whole->status.to_string();
    const Outcome want = generate(*whole->engine, prompts);
    const Outcome got = generate(*tp->engine, prompts);
    ASSERT_EQ(got.tokens.size(), prompts.size());
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      EXPECT_FALSE(got.errors[i].has_value()) << got.errors[i]->to_string();
      EXPECT_EQ(got.tokens[i].size(), static_cast<std::size_t>(kMaxTokens));
      EXPECT_EQ(got.tokens[i], want.tokens[i]) << "prompt " << i;
    }
    // One prompt alone after the batch (the block pool reused) agrees too.
    const Outcome again = generate(*tp->engine, {prompts[0]});
    EXPECT_EQ(again.tokens[0], want.tokens[0]);
    EXPECT_FALSE(tp->engine->broken());
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

// The overlap mode under tensor parallelism: each step is launched before
// the host has read the last one's tokens, which rank 0 alone sampled; the
// followers resolve those placeholder tokens to the ids rank 0 hands them
// (Backend::share_sampled_ids). The greedy tokens are the whole model's.
TEST_F(TensorParallelEngine, TheOverlapModeKeepsTheWholeModelsTokens) {
  const Watchdog watchdog(std::chrono::seconds(600));
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  const auto prompts = fixture_prompts(dir);
  ASSERT_GE(prompts.size(), 2u);
  auto whole = serve(dir, 1, 8, EngineConfig::Overlap::kOff);
  ASSERT_TRUE(whole->status.is_ok()) << whole->status.to_string();
  const Outcome want = generate(*whole->engine, prompts);
  auto tp = serve(dir, 2, 8, EngineConfig::Overlap::kOn);
  ASSERT_TRUE(tp->status.is_ok()) << tp->status.to_string();
  if (!tp->rank0.backend->shares_sampled_ids()) GTEST_SKIP() << "this backend keeps it off";
  const Outcome got = generate(*tp->engine, prompts);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_FALSE(got.errors[i].has_value()) << got.errors[i]->to_string();
    EXPECT_EQ(got.tokens[i], want.tokens[i]) << "prompt " << i;
  }
  EXPECT_GT(tp->engine->metrics().overlapped_steps, 0u) << "the steps overlapped";
  EXPECT_FALSE(tp->engine->broken());
}

// Rank 1 is loaded for one sequence per step and rank 0 for eight: a step of
// two sequences fails on rank 1 alone, which aborts the group; rank 0's step
// then ends in its collective with WorkerCrashed, and so does every stream.
TEST_F(TensorParallelEngine, ARankThatFailsEndsEveryStreamWithWorkerCrashed) {
  const Watchdog watchdog(std::chrono::seconds(120));
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  const auto prompts = fixture_prompts(dir);
  ASSERT_GE(prompts.size(), 2u);
  // Overlap off: its id broadcast needs the ranks planned alike (on CUDA it
  // sends every logit row's id), and rank 1 has fewer rows on purpose.
  auto tp = serve(dir, 2, /*follower_max_seqs=*/1, EngineConfig::Overlap::kOff);
  ASSERT_TRUE(tp->status.is_ok()) << tp->status.to_string();
  // One request alone runs: rank 1 can take it.
  const Outcome alone = generate(*tp->engine, {prompts[0]});
  ASSERT_FALSE(alone.errors[0].has_value()) << alone.errors[0]->to_string();
  const Outcome both = generate(*tp->engine, {prompts[0], prompts[1]});
  ASSERT_EQ(both.errors.size(), 2u);
  for (const auto& e : both.errors) {
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->code(), core::ErrorCode::kWorkerCrashed) << e->to_string();
    EXPECT_NE(e->message().find("rank 1"), std::string::npos) << e->to_string();
  }
  EXPECT_TRUE(tp->engine->broken());
  EXPECT_TRUE(tp->group->broken());
  GenerateRequest late;
  late.prompt = prompts[0];
  auto refused = tp->engine->submit(std::move(late));
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), core::ErrorCode::kWorkerCrashed);
}

#ifndef MLXS_TP_CUDA
// A group of two CPU ranks (threads) over hf-tiny/llama's kv heads, each
// loading `dir` (rank `missing_rank` a folder that does not exist); start()'s
// error otherwise.
core::Result<std::unique_ptr<TensorParallelGroup>> cpu_group(const std::string& dir,
                                                             RankParts& rank0,
                                                             int missing_rank = -1) {
  auto threads = std::make_shared<tensor::InProcessGroup>(2);
  auto make = [&](int r) -> core::Result<RankParts> {
    RankParts p;
    p.shared = threads;
    p.communicator = &threads->rank(r);
    p.backend =
        std::make_unique<backend::cpu::CpuBackend>(std::make_shared<backend::cpu::ThreadPool>(1));
    model::LoadOptions o = load_options(8);
    o.communicator = p.communicator;
    MLXS_ASSIGN_OR_RETURN(
        p.model, model::Model::load(r == missing_rank ? dir + "/missing" : dir, *p.backend, o));
    return p;
  };
  return TensorParallelGroup::start(2, make, rank0);
}

// A rank that cannot load (a directory it cannot read) fails the group's
// start with that rank's error; nothing is left waiting.
TEST(TensorParallelGroupStart, ARankThatCannotLoadFailsTheStart) {
  const Watchdog watchdog(std::chrono::seconds(60));
  RankParts rank0;
  auto g = cpu_group(testing::fixture_path("hf-tiny/llama"), rank0, /*missing_rank=*/1);
  ASSERT_FALSE(g.is_ok());
  EXPECT_EQ(g.status().code(), core::ErrorCode::kModelLoadError) << g.status().to_string();
  EXPECT_NE(g.status().message().find("rank 1"), std::string::npos) << g.status().to_string();
  EXPECT_FALSE(rank0.model);
}

// KV-cache calibration over a group: every rank runs the one prefill through
// the group's collectives and keeps the scales of its own kv heads, which are
// the whole model's scales of those heads (to the order of the sums).
TEST(TensorParallelGroupCalibration, EachRankGetsTheWholeModelsScalesOfItsHeads) {
  const Watchdog watchdog(std::chrono::seconds(120));
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  constexpr int kTokens = 48;
  backend::cpu::CpuBackend whole_backend(std::make_shared<backend::cpu::ThreadPool>(1));
  auto whole = model::Model::load(dir, whole_backend, load_options(8));
  ASSERT_TRUE(whole.is_ok()) << whole.status().to_string();
  ASSERT_TRUE((*whole)->calibrate_kv_scales(kTokens).is_ok());
  const std::vector<float>& all = (*whole)->kv_scales();
  const auto layers = static_cast<std::size_t>((*whole)->config().layers);
  const auto kv_heads = static_cast<std::size_t>((*whole)->config().kv_heads);
  ASSERT_EQ(all.size(), layers * 2 * kv_heads);
  ASSERT_EQ(kv_heads % 2, 0u);

  RankParts rank0;
  auto g = cpu_group(dir, rank0);
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  TensorParallelGroup& group = **g;
  EXPECT_TRUE(rank0.model->kv_scales().empty());  // Model::load leaves it to the group
  ASSERT_TRUE(group.calibrate_kv_scales(*rank0.model, kTokens).is_ok());
  EXPECT_FALSE(group.broken());
  const std::size_t local = kv_heads / 2;
  for (int r = 0; r < 2; ++r) {
    const model::Model* m = r == 0 ? rank0.model.get() : group.follower_model(r);
    ASSERT_NE(m, nullptr);
    EXPECT_TRUE(m->kv_scales_calibrated());
    const std::vector<float>& mine = m->kv_scales();
    ASSERT_EQ(mine.size(), layers * 2 * local) << "rank " << r;
    for (std::size_t lk = 0; lk < layers * 2; ++lk) {
      for (std::size_t h = 0; h < local; ++h) {
        const float want = all[lk * kv_heads + static_cast<std::size_t>(r) * local + h];
        EXPECT_NEAR(mine[lk * local + h], want, 1e-4 * want)
            << "rank " << r << ", layer " << lk / 2 << (lk % 2 == 0 ? " K" : " V") << ", head "
            << h;
      }
    }
  }
  EXPECT_EQ(group.follower_model(0), nullptr);
  EXPECT_EQ(group.follower_model(2), nullptr);
}

// A calibration that fails on the ranks (here: no tokens) returns a coded
// error naming a rank and leaves the group broken; nobody waits.
TEST(TensorParallelGroupCalibration, AFailedCalibrationBreaksTheGroup) {
  const Watchdog watchdog(std::chrono::seconds(60));
  RankParts rank0;
  auto g = cpu_group(testing::fixture_path("hf-tiny/llama"), rank0);
  ASSERT_TRUE(g.is_ok()) << g.status().to_string();
  const core::Status st = (*g)->calibrate_kv_scales(*rank0.model, 0);
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.code(), core::ErrorCode::kInvalidParams) << st.to_string();
  EXPECT_NE(st.message().find("KV-cache calibration: tensor-parallel rank"), std::string::npos)
      << st.to_string();
  EXPECT_TRUE((*g)->broken());
}
#endif

TEST(TensorParallelGroupStart, GroupSizeIsChecked) {
  RankParts rank0;
  auto never = [](int) -> core::Result<RankParts> { return RankParts{}; };
  for (int world : {0, -1, 65}) {
    auto g = TensorParallelGroup::start(world, never, rank0);
    ASSERT_FALSE(g.is_ok());
    EXPECT_EQ(g.status().code(), core::ErrorCode::kInvalidParams);
  }
}

}  // namespace
}  // namespace mlxs::engine
