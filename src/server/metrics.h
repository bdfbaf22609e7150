#pragma once
// The server's Prometheus metrics: request counts by route, status and
// machine code; TTFT, inter-token, end-to-end and queue-time histograms;
// prompt/completion/cached tokens; running and waiting streams; all per
// model label. render() adds readiness and the control plane's own metrics.
// Thread-safe (one mutex: each update is a few additions).

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "control/gateway.h"
#include "telemetry/tracer.h"

namespace mlxs::server {

enum class Latency : std::uint8_t { kTtft, kInterToken, kEndToEnd, kQueue };
inline constexpr int kLatencyKinds = 4;

class Histogram {
 public:
  static constexpr std::array<double, 16> kBounds = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
  void observe(double seconds);
  std::uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  // Cumulative count of observations <= kBounds[i].
  std::uint64_t cumulative(std::size_t i) const;

 private:
  std::array<std::uint64_t, kBounds.size()> buckets_{};
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics {
 public:
  // One finished HTTP request. `model` is empty unless a worker took it.
  void request_done(const std::string& route, int status, const std::string& code,
                    const std::string& model);
  void observe(Latency kind, const std::string& model, double seconds);
  void add_tokens(const std::string& model, std::int64_t prompt, std::int64_t completion,
                  std::int64_t cached);
  // Stream gauges: waiting (asked, not started) and running (started, not ended).
  void stream_waiting(const std::string& model, int delta);
  void stream_running(const std::string& model, int delta);
  void connections(int delta);

  std::string render(const control::Readiness& readiness,
                     const control::MetricsSnapshot& control_metrics) const;
  // The load signals the Kubernetes Gateway API Inference Extension's endpoint
  // picker scrapes (docs/metrics.md maps them to vLLM's names), per model:
  // requests waiting (streams not started yet plus sequences the engine
  // queues), requests running (sequences the engine runs), and KV-cache use
  // as a 0..1 ratio. `telemetry` is a runtime/telemetry answer, or null when
  // no worker answered (then only what the server itself knows).
  std::string render_load(const core::Json* telemetry) const;

 private:
  struct ModelCounters {
    std::array<Histogram, kLatencyKinds> latency;
    std::int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
    std::int64_t waiting = 0, running = 0;
  };
  mutable std::mutex mutex_;
  // (route, status, code, model) -> count
  std::map<std::tuple<std::string, int, std::string, std::string>, std::uint64_t> requests_;
  std::map<std::string, ModelCounters> models_;
  std::int64_t connections_ = 0;
};

// The engines' counters of a runtime/telemetry answer (KV blocks, prefix
// cache, waiting by priority class), per model.
std::string render_engine_telemetry(const core::Json& telemetry);

// The trace exporters' counters (trace_metrics.cpp): serve's own
// (process="serve"; zeros when tracing is off, so a scrape always has the
// same names) and a worker's from its runtime/telemetry `tracing` block
// (process="worker"), when `telemetry` has one.
std::string render_trace_metrics(const telemetry::Tracer* tracer, const core::Json* telemetry);

// Prometheus label value escaping (backslash, quote, newline).
std::string prometheus_escape(const std::string& value);

}  // namespace mlxs::server
