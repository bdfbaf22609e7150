#include "engine/stream.h"

#include <thread>

#include <gtest/gtest.h>

namespace mlxs::engine {
namespace {

std::vector<std::int32_t> ids(std::initializer_list<std::int32_t> v) {
  return v;
}

TEST(Stream, DeliversInOrderAndCloses) {
  Stream s(7, 1);
  const auto a = ids({1});
  EXPECT_TRUE(s.push(0, a, "he", nullptr));
  EXPECT_TRUE(s.push(0, ids({2}), "llo", nullptr));
  s.finish_choice(0, FinishReason::kStop);
  EXPECT_EQ(s.state(), StreamState::kFinishing);
  auto items = s.take();
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].text + items[1].text, "hello");
  EXPECT_TRUE(items[2].final);
  EXPECT_EQ(items[2].finish, FinishReason::kStop);
  EXPECT_TRUE(s.done());
  EXPECT_FALSE(s.push(0, ids({3}), "x", nullptr)) << "no data after the end";
}

TEST(Stream, CoalescesWhenTheConsumerLags) {
  StreamLimits limits;
  limits.max_items = 4;
  Stream s(1, 2, limits);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(s.push(i % 2, ids({i}), "t", nullptr));
  }
  auto items = s.take();
  EXPECT_LE(items.size(), 4u);
  std::string text[2];
  std::size_t tokens[2] = {0, 0};
  for (const auto& it : items) {
    text[it.choice] += it.text;
    tokens[it.choice] += it.tokens.size();
  }
  EXPECT_EQ(text[0].size() + text[1].size(), 100u) << "nothing is lost";
  EXPECT_EQ(tokens[0], 50u);
  EXPECT_EQ(tokens[1], 50u);
}

TEST(Stream, HardLimitTellsTheProducerToStop) {
  StreamLimits limits;
  limits.max_items = 2;
  limits.max_pending_bytes = 1000;
  Stream s(1, 1, limits);
  bool accepted = true;
  int pushes = 0;
  while (accepted && pushes < 10000) {
    accepted = s.push(0, ids({1}), std::string(100, 'x'), nullptr);
    ++pushes;
  }
  EXPECT_FALSE(accepted);
  EXPECT_LT(pushes, 20);
  EXPECT_TRUE(s.over_limit());
  s.take();
  EXPECT_FALSE(s.over_limit()) << "reading releases the pressure";
}

TEST(Stream, AbandonedStreamRefusesDataAndDropsItems) {
  Stream s(1, 1);
  ASSERT_TRUE(s.push(0, ids({1}), "a", nullptr));
  s.abandon();
  EXPECT_TRUE(s.abandoned());
  EXPECT_FALSE(s.push(0, ids({2}), "b", nullptr));
  s.finish_choice(0, FinishReason::kStop);  // ignored
  EXPECT_TRUE(s.take().empty());
}

TEST(Stream, FailEndsEveryChoiceWithTheError) {
  Stream s(1, 3);
  s.fail(core::Status(core::ErrorCode::kTimeout, "late"));
  ASSERT_TRUE(s.error().has_value());
  EXPECT_EQ(s.error()->code(), core::ErrorCode::kTimeout);
  s.take();
  EXPECT_TRUE(s.done());
}

TEST(Stream, WaitTakeWakesOnData) {
  Stream s(1, 1);
  int notified = 0;
  s.set_notify([&] { ++notified; });
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    s.push(0, ids({5}), "five", nullptr);
  });
  auto items = s.wait_take(5000);
  producer.join();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].text, "five");
  EXPECT_GE(notified, 1);
}

}  // namespace
}  // namespace mlxs::engine
