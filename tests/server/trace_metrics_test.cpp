// The trace exporters' families: serve's series always (zeros with tracing
// off), the worker's only from a well-formed runtime/telemetry block.
#include <gtest/gtest.h>

#include "server/metrics.h"

namespace mlxs::server {
namespace {

using core::Json;

TEST(TraceMetrics, ServeSeriesAlwaysWorkerSeriesWhenReported) {
  const std::string off = render_trace_metrics(nullptr, nullptr);
  EXPECT_NE(off.find("mlxs_trace_spans_exported_total{process=\"serve\"} 0\n"), std::string::npos)
      << off;
  EXPECT_NE(off.find("# TYPE mlxs_trace_spans_dropped_total counter\n"), std::string::npos);
  EXPECT_NE(off.find("mlxs_trace_spans_failed_total{process=\"serve\"} 0\n"), std::string::npos);
  EXPECT_EQ(off.find("worker"), std::string::npos);

  const Json telemetry = {{"tracing", {{"exported", 7}, {"dropped", 2}, {"failed", 1}}}};
  const std::string on = render_trace_metrics(nullptr, &telemetry);
  EXPECT_NE(on.find("mlxs_trace_spans_exported_total{process=\"worker\"} 7\n"), std::string::npos)
      << on;
  EXPECT_NE(on.find("mlxs_trace_spans_dropped_total{process=\"worker\"} 2\n"), std::string::npos);
  EXPECT_NE(on.find("mlxs_trace_spans_failed_total{process=\"worker\"} 1\n"), std::string::npos);
}

TEST(TraceMetrics, OddTelemetryIsSkippedNotTrusted) {
  for (const Json& odd : {Json(nullptr), Json::array(), Json{{"tracing", 3}},
                          Json{{"tracing", {{"exported", "many"}, {"dropped", -1}}}}}) {
    const std::string text = render_trace_metrics(nullptr, &odd);
    EXPECT_EQ(text.find("process=\"worker\""), std::string::npos) << odd.dump();
  }
}

}  // namespace
}  // namespace mlxs::server
