// The peer exchange's all-reduce between the GPUs of this process, ranks as
// threads (as tensor parallelism runs them): sums in rank order, the same
// bits on every rank, the fused residual add and norm against a host
// reference, calls replayed from CUDA graphs, and a rank left waiting by a
// peer that never comes is released by abort(). Needs 2+ GPUs with peer
// access; skips otherwise.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <barrier>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include "backend/cuda/peer_exchange.h"

namespace mlxs::backend::cuda {
namespace {

int gpu_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

// All ranks' words through host memory: the in-process stand-in for NCCL's
// all-gather that forms the group (only the setup goes through it).
class HostGather {
 public:
  explicit HostGather(int world) : world_(world), sync_(world) {}
  PeerExchange::Gather for_rank(int rank) {
    return [this, rank](std::span<const std::uint64_t> mine, std::span<std::uint64_t> all) {
      if (rank == 0) words_.assign(all.size(), 0);
      sync_.arrive_and_wait();
      std::memcpy(&words_[static_cast<std::size_t>(rank) * mine.size()], mine.data(),
                  mine.size_bytes());
      sync_.arrive_and_wait();
      std::memcpy(all.data(), words_.data(), all.size_bytes());
      sync_.arrive_and_wait();
      return core::Status::ok();
    };
  }
  int world() const { return world_; }

 private:
  int world_;
  std::barrier<> sync_;
  std::vector<std::uint64_t> words_;
};

// Runs fn(rank) on one thread per rank, each with its GPU current.
void on_ranks(int world, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(world));
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([r, &fn] {
      cudaSetDevice(r);
      fn(r);
    });
  }
  for (auto& t : threads) t.join();
}

std::vector<float> random_floats(std::size_t n, unsigned seed, float scale) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

struct DeviceRows {
  float* p = nullptr;
  explicit DeviceRows(std::size_t n) {
    cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(float));
  }
  ~DeviceRows() { cudaFree(p); }
  DeviceRows(const DeviceRows&) = delete;
  DeviceRows& operator=(const DeviceRows&) = delete;
  void put(const std::vector<float>& v, cudaStream_t s) const {
    cudaMemcpyAsync(p, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice, s);
  }
  std::vector<float> get(std::size_t n, cudaStream_t s) const {
    std::vector<float> v(n);
    cudaMemcpyAsync(v.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost, s);
    cudaStreamSynchronize(s);
    return v;
  }
};

class PeerExchangeTp : public ::testing::Test {
 protected:
  void SetUp() override {
    world_ = std::min(gpu_count(), 4);
    if (world_ < 2) GTEST_SKIP() << "needs 2 GPUs";
    gather_ = std::make_unique<HostGather>(world_);
    exchanges_.resize(static_cast<std::size_t>(world_));
    std::vector<core::Status> errors(static_cast<std::size_t>(world_));
    on_ranks(world_, [&](int r) {
      auto e = PeerExchange::create(r, world_, r, gather_->for_rank(r));
      if (e.is_ok()) {
        exchanges_[static_cast<std::size_t>(r)] = std::move(e).value();
      } else {
        errors[static_cast<std::size_t>(r)] = e.status();
      }
    });
    for (const auto& s : errors) ASSERT_TRUE(s.is_ok()) << s.to_string();
    for (const auto& e : exchanges_) {
      if (e == nullptr) GTEST_SKIP() << "no peer access between these GPUs";
    }
  }
  void TearDown() override {
    on_ranks(static_cast<int>(exchanges_.size()),
             [&](int r) { exchanges_[static_cast<std::size_t>(r)].reset(); });
  }

  int world_ = 0;
  std::unique_ptr<HostGather> gather_;
  std::vector<std::unique_ptr<PeerExchange>> exchanges_;
};

struct Shape {
  int rows, cols;
};

// Shapes of decode steps (hidden 2048, 4096, 5120, 8192; 1–128 rows) and a
// row narrower than a warp, in an order that revisits row indices at other
// widths (the per-row call counters and the two inbox phases).
constexpr Shape kShapes[] = {{1, 4096}, {3, 2048}, {8, 4096},  {1, 8192}, {64, 4096}, {128, 2048},
                             {5, 5120}, {2, 12},   {1, 16384}, {1, 4096}, {8, 4096},  {31, 8192}};
constexpr std::size_t kShapeCount = std::size(kShapes);

TEST_F(PeerExchangeTp, SumsInRankOrderWithTheSameBitsOnEveryRank) {
  const int world = world_;
  std::vector<std::vector<std::vector<float>>> got(
      kShapeCount, std::vector<std::vector<float>>(static_cast<std::size_t>(world)));
  on_ranks(world, [&](int r) {
    cudaStream_t s;
    cudaStreamCreate(&s);
    const PeerExchange& e = *exchanges_[static_cast<std::size_t>(r)];
    for (std::size_t i = 0; i < kShapeCount; ++i) {
      const auto n = static_cast<std::size_t>(kShapes[i].rows) * kShapes[i].cols;
      DeviceRows t(n);
      t.put(random_floats(n, 1000 * static_cast<unsigned>(i) + static_cast<unsigned>(r), 100.0f),
            s);
      ASSERT_EQ(e.all_reduce(t.p, kShapes[i].rows, kShapes[i].cols, s, /*early=*/false),
                cudaSuccess);
      got[i][static_cast<std::size_t>(r)] = t.get(n, s);
    }
    ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
    cudaStreamDestroy(s);
  });
  for (std::size_t i = 0; i < kShapeCount; ++i) {
    const auto n = static_cast<std::size_t>(kShapes[i].rows) * kShapes[i].cols;
    std::vector<float> want = random_floats(n, 1000 * static_cast<unsigned>(i), 100.0f);
    for (int r = 1; r < world; ++r) {
      const auto part =
          random_floats(n, 1000 * static_cast<unsigned>(i) + static_cast<unsigned>(r), 100.0f);
      for (std::size_t j = 0; j < n; ++j) want[j] += part[j];
    }
    for (int r = 0; r < world; ++r) {
      ASSERT_EQ(got[i][static_cast<std::size_t>(r)].size(), n);
      EXPECT_EQ(
          std::memcmp(got[i][static_cast<std::size_t>(r)].data(), want.data(), n * sizeof(float)),
          0)
          << "rank " << r << ", " << kShapes[i].rows << " x " << kShapes[i].cols;
    }
  }
}

// x += sum of t; out = rms_norm(x) * (w + offset), in a CUDA graph replayed
// with new parts each time (the counters live on the device, as in a decode
// graph).
TEST_F(PeerExchangeTp, FusedResidualNormMatchesTheReferenceAndReplaysFromAGraph) {
  const int world = world_;
  constexpr int kRows = 4, kCols = 4096, kReplays = 5;
  constexpr float kEps = 1e-5f, kOffset = 0.0f;
  constexpr std::size_t kN = static_cast<std::size_t>(kRows) * kCols;
  const auto x0 = random_floats(kN, 7, 3.0f);
  const auto w = random_floats(kCols, 8, 1.0f);
  auto part = [](int replay, int r) {
    return random_floats(kN, 5000 + 10 * static_cast<unsigned>(replay) + static_cast<unsigned>(r),
                         1.0f);
  };
  std::vector<std::vector<float>> xs(static_cast<std::size_t>(world)), outs(xs.size());
  on_ranks(world, [&](int r) {
    cudaStream_t s;
    cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
    const PeerExchange& e = *exchanges_[static_cast<std::size_t>(r)];
    DeviceRows t(kN), x(kN), wd(kCols), out(kN);
    x.put(x0, s);
    wd.put(w, s);
    cudaStreamSynchronize(s);
    cudaGraph_t graph;
    ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
    ASSERT_EQ(e.all_reduce_add_rms_norm(t.p, x.p, wd.p, kEps, kOffset, out.p, kRows, kCols, s,
                                        /*early=*/true),
              cudaSuccess);
    ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
    cudaGraphExec_t exec;
    ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
    for (int k = 0; k < kReplays; ++k) {
      t.put(part(k, r), s);
      ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
    }
    xs[static_cast<std::size_t>(r)] = x.get(kN, s);
    outs[static_cast<std::size_t>(r)] = out.get(kN, s);
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    cudaStreamDestroy(s);
  });
  std::vector<float> x = x0;
  for (int k = 0; k < kReplays; ++k) {
    std::vector<float> sum = part(k, 0);
    for (int r = 1; r < world; ++r) {
      const auto p = part(k, r);
      for (std::size_t j = 0; j < kN; ++j) sum[j] += p[j];
    }
    for (std::size_t j = 0; j < kN; ++j) x[j] += sum[j];
  }
  for (int r = 0; r < world; ++r) {
    const auto& gx = xs[static_cast<std::size_t>(r)];
    const auto& go = outs[static_cast<std::size_t>(r)];
    // The same bits, not just equal values (NaN and -0 included).
    // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison)
    EXPECT_EQ(std::memcmp(gx.data(), x.data(), kN * sizeof(float)), 0) << "rank " << r;
    // NOLINTNEXTLINE(bugprone-suspicious-memory-comparison)
    EXPECT_EQ(std::memcmp(go.data(), outs[0].data(), kN * sizeof(float)), 0) << "rank " << r;
    for (int row = 0; row < kRows; ++row) {
      double ss = 0;
      for (int j = 0; j < kCols; ++j) ss += double(x[row * kCols + j]) * x[row * kCols + j];
      const double inv = 1.0 / std::sqrt(ss / kCols + kEps);
      for (int j = 0; j < kCols; ++j) {
        const double want = x[row * kCols + j] * inv * (w[j] + kOffset);
        ASSERT_NEAR(go[row * kCols + j], want, 1e-5 * (1.0 + std::fabs(want)))
            << "rank " << r << " row " << row << " col " << j;
      }
    }
  }
}

// A rank whose peer never makes the call waits in the kernel; abort()
// releases it (no hang, the stream drains), and the exchange says so.
TEST_F(PeerExchangeTp, AbortReleasesARankLeftWaiting) {
  cudaSetDevice(0);
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  DeviceRows t(4096);
  PeerExchange& e = *exchanges_[0];
  ASSERT_EQ(e.all_reduce(t.p, 1, 4096, s, /*early=*/false), cudaSuccess);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(cudaStreamQuery(s), cudaErrorNotReady);  // still waiting for rank 1
  EXPECT_FALSE(e.aborted());
  e.abort();
  EXPECT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_TRUE(e.aborted());
  cudaStreamDestroy(s);
}

TEST(PeerExchangeFits, RefusesWhatItsSlotsDoNotHold) {
  alignas(16) static float buf[8];
  EXPECT_TRUE(PeerExchange::fits(1, 4096, {buf}));
  EXPECT_TRUE(PeerExchange::fits(64, 4096, {buf}));
  EXPECT_FALSE(PeerExchange::fits(0, 4096, {buf}));
  EXPECT_FALSE(PeerExchange::fits(65, 4096, {buf}));     // past the 1 MiB slot
  EXPECT_FALSE(PeerExchange::fits(129, 8, {buf}));       // more rows than blocks kept resident
  EXPECT_FALSE(PeerExchange::fits(1, 4098, {buf}));      // not whole float4s
  EXPECT_FALSE(PeerExchange::fits(1, 32768, {buf}));     // wider than a block covers
  EXPECT_FALSE(PeerExchange::fits(1, 4096, {buf + 1}));  // misaligned
}

}  // namespace
}  // namespace mlxs::backend::cuda
