#include "backend/cpu/thread_pool.h"

#include <atomic>
#include <vector>

#include <gtest/gtest.h>

namespace mlxs::backend::cpu {
namespace {

TEST(ThreadPool, SplitRangeCoversEverythingOnceAligned) {
  for (std::int64_t n : {0, 1, 15, 16, 17, 1000, 4097}) {
    for (int count : {1, 2, 3, 8}) {
      std::int64_t next = 0;
      for (int i = 0; i < count; ++i) {
        const auto [b, e] = ThreadPool::split_range(n, 16, i, count);
        EXPECT_EQ(b, std::min(next, n));
        if (b < e) {
          EXPECT_EQ(b % 16, 0);
          next = e;
        }
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(ThreadPool, RunsEveryThreadAndManyJobsInARow) {
  ThreadPool pool(3);
  ASSERT_EQ(pool.size(), 3);
  std::atomic<long> total{0};
  for (int job = 0; job < 2000; ++job) {
    std::vector<int> seen(3, 0);
    pool.run([&](int t, int count) {
      EXPECT_EQ(count, 3);
      seen[static_cast<std::size_t>(t)] = 1;
      total.fetch_add(t + 1);
    });
    EXPECT_EQ(seen, std::vector<int>({1, 1, 1}));
  }
  EXPECT_EQ(total.load(), 2000 * 6);
}

TEST(ThreadPool, ParallelForSumsARange) {
  ThreadPool pool(2);
  std::vector<long> parts(2, 0);
  std::atomic<long> sum{0};
  pool.parallel_for(100000, 64, [&](std::int64_t b, std::int64_t e) {
    long s = 0;
    for (std::int64_t i = b; i < e; ++i) s += i;
    sum.fetch_add(s);
  });
  EXPECT_EQ(sum.load(), 100000L * 99999L / 2);
}

TEST(ThreadPool, WakesAfterWorkersFellAsleep) {
  ThreadPool pool(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // workers go to sleep
  std::atomic<int> ran{0};
  pool.run([&](int, int) { ran.fetch_add(1); });
  EXPECT_EQ(ran.load(), 2);
}

}  // namespace
}  // namespace mlxs::backend::cpu
