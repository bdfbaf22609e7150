#include "server/request_trace.h"

#include <algorithm>

namespace mlxs::server {

using telemetry::SpanKind;

RequestTrace::RequestTrace(std::shared_ptr<telemetry::Tracer> tracer,
                           const std::vector<std::string>& headers)
    : tracer_(std::move(tracer)) {
  if (!tracer_) return;
  // Several traceparent headers are invalid as a whole (W3C Trace Context).
  const auto remote = headers.size() == 1 ? telemetry::parse_traceparent(headers[0]) : std::nullopt;
  span_ = tracer_->start(remote);
  if (remote) parent_ = remote->span_id;
}

std::optional<std::string> RequestTrace::worker_traceparent() const {
  if (!tracer_) return std::nullopt;
  return telemetry::format_traceparent(span_);
}

void RequestTrace::answer_began(core::Nanos now) {
  if (answer_began_ == 0) answer_began_ = now;
}

void RequestTrace::answer_ended(core::Nanos now) {
  answer_ended_ = now;
}

void RequestTrace::finish(const RequestOutcome& o, core::Nanos received, core::Nanos now) {
  if (finished_ || !tracer_ || !span_.sampled()) return;
  finished_ = true;
  if (answer_began_ != 0) {
    telemetry::SpanData s = telemetry::make_span(telemetry::Tracer::child(span_), span_.span_id,
                                                 "mlxs.stream", SpanKind::kInternal, answer_began_,
                                                 answer_ended_ != 0 ? answer_ended_ : now);
    s.set_bool("mlxs.streamed", o.streamed);
    tracer_->record(std::move(s));
  }
  telemetry::SpanData s =
      telemetry::make_span(span_, parent_, "POST " + o.route, SpanKind::kServer, received, now);
  s.set_string("http.request.method", "POST");
  s.set_string("http.route", o.route);
  s.set_string("gen_ai.operation.name",
               o.route == "/v1/chat/completions" ? "chat" : "text_completion");
  if (!o.model.empty()) s.set_string("gen_ai.request.model", o.model);
  s.set_string("mlxs.request_id", o.request_id);
  s.set_string("mlxs.priority", o.priority.empty() ? "interactive" : o.priority);
  s.set_int("gen_ai.usage.input_tokens", o.prompt_tokens);
  s.set_int("gen_ai.usage.output_tokens", o.completion_tokens);
  s.set_int("mlxs.usage.cached_tokens", o.cached_tokens);
  if (!o.finish_reason.empty()) s.set_string("mlxs.finish_reason", o.finish_reason);
  if (!o.error_code.empty()) {
    s.set_string("error.type", o.error_code);
    s.set_error(o.error_message.substr(0, 512));
  }
  tracer_->record(std::move(s));
}

}  // namespace mlxs::server
