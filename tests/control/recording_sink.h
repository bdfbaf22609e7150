#pragma once
// A StreamSink that records what it receives, for tests: token ids and text
// in order, stats, the end event and when it came; waits are bounded.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "control/gateway.h"

namespace mlxs::control::testing {

class RecordingSink final : public StreamSink {
 public:
  using Clock = std::chrono::steady_clock;

  void on_tokens(const protocol::StepStream& step) override {
    if (slow) slow();
    std::lock_guard lock(mutex_);
    if (end) ++after_end;
    ids.insert(ids.end(), step.token_ids.begin(), step.token_ids.end());
    text += step.text;
    cv_.notify_all();
  }
  void on_stats(const protocol::StreamStats& s) override {
    std::lock_guard lock(mutex_);
    if (end) ++after_end;
    stats = s;
  }
  void on_end(const protocol::StreamEvent& e) override {
    std::lock_guard lock(mutex_);
    ++ends;
    end = e;
    ended_at = Clock::now();
    cv_.notify_all();
  }

  bool wait_tokens(std::size_t n, std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return ids.size() >= n || end.has_value(); }) &&
           ids.size() >= n;
  }
  bool wait_end(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, limit, [&] { return end.has_value(); });
  }
  std::size_t token_count() {
    std::lock_guard lock(mutex_);
    return ids.size();
  }
  bool ended() {
    std::lock_guard lock(mutex_);
    return end.has_value();
  }

  std::function<void()> slow;  // runs in on_tokens (a slow consumer)
  std::vector<std::int32_t> ids;
  std::string text;
  std::optional<protocol::StreamStats> stats;
  std::optional<protocol::StreamEvent> end;
  Clock::time_point ended_at;
  int ends = 0;
  int after_end = 0;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace mlxs::control::testing
