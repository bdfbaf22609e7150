#include "cluster/request_fate.h"

namespace mlxs::cluster {

FateTransition fate_transition(FateState state, FateEvent event) {
  const auto to = [](FateState s) { return FateTransition{s, true}; };
  const FateTransition invalid{state, false};
  switch (state) {
    case FateState::kWaiting:
      switch (event) {
        case FateEvent::kRouted:
          return to(FateState::kSent);
        case FateEvent::kExpired:
        case FateEvent::kCancelled:
          return to(FateState::kEnded);
        case FateEvent::kAccepted:
        case FateEvent::kRefused:
        case FateEvent::kHostLost:
        case FateEvent::kStreamEnd:
        case FateEvent::kRetriesOut:
          return invalid;
      }
      break;
    case FateState::kSent:
      switch (event) {
        case FateEvent::kAccepted:
          return to(FateState::kStarted);
        // Nothing reached the client yet: another host may serve it.
        case FateEvent::kHostLost:
          return to(FateState::kWaiting);
        case FateEvent::kRefused:
        case FateEvent::kCancelled:
        case FateEvent::kExpired:
        case FateEvent::kRetriesOut:
          return to(FateState::kEnded);
        case FateEvent::kRouted:
        case FateEvent::kStreamEnd:
          return invalid;
      }
      break;
    case FateState::kStarted:
      switch (event) {
        // Tokens may have reached the client: the stream ends (WorkerCrashed).
        case FateEvent::kHostLost:
        case FateEvent::kStreamEnd:
        case FateEvent::kCancelled:
        case FateEvent::kRetriesOut:
          return to(FateState::kEnded);
        case FateEvent::kRouted:
        case FateEvent::kAccepted:
        case FateEvent::kRefused:
        case FateEvent::kExpired:
          return invalid;
      }
      break;
    case FateState::kEnded:
      switch (event) {
        case FateEvent::kRouted:
        case FateEvent::kAccepted:
        case FateEvent::kRefused:
        case FateEvent::kHostLost:
        case FateEvent::kStreamEnd:
        case FateEvent::kExpired:
        case FateEvent::kCancelled:
        case FateEvent::kRetriesOut:
          return invalid;
      }
      break;
  }
  return invalid;
}

FateEvent fate_event_of(core::ErrorCode code) {
  return code == core::ErrorCode::kWorkerCrashed || code == core::ErrorCode::kTransportError
             ? FateEvent::kHostLost
             : FateEvent::kRefused;
}

std::string_view fate_state_name(FateState s) {
  switch (s) {
    case FateState::kWaiting:
      return "Waiting";
    case FateState::kSent:
      return "Sent";
    case FateState::kStarted:
      return "Started";
    case FateState::kEnded:
      return "Ended";
  }
  return "?";
}

std::string_view fate_event_name(FateEvent e) {
  switch (e) {
    case FateEvent::kRouted:
      return "Routed";
    case FateEvent::kAccepted:
      return "Accepted";
    case FateEvent::kRefused:
      return "Refused";
    case FateEvent::kHostLost:
      return "HostLost";
    case FateEvent::kStreamEnd:
      return "StreamEnd";
    case FateEvent::kExpired:
      return "Expired";
    case FateEvent::kCancelled:
      return "Cancelled";
    case FateEvent::kRetriesOut:
      return "RetriesOut";
  }
  return "?";
}

}  // namespace mlxs::cluster
