#include "engine/arbiter.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace mlxs::engine {
namespace {

TEST(Arbiter, ChoosesClassThenWaitThenLeastRecentlyServed) {
  std::vector<ArbiterCandidate> c = {
      {0, {Priority::kBatch, 9'000}, 1},
      {1, {Priority::kInteractive, 10}, 5},
      {2, {Priority::kInteractive, 20}, 7},
  };
  EXPECT_EQ(choose_engine(c), 2u) << "interactive beats batch; the longer wait wins";
  c[2].urgency.oldest_wait = 10;
  EXPECT_EQ(choose_engine(c), 1u) << "equal waits: the one served longer ago";
  c = {{0, {Priority::kBatch, 5}, 0}};
  EXPECT_EQ(choose_engine(c), 0u);
}

TEST(Arbiter, InteractiveEngineIsServedRightAfterTheCurrentStep) {
  DeviceArbiter arb;
  std::atomic<bool> stop{false};
  std::atomic<int> batch_steps{0};
  std::atomic<int> steps_at_request{-1}, steps_at_grant{-1};
  std::thread batch([&] {
    while (!stop.load()) {
      arb.acquire(0, {Priority::kBatch, 1'000'000});
      batch_steps.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      arb.release(0);
    }
  });
  while (batch_steps.load() < 20) std::this_thread::yield();
  steps_at_request = batch_steps.load();
  arb.acquire(1, {Priority::kInteractive, 0});
  steps_at_grant = batch_steps.load();
  arb.release(1);
  stop = true;
  batch.join();
  EXPECT_LE(steps_at_grant - steps_at_request, 1) << "at most the step in flight finishes first";
}

}  // namespace
}  // namespace mlxs::engine
