#pragma once
// Pumps the newline-delimited JSON-RPC lines of one worker connection
// between local descriptors and a pair of NATS subjects, so that the control
// plane's WorkerClient and the runtime worker run unchanged on either side:
// each line read locally goes out as one message on `publish_subject`
// (frame.h: numbered), each message of `subscribe_subject` is written
// locally as one line. A session ends once: the local side closed (EOF), the
// peer sent its end frame, a frame was malformed or out of sequence, a local
// line passed the limit, or close() was called; then the peer gets an end
// frame and both local descriptors are shut down, so that the local reader
// sees the end of input. The bridge owns its descriptors.

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cluster/frame.h"
#include "cluster/nats_client.h"
#include "cluster/stream_counter.h"
#include "core/clock.h"
#include "core/status.h"

namespace mlxs::cluster {

class Bridge {
 public:
  // Runs once when the session ends, on whichever thread ended it (the
  // reader, a NATS delivery thread, close()'s caller); must not destroy the
  // bridge.
  using OnEnd = std::function<void(const core::Status& why)>;

  Bridge(NatsConnection& nats, std::string publish_subject, std::string subscribe_subject,
         int read_fd, int write_fd, std::size_t max_line_bytes, OnEnd on_end);
  // Ends the session, joins the reader, waits for the subscription's
  // handler, closes the descriptors. Never from the bridge's own threads.
  ~Bridge();
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // On a worker host, before start(): every line from the peer (a control
  // plane's request) and every local line (the worker's reply) also goes to
  // `counter`, which must outlive the bridge.
  void count_streams(StreamCounter* counter) { counter_ = counter; }
  // Subscribes (and waits for the server to have it), then starts reading.
  core::Status start();
  // Ends the session (idempotent, any thread).
  void close(const core::Status& why);

  bool ended() const { return ended_.load(); }
  // When the peer's last message came (the start when none yet).
  core::Nanos last_received_ns() const { return last_received_.load(); }

 private:
  void read_loop();
  void on_message(std::string_view data);
  void publish_line(std::string_view line);

  NatsConnection& nats_;
  const std::string publish_subject_;
  const std::string subscribe_subject_;
  const int read_fd_;
  const int write_fd_;
  const std::size_t max_line_bytes_;
  OnEnd on_end_;
  StreamCounter* counter_ = nullptr;

  std::mutex publish_mutex_;  // sequence numbers leave in order
  std::uint64_t sent_ = 0;
  SequenceCheck received_;  // only the subscription's delivery thread touches it
  std::atomic<bool> ended_{false};
  std::atomic<core::Nanos> last_received_{0};
  int wake_[2] = {-1, -1};
  std::unique_ptr<Subscription> subscription_;
  std::thread reader_;
};

}  // namespace mlxs::cluster
