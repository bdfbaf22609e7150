#include "runtime/engine_host.h"

#include <algorithm>
#include <chrono>
#include <iterator>
#include <utility>

#include "core/log.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;

std::string_view finish_reason_wire(engine::FinishReason reason) {
  switch (reason) {
    case engine::FinishReason::kLength:
      return "length";
    case engine::FinishReason::kCancelled:
      return "cancelled";
    case engine::FinishReason::kStop:
    case engine::FinishReason::kNone:
    case engine::FinishReason::kTimeout:
    case engine::FinishReason::kError:
    case engine::FinishReason::kBackpressure:
      return "stop";
  }
  return "stop";
}

EngineHost::EngineHost(std::string model_id, engine::Engine& engine,
                       const tokenizer::Tokenizer* tokenizer, engine::DeviceArbiter& arbiter,
                       int arbiter_index, Output& output, StreamTable& streams, ModelStats& stats,
                       const core::Clock& clock)
    : model_id_(std::move(model_id)),
      engine_(engine),
      tokenizer_(tokenizer),
      arbiter_(arbiter),
      index_(arbiter_index),
      output_(output),
      streams_(streams),
      stats_(stats),
      clock_(clock) {}

EngineHost::~EngineHost() {
  stop(Status(ErrorCode::kCancelled, "the model was unloaded"), false);
}

void EngineHost::start() {
  thread_ = std::jthread([this](std::stop_token st) { loop(st); });
}

bool EngineHost::activate(std::shared_ptr<StreamRecord> record) {
  std::vector<std::shared_ptr<StreamRecord>> one;
  one.push_back(std::move(record));
  return activate(std::move(one));
}

bool EngineHost::activate(std::vector<std::shared_ptr<StreamRecord>> records) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    for (auto& r : records) incoming_.push_back(std::move(r));
    kicked_ = true;
  }
  cv_.notify_one();
  return true;
}

void EngineHost::cancel(StreamRecord& record) {
  record.cancel_requested.store(true);
  if (record.stream) engine_.cancel(record.stream->request_id());
  {
    std::lock_guard lock(mutex_);
    kicked_ = true;
  }
  cv_.notify_one();
}

void EngineHost::loop(std::stop_token stop) {
  while (!stop.stop_requested()) {
    const bool busy = engine_.has_work();
    {
      std::unique_lock lock(mutex_);
      if (!busy && !kicked_) {
        cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return kicked_ || stopping_; });
      }
      kicked_ = false;
      for (auto& r : incoming_) {
        // A cancel that came before the engine stream was known.
        if (r->cancel_requested.load() && r->stream) engine_.cancel(r->stream->request_id());
        active_.push_back(std::move(r));
      }
      incoming_.clear();
      if (stopping_) break;
    }
    bool stepped = false;
    if (engine_.has_work()) {
      engine::Urgency urgency;
      if (!engine_.has_work(&urgency.top, &urgency.oldest_wait))
        urgency.top = engine::Priority::kInteractive;
      arbiter_.acquire(index_, urgency);
      auto worked = engine_.step();
      arbiter_.release(index_);
      ++steps_;
      if (!worked.is_ok()) {
        core::log_error("runtime_engine_step_failed",
                        {{"model_id", model_id_}, {"error", worked.status().to_string()}});
      }
      stepped = worked.is_ok() && *worked;
    }
    if (!active_.empty() && !output_.backlogged()) drain();
    if (engine_.broken() && !broken_reported_ && active_.empty() && on_broken_) {
      // Every stream's end went out: the worker may go down now.
      broken_reported_ = true;
      on_broken_();
    }
    if (!stepped && engine_.has_work()) {
      // Work that cannot run yet (e.g. waiting for KV blocks): do not spin.
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(1), [&] { return kicked_ || stopping_; });
    }
  }
}

StreamEnd EngineHost::end_of(StreamRecord& record, const std::optional<Status>& error,
                             engine::FinishReason finish) {
  StreamEnd end;
  end.tokens_generated = record.tokens_emitted;
  end.finish_reason = std::string(finish_reason_wire(finish));
  if (error) {
    // The original's words for a stream that failed after it started.
    end.error =
        Status(error->code(), "Generation failed for " + model_id_ + ": " + error->message());
  }
  engine::StreamTimes t;
  if (record.stream) t = record.stream->times();
  const core::Nanos start = t.queued != 0 ? t.queued : record.started_ns;
  const core::Nanos finished = t.finished != 0 ? t.finished : clock_.now_ns();
  end.total_time = std::max(0.0, core::seconds_between(start, finished));
  if (record.stream) {
    const engine::Usage usage = record.stream->usage();
    end.prompt_tokens = usage.prompt_tokens;
    end.cached_tokens = usage.cached_prompt_tokens;
  }
  end.time_to_first_token =
      t.first_token != 0
          ? std::clamp(core::seconds_between(start, t.first_token), 0.0, end.total_time)
          : end.total_time;
  return end;
}

void EngineHost::forget(StreamRecord& record, const StreamEnd& end) {
  stats_.on_finished(end.total_time * 1e3, end.tokens_generated, !end.error.has_value());
  const engine::StreamTimes times = record.stream ? record.stream->times() : engine::StreamTimes{};
  const engine::Usage usage = record.stream ? record.stream->usage() : engine::Usage{};
  end_stream_trace(record, end, times, usage, clock_.now_ns());
  if (core::log_enabled(core::LogLevel::kDebug, "runtime_stream_ended")) {
    core::log_debug("runtime_stream_ended",
                    {{"stream_id", record.stream_id},
                     {"request_id", record.request_id},
                     {"model_id", model_id_},
                     {"finish_reason", end.finish_reason},
                     {"tokens", end.tokens_generated},
                     {"error", end.error ? end.error->to_string() : std::string()}});
  }
  streams_.release(record);
}

bool EngineHost::collect(StreamRecord& record, StreamDelta& delta) {
  if (!record.stream) {
    // Failed at start (reported as a stream error, as the original does).
    const Status why = record.start_failure.value_or(
        Status(ErrorCode::kGenerationError, "the stream did not start"));
    delta.end = end_of(record, why, engine::FinishReason::kError);
    return true;
  }
  auto items = record.stream->take();
  std::optional<engine::FinishReason> finish;
  for (engine::StreamItem& item : items) {
    if (item.final) finish = item.finish;
    const std::size_t n = item.tokens.size();
    if (n == 0) {
      if (!item.text.empty())
        delta.tokens.push_back(TokenOut{-1, std::move(item.text), std::nullopt, {}});
      continue;
    }
    // Tokens the engine coalesced share their text: spread it over them.
    std::vector<std::string> pieces;
    if (n == 1 || item.text.empty()) {
      pieces.push_back(std::move(item.text));
    } else {
      pieces = split_utf8(item.text, std::max<std::size_t>(1, (item.text.size() + n - 1) / n));
    }
    for (std::size_t i = 0; i < n; ++i) {
      TokenOut t;
      t.id = item.tokens[i];
      if (i < pieces.size()) t.text = std::move(pieces[i]);
      if (i + 1 == n) {
        for (std::size_t j = n; j < pieces.size(); ++j) t.text += pieces[j];
      }
      if (record.logprobs && i < item.logprobs.size()) {
        t.logprob = item.logprobs[i].logprob;
        if (record.top_logprobs > 0) add_alternatives(item.logprobs[i], record.top_logprobs, t);
      }
      record.last_token = t.id;
      ++record.tokens_emitted;
      delta.tokens.push_back(std::move(t));
    }
  }
  if (!record.stream->done()) return false;
  delta.end = end_of(record, record.stream->error(), finish.value_or(engine::FinishReason::kStop));
  return true;
}

void EngineHost::add_alternatives(const engine::TokenLogprobs& lp, int count, TokenOut& out) const {
  const std::size_t n = std::min(lp.top.size(), static_cast<std::size_t>(count));
  out.top.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    protocol::TopLogprob alt;
    alt.token_id = lp.top[i].token;
    alt.logprob = lp.top[i].logprob;
    if (tokenizer_ != nullptr) {
      auto text = tokenizer_->decode(std::span<const std::int32_t>(&alt.token_id, 1), false);
      if (text.is_ok()) alt.token = std::move(text).value();
    }
    out.top.push_back(std::move(alt));
  }
}

std::uint64_t EngineHost::line_step() {
  // Output can be collected with no engine step since the previous line: a
  // stream whose start response was queued (activate) after the engine had
  // already run it to the end is drained while the engine idles, and stop()
  // collects what is left. Reusing the last number would tell the client
  // that these lines are parts of one split step (docs/protocol.md), so
  // such a line counts as a step of its own; numbers only grow.
  if (last_line_step_ && steps_ <= *last_line_step_) steps_ = *last_line_step_ + 1;
  last_line_step_ = steps_;
  return steps_;
}

void EngineHost::drain() {
  StepOutput out;
  out.model_id = model_id_;
  int producing = 0;
  for (auto it = active_.begin(); it != active_.end();) {
    StreamDelta delta;
    delta.record = *it;
    const bool is_end = collect(**it, delta);
    if (!delta.tokens.empty()) ++producing;
    it = is_end ? active_.erase(it) : std::next(it);
    if (!delta.tokens.empty() || delta.end) out.deltas.push_back(std::move(delta));
  }
  stats_.on_step(producing);
  send_then_forget(std::move(out), true);
}

void EngineHost::send_then_forget(StepOutput out, bool notify) {
  if (out.deltas.empty()) return;
  std::vector<std::pair<std::shared_ptr<StreamRecord>, StreamEnd>> ended;
  for (const StreamDelta& d : out.deltas) {
    if (d.end) ended.emplace_back(d.record, *d.end);
  }
  if (notify) {
    out.step = line_step();
    output_.send_step(std::move(out));
  }
  for (const auto& [record, end] : ended) forget(*record, end);
}

void EngineHost::stop(const Status& why, bool notify) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
  }
  std::vector<std::shared_ptr<StreamRecord>> left;
  {
    std::lock_guard lock(mutex_);
    left.swap(incoming_);
  }
  left.insert(left.end(), active_.begin(), active_.end());
  active_.clear();
  StepOutput out;
  out.model_id = model_id_;
  for (auto& record : left) {
    StreamDelta delta;
    delta.record = record;
    // What was produced before the stop still goes out, then the end.
    if (record->stream) {
      const bool ended = collect(*record, delta);
      record->stream->abandon();
      if (!ended) delta.end = end_of(*record, why, engine::FinishReason::kError);
    } else {
      delta.end = end_of(*record, why, engine::FinishReason::kError);
    }
    out.deltas.push_back(std::move(delta));
  }
  send_then_forget(std::move(out), notify);
}

}  // namespace mlxs::runtime
