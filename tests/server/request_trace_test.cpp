// The server span's context from the request's traceparent headers: one
// valid header continues the caller's trace, anything else starts a new
// one; the worker gets the server span as its parent, with the sampling
// decision; tracing off hands the worker nothing.
#include "server/request_trace.h"

#include <gtest/gtest.h>

namespace mlxs::server {
namespace {

constexpr const char* kCaller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::shared_ptr<telemetry::Tracer> tracer(double ratio = 1.0) {
  telemetry::TracingOptions o;
  o.endpoint = "http://127.0.0.1:9";  // never reached: nothing is finished here
  o.sample_ratio = ratio;
  o.export_timeout_ms = 50;
  return *telemetry::Tracer::create(o);
}

telemetry::TraceContext worker_context(const RequestTrace& t) {
  const auto header = t.worker_traceparent();
  EXPECT_TRUE(header.has_value());
  const auto parsed = telemetry::parse_traceparent(header.value_or(""));
  EXPECT_TRUE(parsed.has_value()) << header.value_or("");
  return parsed.value_or(telemetry::TraceContext{});
}

TEST(RequestTrace, OneValidHeaderContinuesTheCallersTrace) {
  const RequestTrace t(tracer(), {kCaller});
  const telemetry::TraceContext w = worker_context(t);
  EXPECT_EQ(telemetry::to_hex(w.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(telemetry::to_hex(w.span_id), "00f067aa0ba902b7")
      << "the server span, not the caller's";
  EXPECT_TRUE(w.sampled());
}

TEST(RequestTrace, MalformedOrRepeatedHeadersStartANewTrace) {
  for (const std::vector<std::string>& headers :
       {std::vector<std::string>{"00-garbage"}, std::vector<std::string>{kCaller, kCaller},
        std::vector<std::string>{""}, std::vector<std::string>{}}) {
    const RequestTrace t(tracer(), headers);
    EXPECT_NE(telemetry::to_hex(worker_context(t).trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
  }
}

TEST(RequestTrace, SamplingTravelsToTheWorkerAndOffMeansNothing) {
  std::string unsampled = kCaller;
  unsampled.back() = '0';
  EXPECT_FALSE(worker_context(RequestTrace(tracer(), {unsampled})).sampled());
  EXPECT_FALSE(worker_context(RequestTrace(tracer(0.0), {})).sampled());
  EXPECT_TRUE(worker_context(RequestTrace(tracer(0.0), {kCaller})).sampled())
      << "a sampled caller wins over the ratio";
  RequestTrace off(nullptr, {kCaller});
  EXPECT_FALSE(off.worker_traceparent().has_value());
  off.finish(RequestOutcome{}, 0, 1);  // no tracer: a no-op
}

}  // namespace
}  // namespace mlxs::server
