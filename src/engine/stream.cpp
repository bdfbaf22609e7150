#include "engine/stream.h"

#include <chrono>

namespace mlxs::engine {

std::string_view stream_state_name(StreamState s) {
  switch (s) {
    case StreamState::kOpen:
      return "open";
    case StreamState::kFinishing:
      return "finishing";
    case StreamState::kClosed:
      return "closed";
    case StreamState::kAbandoned:
      return "abandoned";
  }
  return "unknown";
}

std::string_view stream_event_name(StreamEvent e) {
  switch (e) {
    case StreamEvent::kData:
      return "data";
    case StreamEvent::kFinish:
      return "finish";
    case StreamEvent::kDrained:
      return "drained";
    case StreamEvent::kConsumerGone:
      return "consumer_gone";
  }
  return "unknown";
}

core::Result<StreamState> transition(StreamState state, StreamEvent event) {
  auto illegal = [&]() -> core::Result<StreamState> {
    return core::make_error(core::ErrorCode::kInternalError, "stream: {} is not allowed while {}",
                            stream_event_name(event), stream_state_name(state));
  };
  switch (state) {
    case StreamState::kOpen:
      switch (event) {
        case StreamEvent::kData:
          return StreamState::kOpen;
        case StreamEvent::kFinish:
          return StreamState::kFinishing;
        case StreamEvent::kConsumerGone:
          return StreamState::kAbandoned;
        case StreamEvent::kDrained:
          return illegal();
      }
      break;
    case StreamState::kFinishing:
      switch (event) {
        case StreamEvent::kDrained:
          return StreamState::kClosed;
        case StreamEvent::kConsumerGone:
          return StreamState::kAbandoned;
        case StreamEvent::kData:
        case StreamEvent::kFinish:
          return illegal();
      }
      break;
    case StreamState::kClosed:
      switch (event) {
        // A consumer may let go after reading everything: nothing changes.
        case StreamEvent::kConsumerGone:
          return StreamState::kClosed;
        case StreamEvent::kData:
        case StreamEvent::kFinish:
        case StreamEvent::kDrained:
          return illegal();
      }
      break;
    case StreamState::kAbandoned:
      switch (event) {
        // The engine may still be finishing work it had started: dropped.
        case StreamEvent::kData:
        case StreamEvent::kFinish:
        case StreamEvent::kConsumerGone:
          return StreamState::kAbandoned;
        case StreamEvent::kDrained:
          return illegal();
      }
      break;
  }
  return illegal();
}

Stream::Stream(std::uint64_t request_id, int choices, StreamLimits limits)
    : request_id_(request_id), choices_(choices), limits_(limits), open_choices_(choices) {}

void Stream::apply(StreamEvent event) {
  auto next = transition(state_, event);
  if (next.is_ok()) state_ = *next;
}

bool Stream::push(int choice, std::span<const std::int32_t> tokens, std::string_view text,
                  const TokenLogprobs* logprobs) {
  {
    std::lock_guard lock(mutex_);
    if (state_ != StreamState::kOpen) return false;
    apply(StreamEvent::kData);
    StreamItem* target = nullptr;
    if (items_.size() >= limits_.max_items) {
      // Coalesce into the newest unread entry of this choice.
      for (auto it = items_.rbegin(); it != items_.rend(); ++it) {
        if (it->choice == choice && !it->final) {
          target = &*it;
          break;
        }
      }
    }
    if (target == nullptr) {
      items_.emplace_back();
      target = &items_.back();
      target->choice = choice;
    }
    target->tokens.insert(target->tokens.end(), tokens.begin(), tokens.end());
    target->text.append(text);
    if (logprobs != nullptr) target->logprobs.push_back(*logprobs);
    pending_bytes_ += text.size() + tokens.size() * sizeof(std::int32_t);
    if (pending_bytes_ > limits_.max_pending_bytes) return false;
  }
  notify_consumer();
  return true;
}

bool Stream::over_limit() const {
  std::lock_guard lock(mutex_);
  return pending_bytes_ > limits_.max_pending_bytes;
}

void Stream::finish_choice(int choice, FinishReason reason) {
  {
    std::lock_guard lock(mutex_);
    if (state_ != StreamState::kOpen) return;
    StreamItem item;
    item.choice = choice;
    item.final = true;
    item.finish = reason;
    items_.push_back(std::move(item));
    if (--open_choices_ == 0) apply(StreamEvent::kFinish);
  }
  ready_.notify_all();
  notify_consumer();
}

void Stream::fail(core::Status error) {
  {
    std::lock_guard lock(mutex_);
    if (state_ != StreamState::kOpen) return;
    error_ = std::move(error);
    open_choices_ = 0;
    apply(StreamEvent::kFinish);
  }
  ready_.notify_all();
  notify_consumer();
}

void Stream::set_usage(const Usage& usage) {
  std::lock_guard lock(mutex_);
  usage_ = usage;
}

void Stream::set_times(const StreamTimes& times) {
  std::lock_guard lock(mutex_);
  times_ = times;
}

std::vector<StreamItem> Stream::take() {
  std::lock_guard lock(mutex_);
  std::vector<StreamItem> out(std::make_move_iterator(items_.begin()),
                              std::make_move_iterator(items_.end()));
  items_.clear();
  pending_bytes_ = 0;
  if (state_ == StreamState::kFinishing) apply(StreamEvent::kDrained);
  return out;
}

std::vector<StreamItem> Stream::wait_take(int timeout_ms) {
  {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                    [&] { return !items_.empty() || state_ != StreamState::kOpen; });
  }
  return take();
}

bool Stream::done() const {
  std::lock_guard lock(mutex_);
  return state_ == StreamState::kClosed || state_ == StreamState::kAbandoned;
}

void Stream::abandon() {
  std::lock_guard lock(mutex_);
  apply(StreamEvent::kConsumerGone);
  items_.clear();
  pending_bytes_ = 0;
}

bool Stream::abandoned() const {
  std::lock_guard lock(mutex_);
  return state_ == StreamState::kAbandoned;
}

void Stream::set_notify(std::function<void()> notify) {
  std::lock_guard lock(mutex_);
  notify_ = std::move(notify);
}

void Stream::notify_consumer() {
  std::function<void()> fn;
  {
    std::lock_guard lock(mutex_);
    fn = notify_;
  }
  ready_.notify_all();
  if (fn) fn();
}

std::optional<core::Status> Stream::error() const {
  std::lock_guard lock(mutex_);
  return error_;
}

Usage Stream::usage() const {
  std::lock_guard lock(mutex_);
  return usage_;
}

StreamTimes Stream::times() const {
  std::lock_guard lock(mutex_);
  return times_;
}

StreamState Stream::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

}  // namespace mlxs::engine
