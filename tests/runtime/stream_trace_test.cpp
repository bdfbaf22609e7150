// A stream's spans from the engine's times: the tree under the caller's
// span, prefill chunks as recorded (the first 64), one decode span, error
// status, and which streams are traced at all. Spans go to a receiver in
// the test through a real exporter.
#include "runtime/stream_trace.h"

#include <gtest/gtest.h>

#include "../telemetry/otlp_receiver.h"
#include "runtime/output.h"
#include "runtime/stream_record.h"

namespace mlxs::runtime {
namespace {

using mlxs::testing::OtlpReceiver;
using mlxs::testing::ReceivedSpan;

constexpr const char* kParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::shared_ptr<telemetry::Tracer> tracer_for(const OtlpReceiver& receiver) {
  telemetry::TracingOptions o;
  o.endpoint = receiver.endpoint();
  o.service_name = "worker-test";
  auto t = telemetry::Tracer::create(o);
  EXPECT_TRUE(t.is_ok());
  return t.is_ok() ? *t : nullptr;
}

std::vector<ReceivedSpan> named(const std::vector<ReceivedSpan>& spans, const std::string& name) {
  std::vector<ReceivedSpan> out;
  for (const auto& s : spans) {
    if (s.span["name"] == name) out.push_back(s);
  }
  return out;
}

engine::StreamTimes times_with_chunks(int chunks) {
  engine::StreamTimes t;
  t.queued = 1'000;
  t.first_scheduled = 2'000;
  for (int i = 0; i < chunks; ++i) {
    if (t.prefill_chunks.size() < engine::StreamTimes::kMaxTracedChunks) {
      t.prefill_chunks.push_back({3'000 + i * 100, 3'050 + i * 100, 16});
    }
    ++t.prefill_chunk_count;
  }
  t.first_token = 3'000 + chunks * 100;
  t.finished = t.first_token + 5'000;
  return t;
}

TEST(StreamTrace, TheTreeUnderTheCallersSpan) {
  OtlpReceiver receiver;
  auto tracer = tracer_for(receiver);
  StreamRecord record;
  record.stream_id = "s-1";
  record.model_id = "m";
  record.request_id = "req-7";
  record.started_ns = 500;
  record.trace = begin_stream_trace(tracer, std::string(kParent));
  ASSERT_TRUE(record.trace.has_value());
  record.trace->tokenize_begin = 600;
  record.trace->tokenize_end = 700;
  StreamEnd end;
  end.finish_reason = "length";
  end.tokens_generated = 12;
  engine::Usage usage{100, 12, 32};
  end_stream_trace(record, end, times_with_chunks(70), usage, 20'000);
  tracer->shutdown();

  const auto spans = receiver.spans();
  const auto worker = named(spans, "mlxs.worker.generate");
  ASSERT_EQ(worker.size(), 1u);
  EXPECT_EQ(worker[0].service, "worker-test");
  EXPECT_EQ(worker[0].span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(worker[0].span["parentSpanId"], "00f067aa0ba902b7");
  EXPECT_EQ(worker[0].span["kind"], 2);
  EXPECT_EQ(worker[0].attribute("mlxs.request_id"), "req-7");
  EXPECT_EQ(worker[0].attribute("gen_ai.usage.input_tokens"), "100");
  EXPECT_EQ(worker[0].attribute("mlxs.usage.cached_tokens"), "32");
  EXPECT_EQ(worker[0].attribute("mlxs.prefill.chunks"), "70");
  const std::string id = worker[0].span["spanId"];
  for (const auto& s : spans) {
    if (s.span["name"] != "mlxs.worker.generate") {
      EXPECT_EQ(s.span["parentSpanId"], id);
    }
  }
  EXPECT_EQ(named(spans, "mlxs.prefill").size(), engine::StreamTimes::kMaxTracedChunks);
  EXPECT_EQ(named(spans, "mlxs.tokenize").size(), 1u);
  EXPECT_EQ(named(spans, "mlxs.queue").size(), 1u);
  EXPECT_TRUE(named(spans, "mlxs.guidance_compile").empty()) << "no structured output asked";
  const auto decode = named(spans, "mlxs.decode");
  ASSERT_EQ(decode.size(), 1u);
  EXPECT_EQ(decode[0].attribute("gen_ai.usage.output_tokens"), "12");
  // Decode starts where the last recorded chunk ended.
  const auto prefill = named(spans, "mlxs.prefill");
  std::string last_end;
  for (const auto& p : prefill)
    last_end = std::max(last_end, p.span["endTimeUnixNano"].get<std::string>());
  EXPECT_EQ(decode[0].span["startTimeUnixNano"], last_end);
}

TEST(StreamTrace, ErrorsAndStreamsThatNeverRan) {
  OtlpReceiver receiver;
  auto tracer = tracer_for(receiver);
  StreamRecord record;
  record.trace = begin_stream_trace(tracer, std::string("garbage"));
  ASSERT_TRUE(record.trace.has_value()) << "a malformed traceparent starts a new trace";
  EXPECT_TRUE(telemetry::is_zero(record.trace->parent));
  StreamEnd end;
  end.error = core::Status(core::ErrorCode::kTimeout, "too slow");
  end_stream_trace(record, end, engine::StreamTimes{}, engine::Usage{}, 10);
  tracer->shutdown();
  const auto spans = receiver.spans();
  ASSERT_EQ(spans.size(), 1u) << "nothing ran: only the worker span";
  EXPECT_FALSE(spans[0].span.contains("parentSpanId"));
  EXPECT_EQ(spans[0].span["status"]["code"], 2);
  EXPECT_EQ(spans[0].attribute("error.type"), "Timeout");
  EXPECT_EQ(spans[0].attribute("mlxs.finish_reason"), "error");
}

TEST(StreamTrace, UntracedStreams) {
  EXPECT_FALSE(begin_stream_trace(nullptr, std::string(kParent)).has_value());
  OtlpReceiver receiver;
  auto tracer = tracer_for(receiver);
  std::string unsampled = kParent;
  unsampled.back() = '0';
  EXPECT_FALSE(begin_stream_trace(tracer, unsampled).has_value());
  StreamRecord record;  // no trace: nothing recorded
  end_stream_trace(record, StreamEnd{}, engine::StreamTimes{}, engine::Usage{}, 1);
  tracer->shutdown();
  EXPECT_TRUE(receiver.spans().empty());
}

}  // namespace
}  // namespace mlxs::runtime
