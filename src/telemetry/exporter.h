#pragma once
// Asynchronous, batched, bounded span export over OTLP/HTTP JSON.
//
// submit() only appends to a bounded queue under a short lock: it never
// waits for the network. A full queue drops the span and counts it. One
// background thread sends a batch when `batch_size` spans wait or every
// `flush_interval_ms`, each POST bounded by `export_timeout_ms`; a dead or
// hanging collector therefore costs the serving path nothing but dropped
// spans. A failed batch is counted and not retried (the queue would only
// fill behind it). Failures are logged once per kind, then at most once a
// minute with the number suppressed in between.
//
// shutdown() sends what is queued until one export timeout has passed; the
// rest is counted as dropped.

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/clock.h"
#include "core/status.h"
#include "telemetry/otlp_http.h"
#include "telemetry/span.h"

namespace mlxs::telemetry {

struct ExporterOptions {
  std::string endpoint;  // http://host:port[/path]; spans go to {endpoint}/v1/traces
  std::string service_name = "mlx-serving";
  std::size_t batch_size = 512;
  std::size_t queue_limit = 2048;
  int export_timeout_ms = 10000;
  int flush_interval_ms = 1000;
};

struct ExporterCounters {
  std::uint64_t exported = 0;  // accepted by the collector
  std::uint64_t dropped = 0;   // never sent: queue full, or left at shutdown
  std::uint64_t failed = 0;    // sent in a batch that failed
};

class Exporter {
 public:
  // ConfigError for an endpoint that is no http:// URL or limits below 1.
  static core::Result<std::unique_ptr<Exporter>> create(ExporterOptions options);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // False when the span was dropped (queue full or shut down).
  bool submit(SpanData span);
  // Idempotent; returns once the sender thread has ended.
  void shutdown();
  ExporterCounters counters() const;

 private:
  Exporter(ExporterOptions options, OtlpEndpoint endpoint);
  void run();
  void send(std::deque<SpanData>& batch, int timeout_ms);
  void report(const SendResult& result, std::size_t spans);

  const ExporterOptions options_;
  const OtlpEndpoint endpoint_;
  const core::SteadyClock& clock_ = core::SteadyClock::instance();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<SpanData> queue_;
  bool stopping_ = false;
  core::Nanos stop_deadline_ = 0;

  std::atomic<std::uint64_t> exported_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> failed_{0};

  // Sender thread only: when each failure kind was last logged.
  std::array<core::Nanos, kSendFailureKinds> last_logged_{};
  std::array<std::uint64_t, kSendFailureKinds> suppressed_{};
  bool failing_ = false;

  std::thread thread_;  // last: started once everything above exists
};

}  // namespace mlxs::telemetry
