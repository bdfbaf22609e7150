#pragma once
// One loaded model's engine thread. It steps the engine (holding the shared
// device through the arbiter), and after every step drains the new output of
// each of its streams into one StepOutput for the writer: one unit per engine
// step, whatever the number of streams (the stream.step extension sends it
// as one notification).
//
// A stream is drained only after its start response was queued (activate),
// so the response always precedes the stream's first notification.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "engine/arbiter.h"
#include "engine/engine.h"
#include "runtime/model_stats.h"
#include "runtime/output.h"
#include "runtime/stream_record.h"
#include "runtime/stream_table.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::runtime {

class EngineHost {
 public:
  // `tokenizer` (may be null) spells the alternatives of top_logprobs.
  EngineHost(std::string model_id, engine::Engine& engine, const tokenizer::Tokenizer* tokenizer,
             engine::DeviceArbiter& arbiter, int arbiter_index, Output& output,
             StreamTable& streams, ModelStats& stats, const core::Clock& clock);
  ~EngineHost();
  EngineHost(const EngineHost&) = delete;
  EngineHost& operator=(const EngineHost&) = delete;

  // Called once, from the engine thread, after the engine broke (its
  // tensor-parallel group failed) and its streams' ends were sent. Set
  // before start().
  void set_on_broken(std::function<void()> on_broken) { on_broken_ = std::move(on_broken); }
  void start();
  // Stops the thread. Streams that have not ended end with `why` (sent as
  // error events when `notify`), and leave the stream table.
  void stop(const core::Status& why, bool notify);

  // Starts draining `record` (its engine stream, or its start failure).
  // False when the host is stopping: the caller ends the stream itself.
  bool activate(std::shared_ptr<StreamRecord> record);
  // Several streams at once: the engine thread takes them in one pass, so
  // their output already made goes out in one line, not one line each.
  bool activate(std::vector<std::shared_ptr<StreamRecord>> records);
  // Asks the engine to stop a stream; it then ends with finish_reason "cancelled".
  void cancel(StreamRecord& record);

 private:
  void loop(std::stop_token stop);
  // Collects every active stream's new output into one StepOutput and
  // queues it; ended streams leave the table after their end is queued.
  void drain();
  // The step number of the line about to be queued (strictly increasing).
  std::uint64_t line_step();
  // Queues `out` (when `notify`) under the next line step, then frees the
  // ids of the streams it ends: a generate that reuses an id is answered
  // after the old stream's final event, never before it (the client would
  // take that event for the new stream's).
  void send_then_forget(StepOutput out, bool notify);
  // Turns what one stream has readable into a delta; true when it ended.
  bool collect(StreamRecord& record, StreamDelta& delta);
  void add_alternatives(const engine::TokenLogprobs& lp, int count, TokenOut& out) const;
  StreamEnd end_of(StreamRecord& record, const std::optional<core::Status>& error,
                   engine::FinishReason finish);
  void forget(StreamRecord& record, const StreamEnd& end);

  const std::string model_id_;
  engine::Engine& engine_;
  const tokenizer::Tokenizer* tokenizer_;
  engine::DeviceArbiter& arbiter_;
  const int index_;
  Output& output_;
  StreamTable& streams_;
  ModelStats& stats_;
  const core::Clock& clock_;

  std::mutex mutex_;
  std::condition_variable cv_;
  bool kicked_ = false;
  bool stopping_ = false;
  std::vector<std::shared_ptr<StreamRecord>> incoming_;
  std::jthread thread_;

  // Engine thread only (and stop(), after the thread ended).
  std::vector<std::shared_ptr<StreamRecord>> active_;
  std::uint64_t steps_ = 0;
  std::optional<std::uint64_t> last_line_step_;
  std::function<void()> on_broken_;
  bool broken_reported_ = false;
};

std::string_view finish_reason_wire(engine::FinishReason reason);

}  // namespace mlxs::runtime
