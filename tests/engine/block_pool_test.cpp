#include "engine/block_pool.h"

#include <gtest/gtest.h>

namespace mlxs::engine {
namespace {

TEST(BlockPool, AllocateReleaseAndExhaust) {
  BlockPool pool(4, 16);
  std::vector<std::int32_t> got;
  for (int i = 0; i < 4; ++i) {
    auto b = pool.allocate();
    ASSERT_TRUE(b.has_value());
    got.push_back(*b);
  }
  EXPECT_FALSE(pool.allocate().has_value());
  EXPECT_EQ(pool.stats().used, 4);
  pool.retain(got[0]);
  pool.release(got[0]);
  EXPECT_EQ(pool.free_blocks(), 0);
  for (auto b : got) pool.release(b);
  EXPECT_EQ(pool.free_blocks(), 4);
  EXPECT_EQ(pool.stats().used, 0);
}

TEST(BlockPool, FreedPrefixBlocksAreReusedUntilEvictedInLruOrder) {
  BlockPool pool(3, 4);
  const std::vector<std::int32_t> t1 = {1, 2, 3, 4}, t2 = {5, 6, 7, 8};
  const BlockHash h1 = hash_block(0, t1);
  const BlockHash h2 = hash_block(h1, t2);
  EXPECT_NE(h2, hash_block(0, t2)) << "the parent is part of the hash";
  auto a = *pool.allocate();
  auto b = *pool.allocate();
  pool.register_full(a, h1);
  pool.register_full(b, h2);
  pool.release(a);
  pool.release(b);
  EXPECT_EQ(pool.stats().cached_free, 2);
  // A new request with the same prefix takes both back.
  auto again = pool.lookup(h1);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, a);
  EXPECT_EQ(pool.ref_count(a), 1);
  pool.release(a);
  // Allocation takes the never-used block first, then the least recently freed (b).
  auto c = *pool.allocate();
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  auto d = *pool.allocate();
  EXPECT_EQ(d, b) << "b was freed before a's second release";
  EXPECT_FALSE(pool.lookup(h2).has_value()) << "evicted";
  EXPECT_TRUE(pool.lookup(h1).has_value());
  const auto s = pool.stats();
  EXPECT_EQ(s.prefix_queries, 3u);
  EXPECT_EQ(s.prefix_hits, 2u);
}

TEST(BlockPool, DisabledPrefixCachingNeverHits) {
  BlockPool pool(2, 4, false);
  auto a = *pool.allocate();
  pool.register_full(a, 42);
  pool.release(a);
  EXPECT_FALSE(pool.lookup(42).has_value());
}

}  // namespace
}  // namespace mlxs::engine
