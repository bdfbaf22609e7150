#include "backend/cpu/thread_pool.h"

#include <algorithm>

#include <sched.h>

namespace mlxs::backend::cpu {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Spin this many times before sleeping: long enough to bridge the gap between
// two ops of a step (microseconds), short enough not to burn a core when idle.
constexpr int kSpinIterations = 200000;
// While spinning, give the core away every so often: when more threads than
// cores are runnable (tests in parallel, a busy machine) the thread we wait
// for may need this very core.
constexpr int kYieldEvery = 1024;

inline void spin_pause(int iteration) {
  if ((iteration + 1) % kYieldEvery == 0) {
    sched_yield();
  } else {
    cpu_relax();
  }
}

}  // namespace

int ThreadPool::available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = available_cpus();
  threads_ = threads;  // set before any worker reads it
  workers_.reserve(static_cast<std::size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  generation_.fetch_add(1);
  { std::lock_guard lock(sleep_mutex_); }
  wake_.notify_all();
  for (auto& worker : workers_) worker.join();
}

std::pair<std::int64_t, std::int64_t> ThreadPool::split_range(std::int64_t n, std::int64_t grain,
                                                              int index, int count) {
  grain = std::max<std::int64_t>(grain, 1);
  const std::int64_t units = (n + grain - 1) / grain;
  const std::int64_t per = units / count;
  const std::int64_t extra = units % count;
  const std::int64_t first = index * per + std::min<std::int64_t>(index, extra);
  const std::int64_t last = first + per + (index < extra ? 1 : 0);
  return {std::min(n, first * grain), std::min(n, last * grain)};
}

void ThreadPool::run(const std::function<void(int, int)>& fn) {
  const int count = size();
  if (count == 1) {
    fn(0, 1);
    return;
  }
  job_ = &fn;
  pending_.store(count - 1, std::memory_order_relaxed);
  // seq_cst pairs with the worker's sleepers_ increment (a Dekker handshake):
  // either it sees the new generation or we see it asleep and wake it.
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    // Taking the lock orders us after a sleeper's check-then-wait.
    { std::lock_guard lock(sleep_mutex_); }
    wake_.notify_all();
  }
  fn(0, count);
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) spin_pause(spin);
  job_ = nullptr;
}

void ThreadPool::worker_loop(int index) {
  // No job can start before the constructor returns, so generation 0 is the
  // last one this worker has "seen" (reading generation_ here would race with
  // the first run() and could skip that job).
  std::uint32_t seen = 0;
  const int count = size();
  for (;;) {
    std::uint32_t now = generation_.load(std::memory_order_acquire);
    for (int spin = 0; now == seen && spin < kSpinIterations; ++spin) {
      spin_pause(spin);
      now = generation_.load(std::memory_order_acquire);
    }
    if (now == seen) {
      std::unique_lock lock(sleep_mutex_);
      sleepers_.fetch_add(1);
      // Checked after announcing ourselves: a job published before the
      // announcement is seen here, one published after it notifies us.
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      sleepers_.fetch_sub(1);
      continue;
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    (*job_)(index, count);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace mlxs::backend::cpu
