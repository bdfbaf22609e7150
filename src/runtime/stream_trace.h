#pragma once
// The worker's spans for one generation stream. A stream is traced when the
// worker has a tracer and the trace is sampled (the caller's traceparent
// decides, else the sample ratio). The worker span ("mlxs.worker.generate",
// a child of the caller's span) covers the stream from its start request to
// its end; under it: tokenization and templating, the structured-output
// compile, the engine queue, each prefill chunk the engine recorded, and one
// aggregated decode span. The engine's times come from its steady clock and
// are turned into Unix nanoseconds here. Attribute names are documented in
// docs/operations.md (Tracing).

#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "engine/stream.h"
#include "telemetry/tracer.h"

namespace mlxs::runtime {

struct StreamRecord;
struct StreamEnd;

struct StreamTrace {
  std::shared_ptr<telemetry::Tracer> tracer;
  telemetry::TraceContext span;  // the worker span's own ids
  telemetry::SpanId parent{};    // the caller's span (zero: a new trace)
  core::Nanos tokenize_begin = 0, tokenize_end = 0;
  core::Nanos guidance_begin = 0, guidance_end = 0;  // 0: no structured output
  std::string priority = "interactive";
};

// Nullopt when `tracer` is null or the trace is not sampled. A malformed
// traceparent starts a new trace.
std::optional<StreamTrace> begin_stream_trace(const std::shared_ptr<telemetry::Tracer>& tracer,
                                              const std::optional<std::string>& traceparent);

// Records every span of an ended stream (no-op without a trace).
void end_stream_trace(const StreamRecord& record, const StreamEnd& end,
                      const engine::StreamTimes& times, const engine::Usage& usage,
                      core::Nanos now);

}  // namespace mlxs::runtime
