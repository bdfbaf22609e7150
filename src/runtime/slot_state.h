#pragma once
// The lifecycle of one model slot in the registry, as an explicit state
// machine (../shared/DESIGN.md §3.3):
//
//   Loading --load_succeeded--> Ready --unload_requested--> Unloading --released--> Gone
//   Loading --load_failed--> Gone
//   Loading --unload_requested--> Unloading  (the load's result is discarded)
//
// Only Ready slots are listed by runtime/state and serve requests.

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace mlxs::runtime {

enum class SlotState : std::uint8_t { kLoading, kReady, kUnloading, kGone };
inline constexpr int kSlotStateCount = 4;

enum class SlotEvent : std::uint8_t { kLoadSucceeded, kLoadFailed, kUnloadRequested, kReleased };
inline constexpr int kSlotEventCount = 4;

std::string_view slot_state_name(SlotState s);
std::string_view slot_event_name(SlotEvent e);

// The one place that says which moves are legal; InternalError otherwise.
core::Result<SlotState> transition(SlotState state, SlotEvent event);

}  // namespace mlxs::runtime
