#pragma once
// The output of one request: a bounded buffer between the engine (producer,
// never blocks) and one consumer (an HTTP connection, an RPC client, the CLI).
//
// Back-pressure policy: the buffer holds at most `max_items` entries; when the
// consumer lags, new tokens and text are coalesced into the newest entry of
// the same choice, so memory stays bounded by the unread bytes. Once unread
// text passes `max_pending_bytes` the producer is told to stop and the request
// ends with BackpressureExceeded.
//
// Lifecycle (one enum of states, one of events, one pure transition):
//   Open --finish--> Finishing --drained--> Closed
//   Open/Finishing --consumer_gone--> Abandoned (the engine cancels the work)

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "engine/sampler.h"
#include "engine/sequence.h"

namespace mlxs::engine {

enum class StreamState : std::uint8_t { kOpen, kFinishing, kClosed, kAbandoned };
inline constexpr int kStreamStateCount = 4;
enum class StreamEvent : std::uint8_t { kData, kFinish, kDrained, kConsumerGone };
inline constexpr int kStreamEventCount = 4;

std::string_view stream_state_name(StreamState s);
std::string_view stream_event_name(StreamEvent e);
core::Result<StreamState> transition(StreamState state, StreamEvent event);

struct TokenLogprobs {
  std::int32_t token = 0;
  float logprob = 0.0f;
  std::vector<TokenLogprob> top;
};

struct Usage {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_prompt_tokens = 0;
};

// One entry a consumer reads: new output of one choice, or its end.
struct StreamItem {
  int choice = 0;
  std::vector<std::int32_t> tokens;
  std::string text;
  std::vector<TokenLogprobs> logprobs;
  bool final = false;  // the choice ended with `finish`
  FinishReason finish = FinishReason::kNone;
};

struct StreamLimits {
  std::size_t max_items = 64;
  std::size_t max_pending_bytes = 4u << 20;
};

// One prefill chunk of the request's first choice: the step that computed it.
struct PrefillChunk {
  core::Nanos begin = 0, end = 0;
  int tokens = 0;
};

// When the request moved through the engine (the clock's nanoseconds; 0:
// never happened). What tracing turns into spans.
struct StreamTimes {
  core::Nanos queued = 0, first_scheduled = 0, first_token = 0, finished = 0;
  // The first kMaxTracedChunks chunks; later ones are only counted.
  static constexpr std::size_t kMaxTracedChunks = 64;
  std::vector<PrefillChunk> prefill_chunks;
  int prefill_chunk_count = 0;
  int preemptions = 0;
};

class Stream {
 public:
  Stream(std::uint64_t request_id, int choices, StreamLimits limits = {});

  std::uint64_t request_id() const { return request_id_; }
  int choices() const { return choices_; }

  // ---- producer (the engine) ------------------------------------------------
  // Appends output of one choice; false when the consumer is gone or too far
  // behind (the engine then ends the request).
  bool push(int choice, std::span<const std::int32_t> tokens, std::string_view text,
            const TokenLogprobs* logprobs);
  // Ends one choice. When every choice has ended, the stream is finishing.
  void finish_choice(int choice, FinishReason reason);
  // Ends the whole request with an error (Status is not Ok).
  void fail(core::Status error);
  void set_usage(const Usage& usage);
  void set_times(const StreamTimes& times);
  bool over_limit() const;

  // ---- consumer -------------------------------------------------------------
  // Takes everything readable now (empty if nothing).
  std::vector<StreamItem> take();
  // Waits up to `timeout_ms` for something readable or the end.
  std::vector<StreamItem> wait_take(int timeout_ms);
  // True once every item, including each choice's final one, was taken.
  bool done() const;
  // The consumer will read no more: the engine cancels the request.
  void abandon();
  bool abandoned() const;
  // Called (outside the lock) whenever items become readable; for consumers
  // driven by an event loop.
  void set_notify(std::function<void()> notify);

  std::optional<core::Status> error() const;
  Usage usage() const;
  StreamTimes times() const;
  StreamState state() const;

 private:
  void apply(StreamEvent event);  // caller holds mutex_
  void notify_consumer();

  const std::uint64_t request_id_;
  const int choices_;
  const StreamLimits limits_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<StreamItem> items_;
  std::size_t pending_bytes_ = 0;
  int open_choices_;
  StreamState state_ = StreamState::kOpen;
  std::optional<core::Status> error_;
  Usage usage_;
  StreamTimes times_;
  std::function<void()> notify_;
};

}  // namespace mlxs::engine
