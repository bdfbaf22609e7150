#include "runtime/stream_trace.h"

#include <algorithm>

#include "runtime/output.h"
#include "runtime/stream_record.h"

namespace mlxs::runtime {

using telemetry::SpanData;
using telemetry::SpanKind;
using telemetry::Tracer;

std::optional<StreamTrace> begin_stream_trace(const std::shared_ptr<Tracer>& tracer,
                                              const std::optional<std::string>& traceparent) {
  if (!tracer) return std::nullopt;
  const auto remote = traceparent ? telemetry::parse_traceparent(*traceparent) : std::nullopt;
  StreamTrace t;
  t.tracer = tracer;
  t.span = tracer->start(remote);
  if (!t.span.sampled()) return std::nullopt;
  if (remote) t.parent = remote->span_id;
  return t;
}

namespace {

// A child of the worker span.
void child(const StreamTrace& t, const char* name, core::Nanos begin, core::Nanos end,
           SpanData* out) {
  *out = telemetry::make_span(Tracer::child(t.span), t.span.span_id, name, SpanKind::kInternal,
                              begin, end);
}

}  // namespace

void end_stream_trace(const StreamRecord& record, const StreamEnd& end,
                      const engine::StreamTimes& times, const engine::Usage& usage,
                      core::Nanos now) {
  if (!record.trace) return;
  const StreamTrace& t = *record.trace;
  const core::Nanos finished = times.finished != 0 ? times.finished : now;
  SpanData s;
  if (t.tokenize_end != 0) {
    child(t, "mlxs.tokenize", t.tokenize_begin, t.tokenize_end, &s);
    s.set_int("gen_ai.usage.input_tokens", usage.prompt_tokens);
    t.tracer->record(std::move(s));
  }
  if (t.guidance_end != 0) {
    child(t, "mlxs.guidance_compile", t.guidance_begin, t.guidance_end, &s);
    t.tracer->record(std::move(s));
  }
  if (times.queued != 0) {
    const core::Nanos scheduled = times.first_scheduled != 0 ? times.first_scheduled : finished;
    child(t, "mlxs.queue", times.queued, scheduled, &s);
    s.set_string("mlxs.priority", t.priority);
    t.tracer->record(std::move(s));
  }
  core::Nanos prefill_end = times.first_scheduled;
  for (std::size_t i = 0; i < times.prefill_chunks.size(); ++i) {
    const engine::PrefillChunk& c = times.prefill_chunks[i];
    child(t, "mlxs.prefill", c.begin, c.end, &s);
    s.set_int("mlxs.prefill.chunk", static_cast<std::int64_t>(i));
    s.set_int("mlxs.prefill.tokens", c.tokens);
    t.tracer->record(std::move(s));
    prefill_end = std::max(prefill_end, c.end);
  }
  // One span for every decode step: a span per token would cost more than the token.
  if (times.first_token != 0) {
    child(t, "mlxs.decode", prefill_end != 0 ? prefill_end : times.first_token, finished, &s);
    s.set_int("gen_ai.usage.output_tokens", end.tokens_generated);
    t.tracer->record(std::move(s));
  }
  s = telemetry::make_span(t.span, t.parent, "mlxs.worker.generate", SpanKind::kServer,
                           record.started_ns, std::max(finished, now));
  s.set_string("gen_ai.request.model", record.model_id);
  s.set_string("mlxs.stream_id", record.stream_id);
  if (!record.request_id.empty()) s.set_string("mlxs.request_id", record.request_id);
  s.set_string("mlxs.priority", t.priority);
  s.set_int("gen_ai.usage.input_tokens", usage.prompt_tokens);
  s.set_int("gen_ai.usage.output_tokens", end.tokens_generated);
  s.set_int("mlxs.usage.cached_tokens", usage.cached_prompt_tokens);
  s.set_string("mlxs.finish_reason", end.error ? "error" : end.finish_reason);
  s.set_int("mlxs.prefill.chunks", times.prefill_chunk_count);
  s.set_int("mlxs.preemptions", times.preemptions);
  if (end.error) {
    s.set_string("error.type", std::string(end.error->code_name()));
    s.set_error(end.error->message().substr(0, 512));
  }
  t.tracer->record(std::move(s));
}

}  // namespace mlxs::runtime
