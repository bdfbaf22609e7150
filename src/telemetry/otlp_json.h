#pragma once
// Spans in the OTLP/JSON encoding of an ExportTraceServiceRequest
// (opentelemetry-proto's JSON mapping): resourceSpans -> scopeSpans -> spans,
// ids as lower-case hex strings, 64-bit integers (times, int attributes) as
// decimal strings, enums as numbers, `service.name` on the resource.

#include <span>
#include <string>

#include "core/json_util.h"
#include "telemetry/span.h"

namespace mlxs::telemetry {

inline constexpr std::string_view kScopeName = "mlx-serving";

core::Json encode_otlp(const std::string& service_name, std::span<const SpanData> spans);

}  // namespace mlxs::telemetry
