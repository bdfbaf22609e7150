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

}  // namespace

nlohmann::json BandwidthResult::to_json() const {
  return {{"threads", threads}, {"bytes", bytes}, {"gbps_median", gbps_median},
          {"gbps_best", gbps_best}, {"samples_gbps", samples}};
}

BandwidthResult probe_read_bandwidth(int threads, std::size_t bytes, int reps) {
  threads = std::max(1, threads);
  const std::size_t per = bytes / static_cast<std::size_t>(threads) / 4096 * 4096;
  const std::size_t floats = per / sizeof(float);
  const auto cpus = allowed_cpus();
  std::vector<float*> slices(static_cast<std::size_t>(threads), nullptr);
  std::vector<double> seconds(static_cast<std::size_t>(reps), 0.0);
  std::barrier sync(threads);
  std::atomic<float> sink{0};
  std::chrono::steady_clock::time_point start;

  auto body = [&](int t) {
    pin_to(cpus[static_cast<std::size_t>(t) % cpus.size()]);
    float* p = static_cast<float*>(std::aligned_alloc(2u << 20, per));
    madvise(p, per, MADV_HUGEPAGE);
    for (std::size_t i = 0; i < floats; ++i) p[i] = static_cast<float>(i & 7) * 0.125f;  // first touch
    slices[static_cast<std::size_t>(t)] = p;
    sync.arrive_and_wait();
    // One untimed pass warms the TLB and the prefetchers.
    sink.store(sink.load() + backend::cpu::kernels::stream_sum(p, static_cast<std::int64_t>(floats)));
    for (int r = 0; r < reps; ++r) {
      sync.arrive_and_wait();
      if (t == 0) start = std::chrono::steady_clock::now();
      sync.arrive_and_wait();
      const float s = backend::cpu::kernels::stream_sum(p, static_cast<std::int64_t>(floats));
      sync.arrive_and_wait();
      if (t == 0) {
        seconds[static_cast<std::size_t>(r)] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
      sink.store(sink.load() + s);
    }
    std::free(p);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(body, t);
  body(0);
  for (auto& th : pool) th.join();

  BandwidthResult out;
  out.threads = threads;
  out.bytes = per * static_cast<std::size_t>(threads);
  for (double s : seconds) out.samples.push_back(static_cast<double>(out.bytes) / s / 1e9);
  auto sorted = out.samples;
  std::sort(sorted.begin(), sorted.end());
  out.gbps_median = sorted[sorted.size() / 2];
  out.gbps_best = sorted.back();
  return out;
}

}  // namespace mlxs::bench
