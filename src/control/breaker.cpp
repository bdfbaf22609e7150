#include "control/breaker.h"

#include <fmt/format.h>

#include "core/log.h"

namespace mlxs::control {

using core::ErrorCode;
using core::Status;

std::string_view breaker_state_name(BreakerState state) {
  switch (state) {
    case BreakerState::kStopped:
      return "Stopped";
    case BreakerState::kStarting:
      return "Starting";
    case BreakerState::kRunning:
      return "Running";
    case BreakerState::kHalfOpen:
      return "HalfOpen";
    case BreakerState::kTripped:
      return "Tripped";
  }
  return "?";
}

std::string_view breaker_event_name(BreakerEvent event) {
  switch (event) {
    case BreakerEvent::kLaunch:
      return "launch";
    case BreakerEvent::kReady:
      return "ready";
    case BreakerEvent::kFailure:
      return "failure";
    case BreakerEvent::kTrip:
      return "trip";
    case BreakerEvent::kCooldownElapsed:
      return "cooldown_elapsed";
    case BreakerEvent::kStop:
      return "stop";
  }
  return "?";
}

core::Result<BreakerState> transition(BreakerState state, BreakerEvent event) {
  using S = BreakerState;
  using E = BreakerEvent;
  if (event == E::kStop) return S::kStopped;
  std::optional<S> next;
  switch (state) {
    case S::kStopped:
      if (event == E::kLaunch) next = S::kStarting;
      break;
    case S::kStarting:
      if (event == E::kReady) next = S::kRunning;
      if (event == E::kFailure) next = S::kStarting;
      if (event == E::kTrip) next = S::kTripped;
      break;
    case S::kRunning:
      if (event == E::kFailure) next = S::kStarting;
      if (event == E::kTrip) next = S::kTripped;
      break;
    case S::kHalfOpen:
      if (event == E::kReady) next = S::kRunning;
      if (event == E::kFailure || event == E::kTrip) next = S::kTripped;
      break;
    case S::kTripped:
      if (event == E::kCooldownElapsed) next = S::kHalfOpen;
      break;
  }
  if (!next) {
    return Status(ErrorCode::kInvalidRequest,
                  fmt::format("breaker: no transition from {} on {}", breaker_state_name(state),
                              breaker_event_name(event)));
  }
  return *next;
}

Breaker::Breaker(std::string worker, BreakerOptions options, const core::Clock& clock,
                 Listener listener)
    : worker_(std::move(worker)),
      options_(options),
      clock_(clock),
      listener_(std::move(listener)) {}

Status Breaker::fire(BreakerEvent event, const std::string& reason) {
  MLXS_ASSIGN_OR_RETURN(const BreakerState next, transition(state_, event));
  const BreakerState from = state_;
  state_ = next;
  if (next == BreakerState::kTripped) tripped_at_ = clock_.now_ns();
  if (next == BreakerState::kRunning && from == BreakerState::kHalfOpen) failures_.clear();
  const core::LogLevel level =
      next == BreakerState::kTripped ? core::LogLevel::kError : core::LogLevel::kInfo;
  core::log_event(level, "breaker_transition",
                  {{"worker", worker_},
                   {"from", breaker_state_name(from)},
                   {"to", breaker_state_name(next)},
                   {"trigger", breaker_event_name(event)},
                   {"reason", reason},
                   {"failures", failures_.size()},
                   {"threshold", options_.failure_threshold}});
  if (listener_) listener_(from, next, event, reason);
  return {};
}

Status Breaker::launch() {
  return fire(BreakerEvent::kLaunch, "launch");
}

Status Breaker::ready() {
  return fire(BreakerEvent::kReady, "worker ready");
}

void Breaker::forget_old_failures() {
  const core::Nanos horizon = clock_.now_ns() - options_.failure_window_ns;
  while (!failures_.empty() && failures_.front() < horizon) failures_.pop_front();
}

BreakerState Breaker::failure(const std::string& reason) {
  forget_old_failures();
  failures_.push_back(clock_.now_ns());
  const bool trip = state_ == BreakerState::kHalfOpen ||
                    static_cast<int>(failures_.size()) >= options_.failure_threshold;
  const Status s = fire(trip ? BreakerEvent::kTrip : BreakerEvent::kFailure, reason);
  if (!s.is_ok())
    core::log_warn("breaker_ignored_event", {{"worker", worker_}, {"why", s.message()}});
  return state_;
}

bool Breaker::try_half_open() {
  if (state_ != BreakerState::kTripped || clock_.now_ns() < retry_at()) return false;
  return fire(BreakerEvent::kCooldownElapsed, "cool-down elapsed").is_ok();
}

void Breaker::stop(const std::string& reason) {
  if (state_ != BreakerState::kStopped) (void)fire(BreakerEvent::kStop, reason);
}

int Breaker::recent_failures() const {
  const core::Nanos horizon = clock_.now_ns() - options_.failure_window_ns;
  int n = 0;
  for (const core::Nanos t : failures_) n += t >= horizon ? 1 : 0;
  return n;
}

}  // namespace mlxs::control
