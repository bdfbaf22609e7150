#pragma once
// One finished span as the exporter sends it (the OTLP data model, trimmed
// to what we record): ids, name, kind, Unix-nanosecond times, typed
// attributes and a status.

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "telemetry/ids.h"

namespace mlxs::telemetry {

// OTLP's enum values, so the encoder writes them as they are.
enum class SpanKind : std::uint8_t { kInternal = 1, kServer = 2, kClient = 3 };
enum class SpanStatus : std::uint8_t { kUnset = 0, kOk = 1, kError = 2 };

using AttributeValue = std::variant<std::string, std::int64_t, double, bool>;

struct Attribute {
  std::string key;
  AttributeValue value;
};

struct SpanData {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero: a root span
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;
  std::vector<Attribute> attributes;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;  // only with kError

  // One setter per type: a string literal must never become a bool.
  void set_string(std::string key, std::string value) {
    attributes.push_back({std::move(key), AttributeValue(std::move(value))});
  }
  void set_int(std::string key, std::int64_t value) {
    attributes.push_back({std::move(key), AttributeValue(value)});
  }
  void set_double(std::string key, double value) {
    attributes.push_back({std::move(key), AttributeValue(value)});
  }
  void set_bool(std::string key, bool value) {
    attributes.push_back({std::move(key), AttributeValue(value)});
  }
  void set_error(std::string message) {
    status = SpanStatus::kError;
    status_message = std::move(message);
  }
};

}  // namespace mlxs::telemetry
