#pragma once
// One generation stream as the runtime tracks it: its client-chosen id, how
// its notifications are shaped, and the engine stream it reads.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/stream.h"
#include "runtime/stream_trace.h"

namespace mlxs::runtime {

struct LoadedModel;

enum class StreamStyle : std::uint8_t {
  kStandard,  // generate / batch_generate: coalesced chunks, stats, completed
  kBatcher,   // the original's runtime-only batchers: one chunk per token, stats in the event
};

struct StreamRecord {
  std::string stream_id;
  std::string model_id;
  StreamStyle style = StreamStyle::kStandard;
  std::size_t chunk_batch = 16;  // tokens per batched stream.chunk
  bool logprobs = false;
  int top_logprobs = 0;   // alternatives per token (ours)
  double started_at = 0;  // Unix epoch seconds
  core::Nanos started_ns = 0;
  std::int32_t end_token_id = 0;     // token id of text that arrives with no token (eos)
  std::string request_id;            // the caller's HTTP request id, for log lines ("" if none)
  std::optional<StreamTrace> trace;  // set when this stream is traced

  // Set once the engine accepted the request.
  std::weak_ptr<LoadedModel> model;
  std::shared_ptr<engine::Stream> stream;
  // A failure decided at start that the original reports as a stream error
  // event (e.g. required_dtype), instead of an engine stream.
  std::optional<core::Status> start_failure;
  std::atomic<bool> cancel_requested{false};

  // Engine-thread bookkeeping.
  std::int64_t tokens_emitted = 0;
  std::int32_t last_token = -1;
};

}  // namespace mlxs::runtime
