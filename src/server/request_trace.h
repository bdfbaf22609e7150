#pragma once
// The server's spans for one generation request: a SERVER span named
// "POST <route>" that continues the caller's trace when its `traceparent`
// header is valid (one header, W3C rules; anything else starts a new trace
// and is never an error), and under it "mlxs.stream", the time spent
// writing the answer to the client. The worker's spans hang under the
// server span through the traceparent this hands to each generate call.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "telemetry/tracer.h"

namespace mlxs::server {

// What the request came to, for the server span's attributes.
struct RequestOutcome {
  std::string route;  // "/v1/chat/completions"
  std::string model;
  std::string request_id;
  std::string priority;  // "interactive" | "batch"
  std::int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
  std::string finish_reason;  // of the first choice
  std::string error_code;     // "" on success
  std::string error_message;
  bool streamed = false;
};

class RequestTrace {
 public:
  RequestTrace() = default;
  // `headers` holds every traceparent value the request carried (zero, one
  // or, invalidly, several).
  RequestTrace(std::shared_ptr<telemetry::Tracer> tracer, const std::vector<std::string>& headers);

  // The traceparent each generate call carries: the server span as parent,
  // with the sampling decision; nullopt when tracing is off.
  std::optional<std::string> worker_traceparent() const;
  // The answer started / ended going out (steady clock).
  void answer_began(core::Nanos now);
  void answer_ended(core::Nanos now);
  // Records the spans (once; no-op when off or not sampled).
  void finish(const RequestOutcome& outcome, core::Nanos received, core::Nanos now);

 private:
  std::shared_ptr<telemetry::Tracer> tracer_;
  telemetry::TraceContext span_;
  telemetry::SpanId parent_{};
  core::Nanos answer_began_ = 0, answer_ended_ = 0;
  bool finished_ = false;
};

}  // namespace mlxs::server
