#include "telemetry/otlp_json.h"

#include "build_info.h"

namespace mlxs::telemetry {
namespace {

using core::Json;

Json any_value(const AttributeValue& value) {
  struct Visitor {
    Json operator()(const std::string& s) const { return {{"stringValue", s}}; }
    Json operator()(std::int64_t i) const { return {{"intValue", std::to_string(i)}}; }
    Json operator()(double d) const { return {{"doubleValue", d}}; }
    Json operator()(bool b) const { return {{"boolValue", b}}; }
  };
  return std::visit(Visitor{}, value);
}

Json attributes(const std::vector<Attribute>& list) {
  Json out = Json::array();
  for (const Attribute& a : list) out.push_back({{"key", a.key}, {"value", any_value(a.value)}});
  return out;
}

Json span_json(const SpanData& s) {
  Json out = {{"traceId", to_hex(s.trace_id)},
              {"spanId", to_hex(s.span_id)},
              {"name", s.name},
              {"kind", static_cast<int>(s.kind)},
              {"startTimeUnixNano", std::to_string(s.start_unix_ns)},
              {"endTimeUnixNano", std::to_string(s.end_unix_ns)},
              {"attributes", attributes(s.attributes)}};
  // A root span has no parent field at all (an empty one is also allowed).
  if (!is_zero(s.parent_span_id)) out["parentSpanId"] = to_hex(s.parent_span_id);
  Json status = {{"code", static_cast<int>(s.status)}};
  if (s.status == SpanStatus::kError && !s.status_message.empty()) {
    status["message"] = s.status_message;
  }
  out["status"] = std::move(status);
  return out;
}

}  // namespace

Json encode_otlp(const std::string& service_name, std::span<const SpanData> spans) {
  Json list = Json::array();
  for (const SpanData& s : spans) list.push_back(span_json(s));
  const std::vector<Attribute> resource = {{"service.name", AttributeValue(service_name)}};
  Json scope = {{"scope", {{"name", kScopeName}, {"version", MLXS_VERSION}}},
                {"spans", std::move(list)}};
  Json resource_spans = {{"resource", {{"attributes", attributes(resource)}}},
                         {"scopeSpans", Json::array({std::move(scope)})}};
  return {{"resourceSpans", Json::array({std::move(resource_spans)})}};
}

}  // namespace mlxs::telemetry
