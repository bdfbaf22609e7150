#pragma once
// Counts the streams in flight on one worker connection from the protocol
// lines a session's bridge carries, for a worker the host cannot ask (a
// child `mlx-serving runtime`): a `generate` request whose response carries
// a result opens a stream, a `stream.event` (completed or error) ends one.
// Lines that cannot matter are skipped on a substring test, so only those
// requests, their responses and the end events are parsed; the pending
// request ids are bounded, and malformed or hostile lines change nothing.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

namespace mlxs::cluster {

class StreamCounter {
 public:
  // At most this many generate requests await their responses; more are not
  // counted (a control plane keeps far fewer in flight).
  static constexpr std::size_t kMaxPending = 4096;

  // A line from the control plane to the worker.
  void on_request(std::string_view line);
  // A line from the worker to the control plane.
  void on_reply(std::string_view line);

  std::int64_t active() const { return active_.load(std::memory_order_relaxed); }

 private:
  std::mutex mutex_;
  std::set<std::string> pending_;  // ids of generate requests (their JSON text)
  std::atomic<std::int64_t> active_{0};
};

}  // namespace mlxs::cluster
