// The breaker's transition table over every (state, event) pair, and the
// counting around it: the threshold within the window, the cool-down, the
// half-open probe, and one log event per transition.
#include "control/breaker.h"

#include <array>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "core/log.h"

namespace mlxs::control {
namespace {

using S = BreakerState;
using E = BreakerEvent;

constexpr std::array<S, kBreakerStateCount> kStates = {S::kStopped, S::kStarting, S::kRunning,
                                                       S::kHalfOpen, S::kTripped};
constexpr std::array<E, kBreakerEventCount> kEvents = {E::kLaunch, E::kReady,           E::kFailure,
                                                       E::kTrip,   E::kCooldownElapsed, E::kStop};

// The whole table: nullopt where the event cannot happen.
std::optional<S> expected(S s, E e) {
  const std::map<std::pair<S, E>, S> table = {
      {{S::kStopped, E::kLaunch}, S::kStarting},
      {{S::kStopped, E::kStop}, S::kStopped},
      {{S::kStarting, E::kReady}, S::kRunning},
      {{S::kStarting, E::kFailure}, S::kStarting},
      {{S::kStarting, E::kTrip}, S::kTripped},
      {{S::kStarting, E::kStop}, S::kStopped},
      {{S::kRunning, E::kFailure}, S::kStarting},
      {{S::kRunning, E::kTrip}, S::kTripped},
      {{S::kRunning, E::kStop}, S::kStopped},
      {{S::kHalfOpen, E::kReady}, S::kRunning},
      {{S::kHalfOpen, E::kFailure}, S::kTripped},
      {{S::kHalfOpen, E::kTrip}, S::kTripped},
      {{S::kHalfOpen, E::kStop}, S::kStopped},
      {{S::kTripped, E::kCooldownElapsed}, S::kHalfOpen},
      {{S::kTripped, E::kStop}, S::kStopped},
  };
  const auto it = table.find({s, e});
  if (it == table.end()) return std::nullopt;
  return it->second;
}

TEST(BreakerTransition, EveryStateAndEventPair) {
  int valid = 0;
  for (const S s : kStates) {
    for (const E e : kEvents) {
      const auto want = expected(s, e);
      const auto got = transition(s, e);
      SCOPED_TRACE(std::string(breaker_state_name(s)) + " + " + std::string(breaker_event_name(e)));
      if (want) {
        ASSERT_TRUE(got.is_ok()) << got.status().to_string();
        EXPECT_EQ(*got, *want);
        ++valid;
      } else {
        ASSERT_FALSE(got.is_ok());
        EXPECT_EQ(got.status().code(), core::ErrorCode::kInvalidRequest);
      }
    }
  }
  EXPECT_EQ(valid, 15);
}

TEST(BreakerTransition, NamesAreDistinct) {
  std::set<std::string_view> names;
  for (const S s : kStates) names.insert(breaker_state_name(s));
  for (const E e : kEvents) names.insert(breaker_event_name(e));
  EXPECT_EQ(names.size(), kStates.size() + kEvents.size());
  EXPECT_EQ(breaker_state_name(S::kHalfOpen), "HalfOpen");
}

class BreakerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    core::set_log_sink([this](std::string_view line) { logs.emplace_back(line); });
  }
  void TearDown() override { core::set_log_sink({}); }

  BreakerOptions options() const {
    BreakerOptions o;
    o.failure_threshold = 3;
    o.failure_window_ns = 1'000;
    o.recovery_timeout_ns = 500;
    return o;
  }

  core::FakeClock clock;
  std::vector<std::string> logs;
  std::vector<std::pair<S, S>> seen;
};

TEST_F(BreakerTest, TripsAtTheThresholdWithinTheWindow) {
  Breaker b("w", options(), clock,
            [&](S from, S to, E, const std::string&) { seen.emplace_back(from, to); });
  ASSERT_TRUE(b.launch().is_ok());
  EXPECT_EQ(b.failure("exit 1"), S::kStarting);
  clock.advance_ns(10);
  EXPECT_EQ(b.failure("exit 1"), S::kStarting);
  EXPECT_EQ(b.recent_failures(), 2);
  clock.advance_ns(10);
  EXPECT_EQ(b.failure("exit 1"), S::kTripped);
  EXPECT_EQ(b.retry_at(), clock.now_ns() + 500);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen.back(), std::make_pair(S::kStarting, S::kTripped));
  // One JSON log line per transition, naming both states.
  int transitions = 0;
  for (const auto& l : logs) {
    if (l.find("\"event\":\"breaker_transition\"") == std::string::npos) continue;
    ++transitions;
    EXPECT_NE(l.find("\"worker\":\"w\""), std::string::npos) << l;
  }
  EXPECT_EQ(transitions, 4);
  EXPECT_NE(logs.back().find("\"to\":\"Tripped\""), std::string::npos) << logs.back();
}

TEST_F(BreakerTest, OldFailuresAreForgotten) {
  Breaker b("w", options(), clock);
  ASSERT_TRUE(b.launch().is_ok());
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(b.failure("crash"), S::kStarting) << i;
    clock.advance_ns(600);  // two failures never share the 1000 ns window with a third
  }
}

TEST_F(BreakerTest, CoolDownThenHalfOpenProbe) {
  Breaker b("w", options(), clock);
  ASSERT_TRUE(b.launch().is_ok());
  for (int i = 0; i < 3; ++i) b.failure("crash");
  ASSERT_EQ(b.state(), S::kTripped);
  clock.advance_ns(499);
  EXPECT_FALSE(b.try_half_open());
  clock.advance_ns(1);
  EXPECT_TRUE(b.try_half_open());
  EXPECT_EQ(b.state(), S::kHalfOpen);
  // A failed probe trips again at once, with a fresh cool-down.
  EXPECT_EQ(b.failure("probe failed"), S::kTripped);
  EXPECT_FALSE(b.try_half_open());
  clock.advance_ns(500);
  ASSERT_TRUE(b.try_half_open());
  // A good probe closes it and forgets the failures.
  ASSERT_TRUE(b.ready().is_ok());
  EXPECT_EQ(b.state(), S::kRunning);
  EXPECT_EQ(b.recent_failures(), 0);
  EXPECT_EQ(b.failure("crash"), S::kStarting);
}

TEST_F(BreakerTest, ImpossibleEventsAreRefusedAndStateKept) {
  Breaker b("w", options(), clock);
  EXPECT_FALSE(b.ready().is_ok());
  EXPECT_EQ(b.state(), S::kStopped);
  ASSERT_TRUE(b.launch().is_ok());
  EXPECT_FALSE(b.launch().is_ok());
  b.stop("bye");
  EXPECT_EQ(b.state(), S::kStopped);
}

}  // namespace
}  // namespace mlxs::control
