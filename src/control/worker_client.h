#pragma once
// A JSON-RPC 2.0 client of one runtime worker over a pair of descriptors:
// newline-delimited JSON, integer request ids from 1, responses correlated by
// id, notifications handed to a callback in arrival order.
//
// Threads: a reader thread reads and frames the worker's output (a bounded
// LineReader), completes requests and delivers notifications; a writer
// thread writes queued request lines (a bounded queue). Replies and
// notification callbacks run on the reader thread, one at a time, so a
// stream's notifications arrive in order; they must not block for long
// (while one runs nothing else from this worker is read).
//
// A worker that breaks the protocol (a line that is not JSON-RPC, a line
// over the limit) is killed, as the original client does: it is not safe to
// keep reading from it. When the connection ends (exit, kill, protocol
// violation) every pending request fails with WorkerCrashed and on_closed
// runs once, after the last notification.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "control/launcher.h"
#include "core/clock.h"
#include "core/json_util.h"
#include "core/status.h"
#include "protocol/envelope.h"

namespace mlxs::control {

struct ClientOptions {
  std::size_t max_line_bytes = 1u << 20;  // a longer line from the worker is a violation
  std::size_t max_pending = 1024;         // requests sent and not yet answered
  std::size_t max_write_queue = 1024;     // request lines waiting for the writer
};

class WorkerClient {
 public:
  using Json = core::Json;
  using Reply = std::function<void(core::Result<Json>)>;
  struct Callbacks {
    std::function<void(protocol::Notification)> on_notification;
    std::function<void(const core::Status& why)> on_closed;
  };

  WorkerClient(std::string name, LaunchedWorker worker, ClientOptions options, Callbacks callbacks,
               const core::Clock& clock = core::SteadyClock::instance());
  // Kills the worker if still running, joins both threads and reaps it.
  ~WorkerClient();
  WorkerClient(const WorkerClient&) = delete;
  WorkerClient& operator=(const WorkerClient&) = delete;

  void start();

  // Sends a request; `reply` runs once: with the result, the worker's error
  // (its machine code restored), Timeout after `timeout_ns` (0: none),
  // QueueFull when too many are pending, or WorkerCrashed when the
  // connection ends first.
  void call(std::string_view method, Json params, core::Nanos timeout_ns, Reply reply);
  // The same, waiting for the answer (never from the reader thread).
  core::Result<Json> call_sync(std::string_view method, Json params, core::Nanos timeout_ns);

  // Fails requests whose deadline passed (Timeout). The supervisor calls it
  // on each tick.
  void expire_overdue();
  // Kills the worker; the reader then sees the end and closes the client.
  void kill(const std::string& reason);
  // Kills the worker when it has not exited within `grace_ns`, then reaps it.
  int wait_exit(core::Nanos grace_ns);

  bool closed() const { return closed_.load(); }
  std::size_t pending() const;
  // True while a reply or notification callback runs: a worker cannot be
  // blamed for silence while we are not reading.
  bool delivering() const { return delivering_.load(); }
  // When bytes last came from the worker (its start when none yet).
  core::Nanos last_read_ns() const { return last_read_.load(); }
  const std::string& name() const { return name_; }
  std::string describe() const;

 private:
  struct Pending {
    std::string method;
    core::Nanos deadline = 0;  // 0: none
    Reply reply;
  };

  void read_loop();
  void write_loop();
  void handle_line(std::string_view line);
  void close_connection(const core::Status& why);
  void fail(Reply& reply, core::Status status);

  const std::string name_;
  LaunchedWorker worker_;
  const ClientOptions options_;
  Callbacks callbacks_;
  const core::Clock& clock_;

  mutable std::mutex mutex_;
  std::condition_variable write_cv_;
  std::condition_variable closed_cv_;
  std::map<std::int64_t, Pending> pending_;
  std::deque<std::string> write_queue_;
  std::int64_t next_id_ = 1;
  bool stopping_writer_ = false;
  std::string close_reason_;
  std::string violation_;   // set by handle_line: the reader stops and kills
  int wake_[2] = {-1, -1};  // kill() wakes the reader through this pipe

  std::atomic<bool> closed_{false};
  std::atomic<bool> delivering_{false};
  std::atomic<bool> waited_{false};
  std::atomic<core::Nanos> last_read_{0};
  int exit_status_ = -1;
  std::thread reader_;
  std::thread writer_;
};

}  // namespace mlxs::control
