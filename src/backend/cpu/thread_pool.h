#pragma once
// A fixed pool of worker threads for the CPU kernels. run() hands the same
// function to every thread (the caller is thread 0) and returns when all are
// done. Workers spin briefly between jobs, then sleep on a futex, so a decode
// step makes no syscall while tokens flow and idle workers cost no CPU.
// (Sleeping uses a mutex and condition variable: libstdc++ 12's
// std::atomic::wait was seen to lose wake-ups here.)

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace mlxs::backend::cpu {

class ThreadPool {
 public:
  // threads <= 0 means one per online CPU the process may run on.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return threads_; }

  // Calls fn(thread_index, thread_count) on every thread; thread 0 is the caller.
  // Not reentrant: one run at a time.
  void run(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous ranges, one per thread, aligned to `grain`.
  template <typename F>
  void parallel_for(std::int64_t n, std::int64_t grain, F&& fn) {
    if (n <= 0) return;
    const int threads = size();
    if (threads == 1 || n <= grain) {
      fn(std::int64_t{0}, n);
      return;
    }
    run([&](int t, int count) {
      const auto [begin, end] = split_range(n, grain, t, count);
      if (begin < end) fn(begin, end);
    });
  }

  // Hands out [0, n) in chunks of `chunk` to whichever thread is free next:
  // balances work when one core is slower (a noisy neighbour, a busy sibling).
  // fn(begin, end), or fn(thread, begin, end) for per-thread scratch.
  template <typename F>
  void parallel_chunks(std::int64_t n, std::int64_t chunk, F&& fn) {
    if (n <= 0) return;
    chunk = chunk < 1 ? 1 : chunk;
    auto call = [&fn](int thread, std::int64_t begin, std::int64_t end) {
      if constexpr (std::is_invocable_v<F&, int, std::int64_t, std::int64_t>) {
        fn(thread, begin, end);
      } else {
        (void)thread;
        fn(begin, end);
      }
    };
    if (size() == 1 || n <= chunk) {
      call(0, std::int64_t{0}, n);
      return;
    }
    next_chunk_.store(0, std::memory_order_relaxed);
    run([&](int thread, int) {
      for (;;) {
        const std::int64_t begin = next_chunk_.fetch_add(chunk, std::memory_order_relaxed);
        if (begin >= n) break;
        call(thread, begin, begin + chunk < n ? begin + chunk : n);
      }
    });
  }

  static std::pair<std::int64_t, std::int64_t> split_range(std::int64_t n, std::int64_t grain,
                                                           int index, int count);

  // CPUs this process may run on (sched_getaffinity).
  static int available_cpus();

 private:
  void worker_loop(int index);

  int threads_ = 1;
  std::vector<std::thread> workers_;
  const std::function<void(int, int)>* job_ = nullptr;
  alignas(64) std::atomic<std::uint32_t> generation_{0};
  alignas(64) std::atomic<int> pending_{0};
  alignas(64) std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<std::int64_t> next_chunk_{0};
  std::atomic<bool> stop_{false};
  std::mutex sleep_mutex_;
  std::condition_variable wake_;
};

}  // namespace mlxs::backend::cpu
