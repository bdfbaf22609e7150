// The load signals the Gateway API Inference Extension scrapes (queue depth,
// running requests, KV-cache use) and the shape of the control plane's
// families when several workers report them.
#include <gtest/gtest.h>

#include "server/metrics.h"

namespace mlxs::server {
namespace {

using core::Json;

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(LoadMetrics, WaitingRunningAndKvUsePerModel) {
  Metrics m;
  m.stream_waiting("a", 2);
  m.stream_running("a", 4);  // started streams are the engine's to count
  const Json telemetry = Json::parse(R"({"engines": [
      {"model_id": "a", "waiting_interactive": 1, "waiting_batch": 3, "running": 5,
       "kv_blocks_total": 8, "kv_blocks_used": 2},
      {"model_id": "b", "kv_blocks_total": 0}]})");
  const std::string text = m.render_load(&telemetry);
  EXPECT_NE(text.find("# TYPE mlxs_requests_waiting gauge"), std::string::npos) << text;
  EXPECT_NE(text.find("mlxs_requests_waiting{model=\"a\"} 6\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mlxs_requests_running{model=\"a\"} 5\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mlxs_kv_cache_usage_ratio{model=\"a\"} 0.25\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mlxs_kv_cache_usage_ratio{model=\"b\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mlxs_requests_waiting{model=\"b\"} 0\n"), std::string::npos) << text;
}

TEST(LoadMetrics, WithoutAWorkerAnswerKvUseIsLeftOut) {
  Metrics m;
  m.stream_waiting("a", 1);
  const std::string text = m.render_load(nullptr);
  EXPECT_NE(text.find("mlxs_requests_waiting{model=\"a\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mlxs_requests_running{model=\"a\"} 0\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("mlxs_kv_cache_usage_ratio{"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE mlxs_kv_cache_usage_ratio gauge"), std::string::npos) << text;
}

TEST(LoadMetrics, OddTelemetryCountsZeroAndNeverThrows) {
  Metrics m;
  for (const char* doc : {R"({"engines": "x"})", R"([1, 2])", R"({"engines": [1, {"x": 1}]})",
                          R"({"engines": [{"model_id": "a", "running": "many",
                              "kv_blocks_total": 4, "kv_blocks_used": "all"}]})"}) {
    const Json t = Json::parse(doc);
    std::string text;
    EXPECT_NO_THROW(text = m.render_load(&t)) << doc;
    EXPECT_EQ(text.find("{model=\"\"}"), std::string::npos) << text;
  }
  const Json t =
      Json::parse(R"({"engines": [{"model_id": "a", "running": "many", "kv_blocks_total": 4}]})");
  const std::string text = m.render_load(&t);
  EXPECT_NE(text.find("mlxs_requests_running{model=\"a\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("mlxs_kv_cache_usage_ratio{model=\"a\"} 0\n"), std::string::npos) << text;
}

TEST(ControlFamilies, OneHelpAndTypePerFamilyAcrossWorkers) {
  control::MetricsSnapshot snapshot;
  for (const char* worker : {"worker-0", "worker-1"}) {
    for (const char* name : {"mlxs_worker_restarts_total", "mlxs_worker_up"}) {
      control::MetricSample s;
      s.name = name;
      s.help = "help";
      s.type = std::string(name).ends_with("_total") ? control::MetricType::kCounter
                                                     : control::MetricType::kGauge;
      s.labels = {{"worker", worker}};
      snapshot.samples.push_back(s);
    }
  }
  Metrics m;
  const std::string text = m.render({}, snapshot);
  EXPECT_EQ(count_of(text, "# TYPE mlxs_worker_up gauge"), 1u) << text;
  EXPECT_EQ(count_of(text, "# HELP mlxs_worker_restarts_total"), 1u) << text;
  EXPECT_EQ(count_of(text, "mlxs_worker_up{worker="), 2u) << text;
}

}  // namespace
}  // namespace mlxs::server
