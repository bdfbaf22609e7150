// The choice of a worker (pure), prompt-prefix keys, the affinity table, and
// the directory's heartbeat expiry on a fake clock.
#include "cluster/routing.h"

#include <gtest/gtest.h>

#include "cluster/directory.h"

namespace mlxs::cluster {
namespace {

Candidate worker(const std::string& id, std::size_t in_flight, bool ready = true, bool holds = true,
                 std::size_t capacity = 4) {
  return Candidate{id, ready, holds, in_flight, capacity};
}

TEST(Routing, OnlyReadyWorkersHoldingTheModel) {
  EXPECT_FALSE(choose_worker({}, "", Strategy::kSmart));
  EXPECT_FALSE(
      choose_worker({worker("a", 0, false), worker("b", 0, true, false)}, "a", Strategy::kSmart));
  auto c = choose_worker({worker("a", 0, false), worker("b", 3), worker("c", 5, true, false)}, "",
                         Strategy::kSmart);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->index, 1u);
  EXPECT_FALSE(c->affinity_hit);
}

TEST(Routing, LeastLoadedWithRoomFirstEarlierOnTies) {
  auto c = choose_worker({worker("a", 2), worker("b", 1), worker("c", 1)}, "", Strategy::kSmart);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->index, 1u);
  // A full worker loses to one with room even when the full one has fewer
  // in flight relative to... nothing: capacity first, then load.
  auto full = choose_worker({worker("a", 2, true, true, 2), worker("b", 3, true, true, 8)}, "",
                            Strategy::kSmart);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->index, 1u);
  // All full: the least loaded still takes it (the worker queues it).
  auto all_full = choose_worker({worker("a", 5, true, true, 2), worker("b", 3, true, true, 2)}, "",
                                Strategy::kSmart);
  ASSERT_TRUE(all_full);
  EXPECT_EQ(all_full->index, 1u);
}

TEST(Routing, OtherControlPlanesLoadCountsTowardsLeastLoaded) {
  // Ours alone would pick a (1 < 2); with the 5 streams another control
  // plane announced on a, b is the less loaded host.
  Candidate busy = worker("a", 1);
  busy.others = 5;
  auto c = choose_worker({busy, worker("b", 2)}, "", Strategy::kSmart);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->index, 1u);
  // Capacity is per control plane: others' streams do not make a host full,
  // so affinity still wins there.
  auto hit = choose_worker({busy, worker("b", 0)}, "a", Strategy::kSmart);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->index, 0u);
  EXPECT_TRUE(hit->affinity_hit);
}

TEST(Routing, AffinityWinsWhileTheWorkerHasRoom) {
  auto hit = choose_worker({worker("a", 0), worker("b", 3)}, "b", Strategy::kSmart);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->index, 1u);
  EXPECT_TRUE(hit->affinity_hit);
  // Full: load decides.
  auto full = choose_worker({worker("a", 0), worker("b", 4)}, "b", Strategy::kSmart);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->index, 0u);
  EXPECT_FALSE(full->affinity_hit);
  // Down or without the model: load decides.
  auto down = choose_worker({worker("a", 1), worker("b", 0, false)}, "b", Strategy::kSmart);
  ASSERT_TRUE(down);
  EXPECT_EQ(down->index, 0u);
  // least_loaded ignores affinity.
  auto ll = choose_worker({worker("a", 0), worker("b", 3)}, "b", Strategy::kLeastLoaded);
  ASSERT_TRUE(ll);
  EXPECT_EQ(ll->index, 0u);
}

TEST(Routing, PrefixKeysFollowTheLeadingPrompt) {
  protocol::GenerateParams p;
  p.model_id = "m";
  EXPECT_EQ(prefix_key(p, 8), 0u);
  p.prompt = "0123456789 tail one";
  const auto k1 = prefix_key(p, 8);
  p.prompt = "01234567 another tail";
  EXPECT_EQ(prefix_key(p, 8), k1) << "same first 8 characters";
  p.prompt = "x1234567 tail one";
  EXPECT_NE(prefix_key(p, 8), k1);
  p.prompt = "0123456789 tail one";
  p.model_id = "other";
  EXPECT_NE(prefix_key(p, 8), k1) << "the model is part of the key";
  protocol::GenerateParams t;
  t.model_id = "m";
  t.prompt_tokens = {1, 2, 3, 4};
  const auto kt = prefix_key(t, 8);  // first 2 tokens
  t.prompt_tokens = {1, 2, 9};
  EXPECT_EQ(prefix_key(t, 8), kt);
  t.prompt_tokens = {1, 3};
  EXPECT_NE(prefix_key(t, 8), kt);
  protocol::GenerateParams m;
  m.model_id = "m";
  m.messages = core::Json::array({{{"role", "user"}, {"content", "hi"}}});
  EXPECT_NE(prefix_key(m, 256), 0u);
}

TEST(Routing, AffinityTableForgetsTheOldestFirst) {
  AffinityTable table(2);
  table.record(1, "a");
  table.record(2, "b");
  table.record(1, "c");  // an update keeps its age
  EXPECT_EQ(table.lookup(1), "c");
  table.record(3, "d");
  EXPECT_EQ(table.size(), 2u);
  EXPECT_EQ(table.lookup(1), "");
  EXPECT_EQ(table.lookup(2), "b");
  EXPECT_EQ(table.lookup(3), "d");
  table.record(0, "ignored");
  EXPECT_EQ(table.lookup(0), "");
}

TEST(Directory, MissedHeartbeatsTakeAWorkerOfflineUntilItAnnouncesAgain) {
  core::FakeClock clock;
  Directory d(1000);
  Announcement a;
  a.id = "w1";
  EXPECT_TRUE(d.observe(a, clock.now_ns())) << "joins";
  EXPECT_FALSE(d.observe(a, clock.now_ns())) << "already online";
  clock.advance_ns(1000);
  EXPECT_TRUE(d.expire(clock.now_ns()).empty()) << "exactly the timeout: still online";
  clock.advance_ns(1);
  EXPECT_EQ(d.expire(clock.now_ns()), std::vector<std::string>{"w1"});
  EXPECT_FALSE(d.online("w1"));
  EXPECT_TRUE(d.expire(clock.now_ns() + 5000).empty()) << "reported once";
  EXPECT_TRUE(d.observe(a, clock.now_ns())) << "rejoins";
  EXPECT_TRUE(d.online("w1"));
  EXPECT_EQ(d.online_count(), 1u);
  EXPECT_TRUE(d.leave("w1"));
  EXPECT_FALSE(d.leave("w1"));
  EXPECT_FALSE(d.leave("nobody"));
  EXPECT_EQ(d.online_count(), 0u);
}

}  // namespace
}  // namespace mlxs::cluster
