// The model slot machine over every (state, event) pair.
#include <gtest/gtest.h>

#include "runtime/slot_state.h"

namespace mlxs::runtime {
namespace {

using S = SlotState;
using E = SlotEvent;

TEST(SlotState, TransitionTable) {
  // Expected next state; kGone with `legal = false` marks an illegal move.
  struct Row {
    S from;
    E event;
    bool legal;
    S to;
  };
  const Row table[] = {
      {S::kLoading, E::kLoadSucceeded, true, S::kReady},
      {S::kLoading, E::kLoadFailed, true, S::kGone},
      {S::kLoading, E::kUnloadRequested, true, S::kUnloading},
      {S::kLoading, E::kReleased, false, S::kGone},
      {S::kReady, E::kLoadSucceeded, false, S::kGone},
      {S::kReady, E::kLoadFailed, false, S::kGone},
      {S::kReady, E::kUnloadRequested, true, S::kUnloading},
      {S::kReady, E::kReleased, false, S::kGone},
      {S::kUnloading, E::kLoadSucceeded, true, S::kUnloading},
      {S::kUnloading, E::kLoadFailed, true, S::kUnloading},
      {S::kUnloading, E::kUnloadRequested, true, S::kUnloading},
      {S::kUnloading, E::kReleased, true, S::kGone},
      {S::kGone, E::kLoadSucceeded, false, S::kGone},
      {S::kGone, E::kLoadFailed, false, S::kGone},
      {S::kGone, E::kUnloadRequested, false, S::kGone},
      {S::kGone, E::kReleased, false, S::kGone},
  };
  static_assert(std::size(table) == kSlotStateCount * kSlotEventCount);
  int covered[kSlotStateCount][kSlotEventCount] = {};
  for (const Row& r : table) {
    ++covered[static_cast<int>(r.from)][static_cast<int>(r.event)];
    const auto next = transition(r.from, r.event);
    EXPECT_EQ(next.is_ok(), r.legal)
        << slot_state_name(r.from) << " + " << slot_event_name(r.event);
    if (r.legal && next.is_ok()) {
      EXPECT_EQ(*next, r.to) << slot_state_name(r.from) << " + " << slot_event_name(r.event);
    }
    if (!next.is_ok()) {
      EXPECT_EQ(next.status().code(), core::ErrorCode::kInternalError);
    }
  }
  for (int s = 0; s < kSlotStateCount; ++s) {
    for (int e = 0; e < kSlotEventCount; ++e) EXPECT_EQ(covered[s][e], 1) << s << "," << e;
  }
}

TEST(SlotState, Names) {
  EXPECT_EQ(slot_state_name(S::kReady), "ready");
  EXPECT_EQ(slot_event_name(E::kReleased), "released");
}

}  // namespace
}  // namespace mlxs::runtime
