// The request-fate state machine over every (state, event) pair, the
// classification of a failed answer, and the latency window's quantiles.
#include "cluster/request_fate.h"

#include <gtest/gtest.h>

#include <map>
#include <utility>

#include "cluster/latency_window.h"

namespace mlxs::cluster {
namespace {

constexpr FateState kStates[] = {FateState::kWaiting, FateState::kSent, FateState::kStarted,
                                 FateState::kEnded};
constexpr FateEvent kEvents[] = {FateEvent::kRouted,    FateEvent::kAccepted,  FateEvent::kRefused,
                                 FateEvent::kHostLost,  FateEvent::kStreamEnd, FateEvent::kExpired,
                                 FateEvent::kCancelled, FateEvent::kRetriesOut};

TEST(RequestFate, EveryStateEventPair) {
  using S = FateState;
  using E = FateEvent;
  // The valid transitions; every other pair is invalid and keeps its state.
  const std::map<std::pair<S, E>, S> valid = {
      {{S::kWaiting, E::kRouted}, S::kSent},      {{S::kWaiting, E::kExpired}, S::kEnded},
      {{S::kWaiting, E::kCancelled}, S::kEnded},  {{S::kSent, E::kAccepted}, S::kStarted},
      {{S::kSent, E::kHostLost}, S::kWaiting},  // not started: another host serves it
      {{S::kSent, E::kRefused}, S::kEnded},       {{S::kSent, E::kCancelled}, S::kEnded},
      {{S::kSent, E::kExpired}, S::kEnded},       {{S::kSent, E::kRetriesOut}, S::kEnded},
      {{S::kStarted, E::kHostLost}, S::kEnded},  // started: WorkerCrashed to the client
      {{S::kStarted, E::kStreamEnd}, S::kEnded},  {{S::kStarted, E::kCancelled}, S::kEnded},
      {{S::kStarted, E::kRetriesOut}, S::kEnded},
  };
  int checked = 0;
  for (S s : kStates) {
    for (E e : kEvents) {
      const FateTransition t = fate_transition(s, e);
      const auto it = valid.find({s, e});
      SCOPED_TRACE(std::string(fate_state_name(s)) + " + " + std::string(fate_event_name(e)));
      if (it == valid.end()) {
        EXPECT_FALSE(t.valid);
        EXPECT_EQ(t.next, s);
      } else {
        EXPECT_TRUE(t.valid);
        EXPECT_EQ(t.next, it->second);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 32);
}

TEST(RequestFate, OnlyALostSessionSendsARequestBackToWaiting) {
  EXPECT_EQ(fate_event_of(core::ErrorCode::kWorkerCrashed), FateEvent::kHostLost);
  EXPECT_EQ(fate_event_of(core::ErrorCode::kTransportError), FateEvent::kHostLost);
  for (auto code :
       {core::ErrorCode::kInvalidParams, core::ErrorCode::kModelNotLoaded,
        core::ErrorCode::kTimeout, core::ErrorCode::kCancelled, core::ErrorCode::kQueueFull}) {
    EXPECT_EQ(fate_event_of(code), FateEvent::kRefused);
    EXPECT_EQ(fate_transition(FateState::kSent, fate_event_of(code)).next, FateState::kEnded);
  }
}

TEST(RequestFate, NamesAreDistinct) {
  std::map<std::string_view, int> seen;
  for (FateState s : kStates) ++seen[fate_state_name(s)];
  for (FateEvent e : kEvents) ++seen[fate_event_name(e)];
  for (const auto& [name, n] : seen) EXPECT_EQ(n, 1) << name;
  EXPECT_EQ(seen.count("?"), 0u);
}

TEST(LatencyWindow, QuantilesOverTheLastSamples) {
  LatencyWindow w(100);
  EXPECT_EQ(w.quantile(0.99), 0);
  for (int i = 1; i <= 100; ++i) w.record(i);
  EXPECT_EQ(w.quantile(0.5), 50);
  EXPECT_EQ(w.quantile(0.99), 99);
  EXPECT_EQ(w.quantile(1.0), 100);
  EXPECT_EQ(w.quantile(0.0), 1);
  EXPECT_EQ(w.count(), 100);
  EXPECT_EQ(w.total(), 5050);
  // The ring forgets the oldest: 100 samples of 1000 replace 1..100.
  for (int i = 0; i < 100; ++i) w.record(1000);
  EXPECT_EQ(w.quantile(0.0), 1000);
  EXPECT_EQ(w.count(), 200);
}

}  // namespace
}  // namespace mlxs::cluster
