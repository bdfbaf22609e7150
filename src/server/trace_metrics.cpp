#include <fmt/format.h>

#include "server/metrics.h"

namespace mlxs::server {

std::string render_trace_metrics(const telemetry::Tracer* tracer, const core::Json* telemetry) {
  const telemetry::ExporterCounters own =
      tracer != nullptr ? tracer->counters() : telemetry::ExporterCounters{};
  // A worker with its own exporter (a child process) reports it; a bad or
  // missing block is skipped rather than trusted.
  const core::Json* worker = nullptr;
  if (telemetry != nullptr && telemetry->is_object()) {
    const auto it = telemetry->find("tracing");
    if (it != telemetry->end() && it->is_object()) worker = &*it;
  }
  std::string out;
  const auto family = [&](const char* name, const char* key, const char* help,
                          std::uint64_t serve_value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    out += fmt::format("{}{{process=\"serve\"}} {}\n", name, serve_value);
    if (worker != nullptr) {
      const auto v = worker->find(key);
      if (v != worker->end() && v->is_number_integer() && v->get<std::int64_t>() >= 0) {
        out += fmt::format("{}{{process=\"worker\"}} {}\n", name, v->get<std::int64_t>());
      }
    }
  };
  family("mlxs_trace_spans_exported_total", "exported", "Spans the OTLP collector accepted",
         own.exported);
  family("mlxs_trace_spans_dropped_total", "dropped",
         "Spans never sent: the export queue was full, or they were left at shutdown", own.dropped);
  family("mlxs_trace_spans_failed_total", "failed",
         "Spans sent in export requests that failed (collector down, slow or refusing)",
         own.failed);
  return out;
}

}  // namespace mlxs::server
