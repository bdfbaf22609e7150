#include "telemetry/exporter.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/log.h"
#include "telemetry/otlp_json.h"

namespace mlxs::telemetry {
namespace {

constexpr core::Nanos kLogEvery = 60'000'000'000;  // a failing collector: one line a minute
constexpr core::Nanos kMillis = 1'000'000;

}  // namespace

core::Result<std::unique_ptr<Exporter>> Exporter::create(ExporterOptions options) {
  auto endpoint = parse_otlp_endpoint(options.endpoint);
  if (!endpoint) return endpoint.status();
  if (options.batch_size < 1 || options.queue_limit < 1 || options.export_timeout_ms < 1 ||
      options.flush_interval_ms < 1) {
    return core::Status(core::ErrorCode::kConfigError,
                        "tracing batch_size, queue_limit and timeouts must be at least 1");
  }
  return std::unique_ptr<Exporter>(new Exporter(std::move(options), std::move(endpoint).value()));
}

Exporter::Exporter(ExporterOptions options, OtlpEndpoint endpoint)
    : options_(std::move(options)), endpoint_(std::move(endpoint)) {
  thread_ = std::thread([this] { run(); });
}

Exporter::~Exporter() {
  shutdown();
}

bool Exporter::submit(SpanData span) {
  bool wake = false;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.queue_limit) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() == options_.batch_size;
  }
  if (wake) wake_.notify_one();
  return true;
}

void Exporter::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = clock_.now_ns() + options_.export_timeout_ms * kMillis;
    }
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

ExporterCounters Exporter::counters() const {
  ExporterCounters c;
  c.exported = exported_.load(std::memory_order_relaxed);
  c.dropped = dropped_.load(std::memory_order_relaxed);
  c.failed = failed_.load(std::memory_order_relaxed);
  return c;
}

void Exporter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::milliseconds(options_.flush_interval_ms),
                   [this] { return stopping_ || queue_.size() >= options_.batch_size; });
    int timeout_ms = options_.export_timeout_ms;
    if (stopping_) {
      const core::Nanos left = stop_deadline_ - clock_.now_ns();
      if (queue_.empty() || left <= 0) break;
      timeout_ms = static_cast<int>(std::clamp<core::Nanos>(left / kMillis, 1, timeout_ms));
    }
    if (queue_.empty()) continue;
    const std::size_t n = std::min(queue_.size(), options_.batch_size);
    std::deque<SpanData> batch(std::make_move_iterator(queue_.begin()),
                               std::make_move_iterator(queue_.begin() + static_cast<long>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(n));
    lock.unlock();
    send(batch, timeout_ms);
    lock.lock();
  }
  // Past the shutdown bound: what is left was never sent.
  dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
  queue_.clear();
}

void Exporter::send(std::deque<SpanData>& batch, int timeout_ms) {
  const std::vector<SpanData> spans(std::make_move_iterator(batch.begin()),
                                    std::make_move_iterator(batch.end()));
  // Replacing bad UTF-8 (a prompt-derived attribute) instead of throwing.
  const std::string body = encode_otlp(options_.service_name, spans)
                               .dump(-1, ' ', false, core::Json::error_handler_t::replace);
  const SendResult result = post_json(endpoint_, body, timeout_ms);
  if (result.failure == SendFailure::kNone) {
    exported_.fetch_add(spans.size(), std::memory_order_relaxed);
  } else {
    failed_.fetch_add(spans.size(), std::memory_order_relaxed);
  }
  report(result, spans.size());
}

void Exporter::report(const SendResult& result, std::size_t spans) {
  if (result.failure == SendFailure::kNone) {
    if (failing_) core::log_info("trace_export_recovered", {{"endpoint", options_.endpoint}});
    failing_ = false;
    return;
  }
  failing_ = true;
  const auto kind = static_cast<std::size_t>(result.failure);
  const core::Nanos now = clock_.now_ns();
  if (last_logged_[kind] != 0 && now - last_logged_[kind] < kLogEvery) {
    ++suppressed_[kind];
    return;
  }
  core::log_warn("trace_export_failed", {{"endpoint", options_.endpoint},
                                         {"kind", send_failure_name(result.failure)},
                                         {"error", result.detail},
                                         {"spans", spans},
                                         {"suppressed_since_last", suppressed_[kind]}});
  last_logged_[kind] = now;
  suppressed_[kind] = 0;
}

}  // namespace mlxs::telemetry
