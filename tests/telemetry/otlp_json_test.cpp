// The OTLP/JSON encoding against a document written by hand from
// opentelemetry-proto's JSON mapping (trace/v1/trace.proto, common.proto).
#include "telemetry/otlp_json.h"

#include <gtest/gtest.h>

#include "build_info.h"

namespace mlxs::telemetry {
namespace {

using core::Json;

SpanData sample_span() {
  SpanData s;
  s.trace_id = *trace_id_from_hex("5b8efff798038103d269b633813fc60c");
  s.span_id = *span_id_from_hex("eee19b7ec3c1b174");
  s.parent_span_id = *span_id_from_hex("eee19b7ec3c1b173");
  s.name = "decode";
  s.kind = SpanKind::kInternal;
  s.start_unix_ns = 1544712660000000000;
  s.end_unix_ns = 1544712661000000000;
  s.set_string("gen_ai.request.model", "qwen");
  s.set_int("gen_ai.usage.output_tokens", 9007199254740993);  // past a double's precision
  s.set_double("ratio", 0.5);
  s.set_bool("cached", true);
  return s;
}

TEST(OtlpJson, MatchesTheHandWrittenDocument) {
  SpanData root;
  root.trace_id = *trace_id_from_hex("5b8efff798038103d269b633813fc60c");
  root.span_id = *span_id_from_hex("eee19b7ec3c1b173");
  root.name = "POST /v1/chat/completions";
  root.kind = SpanKind::kServer;
  root.start_unix_ns = 1;
  root.end_unix_ns = 2;
  root.set_error("QueueFull");
  const std::vector<SpanData> spans = {root, sample_span()};
  const Json expected = Json::parse(R"({
    "resourceSpans": [{
      "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
      "scopeSpans": [{
        "scope": {"name": "mlx-serving", "version": ")" MLXS_VERSION R"("},
        "spans": [
          {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b173",
           "name": "POST /v1/chat/completions", "kind": 2,
           "startTimeUnixNano": "1", "endTimeUnixNano": "2", "attributes": [],
           "status": {"code": 2, "message": "QueueFull"}},
          {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
           "parentSpanId": "eee19b7ec3c1b173", "name": "decode", "kind": 1,
           "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
           "attributes": [
             {"key": "gen_ai.request.model", "value": {"stringValue": "qwen"}},
             {"key": "gen_ai.usage.output_tokens", "value": {"intValue": "9007199254740993"}},
             {"key": "ratio", "value": {"doubleValue": 0.5}},
             {"key": "cached", "value": {"boolValue": true}}],
           "status": {"code": 0}}
        ]
      }]
    }]
  })");
  EXPECT_EQ(encode_otlp("svc", spans), expected) << encode_otlp("svc", spans).dump(2);
}

TEST(OtlpJson, HostileStringsStayValidJson) {
  SpanData s = sample_span();
  s.name = std::string("a\"b\\c\n\x01", 7);
  s.set_string("k\"", "\xff\xfe");  // not UTF-8
  const std::vector<SpanData> spans = {s};
  const std::string text =
      encode_otlp("svc", spans).dump(-1, ' ', false, Json::error_handler_t::replace);
  EXPECT_FALSE(Json::parse(text, nullptr, false).is_discarded());
}

}  // namespace
}  // namespace mlxs::telemetry
