#pragma once
// The one writer of stdout. Responses go out in the order they are sent;
// token output of engine steps is shaped into the original's notifications
// (or our stream.step) here:
//
// - stream.chunk: a stream's tokens are coalesced into the batched form and
//   flushed when the batch is full, when its oldest token is older than the
//   flush interval, or before the stream ends; a stream's first token goes
//   out at once. cumulative_text is never sent (lines would grow with the
//   square of the output).
// - stream.step (negotiated): one notification per engine step with every
//   stream's new tokens.
// - per stream, always: chunks, then stats, then the completed event; or
//   chunks, then the error event; then nothing.
//
// Every line stays under OutputOptions::max_line_bytes (long pieces are split).
// Writes block (the client's end may be slow); while output backs up, engines
// stop draining (backlogged()), which bounds memory.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "protocol/notifications.h"
#include "runtime/options.h"
#include "runtime/stream_record.h"

namespace mlxs::runtime {

// One token of output; id < 0 is text that arrived without a token of its own
// (the tail released when a stream stops on an end-of-sequence token).
struct TokenOut {
  std::int32_t id = -1;
  std::string text;
  std::optional<double> logprob;
  std::vector<protocol::TopLogprob> top;  // filled only for streams that asked
};

struct StreamEnd {
  std::optional<core::Status> error;  // set: the stream failed
  std::string finish_reason;          // "stop" | "length" | "cancelled"
  std::int64_t tokens_generated = 0;
  double time_to_first_token = 0;  // seconds
  double total_time = 0;
  std::optional<std::int64_t> prompt_tokens;  // ours: usage for the final messages
  std::optional<std::int64_t> cached_tokens;
};

struct StreamDelta {
  std::shared_ptr<StreamRecord> record;
  std::vector<TokenOut> tokens;
  std::optional<StreamEnd> end;
};

// What one engine step produced, for every stream that produced something.
struct StepOutput {
  std::string model_id;
  std::uint64_t step = 0;
  std::vector<StreamDelta> deltas;
};

class Output {
 public:
  Output(int fd, const OutputOptions& options, const core::Clock& clock);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  void start();
  // Writes what is queued (flushing every pending chunk), then ends the thread.
  void stop();

  // A complete line (no '\n'): a response or a standalone notification.
  void send_line(std::string line);
  void send_step(StepOutput step);

  void set_step_mode(bool on) { step_mode_.store(on); }
  bool step_mode() const { return step_mode_.load(); }
  bool backlogged() const;
  // True once a write failed (the client is gone); later output is dropped.
  bool broken() const { return broken_.load(); }
  void set_on_broken(std::function<void()> fn);
  const OutputOptions& options() const { return options_; }
  std::uint64_t lines_written() const { return lines_.load(); }

 private:
  struct Entry {
    std::string line;
    std::optional<StepOutput> step;
  };
  struct Pending;

  void loop();
  void handle_step(StepOutput& step);
  void handle_chunks(StreamDelta& delta, core::Nanos now);
  void handle_step_mode(StepOutput& step);
  void end_stream(const StreamDelta& delta);
  void flush_chunks(Pending& p);
  void flush_due(core::Nanos now, bool all);
  std::optional<core::Nanos> next_deadline() const;
  void emit(std::string line);
  void write_out();

  const int fd_;
  const OutputOptions options_;
  const core::Clock& clock_;
  std::atomic<bool> step_mode_{false};
  std::atomic<bool> broken_{false};
  std::atomic<std::uint64_t> lines_{0};
  std::atomic<std::size_t> queued_bytes_{0};

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  bool stopping_ = false;
  std::function<void()> on_broken_;
  std::thread thread_;

  // Writer thread only.
  std::unordered_map<const StreamRecord*, std::unique_ptr<Pending>> pending_;
  std::string out_;  // lines not yet written
};

// Splits UTF-8 text into pieces of at most `max_bytes`, never inside a
// character (a piece may exceed it only by one character's bytes).
std::vector<std::string> split_utf8(const std::string& text, std::size_t max_bytes);

}  // namespace mlxs::runtime
