#pragma once
// The streams running on one worker, and the translation of its stream
// notifications into StreamSink calls: stream.chunk (single or batched) and
// stream.step become StepStream, stream.stats StreamStats, stream.event the
// stream's end (it leaves the table first, so each sink ends exactly once).

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/gateway.h"
#include "core/status.h"
#include "protocol/envelope.h"

namespace mlxs::control {

// StepStream of one stream.chunk (its tokens' ids and text, and their
// logprobs when every token has one).
protocol::StepStream step_of_chunk(const protocol::StreamChunk& chunk);

class StreamTable {
 public:
  // False when the id is taken.
  bool add(const std::string& stream_id, std::shared_ptr<StreamSink> sink);
  // The sink, removed; null when absent (ended already).
  std::shared_ptr<StreamSink> remove(const std::string& stream_id);
  bool contains(const std::string& stream_id) const;
  std::size_t size() const;

  // Delivers a notification (unknown stream ids are dropped: the stream
  // ended). Errors for notifications that break their documented shape.
  core::Status deliver(const protocol::Notification& n);

  // Ends every stream with an error event (code and message) and empties the table.
  void end_all(core::ErrorCode code, const std::string& message);

 private:
  std::shared_ptr<StreamSink> find(const std::string& stream_id) const;

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<StreamSink>> sinks_;
};

// The end event of a stream that failed outside the worker.
protocol::StreamEvent error_event(const std::string& stream_id, core::ErrorCode code,
                                  const std::string& message);

}  // namespace mlxs::control
