#pragma once
// What serve and the runtime worker trace with: the sampling decision, ids
// for new spans, steady-clock times turned into Unix nanoseconds, and the
// exporter behind. One per process (serve --in-process shares serve's with
// its worker, so both tiers' spans leave through one queue).
//
// Sampling is parent-based: a request that arrives with a traceparent is
// traced when its sampled flag is set; one without is traced with
// probability sample_ratio, decided from its trace id (so every process
// that sees the id decides alike).

#include <memory>
#include <optional>
#include <string>

#include "core/clock.h"
#include "core/status.h"
#include "telemetry/exporter.h"
#include "telemetry/span.h"
#include "telemetry/trace_context.h"

namespace mlxs::telemetry {

struct TracingOptions {
  std::string endpoint;  // empty: tracing off
  std::string service_name = "mlx-serving";
  double sample_ratio = 1.0;
  std::size_t batch_size = 512;
  std::size_t queue_limit = 2048;
  int export_timeout_ms = 10000;
};

class Tracer {
 public:
  // Null (and ok) when options.endpoint is empty; ConfigError when invalid.
  static core::Result<std::shared_ptr<Tracer>> create(const TracingOptions& options);
  explicit Tracer(std::unique_ptr<Exporter> exporter, double sample_ratio);

  // The context of a span that starts a unit of work in this process: a
  // child of `remote` (same trace, its sampled flag) or a new trace.
  TraceContext start(const std::optional<TraceContext>& remote) const;
  // A new span in the trace of `parent` (same flags).
  static TraceContext child(const TraceContext& parent);

  // Queues a finished span (the caller records only sampled ones).
  void record(SpanData span);
  ExporterCounters counters() const;
  void shutdown();

 private:
  std::unique_ptr<Exporter> exporter_;
  const double sample_ratio_;
};

// A steady-clock reading (core::SteadyClock, the engine's clock) as Unix
// nanoseconds, through an offset measured once per process.
std::int64_t unix_ns_from_steady(core::Nanos steady_ns);

// A span with `own`'s ids under `parent` (zero: a root), times converted.
SpanData make_span(const TraceContext& own, const SpanId& parent, std::string name, SpanKind kind,
                   core::Nanos steady_begin, core::Nanos steady_end);

// True when a trace id falls within `ratio` (0..1) of all ids.
bool sampled_by_ratio(const TraceId& id, double ratio);

}  // namespace mlxs::telemetry
