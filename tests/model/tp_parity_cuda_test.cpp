// Tensor parallelism on two GPUs over NCCL (label gpu): every hf-tiny case
// over 2 ranks (threads bound to devices 0 and 1, collectives on each
// backend's stream, decode steps replayed from CUDA graphs with the
// collectives inside) against the whole model on device 0, through a batched
// prefill of two prompts and incremental decode.
//  - f32 math (exact_f32): logits within 1e-3 and the same greedy tokens;
//  - the serving path (bf16 tensor cores from two rows): logits within the
//    bf16 bound of the other CUDA parity tests, 1e-3 + 1e-2 x max |logit|,
//    and the same greedy token wherever the whole model's margin exceeds it.
// The two ranks' logits must be the same bits (NCCL hands every rank one sum).
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <latch>
#include <thread>

#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/nccl_communicator.h"
#include "model/config.h"
#include "model/model.h"
#include "model/runner.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

constexpr int kDecodeSteps = 8;

struct Trace {
  std::vector<float> logits;  // the rows each step chose its tokens from, in order
  std::vector<std::int32_t> tokens;
  std::vector<double> margins;  // top-1 minus top-2 of each such row
  std::string error;
};

void pick(const float* row, std::int64_t n, Trace& out) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = i;
  }
  double second = -1e30;
  for (std::int64_t i = 0; i < n; ++i) {
    if (i != best) second = std::max(second, static_cast<double>(row[i]));
  }
  out.tokens.push_back(static_cast<std::int32_t>(best));
  out.margins.push_back(static_cast<double>(row[best]) - second);
  out.logits.insert(out.logits.end(), row, row + n);
}

// What the ranks of one run share: every rank's communicator (a rank that
// fails aborts them all, so the other does not wait in a collective) and a
// latch that holds the first step until every rank has loaded (a rank still
// allocating while the other's collectives run can stall both).
struct Shared {
  std::array<std::atomic<backend::cuda::NcclCommunicator*>, 2> comms{};
  std::latch loaded{2};
  void abort_all() {
    for (auto& c : comms) {
      if (auto* p = c.load()) p->abort();
    }
  }
};

// Two prompts prefilled in one step, then decoded greedily a token a step
// (pure decode steps: captured once, then replayed). `id` null: whole.
Trace run(const std::string& dir, const std::vector<std::int32_t>& a,
          const std::vector<std::int32_t>& b, int device, bool exact,
          const backend::cuda::NcclId* id, int rank, int world, Shared* shared = nullptr) {
  Trace out;
  bool arrived = false;
  // Every way out of a rank arrives at the latch and ends the group on error.
  auto fail = [&](const core::Status& s) {
    out.error = s.to_string();
    if (shared != nullptr) {
      shared->abort_all();
      if (!arrived) shared->loaded.count_down();
    }
    return out;
  };
  backend::cuda::CudaOptions options;
  options.device = device;
  options.exact_f32 = exact;
  auto backend = backend::cuda::CudaBackend::create(options);
  if (!backend) return fail(backend.status());
  std::unique_ptr<backend::cuda::NcclCommunicator> comm;
  if (id != nullptr) {
    auto c = backend::cuda::NcclCommunicator::create(*id, rank, world, device, (*backend)->stream(),
                                                     backend->get());
    if (!c) return fail(c.status());
    comm = std::move(c).value();
    shared->comms[static_cast<std::size_t>(rank)].store(comm.get());
  }
  LoadOptions o;
  o.max_batch_tokens = 64;
  o.max_seqs = 4;
  o.max_logit_rows = 4;
  o.max_context = 128;
  o.communicator = comm.get();
  auto model = Model::load(dir, **backend, o);
  if (!model) return fail(model.status());
  auto runner = Runner::create(**model, 2, 128);
  if (!runner) return fail(runner.status());
  if (shared != nullptr) {
    shared->loaded.arrive_and_wait();
    arrived = true;
  }
  // Progress on stderr: where a hang stopped, should one come back.
  std::fprintf(stderr, "[tp progress] rank %d of %d on device %d loaded\n", rank, world, device);
  const std::int64_t vocab = (*model)->config().vocab;
  const int sa = (*runner)->add_sequence(), sb = (*runner)->add_sequence();
  std::vector<SeqFeed> feeds = {{sa, a, false}, {sb, b, false}};
  std::int32_t next[2] = {0, 0};
  for (int step = 0; step <= kDecodeSteps; ++step) {
    auto logits = (*runner)->step(feeds);
    if (!logits) return fail(logits.status());
    std::fprintf(stderr, "[tp progress] rank %d of %d: step %d\n", rank, world, step);
    for (int s = 0; s < 2; ++s) {
      pick(logits->data() + static_cast<std::size_t>(s) * static_cast<std::size_t>(vocab), vocab,
           out);
      next[s] = out.tokens.back();
    }
    feeds = {{sa, std::span<const std::int32_t>(&next[0], 1), false},
             {sb, std::span<const std::int32_t>(&next[1], 1), false}};
  }
  // The communicators end together as the ranks return, each dropping its
  // backend's graphs first (NcclCommunicator's destructor); no abort may
  // reach this one after.
  if (shared != nullptr) shared->comms[static_cast<std::size_t>(rank)].store(nullptr);
  return out;
}

bool splits_over_two(const ModelConfig& c) {
  return c.heads % 2 == 0 && c.kv_heads % 2 == 0 && c.vocab % 2 == 0 &&
         (c.intermediate % 2 == 0 || c.num_experts > 0) &&
         (c.num_experts == 0 || c.moe_intermediate % 2 == 0);
}

void compare(const std::string& name, bool exact) {
  const std::string dir = testing::fixture_path("hf-tiny/" + name);
  auto config = load_model_config(dir + "/config.json", "config.json");
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  if (!splits_over_two(*config)) GTEST_SKIP() << name << " does not split over 2";
  auto ref = testing::load_reference(dir);
  const auto a = ref.ids("p0.input_ids");
  const auto b = ref.ids("p2.input_ids");
  const Trace whole = run(dir, a, b, 0, exact, nullptr, 0, 1);
  ASSERT_TRUE(whole.error.empty()) << whole.error;
  auto id = backend::cuda::NcclCommunicator::unique_id();
  ASSERT_TRUE(id.is_ok()) << id.status().to_string();
  std::vector<Trace> ranks(2);
  Shared shared;
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      ranks[static_cast<std::size_t>(r)] = run(dir, a, b, r, exact, &*id, r, 2, &shared);
    });
  }
  for (auto& t : threads) t.join();
  double max_logit = 0;
  for (float v : whole.logits) max_logit = std::max(max_logit, std::fabs(static_cast<double>(v)));
  const double bound = exact ? 1e-3 : 1e-3 + 1e-2 * max_logit;
  for (int r = 0; r < 2; ++r) {
    const Trace& t = ranks[static_cast<std::size_t>(r)];
    ASSERT_TRUE(t.error.empty()) << "rank " << r << ": " << t.error;
    ASSERT_EQ(t.logits.size(), whole.logits.size());
    double worst = 0;
    for (std::size_t i = 0; i < t.logits.size(); ++i) {
      worst = std::max(worst, std::fabs(static_cast<double>(t.logits[i]) - whole.logits[i]));
    }
    EXPECT_LE(worst, bound) << "rank " << r;
    if (r == 0) {
      std::printf("[tp cuda %s] %s over 2 GPUs: max |dlogit| %.3g (bound %.3g)\n",
                  exact ? "f32" : "serving", name.c_str(), worst, bound);
    }
    for (std::size_t i = 0; i < whole.tokens.size(); ++i) {
      if (exact || whole.margins[i] > 2 * bound) {
        EXPECT_EQ(t.tokens[i], whole.tokens[i]) << "rank " << r << " row " << i;
      }
      // Past the first differing token the two runs feed different inputs.
      if (t.tokens[i] != whole.tokens[i]) break;
    }
    EXPECT_EQ(t.logits, ranks[0].logits) << "rank " << r << " differs from rank 0";
  }
}

class TpCuda : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices < 2) {
      GTEST_SKIP() << "needs 2 GPUs (" << devices << " here)";
    }
  }
};

TEST_P(TpCuda, F32MathMatchesTheWholeModel) {
  compare(GetParam(), true);
}
TEST_P(TpCuda, ServingPathWithinTheBf16Bound) {
  compare(GetParam(), false);
}

INSTANTIATE_TEST_SUITE_P(HfTiny, TpCuda, ::testing::ValuesIn(testing::hf_tiny_cases()),
                         [](const ::testing::TestParamInfo<std::string>& p) { return p.param; });

}  // namespace
}  // namespace mlxs::model
