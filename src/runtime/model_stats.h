#pragma once
// Per-model request statistics behind the original's runtime-only batcher
// reports (get_batcher_metrics / get_batcher_health / get_week4_metrics):
// request latencies, token throughput over 5/30/60 s windows and the number
// of streams each engine step served. Thread-safe; bounded memory.

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "core/clock.h"
#include "engine/engine.h"
#include "protocol/messages_generate.h"

namespace mlxs::runtime {

class ModelStats {
 public:
  explicit ModelStats(const core::Clock& clock);

  void on_started();
  void on_finished(double total_ms, std::int64_t tokens, bool ok);
  void on_step(int streams);

  std::int64_t started() const;
  std::int64_t finished() const;
  std::int64_t failed() const;

  protocol::BatcherMetricsResult metrics(const engine::EngineMetrics& engine,
                                         double now_epoch) const;
  protocol::BatcherHealthResult health(const engine::EngineMetrics& engine, int max_batch) const;
  protocol::Week4MetricsResult week4(const engine::EngineMetrics& engine, int max_batch) const;

 private:
  struct Done {
    core::Nanos at = 0;
    std::int64_t tokens = 0;
  };
  double rate(core::Nanos window, bool tokens) const;  // caller holds mutex_

  const core::Clock& clock_;
  const core::Nanos created_;
  mutable std::mutex mutex_;
  std::int64_t started_ = 0, finished_ = 0, failed_ = 0;
  std::deque<double> latencies_ms_;  // the last 1000
  std::deque<Done> done_;            // the last 60 s
  std::map<int, std::int64_t> batch_sizes_;
  int last_batch_ = 0;
  std::int64_t batch_total_ = 0, batch_steps_ = 0;
};

}  // namespace mlxs::runtime
