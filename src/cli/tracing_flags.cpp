#include "cli/tracing_flags.h"

#include "core/log.h"

namespace mlxs::cli {

void add_otlp_endpoint_option(CLI::App* cmd, std::string* endpoint) {
  cmd->add_option("--otlp-endpoint", *endpoint,
                  "Send OpenTelemetry traces (OTLP/HTTP JSON) to this collector, e.g. "
                  "http://127.0.0.1:4318; empty: off (default: tracing.endpoint)");
}

void add_worker_tracing_options(CLI::App* cmd, control::TracingConfig* t) {
  add_otlp_endpoint_option(cmd, &t->endpoint);
  cmd->add_option("--otlp-service-name", t->service_name, "service.name of the spans sent");
  cmd->add_option("--otlp-sample-ratio", t->sample_ratio, "Share of new traces recorded")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--otlp-batch-size", t->batch_size, "Spans per export request")
      ->check(CLI::Range(1, 65536));
  cmd->add_option("--otlp-queue-limit", t->queue_limit, "Spans waiting for export at most")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--otlp-export-timeout-ms", t->export_timeout_ms,
                  "Deadline of one export request")
      ->check(CLI::Range(1, 600000));
}

core::Result<std::shared_ptr<telemetry::Tracer>> make_tracer(const control::TracingConfig& t) {
  telemetry::TracingOptions o;
  o.endpoint = t.endpoint;
  o.service_name = t.service_name;
  o.sample_ratio = t.sample_ratio;
  o.batch_size = static_cast<std::size_t>(t.batch_size);
  o.queue_limit = static_cast<std::size_t>(t.queue_limit);
  o.export_timeout_ms = t.export_timeout_ms;
  auto tracer = telemetry::Tracer::create(o);
  if (!tracer) return tracer.status().with_context("tracing.endpoint");
  if (*tracer) {
    core::log_info("trace_exporter_started",
                   {{"endpoint", t.endpoint}, {"service_name", t.service_name}});
  }
  return tracer;
}

}  // namespace mlxs::cli
