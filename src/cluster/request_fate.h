#pragma once
// What becomes of one generate request in the control plane of a cluster, as
// a state machine: it waits (no host holding its model is up), is sent to a
// host, starts (the host accepted it: from here the client has its stream),
// and ends. The one rule that matters: a host lost before the request
// started sends it back to waiting, so it goes to another host holding the
// model (a queued request is never failed for its host's loss); a host lost
// after it started ends the stream with WorkerCrashed. A bounded number of
// such returns keeps a request that kills every host it reaches from
// circling forever.

#include <cstdint>
#include <string_view>

#include "core/error.h"

namespace mlxs::cluster {

enum class FateState : std::uint8_t { kWaiting, kSent, kStarted, kEnded };

enum class FateEvent : std::uint8_t {
  kRouted,      // a host that is up and holds the model was chosen
  kAccepted,    // the host answered generate: the stream runs
  kRefused,     // the host answered with an error of the request's own
  kHostLost,    // the host's session ended (missed heartbeats, link, crash)
  kStreamEnd,   // the stream's end event reached the client
  kExpired,     // the request timeout passed while waiting
  kCancelled,   // the client cancelled it
  kRetriesOut,  // lost with its last allowed return to waiting spent
};

struct FateTransition {
  FateState next = FateState::kEnded;
  bool valid = false;  // false: the event cannot happen in this state (next = state)
};

FateTransition fate_transition(FateState state, FateEvent event);

// How a failed generate answer counts: the host's session is gone
// (WorkerCrashed, TransportError) or the host refused the request itself.
FateEvent fate_event_of(core::ErrorCode code);

std::string_view fate_state_name(FateState s);
std::string_view fate_event_name(FateEvent e);

// Returns to waiting one request may take before its loss fails it.
inline constexpr int kMaxHostLosses = 3;

}  // namespace mlxs::cluster
