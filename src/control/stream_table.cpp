#include "control/stream_table.h"

#include <algorithm>

#include "protocol/notifications.h"

namespace mlxs::control {

protocol::StepStream step_of_chunk(const protocol::StreamChunk& chunk) {
  protocol::StepStream step;
  step.stream_id = chunk.stream_id;
  step.token_ids.reserve(chunk.tokens.size());
  bool all_logprobs = !chunk.tokens.empty();
  for (const auto& t : chunk.tokens) {
    step.token_ids.push_back(t.token_id);
    step.text += t.token;
    all_logprobs = all_logprobs && t.logprob.has_value();
  }
  if (all_logprobs) {
    std::vector<double> logprobs;
    logprobs.reserve(chunk.tokens.size());
    for (const auto& t : chunk.tokens) logprobs.push_back(*t.logprob);
    step.logprobs = std::move(logprobs);
  }
  // As stream.step carries them: one list per token, when the stream asked
  // (every token of such a stream has one; a partial set is not a stream's).
  const bool all_top = std::all_of(chunk.tokens.begin(), chunk.tokens.end(),
                                   [](const auto& t) { return t.top_logprobs.has_value(); });
  if (all_logprobs && all_top) {
    std::vector<std::vector<protocol::TopLogprob>> top;
    top.reserve(chunk.tokens.size());
    for (const auto& t : chunk.tokens) top.push_back(*t.top_logprobs);
    step.top_logprobs = std::move(top);
  }
  return step;
}

protocol::StreamEvent error_event(const std::string& stream_id, core::ErrorCode code,
                                  const std::string& message) {
  protocol::StreamEvent e;
  e.stream_id = stream_id;
  e.event = "error";
  e.is_final = true;
  e.error = message;
  e.code = std::string(core::error_code_name(code));
  return e;
}

bool StreamTable::add(const std::string& stream_id, std::shared_ptr<StreamSink> sink) {
  std::lock_guard lock(mutex_);
  return sinks_.emplace(stream_id, std::move(sink)).second;
}

std::shared_ptr<StreamSink> StreamTable::remove(const std::string& stream_id) {
  std::lock_guard lock(mutex_);
  const auto it = sinks_.find(stream_id);
  if (it == sinks_.end()) return nullptr;
  auto sink = std::move(it->second);
  sinks_.erase(it);
  return sink;
}

bool StreamTable::contains(const std::string& stream_id) const {
  std::lock_guard lock(mutex_);
  return sinks_.count(stream_id) != 0;
}

std::size_t StreamTable::size() const {
  std::lock_guard lock(mutex_);
  return sinks_.size();
}

std::shared_ptr<StreamSink> StreamTable::find(const std::string& stream_id) const {
  std::lock_guard lock(mutex_);
  const auto it = sinks_.find(stream_id);
  return it == sinks_.end() ? nullptr : it->second;
}

core::Status StreamTable::deliver(const protocol::Notification& n) {
  using protocol::from_json;
  if (n.method == protocol::kStreamStep) {
    MLXS_ASSIGN_OR_RETURN(auto step, from_json<protocol::StreamStep>(n.params, "stream.step"));
    for (const auto& s : step.streams) {
      if (auto sink = find(s.stream_id)) sink->on_tokens(s);
    }
    return {};
  }
  if (n.method == protocol::kStreamChunk) {
    MLXS_ASSIGN_OR_RETURN(auto chunk, protocol::stream_chunk_from_json(n.params));
    if (auto sink = find(chunk.stream_id)) sink->on_tokens(step_of_chunk(chunk));
    return {};
  }
  if (n.method == protocol::kStreamStats) {
    MLXS_ASSIGN_OR_RETURN(auto stats, from_json<protocol::StreamStats>(n.params, "stream.stats"));
    if (auto sink = find(stats.stream_id)) sink->on_stats(stats);
    return {};
  }
  if (n.method == protocol::kStreamEvent) {
    MLXS_ASSIGN_OR_RETURN(auto event, from_json<protocol::StreamEvent>(n.params, "stream.event"));
    if (auto sink = remove(event.stream_id)) sink->on_end(event);
    return {};
  }
  return core::Status(core::ErrorCode::kInvalidRequest, "unknown notification " + n.method);
}

void StreamTable::end_all(core::ErrorCode code, const std::string& message) {
  std::unordered_map<std::string, std::shared_ptr<StreamSink>> sinks;
  {
    std::lock_guard lock(mutex_);
    sinks.swap(sinks_);
  }
  for (auto& [id, sink] : sinks) sink->on_end(error_event(id, code, message));
}

}  // namespace mlxs::control
