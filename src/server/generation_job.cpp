#include "server/generation_job.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>

namespace mlxs::server {

using core::ErrorCode;
using core::Json;

namespace {

// Posts one stream's events to the connection's strand, in order.
class JobSink final : public control::StreamSink {
 public:
  JobSink(std::shared_ptr<GenerationJob> job, std::size_t index, net::any_io_executor ex)
      : job_(std::move(job)), index_(index), ex_(std::move(ex)) {}
  void on_tokens(const protocol::StepStream& step) override {
    net::post(ex_, [job = job_, i = index_, step] { job->on_tokens(i, step); });
  }
  void on_stats(const protocol::StreamStats& stats) override {
    net::post(ex_, [job = job_, i = index_, stats] { job->on_stats(i, stats); });
  }
  void on_end(const protocol::StreamEvent& event) override {
    net::post(ex_, [job = job_, i = index_, event] { job->on_end(i, event); });
  }

 private:
  std::shared_ptr<GenerationJob> job_;
  std::size_t index_;
  net::any_io_executor ex_;
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

core::Status status_of(const protocol::StreamEvent& event) {
  const auto code = event.code ? core::error_code_from_name(*event.code) : std::nullopt;
  return core::Status(code.value_or(ErrorCode::kGenerationError),
                      event.error.value_or("generation failed"));
}

}  // namespace

GenerationJob::GenerationJob(std::shared_ptr<HttpSession> session, ServerContext& ctx,
                             CompletionPlan plan, const std::vector<std::string>& traceparents)
    : session_(std::move(session)),
      ctx_(ctx),
      plan_(std::move(plan)),
      request_id_(session_->request_id()),
      received_ns_(session_->received_ns()),
      trace_(ctx_.options.tracer, traceparents) {
  if (!plan_.choices.empty()) priority_ = plan_.choices.front().priority.value_or("interactive");
  meta_.endpoint = plan_.endpoint;
  meta_.id = ctx_.new_id(plan_.endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-");
  meta_.created = unix_now();
  meta_.model = plan_.model;
  choices_.resize(plan_.choices.size());
}

GenerationJob::~GenerationJob() {
  trace_.finish(outcome(), received_ns_, ctx_.clock.now_ns());
  for (Choice& c : choices_) release_gauges(c);
  if (counted_stream_) ctx_.streams.fetch_sub(static_cast<int>(choices_.size()));
}

void GenerationJob::release_gauges(Choice& c) {
  if (c.counted_running) {
    ctx_.metrics.stream_running(plan_.model, -1);
    c.counted_running = false;
  }
}

void GenerationJob::start() {
  const int n = static_cast<int>(choices_.size());
  if (ctx_.streams.fetch_add(n) + n > ctx_.options.max_concurrent_streams) {
    ctx_.streams.fetch_sub(n);
    start_error_ = core::make_error(ErrorCode::kQueueFull,
                                    "the server runs {} streams, its limit; retry shortly",
                                    ctx_.options.max_concurrent_streams);
    session_->reply_error(ApiError::from_status(*start_error_));
    phase_ = Phase::kDone;
    return;
  }
  counted_stream_ = true;
  session_->watch_client(shared_from_this());
  auto self = shared_from_this();
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    protocol::GenerateParams params = std::move(plan_.choices[i]);
    choices_[i].stream_id = meta_.id + "-" + std::to_string(i);
    params.stream_id = choices_[i].stream_id;
    params.streaming = true;
    params.traceparent = trace_.worker_traceparent();
    params.request_id = request_id_;
    ctx_.metrics.stream_waiting(plan_.model, 1);
    auto sink = std::make_shared<JobSink>(self, i, session_->executor());
    ctx_.gateway.generate(
        std::move(params), sink, [self, i, ex = session_->executor()](core::Result<Json> r) {
          net::post(ex,
                    [self, i, r = std::move(r)]() mutable { self->on_accepted(i, std::move(r)); });
        });
  }
  plan_.choices.clear();
}

void GenerationJob::on_accepted(std::size_t i, core::Result<Json> result) {
  Choice& c = choices_[i];
  ++replies_;
  ctx_.metrics.stream_waiting(plan_.model, -1);
  if (result.is_ok()) {
    c.accepted = true;
    c.counted_running = true;
    ctx_.metrics.stream_running(plan_.model, 1);
    ctx_.metrics.observe(Latency::kQueue, plan_.model,
                         core::seconds_between(session_->received_ns(), ctx_.clock.now_ns()));
  } else {
    if (!start_error_) start_error_ = result.status();
    c.ended = true;  // never started: no end event will come
    ++ended_;
  }
  if (phase_ == Phase::kStarting && replies_ == choices_.size()) all_accepted();
  if (phase_ == Phase::kDone && ended_ == choices_.size()) session_.reset();
}

void GenerationJob::all_accepted() {
  if (session_->client_is_gone()) {
    cancel_started();
    phase_ = Phase::kDone;
    return;
  }
  if (start_error_) {
    cancel_started();
    session_->reply_error(ApiError::from_status(*start_error_));
    phase_ = Phase::kDone;
    return;
  }
  session_->set_model_label(plan_.model);
  if (!plan_.unknown_fields.empty()) {
    std::string names;
    for (const auto& f : plan_.unknown_fields) names += (names.empty() ? "" : ", ") + f;
    session_->add_header("Warning", "299 mlx-serving \"ignored unknown fields: " + names + "\"");
  }
  phase_ = Phase::kStreaming;
  if (!plan_.stream) {
    if (ended_ == choices_.size()) finish();
    return;
  }
  maybe_begin_stream();
}

// The SSE answer starts with the first token, so a stream that fails before
// any output (the engine's queue is full, invalid guidance ...) still gets an
// HTTP error with its status (429 + Retry-After for QueueFull).
void GenerationJob::maybe_begin_stream() {
  if (sse_started_ || phase_ != Phase::kStreaming) return;
  bool output = false;
  const core::Status* error = nullptr;
  for (const Choice& c : choices_) {
    if (!c.tokens.empty()) output = true;
    if (c.error && c.tokens.empty() && error == nullptr) error = &*c.error;
  }
  if (!output && error != nullptr) {
    cancel_started();
    session_->reply_error(ApiError::from_status(*error));
    phase_ = Phase::kDone;
    if (ended_ == choices_.size()) session_.reset();
    return;
  }
  if (!output && ended_ < choices_.size()) return;
  sse_started_ = true;
  trace_.answer_began(ctx_.clock.now_ns());
  session_->sse_begin();
  const std::string role = "assistant";
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    if (plan_.endpoint == Endpoint::kChat) {
      session_->sse_event(
          dump_json(stream_chunk(meta_, i, &role, "", nullptr, nullptr, plan_.include_usage)));
    }
    flush(i);
    if (choices_[i].ended) finish_choice(i);
  }
  if (ended_ == choices_.size()) finish();
}

void GenerationJob::on_tokens(std::size_t i, const protocol::StepStream& step) {
  Choice& c = choices_[i];
  if (c.ended || step.token_ids.empty()) return;
  const core::Nanos now = ctx_.clock.now_ns();
  const std::size_t k = step.token_ids.size();
  if (c.tokens.empty()) {
    ctx_.metrics.observe(Latency::kTtft, plan_.model,
                         core::seconds_between(session_->received_ns(), now));
  } else {
    ctx_.metrics.observe(Latency::kInterToken, plan_.model,
                         core::seconds_between(c.last_token_ns, now) / static_cast<double>(k));
  }
  c.last_token_ns = now;
  c.text += step.text;
  for (std::size_t t = 0; t < k; ++t) {
    TokenRecord r;
    r.id = step.token_ids[t];
    if (step.logprobs && t < step.logprobs->size()) r.logprob = (*step.logprobs)[t];
    if (step.top_logprobs && t < step.top_logprobs->size()) r.top = (*step.top_logprobs)[t];
    // A step's text belongs to all its tokens; the last one carries it
    // (unless an alternative names the token's own text).
    for (const auto& alt : r.top) {
      if (alt.token_id == r.id) r.text = alt.token;
    }
    if (r.text.empty() && t + 1 == k) r.text = step.text;
    c.tokens.push_back(std::move(r));
  }
  if (phase_ == Phase::kStreaming && plan_.stream) {
    if (sse_started_) {
      flush(i);
    } else {
      maybe_begin_stream();
    }
  }
}

void GenerationJob::on_stats(std::size_t i, const protocol::StreamStats& stats) {
  Choice& c = choices_[i];
  if (stats.prompt_tokens) c.prompt_tokens = *stats.prompt_tokens;
  if (stats.cached_tokens) c.cached_tokens = *stats.cached_tokens;
}

void GenerationJob::on_end(std::size_t i, const protocol::StreamEvent& event) {
  Choice& c = choices_[i];
  if (c.ended) return;
  c.ended = true;
  ++ended_;
  release_gauges(c);
  if (event.prompt_tokens) c.prompt_tokens = *event.prompt_tokens;
  if (event.cached_tokens) c.cached_tokens = *event.cached_tokens;
  if (event.event == "error") {
    c.error = status_of(event);
  } else {
    c.finish_reason = event.finish_reason.value_or("stop") == "length" ? "length" : "stop";
  }
  ctx_.metrics.add_tokens(plan_.model, c.prompt_tokens, static_cast<std::int64_t>(c.tokens.size()),
                          c.cached_tokens);
  if (phase_ == Phase::kStreaming && plan_.stream && !sse_started_) {
    maybe_begin_stream();
  } else if (phase_ == Phase::kStreaming) {
    if (plan_.stream) {
      flush(i);
      finish_choice(i);
    }
    if (ended_ == choices_.size()) finish();
  } else if (phase_ == Phase::kDone && ended_ == choices_.size()) {
    session_.reset();
  }
}

void GenerationJob::flush(std::size_t i) {
  Choice& c = choices_[i];
  if (c.sent_text == c.text.size() && c.sent_tokens == c.tokens.size()) return;
  Json logprobs = nullptr;
  if (plan_.logprobs) {
    std::vector<TokenRecord> fresh(c.tokens.begin() + static_cast<std::ptrdiff_t>(c.sent_tokens),
                                   c.tokens.end());
    logprobs = logprobs_json(plan_.endpoint, fresh, c.sent_text);
  }
  session_->sse_event(dump_json(stream_chunk(meta_, i, nullptr, c.text.substr(c.sent_text),
                                             logprobs, nullptr, plan_.include_usage)));
  c.sent_text = c.text.size();
  c.sent_tokens = c.tokens.size();
}

void GenerationJob::finish_choice(std::size_t i) {
  const Choice& c = choices_[i];
  if (c.error) {
    session_->sse_error(ApiError::from_status(*c.error));
    return;
  }
  session_->sse_event(dump_json(
      stream_chunk(meta_, i, nullptr, "", nullptr, c.finish_reason, plan_.include_usage)));
}

Usage GenerationJob::usage() const {
  Usage u;
  // n choices of one prompt read it once.
  const std::size_t per_prompt = static_cast<std::size_t>(std::max(1, plan_.n));
  for (std::size_t i = 0; i < choices_.size(); ++i) {
    u.completion_tokens += static_cast<std::int64_t>(choices_[i].tokens.size());
    if (i % per_prompt == 0) {
      u.prompt_tokens += choices_[i].prompt_tokens;
      u.cached_tokens += choices_[i].cached_tokens;
    }
  }
  return u;
}

void GenerationJob::finish() {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  if (plan_.stream) {
    if (plan_.include_usage) session_->sse_event(dump_json(usage_chunk(meta_, usage())));
    session_->sse_event("[DONE]");
    session_->sse_end();
    trace_.answer_ended(ctx_.clock.now_ns());
  } else {
    trace_.answer_began(ctx_.clock.now_ns());
    for (const Choice& c : choices_) {
      if (c.error) {
        session_->reply_error(ApiError::from_status(*c.error));
        session_.reset();
        return;
      }
    }
    const Usage totals = usage();
    std::vector<ChoiceResult> results;
    for (Choice& c : choices_) {
      results.push_back(ChoiceResult{std::move(c.text), c.finish_reason, std::move(c.tokens)});
    }
    session_->reply_json(200, full_response(meta_, results, plan_.logprobs, totals));
    trace_.answer_ended(ctx_.clock.now_ns());
  }
  session_.reset();
}

RequestOutcome GenerationJob::outcome() const {
  RequestOutcome o;
  o.route = plan_.endpoint == Endpoint::kChat ? "/v1/chat/completions" : "/v1/completions";
  o.model = plan_.model;
  o.request_id = request_id_;
  o.priority = priority_;
  o.streamed = plan_.stream;
  const Usage u = usage();
  o.prompt_tokens = u.prompt_tokens;
  o.completion_tokens = u.completion_tokens;
  o.cached_tokens = u.cached_tokens;
  if (!choices_.empty() && choices_.front().ended && !choices_.front().error) {
    o.finish_reason = choices_.front().finish_reason;
  }
  const core::Status* error = start_error_ ? &*start_error_ : nullptr;
  for (const Choice& c : choices_) {
    if (error == nullptr && c.error) error = &*c.error;
  }
  if (error != nullptr) {
    o.error_code = std::string(error->code_name());
    o.error_message = error->message();
  } else if (client_gone_) {
    o.error_code = std::string(core::error_code_name(ErrorCode::kCancelled));
    o.error_message = "the client went away";
  }
  return o;
}

void GenerationJob::cancel_started() {
  for (const Choice& c : choices_) {
    if (c.accepted && !c.ended) ctx_.gateway.cancel(c.stream_id);
  }
}

void GenerationJob::client_gone() {
  // Only a client that left before its answer was complete cut it short.
  if (phase_ != Phase::kDone) client_gone_ = true;
  cancel_started();
  if (phase_ == Phase::kStreaming) phase_ = Phase::kDone;
  if (phase_ == Phase::kDone && ended_ == choices_.size()) session_.reset();
}

}  // namespace mlxs::server
