#include <fmt/format.h>

#include "server/metrics.h"

namespace mlxs::server {

std::string render_trace_metrics(const telemetry::Tracer* tracer) {
  const telemetry::ExporterCounters c =
      tracer != nullptr ? tracer->counters() : telemetry::ExporterCounters{};
  std::string out;
  const auto counter = [&out](const char* name, const char* help, std::uint64_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, value);
  };
  counter("mlxs_trace_spans_exported_total", "Spans the OTLP collector accepted", c.exported);
  counter("mlxs_trace_spans_dropped_total",
          "Spans never sent: the export queue was full, or they were left at shutdown", c.dropped);
  counter("mlxs_trace_spans_failed_total",
          "Spans sent in export requests that failed (collector down, slow or refusing)", c.failed);
  return out;
}

}  // namespace mlxs::server
