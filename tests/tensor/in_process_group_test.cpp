// The in-process group's collectives against sums and layouts computed here,
// over group sizes that do and do not divide the element counts, many calls
// in a row (the barrier and slots are reused), shape disagreements, abort,
// and no heap allocation by a collective once the group exists.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <new>
#include <thread>
#include <vector>

#include "tensor/in_process_group.h"

// Heap allocations made by the current thread (this test binary replaces the
// global operator new to count them).
namespace {
thread_local std::size_t t_allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  ++t_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// GCC sees the replacement pair's free() as mismatched with a new-expression.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace mlxs::tensor {
namespace {

using core::Status;

// Runs fn(rank) on one thread per rank of the group.
void run_ranks(InProcessGroup& group, const std::function<void(Communicator&)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(group.world_size()));
  for (int r = 0; r < group.world_size(); ++r) {
    threads.emplace_back([&group, &fn, r] { fn(group.rank(r)); });
  }
  for (auto& t : threads) t.join();
}

float value(int rank, std::int64_t i, int call) {
  return static_cast<float>((rank + 1) * 0.37 + static_cast<double>(i) * 0.011 - call * 0.5);
}

TEST(InProcessGroup, AllReduceSumsInRankOrderOnEveryRank) {
  for (int world : {1, 2, 3, 4}) {
    for (std::int64_t n : {1, 2, 7, 64, 1000}) {
      InProcessGroup group(world);
      std::vector<std::vector<float>> got(static_cast<std::size_t>(world));
      run_ranks(group, [&](Communicator& c) {
        std::vector<float> x(static_cast<std::size_t>(n));
        for (int call = 0; call < 5; ++call) {  // reused barrier and slots
          for (std::int64_t i = 0; i < n; ++i)
            x[static_cast<std::size_t>(i)] = value(c.rank(), i, call);
          const Status s = c.all_reduce_sum(Tensor(x.data(), DType::kF32, {1, n}));
          ASSERT_TRUE(s.is_ok()) << s.to_string();
          for (std::int64_t i = 0; i < n; ++i) {
            float want = value(0, i, call);
            for (int r = 1; r < world; ++r) want += value(r, i, call);
            ASSERT_EQ(x[static_cast<std::size_t>(i)], want) << "world " << world << " i " << i;
          }
        }
        got[static_cast<std::size_t>(c.rank())] = x;
      });
      for (int r = 1; r < world; ++r) EXPECT_EQ(got[static_cast<std::size_t>(r)], got[0]);
    }
  }
}

TEST(InProcessGroup, AllGatherPlacesEachRanksColumnsSideBySide) {
  for (int world : {1, 2, 4}) {
    const std::int64_t rows = 3, cols = 5;
    InProcessGroup group(world);
    run_ranks(group, [&](Communicator& c) {
      std::vector<float> local(static_cast<std::size_t>(rows * cols));
      std::vector<float> out(static_cast<std::size_t>(rows * cols * world), -1.0f);
      for (int call = 0; call < 3; ++call) {
        for (std::int64_t i = 0; i < rows * cols; ++i) {
          local[static_cast<std::size_t>(i)] = value(c.rank(), i, call);
        }
        const Status s =
            c.all_gather_columns(Tensor(local.data(), DType::kF32, {rows, cols}),
                                 Tensor(out.data(), DType::kF32, {rows, cols * world}));
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        for (std::int64_t r = 0; r < rows; ++r) {
          for (int k = 0; k < world; ++k) {
            for (std::int64_t j = 0; j < cols; ++j) {
              ASSERT_EQ(out[static_cast<std::size_t>(r * cols * world + k * cols + j)],
                        value(k, r * cols + j, call));
            }
          }
        }
      }
    });
  }
}

TEST(InProcessGroup, BroadcastHandsRankZerosIdsToEveryRank) {
  for (int world : {1, 2, 3}) {
    InProcessGroup group(world);
    run_ranks(group, [&](Communicator& c) {
      std::vector<std::int32_t> ids(6);
      for (int call = 0; call < 3; ++call) {  // reused barrier and slots
        for (std::size_t i = 0; i < ids.size(); ++i) {
          ids[i] = c.rank() * 1000 + call * 10 + static_cast<std::int32_t>(i);
        }
        const Status s = c.broadcast_from_first(Tensor(ids.data(), DType::kI32, {6}));
        ASSERT_TRUE(s.is_ok()) << s.to_string();
        for (std::size_t i = 0; i < ids.size(); ++i) {
          ASSERT_EQ(ids[i], call * 10 + static_cast<std::int32_t>(i)) << "rank " << c.rank();
        }
      }
      std::vector<float> f(2);
      EXPECT_EQ(c.broadcast_from_first(Tensor(f.data(), DType::kF32, {2})).code(),
                core::ErrorCode::kInvalidParams);
    });
  }
}

TEST(InProcessGroup, CollectivesAllocateNothing) {
  InProcessGroup group(3);
  std::vector<std::size_t> allocated(3, 1);
  run_ranks(group, [&](Communicator& c) {
    std::vector<float> x(100, 1.0f), local(2 * 4, 1.0f), out(2 * 4 * 3);
    const Tensor xt(x.data(), DType::kF32, {100});
    const Tensor lt(local.data(), DType::kF32, {2, 4}), ot(out.data(), DType::kF32, {2, 12});
    const std::size_t before = t_allocations;
    for (int i = 0; i < 10; ++i) {
      EXPECT_TRUE(c.all_reduce_sum(xt).is_ok());
      EXPECT_TRUE(c.all_gather_columns(lt, ot).is_ok());
      EXPECT_TRUE(c.barrier().is_ok());
    }
    allocated[static_cast<std::size_t>(c.rank())] = t_allocations - before;
  });
  EXPECT_EQ(allocated, (std::vector<std::size_t>{0, 0, 0}));
}

TEST(InProcessGroup, RanksThatDisagreeOnShapesAllGetInvalidParams) {
  InProcessGroup group(3);
  std::atomic<int> refused{0};
  run_ranks(group, [&](Communicator& c) {
    std::vector<float> x(8, 1.0f);
    const std::int64_t n = c.rank() == 1 ? 7 : 8;
    const Status s = c.all_reduce_sum(Tensor(x.data(), DType::kF32, {n}));
    if (s.code() == core::ErrorCode::kInvalidParams) ++refused;
    // The group is still usable afterwards.
    EXPECT_TRUE(c.barrier().is_ok());
    EXPECT_TRUE(c.all_reduce_sum(Tensor(x.data(), DType::kF32, {8})).is_ok());
    EXPECT_EQ(x[0], 3.0f);
  });
  EXPECT_EQ(refused.load(), 3);
}

TEST(InProcessGroup, WrongDtypeOrGatherShapeIsInvalidParams) {
  InProcessGroup group(1);
  std::vector<float> x(4);
  Communicator& c = group.rank(0);
  EXPECT_EQ(c.all_reduce_sum(Tensor(x.data(), DType::kBF16, {4})).code(),
            core::ErrorCode::kInvalidParams);
  EXPECT_EQ(c.all_gather_columns(Tensor(x.data(), DType::kF32, {2, 2}),
                                 Tensor(x.data(), DType::kF32, {1, 4}))
                .code(),
            core::ErrorCode::kInvalidParams);
}

TEST(InProcessGroup, AbortReleasesRanksWaitingForOneThatNeverComes) {
  InProcessGroup group(3);
  std::vector<core::ErrorCode> codes(2);
  std::vector<std::thread> waiting;
  waiting.reserve(2);
  for (int r = 0; r < 2; ++r) {
    waiting.emplace_back([&, r] {
      std::vector<float> x(16, 1.0f);
      codes[static_cast<std::size_t>(r)] =
          group.rank(r).all_reduce_sum(Tensor(x.data(), DType::kF32, {16})).code();
    });
  }
  // Rank 2 failed on its own and never joins: it aborts the group instead.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  group.rank(2).abort();
  for (auto& t : waiting) t.join();
  EXPECT_EQ(codes[0], core::ErrorCode::kWorkerCrashed);
  EXPECT_EQ(codes[1], core::ErrorCode::kWorkerCrashed);
  EXPECT_EQ(group.rank(2).barrier().code(), core::ErrorCode::kWorkerCrashed);
}

}  // namespace
}  // namespace mlxs::tensor
