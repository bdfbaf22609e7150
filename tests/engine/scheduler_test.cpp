// The scheduler driven by a fake model runner (the next token is a hash of the
// sequence so far), with a fake clock: deterministic tests of budgets,
// chunking, priorities, aging, preemption, cancellation, deadlines and the
// block accounting.
#include "engine/scheduler.h"

#include <map>
#include <set>

#include <gtest/gtest.h>

#include "core/rng.h"

namespace mlxs::engine {
namespace {

std::int32_t fake_next(const std::vector<std::int32_t>& tokens) {
  std::uint64_t h = 1469598103934665603ull;
  for (auto t : tokens) h = (h ^ static_cast<std::uint64_t>(t)) * 1099511628211ull;
  return static_cast<std::int32_t>(h % 97) + 3;
}

std::vector<std::int32_t> prompt_of(int len, int salt) {
  std::vector<std::int32_t> p;
  for (int i = 0; i < len; ++i) p.push_back((i * 7 + salt) % 89 + 3);
  return p;
}

struct Harness {
  core::FakeClock clock;
  BlockPool pool;
  Scheduler sched;
  std::map<SeqId, std::vector<std::int32_t>> outputs;  // every token the runner produced
  std::map<SeqId, FinishReason> finished;
  std::vector<StepPlan> history;

  Harness(const SchedulerConfig& cfg, int blocks, int block_size = 4, bool prefix = true)
      : pool(blocks, block_size, prefix), sched(cfg, pool, clock) {}

  void add(SeqId id, int prompt_len, int max_new, Priority p = Priority::kInteractive, int salt = 0,
           core::Nanos deadline = 0) {
    SeqSpec s;
    s.id = id;
    s.prompt = prompt_of(prompt_len, salt);
    s.max_new_tokens = max_new;
    s.priority = p;
    s.deadline = deadline;
    ASSERT_TRUE(sched.add(std::move(s)).is_ok());
  }

  // Overlap mode, as the engine runs it on a GPU: each step is scheduled
  // while the previous one's tokens are pending (the runner knows them, the
  // scheduler does not yet), then the previous step is resolved and this
  // one committed.
  bool overlap = false;
  std::vector<StepOutcome> pending;
  std::map<SeqId, std::int32_t> truth;  // what each pending token is

  std::vector<std::int32_t> runner_view(const Sequence& s) const {
    std::vector<std::int32_t> t = s.tokens;
    if (s.pending) t.back() = truth.at(s.id);
    return t;
  }

  void resolve_pending() {
    for (const auto& o : pending) {
      const Sequence* s = sched.find(o.id);
      if (s != nullptr && s->state != SeqState::kFinished && s->pending)
        outputs[o.id].push_back(o.token);
    }
    EXPECT_TRUE(sched.resolve(pending).is_ok());
    for (const auto& o : pending) {
      const Sequence* s = sched.find(o.id);
      if (s != nullptr && s->state == SeqState::kFinished) record_finish(o.id);
    }
    pending.clear();
  }

  const StepPlan& step() {
    const StepPlan& plan = sched.schedule();
    history.push_back(plan);
    std::vector<StepOutcome> outcomes;
    for (const auto& e : plan.entries) {
      EXPECT_LE(e.count, sched.config().prefill_chunk);
      if (!e.wants_logits) continue;
      const Sequence* s = sched.find(e.id);
      const std::int32_t t = fake_next(runner_view(*s));
      if (!overlap) outputs[e.id].push_back(t);
      outcomes.push_back({e.id, t, FinishReason::kNone});
    }
    if (overlap) {
      resolve_pending();
      sched.commit();
      for (const auto& o : outcomes) {
        const Sequence* s = sched.find(o.id);
        if (s == nullptr || !s->pending) continue;  // ended by its previous token
        pending.push_back(o);
        truth[o.id] = o.token;
      }
    } else {
      EXPECT_TRUE(sched.complete(outcomes).is_ok());
    }
    for (auto id : plan.finished) record_finish(id);
    for (const auto& e : plan.entries) {
      const Sequence* s = sched.find(e.id);
      if (s != nullptr && s->state == SeqState::kFinished) record_finish(e.id);
    }
    clock.advance_ns(1'000'000);
    return history.back();
  }

  void record_finish(SeqId id) {
    const Sequence* s = sched.find(id);
    if (s == nullptr) return;
    finished[id] = s->finish;
    sched.release(id);
  }

  int run(int max_steps = 100000) {
    int steps = 0;
    while ((!sched.idle() || !pending.empty()) && steps < max_steps) {
      step();
      ++steps;
    }
    return steps;
  }
};

SchedulerConfig config(int budget = 64, int seqs = 8, int chunk = 16, int context = 256) {
  SchedulerConfig c;
  c.max_batch_tokens = budget;
  c.max_seqs = seqs;
  c.prefill_chunk = chunk;
  c.max_context = context;
  return c;
}

TEST(Scheduler, PrefillsInChunksThenDecodesToMaxTokens) {
  Harness h(config(64, 8, 16), 64);
  h.add(1, 40, 5);
  const auto& p1 = h.step();
  ASSERT_EQ(p1.entries.size(), 1u);
  EXPECT_EQ(p1.entries[0].count, 16);
  EXPECT_FALSE(p1.entries[0].wants_logits);
  h.step();
  const auto& p3 = h.step();
  EXPECT_EQ(p3.entries[0].count, 8);
  EXPECT_TRUE(p3.entries[0].wants_logits);
  h.run();
  EXPECT_EQ(h.finished.at(1), FinishReason::kLength);
  EXPECT_EQ(h.outputs[1].size(), 5u);
  EXPECT_EQ(h.pool.stats().used, 0) << "every block is back";
}

TEST(Scheduler, DecodesComeFirstAndTheTokenBudgetHolds) {
  Harness h(config(20, 16, 16), 256);
  for (SeqId id = 1; id <= 10; ++id) h.add(id, 3, 50, Priority::kInteractive, static_cast<int>(id));
  h.step();  // ten short prompts admitted (30 tokens > 20: some wait)
  h.step();
  h.add(99, 100, 3);
  for (int i = 0; i < 30; ++i) {
    const auto& p = h.step();
    EXPECT_LE(p.tokens, 20);
    bool seen_prefill = false;
    for (const auto& e : p.entries) {
      const bool decode = e.count == 1 && e.wants_logits && e.begin >= 3 && e.id != 99;
      if (!decode) seen_prefill = true;
      if (decode) {
        EXPECT_FALSE(seen_prefill) << "decodes are planned before prefills";
      }
    }
  }
  h.run();
  EXPECT_EQ(h.finished.size(), 11u);
}

TEST(Scheduler, InteractiveOvertakesQueuedBatchWorkAndBatchStillProgresses) {
  auto cfg = config(16, 2, 16);
  cfg.aging_ns = 50'000'000;  // 50 steps of the fake clock
  Harness h(cfg, 512);
  for (SeqId id = 1; id <= 20; ++id) h.add(id, 8, 4, Priority::kBatch, static_cast<int>(id));
  h.step();
  h.add(100, 8, 4, Priority::kInteractive);
  // The interactive request is admitted at the next free slot, ahead of the
  // 18 batch requests still queued.
  int waited = 0;
  while (h.sched.find(100)->state == SeqState::kWaiting) {
    h.step();
    ++waited;
  }
  EXPECT_LE(waited, 4);
  // A flood of interactive work cannot starve batch work forever: aging lets
  // batch requests in.
  SeqId next = 200;
  for (int i = 0; i < 400 && h.finished.count(20) == 0; ++i) {
    if (h.sched.stats().waiting[0] < 4) {
      h.add(next, 8, 4, Priority::kInteractive, static_cast<int>(next));
      ++next;
    }
    h.step();
  }
  EXPECT_EQ(h.finished.count(20), 1u) << "the last batch request finished despite the flood";
}

TEST(Scheduler, PreemptionByRecomputeGivesTheSameTokens) {
  for (bool overlap : {false, true}) {
    SCOPED_TRACE(overlap ? "overlap" : "in sequence");
    // Reference: plenty of blocks.
    Harness big(config(64, 8, 16, 128), 1024);
    // Tight: 12 blocks of 4 tokens for 4 sequences that each grow to 40 tokens.
    Harness small(config(64, 8, 16, 128), 12);
    small.overlap = overlap;
    for (SeqId id = 1; id <= 4; ++id) {
      big.add(id, 8, 32, id % 2 ? Priority::kInteractive : Priority::kBatch, static_cast<int>(id));
      small.add(id, 8, 32, id % 2 ? Priority::kInteractive : Priority::kBatch,
                static_cast<int>(id));
    }
    big.run();
    small.run();
    EXPECT_GT(small.sched.stats().preemptions, 0u) << "the small cache forced preemptions";
    for (SeqId id = 1; id <= 4; ++id) {
      ASSERT_EQ(small.finished.at(id), FinishReason::kLength);
      // A resumed sequence recomputes its tokens and continues from the next
      // position: it produces exactly the tokens of the undisturbed run.
      EXPECT_EQ(big.outputs[id].size(), 32u);
      EXPECT_EQ(small.outputs[id], big.outputs[id]) << "sequence " << id;
    }
    EXPECT_EQ(small.pool.stats().used, 0);
  }
}

TEST(Scheduler, PendingTokensAreNeverHashedNorScheduledPastTheLimit) {
  Harness h(config(64, 8, 16, 128), 64, 4);
  h.overlap = true;
  h.add(1, 7, 3);  // its first token completes the second block
  h.step();        // the prompt; its first token pending
  const Sequence* s = h.sched.find(1);
  ASSERT_TRUE(s->pending);
  EXPECT_EQ(s->tokens.back(), kPendingToken);
  EXPECT_EQ(s->block_hashes.size(), 1u) << "the block holding the pending token is not hashed";
  const StepPlan& p2 = h.step();  // decodes the placeholder, resolves it
  ASSERT_EQ(p2.entries.size(), 1u);
  EXPECT_EQ(p2.entries[0].begin, 7) << "the pending token is the one fed";
  EXPECT_EQ(s->tokens[7], h.outputs[1][0]);
  h.step();  // third token pending now: the limit
  ASSERT_TRUE(s->pending);
  EXPECT_EQ(s->generated(), 3);
  EXPECT_TRUE(h.step().entries.empty()) << "nothing past max_new_tokens is scheduled";
  EXPECT_EQ(h.finished.at(1), FinishReason::kLength);
  EXPECT_EQ(h.outputs[1].size(), 3u);
  EXPECT_TRUE(h.pending.empty());
  EXPECT_EQ(h.pool.stats().used, 0);
  // A resolved outcome for a sequence that no longer exists is skipped, one
  // for a sequence with nothing pending is an error.
  const StepOutcome stale{1, 5, FinishReason::kNone};
  EXPECT_TRUE(h.sched.resolve(std::span<const StepOutcome>(&stale, 1)).is_ok());
  h.add(2, 4, 2);
  const StepOutcome unasked{2, 5, FinishReason::kNone};
  EXPECT_FALSE(h.sched.resolve(std::span<const StepOutcome>(&unasked, 1)).is_ok());
}

TEST(Scheduler, VictimsAreLowerClassThenYoungestAndPreemptionIsBounded) {
  auto cfg = config(64, 8, 16, 128);
  cfg.max_preemptions = 1;
  Harness h(cfg, 26);  // a sequence grows to 12 blocks: two fit, three do not
  h.add(1, 8, 40, Priority::kInteractive, 1);
  h.clock.advance_ns(10);
  h.add(2, 8, 40, Priority::kBatch, 2);
  h.clock.advance_ns(10);
  h.add(3, 8, 40, Priority::kBatch, 3);
  std::vector<SeqId> order;
  for (int i = 0; i < 200 && !h.sched.idle(); ++i) {
    const auto& p = h.step();
    for (auto id : p.preempted) order.push_back(id);
  }
  h.run();
  ASSERT_FALSE(order.empty());
  EXPECT_NE(order.front(), 1u) << "the interactive sequence is not the first victim";
  EXPECT_EQ(order.front(), 3u) << "the youngest batch sequence goes first";
  std::map<SeqId, int> per;
  for (auto id : order) ++per[id];
  for (auto& [id, n] : per) EXPECT_LE(n, 1) << "sequence " << id << " preempted too often";
  for (SeqId id = 1; id <= 3; ++id) EXPECT_EQ(h.finished.at(id), FinishReason::kLength);
}

TEST(Scheduler, CancelAndDeadlineAtEveryStage) {
  Harness h(config(8, 4, 4, 256), 128);
  h.add(1, 8, 100);
  h.add(2, 40, 100);
  h.add(3, 8, 100);
  h.add(4, 8, 2);
  h.step();  // 1 and 2 compute 4 prompt tokens each; 3 and 4 wait
  EXPECT_EQ(h.sched.find(1)->state, SeqState::kPrefilling);
  EXPECT_EQ(h.sched.find(3)->state, SeqState::kWaiting);
  h.sched.cancel(3);  // queued
  h.step();
  EXPECT_EQ(h.finished.at(3), FinishReason::kCancelled);
  EXPECT_EQ(h.sched.find(1)->state, SeqState::kDecoding);
  EXPECT_EQ(h.sched.find(2)->state, SeqState::kPrefilling);
  h.sched.cancel(2);  // mid-prompt
  h.step();
  EXPECT_EQ(h.finished.at(2), FinishReason::kCancelled);
  h.sched.cancel(1);  // decoding
  h.step();
  EXPECT_EQ(h.finished.at(1), FinishReason::kCancelled);
  h.run();
  EXPECT_EQ(h.finished.at(4), FinishReason::kLength);
  // On what would be its last step: the cancel wins.
  h.add(5, 4, 2);
  h.step();  // the prompt and the first token: one more step would finish it
  ASSERT_EQ(h.sched.find(5)->generated(), 1);
  h.sched.cancel(5);
  h.step();
  EXPECT_EQ(h.finished.at(5), FinishReason::kCancelled);
  EXPECT_EQ(h.pool.stats().used, 0);

  Harness d(config(8, 4, 8, 256), 128);
  d.add(10, 8, 1000, Priority::kInteractive, 0, d.clock.now_ns() + 5'000'000);
  d.add(11, 8, 1000, Priority::kBatch, 1, d.clock.now_ns() + 1'000'000);  // expires while queued
  d.run();
  EXPECT_EQ(d.finished.at(10), FinishReason::kTimeout);
  EXPECT_EQ(d.finished.at(11), FinishReason::kTimeout);
  EXPECT_EQ(d.pool.stats().used, 0);
}

TEST(Scheduler, PrefixReuseIsCountedAndKeepsTheLastBlockComputed) {
  Harness h(config(64, 8, 64, 256), 64, 4);
  h.add(1, 16, 2);
  h.run();
  h.add(2, 16, 2);  // same prompt (salt 0)
  h.step();
  const Sequence* s = h.sched.find(2);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->num_cached_prompt, 12) << "4 full blocks cached, the last recomputed";
  h.run();
  EXPECT_EQ(h.outputs[1], h.outputs[2]);
  EXPECT_EQ(h.sched.stats().cached_prompt_tokens, 12u);
  h.add(3, 16, 2, Priority::kInteractive, 5);  // different prompt
  h.step();
  EXPECT_EQ(h.sched.find(3)->num_cached_prompt, 0);
}

TEST(Scheduler, GroupFollowersWaitForTheLeaderAndShareItsPrompt) {
  Harness h(config(64, 8, 64, 256), 64, 4);
  for (SeqId id = 1; id <= 3; ++id) {
    SeqSpec s;
    s.id = id;
    s.group = 77;
    s.group_leader = id == 1;
    s.prompt = prompt_of(13, 0);
    s.max_new_tokens = 3;
    ASSERT_TRUE(h.sched.add(std::move(s)).is_ok());
  }
  const auto& first = h.step();
  ASSERT_EQ(first.entries.size(), 1u);
  EXPECT_EQ(first.entries[0].id, 1u);
  h.step();
  EXPECT_EQ(h.sched.find(2)->num_cached_prompt, 12);
  EXPECT_EQ(h.sched.find(3)->num_cached_prompt, 12);
  h.run();
  EXPECT_EQ(h.outputs[1], h.outputs[2]);
}

// Image requests are encoded whole in the step that admits them: past the
// step's image-token budget they wait for the next step (text requests are
// not held back by it before them, only behind them in order), while the
// first image request of a step always goes, however large.
TEST(Scheduler, ImageTokensPerStepSpreadTowersOverSteps) {
  SchedulerConfig c = config(/*budget=*/256, /*seqs=*/8, /*chunk=*/64);
  c.max_image_tokens_per_step = 50;
  Harness h(c, 256);
  auto add_image = [&](SeqId id, int rows, int salt) {
    SeqSpec spec;
    spec.id = id;
    spec.prompt = prompt_of(rows + 8, salt);
    spec.images.push_back({4, rows, 0, 0, nullptr, 0});
    spec.max_new_tokens = 2;
    ASSERT_TRUE(h.sched.add(std::move(spec)).is_ok());
  };
  add_image(1, 30, 1);
  add_image(2, 30, 2);
  h.add(3, 8, 2, Priority::kInteractive, 3);
  add_image(4, 80, 4);
  auto ids = [](const StepPlan& p) {
    std::set<SeqId> out;
    for (const auto& e : p.entries) out.insert(e.id);
    return out;
  };
  // 30 + 30 is over 50: the second image request and all behind it wait.
  EXPECT_EQ(ids(h.step()), (std::set<SeqId>{1}));
  EXPECT_EQ(ids(h.step()), (std::set<SeqId>{1, 2, 3}));
  // 80 alone is over the budget, but it is the step's first tower.
  EXPECT_EQ(h.step().entries.size(), 3u);
  EXPECT_TRUE(ids(h.history.back()).count(4));
  h.run();
  EXPECT_EQ(h.finished.size(), 4u);
}

TEST(Scheduler, AdmissionLimitsAndBadSpecs) {
  auto cfg = config();
  cfg.max_waiting[0] = 2;
  Harness h(cfg, 64);
  h.add(1, 4, 2);
  h.add(2, 4, 2);
  SeqSpec s;
  s.id = 3;
  s.prompt = {5, 6};
  auto st = h.sched.add(s);
  EXPECT_EQ(st.code(), core::ErrorCode::kQueueFull);
  s.priority = Priority::kBatch;
  EXPECT_TRUE(h.sched.add(s).is_ok()) << "the batch queue has its own limit";
  s.id = 1;
  EXPECT_EQ(h.sched.add(s).code(), core::ErrorCode::kInvalidParams) << "duplicate id";
  s.id = 9;
  s.prompt.clear();
  EXPECT_EQ(h.sched.add(s).code(), core::ErrorCode::kInvalidParams);
  s.prompt.assign(300, 5);
  EXPECT_EQ(h.sched.add(s).code(), core::ErrorCode::kInvalidParams) << "longer than the context";
}

TEST(Scheduler, RandomStormLeavesEveryBlockFreeAndEverySequenceFinished) {
  for (bool overlap : {false, true}) {
    SCOPED_TRACE(overlap ? "overlap" : "in sequence");
    auto cfg = config(48, 16, 16, 128);
    cfg.max_waiting[0] = cfg.max_waiting[1] = 64;
    Harness h(cfg, 40, 4);
    h.overlap = overlap;
    core::Xoshiro256 rng(2024);
    std::set<SeqId> live;
    SeqId next = 1;
    for (int op = 0; op < 10000; ++op) {
      const auto r = rng.below(10);
      if (r < 4) {
        SeqSpec s;
        s.id = next++;
        s.priority = rng.below(2) ? Priority::kBatch : Priority::kInteractive;
        s.prompt = prompt_of(1 + static_cast<int>(rng.below(60)), static_cast<int>(rng.below(3)));
        s.max_new_tokens = 1 + static_cast<int>(rng.below(30));
        if (rng.below(8) == 0)
          s.deadline = h.clock.now_ns() + static_cast<core::Nanos>(rng.below(30)) * 1'000'000;
        if (h.sched.add(s).is_ok()) live.insert(s.id);
      } else if (r < 5 && !live.empty()) {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng.below(live.size())));
        h.sched.cancel(*it);
      } else {
        h.step();
      }
      for (auto it = live.begin(); it != live.end();) {
        it = h.finished.count(*it) ? live.erase(it) : std::next(it);
      }
    }
    h.run();
    for (auto id : live) EXPECT_EQ(h.finished.count(id), 1u) << id;
    EXPECT_TRUE(h.sched.idle());
    EXPECT_EQ(h.pool.stats().used, 0) << "no block leaked";
    EXPECT_EQ(h.pool.free_blocks(), 40);
  }
}

}  // namespace
}  // namespace mlxs::engine
