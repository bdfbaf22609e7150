#include "telemetry/tracer.h"

#include <chrono>
#include <cmath>

namespace mlxs::telemetry {

core::Result<std::shared_ptr<Tracer>> Tracer::create(const TracingOptions& options) {
  if (options.endpoint.empty()) return std::shared_ptr<Tracer>();
  if (!(options.sample_ratio >= 0.0 && options.sample_ratio <= 1.0)) {
    return core::Status(core::ErrorCode::kConfigError, "tracing sample_ratio must lie in [0, 1]");
  }
  ExporterOptions e;
  e.endpoint = options.endpoint;
  e.service_name = options.service_name;
  e.batch_size = options.batch_size;
  e.queue_limit = options.queue_limit;
  e.export_timeout_ms = options.export_timeout_ms;
  auto exporter = Exporter::create(std::move(e));
  if (!exporter) return exporter.status();
  return std::make_shared<Tracer>(std::move(exporter).value(), options.sample_ratio);
}

Tracer::Tracer(std::unique_ptr<Exporter> exporter, double sample_ratio)
    : exporter_(std::move(exporter)), sample_ratio_(sample_ratio) {}

TraceContext Tracer::start(const std::optional<TraceContext>& remote) const {
  TraceContext out;
  out.span_id = random_span_id();
  if (remote) {
    out.trace_id = remote->trace_id;
    out.flags = remote->flags;
  } else {
    out.trace_id = random_trace_id();
    out.flags = sampled_by_ratio(out.trace_id, sample_ratio_) ? 0x01 : 0x00;
  }
  return out;
}

TraceContext Tracer::child(const TraceContext& parent) {
  TraceContext out = parent;
  out.span_id = random_span_id();
  return out;
}

void Tracer::record(SpanData span) {
  exporter_->submit(std::move(span));
}

ExporterCounters Tracer::counters() const {
  return exporter_->counters();
}

void Tracer::shutdown() {
  exporter_->shutdown();
}

std::int64_t unix_ns_from_steady(core::Nanos steady_ns) {
  static const std::int64_t offset = [] {
    const auto system = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    return system - core::SteadyClock::instance().now_ns();
  }();
  return steady_ns + offset;
}

SpanData make_span(const TraceContext& own, const SpanId& parent, std::string name, SpanKind kind,
                   core::Nanos steady_begin, core::Nanos steady_end) {
  SpanData s;
  s.trace_id = own.trace_id;
  s.span_id = own.span_id;
  s.parent_span_id = parent;
  s.name = std::move(name);
  s.kind = kind;
  s.start_unix_ns = unix_ns_from_steady(steady_begin);
  s.end_unix_ns = unix_ns_from_steady(std::max(steady_begin, steady_end));
  return s;
}

bool sampled_by_ratio(const TraceId& id, double ratio) {
  if (ratio >= 1.0) return true;
  if (ratio <= 0.0) return false;
  // The id's last 8 bytes as a number in [0, 2^64), compared with ratio * 2^64.
  std::uint64_t low = 0;
  for (std::size_t i = 8; i < 16; ++i) low = (low << 8) | id[i];
  return static_cast<double>(low) < std::ldexp(ratio, 64);
}

}  // namespace mlxs::telemetry
