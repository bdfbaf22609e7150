// The engine with real models on the CPU: batching, prefix reuse and
// preemption never change greedy outputs; seeds reproduce whatever the batch;
// cancellation, deadlines, n > 1, stop strings and text. Built three ways:
// engine_model_test (CPU, steps one after another), engine_overlap_test
// (CPU, overlap mode forced on) and engine_cuda_test (GPU, overlap on).
#include "engine/engine.h"

#include <algorithm>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#ifdef MLXS_ENGINE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "core/json_util.h"
#include "model/synth.h"
#include "testing/fixtures.h"

namespace mlxs::engine {
namespace {

namespace fs = std::filesystem;

// The same tests run on the CPU backend (label e2e) and, built as
// engine_cuda_test, on the GPU in exact f32 (label gpu).
std::unique_ptr<tensor::Backend> make_backend(std::shared_ptr<backend::cpu::ThreadPool> pool) {
#ifdef MLXS_ENGINE_CUDA
  (void)pool;
  backend::cuda::CudaOptions o;
  o.exact_f32 = true;
  auto b = backend::cuda::CudaBackend::create(o);
  EXPECT_TRUE(b.is_ok()) << b.status().to_string();
  return b.is_ok() ? std::move(b).value() : nullptr;
#else
  return std::make_unique<backend::cpu::CpuBackend>(std::move(pool));
#endif
}

#if defined(MLXS_ENGINE_OVERLAP) || defined(MLXS_ENGINE_CUDA)
constexpr bool kOverlaps = true;
#else
constexpr bool kOverlaps = false;
#endif

struct Rig {
  std::shared_ptr<backend::cpu::ThreadPool> pool = std::make_shared<backend::cpu::ThreadPool>(2);
  std::unique_ptr<tensor::Backend> backend_owner = make_backend(pool);
  tensor::Backend& backend = *backend_owner;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  core::SteadyClock clock;

  explicit Rig(const std::string& dir, bool with_tokenizer = false) {
    model::LoadOptions o;
    o.max_batch_tokens = 128;
    o.max_seqs = 16;
    o.max_logit_rows = 16;
    o.max_context = 256;
    auto m = model::Model::load(dir, backend, o);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    if (m) model = std::move(m).value();
    if (with_tokenizer) {
      auto t = tokenizer::Tokenizer::load_dir(dir);
      EXPECT_TRUE(t.is_ok()) << t.status().to_string();
      if (t) tokenizer = std::move(t).value();
    }
  }

  std::unique_ptr<Engine> engine(int kv_blocks = 0, bool prefix = true, int max_context = 256,
                                 bool device_sampling = true) {
    EngineConfig c;
    c.device_sampling = device_sampling;
#ifdef MLXS_ENGINE_OVERLAP
    c.overlap = EngineConfig::Overlap::kOn;
#endif
    c.scheduler.max_batch_tokens = 128;
    c.scheduler.max_seqs = 16;
    c.scheduler.prefill_chunk = 32;
    c.scheduler.max_context = max_context;
    c.kv_blocks = kv_blocks;
    c.kv_memory_bytes = 64u << 20;
    c.prefix_caching = prefix;
    auto e = Engine::create(*model, tokenizer.get(), c, clock);
    EXPECT_TRUE(e.is_ok()) << e.status().to_string();
    return e.is_ok() ? std::move(e).value() : nullptr;
  }
};

struct Collected {
  std::vector<std::vector<std::int32_t>> tokens;
  std::vector<std::string> text;
  std::vector<FinishReason> finish;
  std::optional<core::Status> error;
  Usage usage;
};

Collected collect(Stream& s) {
  Collected r;
  r.tokens.resize(static_cast<std::size_t>(s.choices()));
  r.text.resize(static_cast<std::size_t>(s.choices()));
  r.finish.resize(static_cast<std::size_t>(s.choices()), FinishReason::kNone);
  for (auto& item : s.take()) {
    auto c = static_cast<std::size_t>(item.choice);
    r.tokens[c].insert(r.tokens[c].end(), item.tokens.begin(), item.tokens.end());
    r.text[c] += item.text;
    if (item.final) r.finish[c] = item.finish;
  }
  r.error = s.error();
  r.usage = s.usage();
  return r;
}

void drain(Engine& e, const std::vector<std::shared_ptr<Stream>>& streams,
           std::vector<Collected>* results, int max_steps = 10000) {
  results->assign(streams.size(), Collected{});
  for (auto& r : *results) {
    r.tokens.resize(4);
    r.text.resize(4);
    r.finish.resize(4, FinishReason::kNone);
  }
  for (int i = 0; i < max_steps; ++i) {
    auto worked = e.step();
    ASSERT_TRUE(worked.is_ok()) << worked.status().to_string();
    bool all_done = true;
    for (std::size_t k = 0; k < streams.size(); ++k) {
      Collected part = collect(*streams[k]);
      auto& r = (*results)[k];
      for (std::size_t c = 0; c < part.tokens.size(); ++c) {
        r.tokens[c].insert(r.tokens[c].end(), part.tokens[c].begin(), part.tokens[c].end());
        r.text[c] += part.text[c];
        if (part.finish[c] != FinishReason::kNone) r.finish[c] = part.finish[c];
      }
      if (part.error) r.error = part.error;
      r.usage = part.usage;
      all_done &= streams[k]->done();
    }
    if (all_done && !e.has_work()) return;
  }
  FAIL() << "streams did not finish";
}

GenerateRequest greedy(std::vector<std::int32_t> prompt, int max_tokens) {
  GenerateRequest r;
  r.prompt = std::move(prompt);
  r.sampling.temperature = 0;
  r.stop.max_tokens = max_tokens;
  r.stop.ignore_eos = true;
  return r;
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

TEST(Engine, ConcurrentRequestsMatchOneAtATimeAndTheReference) {
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  const auto prompts = fixture_prompts(dir);
  auto ref = core::read_json_file(dir + "/reference.json", "reference.json",
                                  core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(ref.is_ok());

  std::vector<std::vector<std::int32_t>> alone;
  for (const auto& p : prompts) {
    auto e = s.engine();
    auto st = e->submit(greedy(p, 16));
    ASSERT_TRUE(st.is_ok());
    std::vector<Collected> r;
    drain(*e, {*st}, &r);
    alone.push_back(r[0].tokens[0]);
    EXPECT_EQ(r[0].finish[0], FinishReason::kLength);
  }
  auto e = s.engine();
  std::vector<std::shared_ptr<Stream>> streams;
  for (const auto& p : prompts) streams.push_back(*e->submit(greedy(p, 16)));
  std::vector<Collected> together;
  drain(*e, streams, &together);
  // Greedy rows only: in overlap mode every step but the first went out
  // before its predecessor's tokens were read.
  if (kOverlaps) {
    EXPECT_GT(e->metrics().overlapped_steps, 0u);
  } else {
    EXPECT_EQ(e->metrics().overlapped_steps, 0u);
  }
#ifdef MLXS_ENGINE_CUDA
  // The device's time is measured (CUDA events); a CPU reports none.
  EXPECT_GT(e->metrics().device_busy_us, 0u);
#else
  EXPECT_EQ(e->metrics().device_busy_us, 0u);
#endif
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(together[i].tokens[0], alone[i]) << "prompt " << i;
    const auto& jp = (*ref)["prompts"][i];
    for (std::size_t j = 0; j < alone[i].size(); ++j) {
      if (jp["greedy_top2_margins"][j].get<double>() <= 1e-2) break;
      EXPECT_EQ(alone[i][j], jp["continuation_ids"][j].get<int>())
          << "prompt " << i << " step " << j;
    }
    EXPECT_EQ(together[i].usage.completion_tokens, 16);
    EXPECT_EQ(together[i].usage.prompt_tokens, static_cast<int>(prompts[i].size()));
  }
}

TEST(Engine, PrefixHitsAndPreemptionDoNotChangeOutputs) {
  const std::string dir = testing::fixture_path("hf-tiny/qwen3");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  auto prompts = fixture_prompts(dir);
  auto e = s.engine();
  auto first = *e->submit(greedy(prompts[2], 12));
  std::vector<Collected> r1;
  drain(*e, {first}, &r1);
  auto second = *e->submit(greedy(prompts[2], 12));
  std::vector<Collected> r2;
  drain(*e, {second}, &r2);
  EXPECT_GT(r2[0].usage.cached_prompt_tokens, 0) << "the repeated prompt hit the prefix cache";
  EXPECT_EQ(r2[0].tokens[0], r1[0].tokens[0]);
  EXPECT_GT(e->metrics().prefix_hits, 0u);

  // Eight blocks of 16 tokens for four sequences growing to 61-96 tokens:
  // preemptions happen.
  auto tight = s.engine(/*kv_blocks=*/8, true, /*max_context=*/96);
  std::vector<std::shared_ptr<Stream>> streams;
  for (int i = 0; i < 4; ++i)
    streams.push_back(*tight->submit(greedy(prompts[static_cast<std::size_t>(i % 3)], 56)));
  std::vector<Collected> rs;
  drain(*tight, streams, &rs);
  EXPECT_GT(tight->metrics().preemptions, 0u);
  for (int i = 0; i < 4; ++i) {
    auto solo = s.engine();
    auto st = *solo->submit(greedy(prompts[static_cast<std::size_t>(i % 3)], 56));
    std::vector<Collected> one;
    drain(*solo, {st}, &one);
    EXPECT_EQ(rs[static_cast<std::size_t>(i)].tokens[0], one[0].tokens[0]) << "request " << i;
  }
  EXPECT_EQ(tight->metrics().kv_blocks_used, 0);
}

TEST(Engine, SeedsReproduceWhateverElseIsInTheBatch) {
  const std::string dir = testing::fixture_path("hf-tiny/gemma2");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  auto prompts = fixture_prompts(dir);
  GenerateRequest req = greedy(prompts[0], 20);
  req.sampling.temperature = 1.0f;
  req.sampling.top_p = 0.95f;
  req.sampling.seed = 1234;
  auto e1 = s.engine();
  auto a = *e1->submit(req);
  std::vector<Collected> ra;
  drain(*e1, {a}, &ra);
  auto e2 = s.engine();
  auto other = *e2->submit(greedy(prompts[1], 30));
  auto b = *e2->submit(req);
  std::vector<Collected> rb;
  drain(*e2, {other, b}, &rb);
  EXPECT_EQ(ra[0].tokens[0], rb[1].tokens[0]);

  req.n = 3;
  auto e3 = s.engine();
  auto multi = *e3->submit(req);
  std::vector<Collected> rm;
  drain(*e3, {multi}, &rm);
  EXPECT_EQ(rm[0].tokens[0], ra[0].tokens[0]) << "choice 0 uses the request's seed";
  EXPECT_EQ(rm[0].usage.completion_tokens, 60);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(rm[0].tokens[static_cast<std::size_t>(c)].size(), 20u);
}

TEST(Engine, CancelTimeoutAndBadRequests) {
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  auto prompts = fixture_prompts(dir);
  auto e = s.engine();
  auto long_one = *e->submit(greedy(prompts[1], 200));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(e->step().is_ok());
  e->cancel(long_one->request_id());
  std::vector<Collected> r;
  drain(*e, {long_one}, &r);
  EXPECT_EQ(r[0].finish[0], FinishReason::kCancelled);
  EXPECT_LT(r[0].tokens[0].size(), 200u);
  EXPECT_EQ(e->metrics().kv_blocks_used, 0) << "cancel frees every block";

  // A consumer that goes away cancels the work.
  auto gone = *e->submit(greedy(prompts[0], 200));
  ASSERT_TRUE(e->step().is_ok());
  gone->abandon();
  for (int i = 0; i < 5 && e->has_work(); ++i) ASSERT_TRUE(e->step().is_ok());
  EXPECT_FALSE(e->has_work());
  EXPECT_EQ(e->metrics().kv_blocks_used, 0);

  GenerateRequest late = greedy(prompts[0], 200);
  late.timeout_ns = 1;  // already past by the first step
  auto t = *e->submit(late);
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  drain(*e, {t}, &r);
  ASSERT_TRUE(r[0].error.has_value());
  EXPECT_EQ(r[0].error->code(), core::ErrorCode::kTimeout);

  EXPECT_EQ(e->submit(greedy({}, 4)).status().code(), core::ErrorCode::kInvalidParams);
  EXPECT_EQ(e->submit(greedy({1, 999999}, 4)).status().code(), core::ErrorCode::kInvalidParams);
  GenerateRequest bad = greedy(prompts[0], 4);
  bad.n = 0;
  EXPECT_EQ(e->submit(bad).status().code(), core::ErrorCode::kInvalidParams);
  bad = greedy(prompts[0], 4);
  bad.stop.stop = {"x"};  // no tokenizer for this fixture
  EXPECT_EQ(e->submit(bad).status().code(), core::ErrorCode::kInvalidParams);
}

TEST(Engine, RunsOnItsOwnThread) {
  const std::string dir = testing::fixture_path("hf-tiny/mistral");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  auto e = s.engine();
  std::jthread loop([&](std::stop_token st) { e->run(st); });
  auto prompts = fixture_prompts(dir);
  std::vector<std::shared_ptr<Stream>> streams;
  for (const auto& p : prompts) streams.push_back(*e->submit(greedy(p, 8)));
  for (auto& st : streams) {
    std::size_t tokens = 0;
    for (int i = 0; i < 2000 && !st->done(); ++i) {
      for (auto& item : st->wait_take(50)) tokens += item.tokens.size();
    }
    EXPECT_TRUE(st->done());
    EXPECT_EQ(tokens, 8u);
  }
  loop.request_stop();
}

TEST(Engine, TextAndStopStringsWithARealTokenizer) {
  const std::string dir = testing::temp_dir() + "/engine-synth-llama3";
  model::SynthOptions o;
  o.preset = "tiny";
  o.arch = "llama";
  o.tokenizer = "llama3";
  o.out_dir = dir;
  auto w = model::write_synthetic_model(o);
  if (!w.is_ok() && w.status().code() == core::ErrorCode::kNotFound) {
    GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh installs them)";
  }
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  Rig s(dir, /*with_tokenizer=*/true);
  ASSERT_TRUE(s.model && s.tokenizer);
  auto prompt = *s.tokenizer->encode("The quick brown fox", true);
  auto e = s.engine();
  auto st = *e->submit(greedy(prompt, 24));
  std::vector<Collected> r;
  drain(*e, {st}, &r);
  const auto full_text = *s.tokenizer->decode(r[0].tokens[0], true);
  EXPECT_EQ(r[0].text[0], full_text) << "streamed text equals the batch decode";
  ASSERT_GT(full_text.size(), 6u);
  // Stop at a piece of the text seen above: output ends right before it.
  const std::string stop = full_text.substr(full_text.size() / 2, 3);
  GenerateRequest with_stop = greedy(prompt, 24);
  with_stop.stop.stop = {stop};
  auto st2 = *e->submit(with_stop);
  drain(*e, {st2}, &r);
  EXPECT_EQ(r[0].finish[0], FinishReason::kStop);
  EXPECT_EQ(r[0].text[0], full_text.substr(0, full_text.find(stop)));
}

// Allows, at output position k, only the tokens t with t % 5 == k % 5: every
// row's mask differs from its neighbours' and from its own last step's.
class ModuloConstraint final : public Constraint {
 public:
  explicit ModuloConstraint(std::int64_t vocab) : vocab_(vocab) {}
  std::unique_ptr<ConstraintState> start(std::vector<std::int32_t>) const override {
    return std::make_unique<State>(vocab_);
  }
  static bool allows(std::int32_t token, int position) { return token % 5 == position % 5; }

 private:
  class State final : public ConstraintState {
   public:
    explicit State(std::int64_t vocab) : vocab_(vocab) {}
    void fill_mask(std::span<std::uint32_t> mask) override {
      std::fill(mask.begin(), mask.end(), 0u);
      for (std::int64_t t = 0; t < vocab_; ++t) {
        if (allows(static_cast<std::int32_t>(t), position_)) {
          mask[static_cast<std::size_t>(t >> 5)] |= 1u << (t & 31);
        }
      }
    }
    core::Status advance(std::int32_t token) override {
      if (!allows(token, position_++)) return core::Status(core::ErrorCode::kInternalError, "bad");
      return core::Status::ok();
    }

   private:
    std::int64_t vocab_;
    int position_ = 0;
  };
  std::int64_t vocab_;
};

TEST(Engine, ConstrainedRowsKeepToTheirMasksOnEverySamplingPath) {
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  const auto prompts = fixture_prompts(dir);
  ASSERT_GE(prompts.size(), 2u);
  auto constraint = std::make_shared<ModuloConstraint>(s.model->config().vocab);
  // Greedy rows come back as ids; greedy rows asking for logprobs and
  // sampled rows come back whole. Both must obey the mask, and the two
  // greedy paths must choose the same tokens.
  auto e = s.engine();
  std::vector<std::shared_ptr<Stream>> streams;
  for (int path = 0; path < 3; ++path) {
    for (const auto& p : prompts) {
      GenerateRequest r = greedy(p, 12);
      r.constraint = constraint;
      if (path == 1) r.sampling.logprobs = true;
      if (path == 2) {
        r.sampling.temperature = 1.0f;
        r.sampling.seed = 7;
      }
      streams.push_back(*e->submit(std::move(r)));
    }
  }
  // And unconstrained greedy rows in the same steps stay free.
  for (const auto& p : prompts) streams.push_back(*e->submit(greedy(p, 12)));
  std::vector<Collected> out;
  drain(*e, streams, &out);
  const std::size_t n = prompts.size();
  for (std::size_t k = 0; k < 3 * n; ++k) {
    ASSERT_FALSE(out[k].error) << out[k].error->to_string();
    ASSERT_EQ(out[k].tokens[0].size(), 12u) << k;
    for (std::size_t j = 0; j < out[k].tokens[0].size(); ++j) {
      EXPECT_TRUE(ModuloConstraint::allows(out[k].tokens[0][j], static_cast<int>(j)))
          << "stream " << k << " position " << j << " token " << out[k].tokens[0][j];
    }
  }
  for (std::size_t i = 0; i < n; ++i) EXPECT_EQ(out[i].tokens[0], out[n + i].tokens[0]) << i;
  bool free_differs = false;
  for (std::size_t i = 0; i < n; ++i) free_differs |= out[3 * n + i].tokens[0] != out[i].tokens[0];
  EXPECT_TRUE(free_differs);
}

TEST(Engine, ReportsWhenEachPrefillChunkRan) {
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  auto e = s.engine();  // prefill chunks of 32 tokens
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < 100; ++i) prompt.push_back(5 + (i * 37) % 200);
  auto st = *e->submit(greedy(prompt, 4));
  std::vector<Collected> out;
  drain(*e, {st}, &out);
  const StreamTimes t = st->times();
  EXPECT_EQ(t.prefill_chunk_count, 4);
  ASSERT_EQ(t.prefill_chunks.size(), 4u);
  int tokens = 0;
  core::Nanos last_end = t.first_scheduled;
  EXPECT_LE(t.queued, t.first_scheduled);
  for (const PrefillChunk& c : t.prefill_chunks) {
    EXPECT_LE(last_end, c.begin);
    EXPECT_LE(c.begin, c.end);
    last_end = c.end;
    tokens += c.tokens;
  }
  EXPECT_EQ(tokens, 100);
  EXPECT_EQ(t.prefill_chunks[3].tokens, 4);
  EXPECT_LE(t.first_token, t.finished);
  EXPECT_EQ(t.preemptions, 0);
  // The steps' time and the part spent waiting for logits.
  const EngineMetrics m = e->metrics();
  EXPECT_GT(m.step_ns, 0u);
  EXPECT_GT(m.device_wait_ns, 0u);
  EXPECT_LE(m.device_wait_ns, m.step_ns);
}

TEST(Engine, DeviceAndHostDrawsAgree) {
  // A device that samples draws with the sequence's own numbers and the
  // host's definitions: seeded outputs match the host sampler's (a draw
  // within rounding of a boundary may differ; at most one request here).
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  Rig s(dir);
  ASSERT_TRUE(s.model);
  const auto prompts = fixture_prompts(dir);
  std::vector<std::vector<Collected>> runs;
  for (bool on_device : {true, false}) {
    auto e = s.engine(0, true, 256, on_device);
    std::vector<std::shared_ptr<Stream>> streams;
    int k = 0;
    for (const auto& p : prompts) {
      for (float top_p : {1.0f, 0.8f}) {
        GenerateRequest r = greedy(p, 10);
        r.sampling.temperature = 0.9f;
        r.sampling.top_p = top_p;
        r.sampling.top_k = top_p < 1.0f ? 40 : 0;
        r.sampling.seed = 100 + static_cast<std::uint64_t>(k++);
        streams.push_back(*e->submit(std::move(r)));
      }
    }
    runs.emplace_back();
    drain(*e, streams, &runs.back());
  }
  int differ = 0;
  for (std::size_t i = 0; i < runs[0].size(); ++i) {
    ASSERT_EQ(runs[0][i].tokens[0].size(), 10u);
    differ += runs[0][i].tokens[0] != runs[1][i].tokens[0] ? 1 : 0;
  }
  EXPECT_LE(differ, 1);
}

#ifndef MLXS_ENGINE_CUDA  // vision towers run on the CPU backend only, so far

// A vision case of hf-tiny-vision as a request: its prompt ids, the image
// (the fixture's pixel_values) at its placeholders, and the reference.
struct VisionRequest {
  GenerateRequest request;
  std::vector<std::int32_t> continuation;
  std::vector<double> margins;
};

VisionRequest vision_request(const std::string& dir) {
  VisionRequest v;
  const auto ref = testing::load_reference(dir);
  auto json = core::read_json_file(dir + "/reference.json", "reference.json",
                                   core::ErrorCode::kInvalidParams);
  EXPECT_TRUE(json.is_ok());
  v.request = greedy(ref.ids("input_ids"), 8);
  RequestImage img;
  img.pixels = ref.floats("pixel_values");
  if (ref.find("image_grid_thw") != nullptr) {
    const auto g = ref.ids("image_grid_thw");
    img.grid_t = g[0];
    img.grid_h = g[1];
    img.grid_w = g[2];
  }
  img.begin = testing::image_rows(ref, *json).first;
  v.request.images.push_back(std::move(img));
  for (const auto& t : (*json)["continuation_ids"]) v.continuation.push_back(t.get<std::int32_t>());
  for (const auto& m : (*json)["greedy_top2_margins"]) v.margins.push_back(m.get<double>());
  return v;
}

// The tokens agree with the reference up to its first unclear margin.
void expect_reference(const std::vector<std::int32_t>& got, const VisionRequest& v) {
  ASSERT_EQ(got.size(), v.continuation.size());
  for (std::size_t j = 0; j < got.size() && v.margins[j] >= 1e-2; ++j) {
    ASSERT_EQ(got[j], v.continuation[j]) << "token " << j;
  }
}

TEST(Engine, VisionRequestsGiveTheReferenceTokensAloneAndBatched) {
  const auto cases = testing::model_cases("hf-tiny-vision");
  if (cases.empty()) GTEST_SKIP() << "no hf-tiny-vision fixtures";
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    const std::string dir = testing::fixture_path("hf-tiny-vision/" + name);
    Rig s(dir);
    ASSERT_TRUE(s.model);
    const VisionRequest v = vision_request(dir);
    auto e = s.engine();
    // One alone, then three at once with a text-only request between them.
    std::vector<Collected> alone;
    drain(*e, {*e->submit(v.request)}, &alone);
    ASSERT_FALSE(alone[0].error) << alone[0].error->to_string();
    expect_reference(alone[0].tokens[0], v);
    std::vector<std::shared_ptr<Stream>> streams;
    for (int k = 0; k < 3; ++k) {
      auto st = e->submit(k == 1 ? greedy({5, 6, 7, 8, 9}, 8) : v.request);
      ASSERT_TRUE(st.is_ok()) << st.status().to_string();
      streams.push_back(*st);
    }
    std::vector<Collected> together;
    drain(*e, streams, &together);
    EXPECT_EQ(together[0].tokens[0], alone[0].tokens[0]);
    EXPECT_EQ(together[2].tokens[0], alone[0].tokens[0]);
    // The repeats found the first one's blocks, image rows included.
    EXPECT_GT(together[2].usage.cached_prompt_tokens, 0);
  }
}

TEST(Engine, AnotherImageNeverReusesTheFirstImagesBlocks) {
  const std::string dir = testing::fixture_path("hf-tiny-vision/llava");
  if (!fs::exists(dir)) GTEST_SKIP() << "no llava fixture";
  Rig s(dir);
  ASSERT_TRUE(s.model);
  const VisionRequest a = vision_request(dir);
  VisionRequest b = a;
  for (auto& x : b.request.images[0].pixels) x = -x;  // same shape, other content
  std::vector<Collected> b_fresh;
  {
    auto e = s.engine();
    drain(*e, {*e->submit(b.request)}, &b_fresh);
  }
  auto e = s.engine();
  std::vector<Collected> first, second;
  drain(*e, {*e->submit(a.request)}, &first);
  drain(*e, {*e->submit(b.request)}, &second);
  EXPECT_EQ(second[0].tokens[0], b_fresh[0].tokens[0]);
  EXPECT_NE(first[0].tokens[0], second[0].tokens[0]) << "the images should lead apart";
  // Only blocks before the image may be shared: the first block holds it.
  EXPECT_EQ(second[0].usage.cached_prompt_tokens, 0);
}

// The same image and prompt again: its rows come from the prefix cache, so
// the tower does not run a second time, and the answer is the same.
TEST(Engine, AnImageFoundInThePrefixCacheIsNotEncodedAgain) {
  for (const std::string name : {"llava", "qwen2_vl"}) {
    SCOPED_TRACE(name);
    const std::string dir = testing::fixture_path("hf-tiny-vision/" + name);
    if (!fs::exists(dir)) GTEST_SKIP() << "no " << name << " fixture";
    Rig s(dir);
    ASSERT_TRUE(s.model);
    VisionRequest v = vision_request(dir);
    // Text after the image fills whole blocks, so the image's are all cached.
    const auto& img = v.request.images[0];
    const std::int32_t image_end =
        img.begin + static_cast<std::int32_t>(
                        *s.model->image_tokens({img.pixels, img.grid_t, img.grid_h, img.grid_w}));
    for (int i = 0; i < 64; ++i) v.request.prompt.push_back(5 + i % 7);
    auto e = s.engine();
    std::vector<Collected> first, second;
    drain(*e, {*e->submit(v.request)}, &first);
    ASSERT_FALSE(first[0].error) << first[0].error->to_string();
    EXPECT_EQ(e->metrics().images_encoded, 1u);
    drain(*e, {*e->submit(v.request)}, &second);
    ASSERT_FALSE(second[0].error) << second[0].error->to_string();
    EXPECT_GE(second[0].usage.cached_prompt_tokens, image_end);
    EXPECT_EQ(e->metrics().images_encoded, 1u) << "the cached image ran the tower again";
    EXPECT_EQ(second[0].tokens[0], first[0].tokens[0]);
  }
}

TEST(Engine, BadImagesAreCodedErrors) {
  const std::string dir = testing::fixture_path("hf-tiny-vision/qwen2_vl");
  if (!fs::exists(dir)) GTEST_SKIP() << "no qwen2_vl fixture";
  Rig s(dir);
  ASSERT_TRUE(s.model);
  auto e = s.engine();
  const VisionRequest v = vision_request(dir);
  auto expect_invalid = [&](GenerateRequest r, const std::string& what) {
    auto st = e->submit(std::move(r));
    ASSERT_FALSE(st.is_ok()) << what;
    EXPECT_EQ(st.status().code(), core::ErrorCode::kInvalidParams) << what;
    EXPECT_NE(st.status().message().find(what), std::string::npos) << st.status().message();
  };
  GenerateRequest no_image = v.request;
  no_image.images.clear();
  expect_invalid(no_image, "but no image");
  GenerateRequest short_pixels = v.request;
  short_pixels.images[0].pixels.pop_back();
  expect_invalid(short_pixels, "values");
  GenerateRequest odd_grid = v.request;
  odd_grid.images[0].grid_w = 3;
  expect_invalid(odd_grid, "merge");
  GenerateRequest moved = v.request;
  moved.images[0].begin -= 1;
  expect_invalid(moved, "is not the image placeholder");
  GenerateRequest two = v.request;
  two.images.push_back(two.images[0]);
  expect_invalid(two, "do not fit");

  Rig text(testing::fixture_path("hf-tiny/llama"));
  ASSERT_TRUE(text.model);
  auto te = text.engine();
  GenerateRequest to_text = greedy({5, 6, 7}, 4);
  to_text.images.push_back(v.request.images[0]);
  auto st = te->submit(std::move(to_text));
  ASSERT_FALSE(st.is_ok());
  EXPECT_EQ(st.status().code(), core::ErrorCode::kInvalidParams);
}

#endif  // MLXS_ENGINE_CUDA

}  // namespace
}  // namespace mlxs::engine
