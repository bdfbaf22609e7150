#include "runtime/model_stats.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace mlxs::runtime {

namespace {
constexpr std::size_t kLatencySamples = 1000;
constexpr core::Nanos kSecond = 1'000'000'000;

double percentile(std::vector<double> sorted, double q) {
  if (sorted.empty()) return 0.0;
  const auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size()))) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}
}  // namespace

ModelStats::ModelStats(const core::Clock& clock) : clock_(clock), created_(clock.now_ns()) {}

void ModelStats::on_started() {
  std::lock_guard lock(mutex_);
  ++started_;
}

void ModelStats::on_finished(double total_ms, std::int64_t tokens, bool ok) {
  std::lock_guard lock(mutex_);
  ++finished_;
  if (!ok) ++failed_;
  latencies_ms_.push_back(total_ms);
  if (latencies_ms_.size() > kLatencySamples) latencies_ms_.pop_front();
  const core::Nanos now = clock_.now_ns();
  done_.push_back({now, tokens});
  while (!done_.empty() && now - done_.front().at > 60 * kSecond) done_.pop_front();
}

void ModelStats::on_step(int streams) {
  if (streams <= 0) return;
  std::lock_guard lock(mutex_);
  ++batch_sizes_[streams];
  last_batch_ = streams;
  batch_total_ += streams;
  ++batch_steps_;
}

std::int64_t ModelStats::started() const {
  std::lock_guard lock(mutex_);
  return started_;
}
std::int64_t ModelStats::finished() const {
  std::lock_guard lock(mutex_);
  return finished_;
}
std::int64_t ModelStats::failed() const {
  std::lock_guard lock(mutex_);
  return failed_;
}

double ModelStats::rate(core::Nanos window, bool tokens) const {
  const core::Nanos now = clock_.now_ns();
  double sum = 0;
  for (const Done& d : done_) {
    if (now - d.at <= window) sum += tokens ? static_cast<double>(d.tokens) : 1.0;
  }
  return sum / (static_cast<double>(window) / static_cast<double>(kSecond));
}

protocol::BatcherMetricsResult ModelStats::metrics(const engine::EngineMetrics& engine,
                                                   double now_epoch) const {
  std::lock_guard lock(mutex_);
  protocol::BatcherMetricsResult out;
  std::vector<double> sorted(latencies_ms_.begin(), latencies_ms_.end());
  std::sort(sorted.begin(), sorted.end());
  auto& l = out.latency;
  l.count = static_cast<std::int64_t>(sorted.size());
  if (!sorted.empty()) {
    l.p50_ms = percentile(sorted, 0.50);
    l.p95_ms = percentile(sorted, 0.95);
    l.p99_ms = percentile(sorted, 0.99);
    l.min_ms = sorted.front();
    l.max_ms = sorted.back();
    double sum = 0;
    for (double v : sorted) sum += v;
    l.mean_ms = sum / static_cast<double>(sorted.size());
  }
  out.throughput.tokens_per_second = {rate(5 * kSecond, true), rate(30 * kSecond, true),
                                      rate(60 * kSecond, true)};
  out.throughput.requests_per_second = {rate(5 * kSecond, false), rate(30 * kSecond, false),
                                        rate(60 * kSecond, false)};
  auto& b = out.batch;
  b.current_size = engine.running;
  if (!batch_sizes_.empty()) {
    b.min_size = batch_sizes_.begin()->first;
    b.max_size = batch_sizes_.rbegin()->first;
    b.mean_size = static_cast<double>(batch_total_) / static_cast<double>(batch_steps_);
    for (const auto& [size, count] : batch_sizes_) b.distribution[std::to_string(size)] = count;
  }
  out.queue_depth = engine.waiting[0] + engine.waiting[1];
  out.mode_transitions = 0;
  out.uptime_seconds = core::seconds_between(created_, clock_.now_ns());
  out.timestamp = now_epoch;
  return out;
}

protocol::BatcherHealthResult ModelStats::health(const engine::EngineMetrics& engine,
                                                 int max_batch) const {
  std::lock_guard lock(mutex_);
  protocol::BatcherHealthResult out;
  out.running = true;
  out.active_batch_size = engine.running;
  out.pending_queue_size = engine.waiting[0] + engine.waiting[1];
  out.total_requests = started_;
  out.completed_requests = finished_;
  out.max_batch_size = max_batch;
  if (finished_ >= 10 && failed_ * 2 > finished_)
    out.error_indicators.emplace_back("more than half of the requests failed");
  if (engine.kv_blocks_total > 0 && engine.kv_blocks_used == engine.kv_blocks_total) {
    out.error_indicators.emplace_back("KV cache full");
  }
  out.healthy = out.error_indicators.empty();
  return out;
}

protocol::Week4MetricsResult ModelStats::week4(const engine::EngineMetrics& engine,
                                               int max_batch) const {
  std::lock_guard lock(mutex_);
  protocol::Week4MetricsResult out;
  auto& pc = out.week4_features.prompt_cache;
  pc.enabled = true;
  pc.cache_size = engine.kv_blocks_cached_free + engine.kv_blocks_used;
  pc.total_requests = static_cast<std::int64_t>(engine.prefix_queries);
  pc.cache_hits = static_cast<std::int64_t>(engine.prefix_hits);
  pc.hit_rate = engine.prefix_queries > 0 ? static_cast<double>(engine.prefix_hits) /
                                                static_cast<double>(engine.prefix_queries)
                                          : 0.0;
  auto& perf = out.performance;
  perf.total_requests = started_;
  perf.completed_requests = finished_;
  perf.avg_batch_size = batch_steps_ > 0
                            ? static_cast<double>(batch_total_) / static_cast<double>(batch_steps_)
                            : 0.0;
  perf.max_batch_size = max_batch;
  perf.active_batch_size = engine.running;
  return out;
}

}  // namespace mlxs::runtime
