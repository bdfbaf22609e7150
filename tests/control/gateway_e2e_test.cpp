// The Gateway over the real `mlx-serving runtime`: negotiation, routing by
// model, streams with their stats and end, cancel, unload, two workers, and
// kill -9 under concurrent streams (every stream ends within 1 s with
// WorkerCrashed, queued requests are replayed, the model comes back on its
// own).
#include <signal.h>

#include <gtest/gtest.h>

#include "harness.h"
#include "recording_sink.h"

namespace mlxs::control {
namespace {

using namespace testing;

TEST(GatewayE2E, NegotiatesRoutesStreamsAndUnloads) {
  RecordingLauncher launcher([](int) { return runtime_argv(); });
  ControlPlane cp({launcher.launcher()}, fast_options());
  cp.start();
  ASSERT_TRUE(wait_ready(cp)) << cp.readiness().reason;
  EXPECT_EQ(launcher.launches(), 1);

  auto info = call_sync(cp, "runtime/info", Json::object());
  ASSERT_TRUE(info.is_ok()) << info.status().to_string();
  EXPECT_EQ((*info)["protocol_version"], "1.1");
  ASSERT_TRUE((*info).contains("extensions"));
  EXPECT_EQ((*info)["extensions"], Json::array({"stream.step", "model.load_progress"}))
      << "negotiated at start";

  // Unknown model: answered without a worker round trip.
  auto missing = call_sync(cp, "tokenize", Json{{"model_id", "nope"}, {"text", "x"}});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().code(), core::ErrorCode::kModelNotLoaded);

  auto loaded = call_sync(cp, "load_model", load_params("tiny"));
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ((*loaded)["model_id"], "tiny");
  // A worker error keeps its machine code.
  auto bad = call_sync(cp, "load_model", Json{{"model_id", "bad"}, {"local_path", "/no/such/dir"}});
  ASSERT_FALSE(bad.is_ok());
  EXPECT_EQ(bad.status().code(), core::ErrorCode::kModelLoadError) << bad.status().to_string();

  // Concurrent streams, each complete and in order: tokens, stats, end.
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 3; ++i) {
    auto sink = std::make_shared<RecordingSink>();
    auto r = generate_sync(cp, gen_params("tiny", 12, i), sink);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_TRUE((*r)["stream_id"].is_string());
    sinks.push_back(sink);
  }
  for (auto& s : sinks) {
    ASSERT_TRUE(s->wait_end(60s));
    EXPECT_EQ(s->end->event, "completed") << s->end->error.value_or("");
    EXPECT_GT(s->ids.size(), 0u);
    EXPECT_LE(s->ids.size(), 12u);
    ASSERT_TRUE(s->stats);
    EXPECT_EQ(s->stats->tokens_generated, static_cast<std::int64_t>(s->ids.size()));
    EXPECT_EQ(s->ends, 1);
    EXPECT_EQ(s->after_end, 0);
  }
  // Greedy is deterministic through the control plane.
  auto again = std::make_shared<RecordingSink>();
  ASSERT_TRUE(generate_sync(cp, gen_params("tiny", 12, 0), again).is_ok());
  ASSERT_TRUE(again->wait_end(60s));
  EXPECT_EQ(again->ids, sinks[0]->ids);

  // Cancel: the stream still ends, once.
  auto long_one = std::make_shared<RecordingSink>();
  auto p = gen_params("tiny", 4000, 7);
  p.stream_id = "to-cancel";
  p.stop_token_ids = {};
  ASSERT_TRUE(generate_sync(cp, p, long_one).is_ok());
  ASSERT_TRUE(long_one->wait_tokens(1, 60s));
  cp.cancel("to-cancel");
  cp.cancel("to-cancel");
  ASSERT_TRUE(long_one->wait_end(30s));
  EXPECT_EQ(long_one->ends, 1);

  EXPECT_EQ(metric(cp, "mlxs_worker_up"), 1.0);
  EXPECT_EQ(metric(cp, "mlxs_breaker_state", {{"state", "Running"}}), 1.0);
  EXPECT_EQ(metric(cp, "mlxs_breaker_transitions_total", {{"from", "Starting"}, {"to", "Running"}}),
            1.0);

  auto unloaded = call_sync(cp, "unload_model", Json{{"model_id", "tiny"}});
  ASSERT_TRUE(unloaded.is_ok()) << unloaded.status().to_string();
  auto state = call_sync(cp, "runtime/state", Json::object());
  ASSERT_TRUE(state.is_ok());
  EXPECT_TRUE((*state)["loaded_models"].empty()) << state->dump();
  auto refused = generate_sync(cp, gen_params("tiny", 2), std::make_shared<RecordingSink>());
  ASSERT_FALSE(refused.is_ok());
  EXPECT_EQ(refused.status().code(), core::ErrorCode::kModelNotLoaded);
  cp.stop();
  EXPECT_FALSE(cp.readiness().ready);
}

TEST(GatewayE2E, TwoWorkersEachHoldTheirModel) {
  RecordingLauncher l0([](int) { return runtime_argv(); });
  RecordingLauncher l1([](int) { return runtime_argv(); });
  ControlPlane cp({l0.launcher(), l1.launcher()}, fast_options());
  cp.start();
  ASSERT_TRUE(wait_ready(cp)) << cp.readiness().reason;
  ASSERT_TRUE(call_sync(cp, "load_model", load_params("a")).is_ok());
  ASSERT_TRUE(call_sync(cp, "load_model", load_params("b")).is_ok());
  const Readiness r = cp.readiness();
  ASSERT_EQ(r.workers.size(), 2u);
  EXPECT_EQ(r.workers[0].models.size(), 1u);
  EXPECT_EQ(r.workers[1].models.size(), 1u);
  EXPECT_NE(r.workers[0].models, r.workers[1].models);
  for (const char* m : {"a", "b"}) {
    auto sink = std::make_shared<RecordingSink>();
    ASSERT_TRUE(generate_sync(cp, gen_params(m, 4), sink).is_ok());
    ASSERT_TRUE(sink->wait_end(60s));
    EXPECT_EQ(sink->end->event, "completed");
  }
  auto state = call_sync(cp, "runtime/state", Json::object());
  ASSERT_TRUE(state.is_ok());
  EXPECT_EQ((*state)["loaded_models"].size(), 2u) << "merged over both workers";
}

TEST(GatewayE2E, KillNineMidStreamEndsEveryStreamThenRecovers) {
  RecordingLauncher launcher([](int) { return runtime_argv(); });
  SupervisorOptions o = fast_options();
  o.backoff_initial_ns = 500 * kMillis;  // a window in which requests queue
  ControlPlane cp({launcher.launcher()}, o);
  cp.start();
  ASSERT_TRUE(wait_ready(cp)) << cp.readiness().reason;
  ASSERT_TRUE(call_sync(cp, "load_model", load_params("tiny")).is_ok());

  std::vector<std::shared_ptr<RecordingSink>> sinks;
  for (int i = 0; i < 6; ++i) {
    auto sink = std::make_shared<RecordingSink>();
    auto p = gen_params("tiny", 4000, i);
    p.stop_token_ids = {};
    ASSERT_TRUE(generate_sync(cp, p, sink).is_ok());
    sinks.push_back(sink);
  }
  for (auto& s : sinks) ASSERT_TRUE(s->wait_tokens(1, 60s));
  std::vector<bool> running;
  for (auto& s : sinks) running.push_back(!s->ended());
  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(launcher.last_pid(), SIGKILL), 0);

  int crashed = 0;
  for (std::size_t i = 0; i < sinks.size(); ++i) {
    auto& s = sinks[i];
    ASSERT_TRUE(s->wait_end(5s)) << "stream " << i << " never ended";
    EXPECT_EQ(s->ends, 1);
    if (!running[i] || s->ended_at < killed_at) continue;
    ++crashed;
    EXPECT_EQ(s->end->event, "error");
    EXPECT_EQ(s->end->code, "WorkerCrashed");
    EXPECT_LT(s->ended_at - killed_at, 1s) << "stream " << i;
  }
  EXPECT_GT(crashed, 0) << "no stream was still running at the kill";

  // While it restarts, requests wait in the control plane and are replayed.
  ASSERT_TRUE(eventually([&] { return !cp.readiness().ready; }, 5s));
  auto queued = std::make_shared<RecordingSink>();
  auto accepted = std::async(std::launch::async,
                             [&] { return generate_sync(cp, gen_params("tiny", 5), queued); });
  auto tokens = call_sync(cp, "runtime/state", Json::object());
  ASSERT_TRUE(tokens.is_ok()) << tokens.status().to_string();
  // The model is back without anyone asking.
  ASSERT_EQ((*tokens)["loaded_models"].size(), 1u) << tokens->dump();
  EXPECT_EQ((*tokens)["loaded_models"][0]["model_id"], "tiny");
  auto acc = accepted.get();
  ASSERT_TRUE(acc.is_ok()) << acc.status().to_string();
  ASSERT_TRUE(queued->wait_end(60s));
  EXPECT_EQ(queued->end->event, "completed");
  EXPECT_EQ(launcher.launches(), 2);
  EXPECT_TRUE(cp.readiness().ready);
  EXPECT_EQ(metric(cp, "mlxs_worker_restarts_total"), 1.0);
  EXPECT_EQ(metric(cp, "mlxs_worker_crashes_total"), 1.0);
  EXPECT_GE(metric(cp, "mlxs_control_requests_replayed_total"), 1.0);
  EXPECT_EQ(metric(cp, "mlxs_worker_models_reloaded_total"), 1.0);
  EXPECT_EQ(cp.readiness().workers[0].restarts, 1);
}

}  // namespace
}  // namespace mlxs::control
