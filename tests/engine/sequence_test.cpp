// The sequence and stream lifecycles, over every (state, event) pair.
#include <gtest/gtest.h>

#include "engine/sequence.h"
#include "engine/stream.h"

namespace mlxs::engine {
namespace {

TEST(SequenceStateMachine, EveryStateEventPair) {
  using S = SeqState;
  using E = SeqEvent;
  constexpr S X = static_cast<S>(255);  // illegal
  // Rows: states; columns: schedule, prompt_done, preempt, finish, cancel, timeout, fail.
  const S table[kSeqStateCount][kSeqEventCount] = {
      /* waiting    */ {S::kPrefilling, X, X, X, S::kFinished, S::kFinished, S::kFinished},
      /* prefilling */
      {X, S::kDecoding, S::kPreempted, S::kFinished, S::kFinished, S::kFinished, S::kFinished},
      /* decoding   */
      {X, X, S::kPreempted, S::kFinished, S::kFinished, S::kFinished, S::kFinished},
      // A preempted sequence's pending token (overlap mode) can end it.
      /* preempted  */
      {S::kPrefilling, X, X, S::kFinished, S::kFinished, S::kFinished, S::kFinished},
      /* finished   */ {X, X, X, X, X, X, X},
  };
  for (int s = 0; s < kSeqStateCount; ++s) {
    for (int e = 0; e < kSeqEventCount; ++e) {
      const auto got = transition(static_cast<S>(s), static_cast<E>(e));
      const S want = table[s][e];
      SCOPED_TRACE(std::string(seq_state_name(static_cast<S>(s))) + " + " +
                   std::string(seq_event_name(static_cast<E>(e))));
      if (want == X) {
        EXPECT_FALSE(got.is_ok());
        EXPECT_EQ(got.status().code(), core::ErrorCode::kInternalError);
      } else {
        ASSERT_TRUE(got.is_ok());
        EXPECT_EQ(*got, want);
      }
    }
  }
}

TEST(StreamStateMachine, EveryStateEventPair) {
  using S = StreamState;
  using E = StreamEvent;
  constexpr S X = static_cast<S>(255);
  // Columns: data, finish, drained, consumer_gone.
  const S table[kStreamStateCount][kStreamEventCount] = {
      /* open      */ {S::kOpen, S::kFinishing, X, S::kAbandoned},
      /* finishing */ {X, X, S::kClosed, S::kAbandoned},
      /* closed    */ {X, X, X, S::kClosed},
      /* abandoned */ {S::kAbandoned, S::kAbandoned, X, S::kAbandoned},
  };
  for (int s = 0; s < kStreamStateCount; ++s) {
    for (int e = 0; e < kStreamEventCount; ++e) {
      const auto got = transition(static_cast<S>(s), static_cast<E>(e));
      SCOPED_TRACE(std::string(stream_state_name(static_cast<S>(s))) + " + " +
                   std::string(stream_event_name(static_cast<E>(e))));
      if (table[s][e] == X) {
        EXPECT_FALSE(got.is_ok());
      } else {
        ASSERT_TRUE(got.is_ok());
        EXPECT_EQ(*got, table[s][e]);
      }
    }
  }
}

}  // namespace
}  // namespace mlxs::engine
