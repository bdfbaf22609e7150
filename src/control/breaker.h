#pragma once
// The circuit breaker of one worker, as an explicit state machine
// (../shared/DESIGN.md §3.3): one enum of states, one of events, and a pure
// transition function; Breaker adds the counting (failures within a window,
// the threshold that trips it, the cool-down before a probe) and reports
// every transition as a structured log event and to a listener (metrics).
//
//   Stopped  --launch-->  Starting  --ready-->  Running
//   Starting --failure--> Starting (retry after backoff)
//   Running  --failure--> Starting (the worker crashed or hung: restart)
//   Starting|Running --trip--> Tripped (failures in the window reached the threshold)
//   Tripped  --cooldown_elapsed--> HalfOpen (one probe start)
//   HalfOpen --ready--> Running (closed again: failures forgotten)
//   HalfOpen --failure|trip--> Tripped (cool-down restarts)
//   any      --stop-->  Stopped

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/clock.h"
#include "core/status.h"

namespace mlxs::control {

enum class BreakerState : std::uint8_t { kStopped, kStarting, kRunning, kHalfOpen, kTripped };
enum class BreakerEvent : std::uint8_t {
  kLaunch,
  kReady,
  kFailure,
  kTrip,
  kCooldownElapsed,
  kStop,
};
inline constexpr int kBreakerStateCount = 5;
inline constexpr int kBreakerEventCount = 6;

std::string_view breaker_state_name(BreakerState state);  // "Stopped", "HalfOpen", ...
std::string_view breaker_event_name(BreakerEvent event);  // "launch", "cooldown_elapsed", ...

// Pure: the next state, or InvalidRequest when `event` cannot happen in `state`.
core::Result<BreakerState> transition(BreakerState state, BreakerEvent event);

struct BreakerOptions {
  int failure_threshold = 5;                         // failures in the window that trip it
  core::Nanos failure_window_ns = 60'000'000'000;    // failures older than this are forgotten
  core::Nanos recovery_timeout_ns = 10'000'000'000;  // Tripped -> HalfOpen after this
};

class Breaker {
 public:
  // (from, to, event, reason): called after each transition.
  using Listener =
      std::function<void(BreakerState, BreakerState, BreakerEvent, const std::string& reason)>;

  Breaker(std::string worker, BreakerOptions options, const core::Clock& clock,
          Listener listener = {});

  BreakerState state() const { return state_; }
  // Stopped -> Starting.
  core::Status launch();
  // Starting|HalfOpen -> Running. From HalfOpen the failures are forgotten.
  core::Status ready();
  // A failed start, a crash or a hang: Starting again, or Tripped once the
  // failures within the window reach the threshold (HalfOpen always trips).
  BreakerState failure(const std::string& reason);
  // Tripped -> HalfOpen when the cool-down has passed; false otherwise.
  bool try_half_open();
  void stop(const std::string& reason);

  int recent_failures() const;
  // When a Tripped breaker lets the next probe through.
  core::Nanos retry_at() const { return tripped_at_ + options_.recovery_timeout_ns; }
  const BreakerOptions& options() const { return options_; }

 private:
  core::Status fire(BreakerEvent event, const std::string& reason);
  void forget_old_failures();

  const std::string worker_;
  const BreakerOptions options_;
  const core::Clock& clock_;
  Listener listener_;
  BreakerState state_ = BreakerState::kStopped;
  std::deque<core::Nanos> failures_;  // times of recent failures, oldest first
  core::Nanos tripped_at_ = 0;
};

}  // namespace mlxs::control
