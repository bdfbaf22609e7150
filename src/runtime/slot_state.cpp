#include "runtime/slot_state.h"

namespace mlxs::runtime {

std::string_view slot_state_name(SlotState s) {
  switch (s) {
    case SlotState::kLoading:
      return "loading";
    case SlotState::kReady:
      return "ready";
    case SlotState::kUnloading:
      return "unloading";
    case SlotState::kGone:
      return "gone";
  }
  return "unknown";
}

std::string_view slot_event_name(SlotEvent e) {
  switch (e) {
    case SlotEvent::kLoadSucceeded:
      return "load_succeeded";
    case SlotEvent::kLoadFailed:
      return "load_failed";
    case SlotEvent::kUnloadRequested:
      return "unload_requested";
    case SlotEvent::kReleased:
      return "released";
  }
  return "unknown";
}

core::Result<SlotState> transition(SlotState state, SlotEvent event) {
  auto illegal = [&]() -> core::Result<SlotState> {
    return core::make_error(core::ErrorCode::kInternalError,
                            "model slot: {} is not allowed while {}", slot_event_name(event),
                            slot_state_name(state));
  };
  switch (state) {
    case SlotState::kLoading:
      switch (event) {
        case SlotEvent::kLoadSucceeded:
          return SlotState::kReady;
        case SlotEvent::kLoadFailed:
          return SlotState::kGone;
        case SlotEvent::kUnloadRequested:
          return SlotState::kUnloading;
        case SlotEvent::kReleased:
          return illegal();
      }
      break;
    case SlotState::kReady:
      switch (event) {
        case SlotEvent::kUnloadRequested:
          return SlotState::kUnloading;
        case SlotEvent::kLoadSucceeded:
        case SlotEvent::kLoadFailed:
        case SlotEvent::kReleased:
          return illegal();
      }
      break;
    case SlotState::kUnloading:
      switch (event) {
        // A load that finishes after its unload was asked for is dropped.
        case SlotEvent::kLoadSucceeded:
        case SlotEvent::kLoadFailed:
        case SlotEvent::kUnloadRequested:
          return SlotState::kUnloading;
        case SlotEvent::kReleased:
          return SlotState::kGone;
      }
      break;
    case SlotState::kGone:
      switch (event) {
        case SlotEvent::kLoadSucceeded:
        case SlotEvent::kLoadFailed:
        case SlotEvent::kUnloadRequested:
        case SlotEvent::kReleased:
          return illegal();
      }
      break;
  }
  return illegal();
}

}  // namespace mlxs::runtime
