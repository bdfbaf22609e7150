#include "bandwidth.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>

#include "backend/cpu/kernels.h"

namespace mlxs::bench {
namespace {

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Runs body(t) on `threads` new threads pinned to distinct CPUs. New threads
// only: pinning the caller would leak into threads it creates later.
template <typename F>
void on_pinned_threads(int threads, F&& body) {
  const auto cpus = allowed_cpus();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      pin_to(cpus[static_cast<std::size_t>(t) % cpus.size()]);
      body(t);
    });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

nlohmann::json BandwidthResult::to_json() const {
  return {{"threads", threads},
          {"bytes", bytes},
          {"gbps_median", gbps_median},
          {"gbps_best", gbps_best},
          {"samples_gbps", samples}};
}

BandwidthProbe::BandwidthProbe(int threads, std::size_t bytes)
    : threads_(std::max(1, threads)),
      per_thread_(bytes / static_cast<std::size_t>(std::max(1, threads)) / 4096 * 4096),
      slices_(static_cast<std::size_t>(threads_), nullptr) {
  on_pinned_threads(threads_, [&](int t) {
    auto* p = static_cast<float*>(std::aligned_alloc(2u << 20, per_thread_));
    madvise(p, per_thread_, MADV_HUGEPAGE);
    const std::size_t n = per_thread_ / sizeof(float);
    for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<float>(i & 7) * 0.125f;  // first touch
    slices_[static_cast<std::size_t>(t)] = p;
  });
}

BandwidthProbe::~BandwidthProbe() {
  for (float* p : slices_) std::free(p);
}

BandwidthResult BandwidthProbe::measure(int reps) {
  reps = std::max(1, reps);
  const auto floats = static_cast<std::int64_t>(per_thread_ / sizeof(float));
  std::vector<double> seconds(static_cast<std::size_t>(reps), 0.0);
  std::barrier sync(threads_);
  std::atomic<float> sink{0};
  std::chrono::steady_clock::time_point start;
  on_pinned_threads(threads_, [&](int t) {
    const float* p = slices_[static_cast<std::size_t>(t)];
    sync.arrive_and_wait();
    // One untimed pass warms the TLB and the prefetchers.
    float local = backend::cpu::kernels::stream_sum(p, floats);
    for (int r = 0; r < reps; ++r) {
      sync.arrive_and_wait();
      if (t == 0) start = std::chrono::steady_clock::now();
      sync.arrive_and_wait();
      local += backend::cpu::kernels::stream_sum(p, floats);
      sync.arrive_and_wait();
      if (t == 0) {
        seconds[static_cast<std::size_t>(r)] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    }
    sink.store(sink.load() + local);  // keeps the sums observable
  });

  BandwidthResult out;
  out.threads = threads_;
  out.bytes = per_thread_ * static_cast<std::size_t>(threads_);
  for (double s : seconds) out.samples.push_back(static_cast<double>(out.bytes) / s / 1e9);
  auto sorted = out.samples;
  std::sort(sorted.begin(), sorted.end());
  out.gbps_median = sorted[sorted.size() / 2];
  out.gbps_best = sorted.back();
  return out;
}

}  // namespace mlxs::bench
