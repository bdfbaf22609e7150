// Failure injection, each case deterministic and bounded in time: a worker
// that stops answering (SIGSTOP), one that writes garbage, one that writes a
// 100 MB line, one that exits at start again and again (the breaker trips,
// the control plane stays up and says why), and a slow control plane that
// lets the worker's pipe fill up (no false hang, nothing lost).
#include <signal.h>

#include <gtest/gtest.h>

#include "core/log.h"
#include "harness.h"
#include "recording_sink.h"

namespace mlxs::control {
namespace {

using namespace testing;

TEST(FailureInjection, WorkerThatStopsAnsweringIsKilledAndReplaced) {
  RecordingLauncher launcher([](int) { return runtime_argv(); });
  SupervisorOptions o = fast_options();
  o.heartbeat_interval_ns = 100 * kMillis;
  o.heartbeat_timeout_ns = 400 * kMillis;
  ControlPlane cp({launcher.launcher()}, o);
  cp.start();
  ASSERT_TRUE(wait_ready(cp)) << cp.readiness().reason;
  ASSERT_TRUE(call_sync(cp, "load_model", load_params("tiny")).is_ok());
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 3; ++i) {
    auto sink = std::make_shared<RecordingSink>();
    auto p = gen_params("tiny", 4000, i);
    p.stop_token_ids = {};
    ASSERT_TRUE(generate_sync(cp, p, sink).is_ok());
    sinks.push_back(sink);
  }
  for (auto& s : sinks) ASSERT_TRUE(s->wait_tokens(1, 60s));
  const int pid = launcher.last_pid();
  ASSERT_EQ(::kill(pid, SIGSTOP), 0);  // alive, silent
  const auto stopped_at = std::chrono::steady_clock::now();
  for (auto& s : sinks) {
    // Detection takes the heartbeat timeout plus at most one interval and one tick.
    ASSERT_TRUE(s->wait_end(3s));
    if (s->ended_at < stopped_at) continue;
    EXPECT_EQ(s->end->code, "WorkerCrashed");
    EXPECT_LT(s->ended_at - stopped_at, 1400ms);
  }
  ASSERT_TRUE(wait_ready(cp)) << cp.readiness().reason;
  EXPECT_EQ(metric(cp, "mlxs_worker_hangs_total"), 1.0);
  EXPECT_NE(cp.readiness().workers[0].last_error.find("hung"), std::string::npos)
      << cp.readiness().workers[0].last_error;
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(generate_sync(cp, gen_params("tiny", 4), sink).is_ok()) << "model reloaded";
  ASSERT_TRUE(sink->wait_end(60s));
  EXPECT_EQ(sink->end->event, "completed");
}

// The first worker misbehaves after its start; the next one is the real runtime.
void misbehaves_then_recovers(const std::string& mode, const std::string& expect_in_error) {
  RecordingLauncher launcher([mode](int n) { return n == 0 ? fake_argv(mode) : runtime_argv(); });
  ControlPlane cp({launcher.launcher()}, fast_options());
  cp.start();
  ASSERT_TRUE(eventually([&] { return launcher.launches() >= 2 && cp.readiness().ready; }, 60s))
      << cp.readiness().reason;
  EXPECT_EQ(metric(cp, "mlxs_worker_crashes_total"), 1.0);
  EXPECT_NE(cp.readiness().workers[0].last_error.find(expect_in_error), std::string::npos)
      << cp.readiness().workers[0].last_error;
  ASSERT_TRUE(call_sync(cp, "load_model", load_params("tiny")).is_ok());
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(generate_sync(cp, gen_params("tiny", 3), sink).is_ok());
  ASSERT_TRUE(sink->wait_end(60s));
  EXPECT_EQ(sink->end->event, "completed");
}

TEST(FailureInjection, GarbageOnStdoutKillsTheWorker) {
  misbehaves_then_recovers("garbage", "not a JSON-RPC message");
}

TEST(FailureInjection, HundredMegabyteLineIsNotBuffered) {
  misbehaves_then_recovers("huge", "longer than");
}

TEST(FailureInjection, ExitingAtStartTripsTheBreakerAndTheControlPlaneSaysWhy) {
  std::atomic<bool> healthy{false};
  RecordingLauncher launcher(
      [&](int) { return healthy.load() ? runtime_argv() : fake_argv("exit"); });
  // Launches counted at each trip, from the breaker's own log event (runs
  // on the supervising thread at the transition).
  std::mutex mutex;
  std::vector<int> launches_at_trip;
  core::set_log_sink([&](std::string_view line) {
    if (line.find("\"breaker_transition\"") == std::string_view::npos) return;
    if (line.find("\"to\":\"Tripped\"") == std::string_view::npos) return;
    std::lock_guard lock(mutex);
    launches_at_trip.push_back(launcher.launches());
  });
  struct RestoreSink {
    ~RestoreSink() { core::set_log_sink({}); }
  } restore_sink;
  SupervisorOptions o = fast_options();
  o.breaker.failure_threshold = 10;
  o.breaker.recovery_timeout_ns = 1'000 * kMillis;
  o.backoff_initial_ns = 5 * kMillis;
  o.backoff_max_ns = 20 * kMillis;
  ControlPlane cp({launcher.launcher()}, o);
  cp.start();
  ASSERT_TRUE(eventually(
      [&] {
        return metric(cp, "mlxs_breaker_transitions_total",
                      {{"from", "Starting"}, {"to", "Tripped"}}) == 1.0;
      },
      30s));
  {
    std::lock_guard lock(mutex);
    ASSERT_FALSE(launches_at_trip.empty());
    EXPECT_EQ(launches_at_trip[0], 10) << "tripped by the 10th failed start";
  }
  // The control plane stays up, says why, and refuses at once with the reason.
  const Readiness r = cp.readiness();
  EXPECT_FALSE(r.ready);
  // Tripped ("circuit breaker tripped after N failures …"), or already
  // probing when the 1 s cool-down passed on a loaded machine ("… is being
  // probed after its circuit breaker tripped").
  EXPECT_NE(r.reason.find("circuit breaker tripped"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("the worker exited"), std::string::npos) << r.reason;
  if (r.workers[0].breaker_state == "Tripped") {
    auto refused = call_sync(cp, "runtime/info", Json::object());
    ASSERT_FALSE(refused.is_ok());
    EXPECT_EQ(refused.status().code(), core::ErrorCode::kTransportError);
    EXPECT_NE(refused.status().message().find("tripped"), std::string::npos);
  }
  // After each cool-down exactly one probe starts; it fails and trips again.
  ASSERT_TRUE(eventually(
      [&] {
        return metric(cp, "mlxs_breaker_transitions_total",
                      {{"from", "HalfOpen"}, {"to", "Tripped"}}) >= 1.0;
      },
      10s));
  {
    std::lock_guard lock(mutex);
    for (std::size_t i = 0; i < launches_at_trip.size(); ++i) {
      EXPECT_EQ(launches_at_trip[i], 10 + static_cast<int>(i)) << "trip " << i;
    }
  }
  // Once the worker can start, the next probe closes the breaker.
  healthy.store(true);
  ASSERT_TRUE(wait_ready(cp, 60s)) << cp.readiness().reason;
  EXPECT_EQ(metric(cp, "mlxs_breaker_transitions_total", {{"from", "HalfOpen"}, {"to", "Running"}}),
            1.0);
  EXPECT_EQ(metric(cp, "mlxs_worker_start_failures_total") + 1, launcher.launches());
  EXPECT_TRUE(call_sync(cp, "runtime/info", Json::object()).is_ok());
}

TEST(FailureInjection, SlowControlPlaneFillsThePipeWithoutFalseHangOrLoss) {
  RecordingLauncher launcher([](int) { return runtime_argv(); });
  SupervisorOptions o = fast_options();
  o.heartbeat_interval_ns = 50 * kMillis;
  o.heartbeat_timeout_ns = 300 * kMillis;
  ControlPlane cp({launcher.launcher()}, o);
  cp.start();
  ASSERT_TRUE(wait_ready(cp)) << cp.readiness().reason;
  ASSERT_TRUE(call_sync(cp, "load_model", load_params("tiny")).is_ok());
  // The first callback blocks the reader for 2 s (heartbeats go unanswered
  // meanwhile, and the worker's output backs up in the pipe).
  std::atomic<bool> blocked_once{false};
  const auto block = [&] {
    if (!blocked_once.exchange(true)) std::this_thread::sleep_for(2s);
  };
  constexpr int kStreams = 4;
  constexpr int kTokens = 400;
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < kStreams; ++i) {
    auto sink = std::make_shared<RecordingSink>();
    sink->slow = block;
    auto p = gen_params("tiny", kTokens, i);
    p.stop_token_ids = {};
    ASSERT_TRUE(generate_sync(cp, p, sink).is_ok());
    sinks.push_back(sink);
  }
  for (auto& s : sinks) {
    ASSERT_TRUE(s->wait_end(120s));
    EXPECT_EQ(s->end->event, "completed") << s->end->error.value_or("");
    ASSERT_TRUE(s->stats);
    EXPECT_EQ(s->stats->tokens_generated, static_cast<std::int64_t>(s->ids.size()))
        << "nothing lost";
  }
  EXPECT_EQ(metric(cp, "mlxs_worker_hangs_total"), 0.0);
  EXPECT_EQ(metric(cp, "mlxs_worker_restarts_total"), 0.0);
  EXPECT_EQ(launcher.launches(), 1);
}

}  // namespace
}  // namespace mlxs::control
