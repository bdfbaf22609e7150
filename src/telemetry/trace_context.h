#pragma once
// W3C Trace Context `traceparent`: "00-<trace id>-<parent span id>-<flags>".
// Parsing follows the spec's rules for receivers: a header that breaks any of
// them is ignored (the caller starts a new trace; it is never an error to the
// client). A future version (01..fe) is read by its first four fields when
// the header is at least as long as version 00's and, if longer, continues
// with '-'; version ff is invalid.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "telemetry/ids.h"

namespace mlxs::telemetry {

struct TraceContext {
  TraceId trace_id{};
  SpanId span_id{};  // the span that is the parent of whatever receives this
  std::uint8_t flags = 0;
  bool sampled() const { return (flags & 0x01) != 0; }
};

// Surrounding spaces and tabs (HTTP optional whitespace) are ignored.
std::optional<TraceContext> parse_traceparent(std::string_view header);

// Always version 00 with only the flags version 00 defines (sampled).
std::string format_traceparent(const TraceContext& context);

}  // namespace mlxs::telemetry
