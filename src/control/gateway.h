#pragma once
// The control plane as the HTTP server sees it: one object that routes a
// request to the worker that holds its model, supervises workers behind the
// scenes, and reports readiness. The server (src/server) is written against
// this interface only; control/ implements it over runtime workers speaking
// JSON-RPC (child processes for `serve`, or a worker on a socket pair inside
// the process for `serve --in-process`: the same code path either way).
//
// Threading: every callback runs on a control-plane thread and must not
// block; a server posts the work to its own executor. Callbacks for one
// stream arrive in order: tokens*, stats?, end (exactly once, always last,
// also when the worker crashes: code WorkerCrashed).
//
// Changes since the first version (all additive, source-compatible):
// - metrics(): counters and gauges for /metrics (non-pure; default empty).
// - A stream cancelled while still queued in the control plane (its worker
//   restarting) never starts: `accepted` gets Cancelled and the sink nothing.
// - generate() assigns params.stream_id when the caller left it empty.
// - WorkerHealth::model_status: each model's state, memory and load progress.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "protocol/messages_generate.h"
#include "protocol/messages_model.h"
#include "protocol/notifications.h"

namespace mlxs::control {

using Json = nlohmann::json;

// Receives one stream's output. stream.chunk and stream.step notifications
// both arrive here as StepStream (token ids, the text they completed,
// logprobs when asked for).
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  virtual void on_tokens(const protocol::StepStream& step) = 0;
  virtual void on_stats(const protocol::StreamStats& stats) = 0;
  virtual void on_end(const protocol::StreamEvent& event) = 0;
};

// One model of a worker as the control plane last heard of it.
struct ModelStatus {
  std::string id;
  // "loading" (a load_model is running), "ready", or "restarting" (the
  // worker was lost; reconciliation reloads it).
  std::string state;
  // From load_model's answer; empty until a load answered.
  std::optional<protocol::ModelMemory> memory;
  // The latest model.load_progress of the running load, or the last one of
  // the load that finished; empty when the worker reported none.
  std::optional<protocol::LoadProgressNotice> load;
};

struct WorkerHealth {
  std::string name;           // "worker-0"
  std::string breaker_state;  // Stopped | Starting | Running | HalfOpen | Tripped
  std::vector<std::string> models;
  int restarts = 0;
  std::string last_error;                 // empty when none
  std::vector<ModelStatus> model_status;  // by id
};

struct Readiness {
  bool ready = false;
  std::string reason;  // why not, for /ready and logs
  std::vector<WorkerHealth> workers;
};

// One sample of a metric, in Prometheus' terms.
enum class MetricType : std::uint8_t { kCounter, kGauge };
struct MetricSample {
  std::string name;  // "mlxs_worker_restarts_total"
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<std::pair<std::string, std::string>> labels;  // {{"worker", "worker-0"}}
  double value = 0;
};
struct MetricsSnapshot {
  std::vector<MetricSample> samples;
};

class Gateway {
 public:
  using Reply = std::function<void(core::Result<Json>)>;
  virtual ~Gateway() = default;

  // Any request/response method of the protocol (load_model, unload_model,
  // tokenize, detokenize, runtime/info, runtime/state, runtime/telemetry,
  // ...), routed by params.model_id where it has one. Errors carry the
  // worker's machine code (core::ErrorCode).
  virtual void call(std::string method, Json params, Reply reply) = 0;

  // Starts a stream: `accepted` gets the generate result ({stream_id,
  // started_at}) or the error that prevented the start; after an accepted
  // start the sink receives the stream to its end.
  virtual void generate(protocol::GenerateParams params, std::shared_ptr<StreamSink> sink,
                        Reply accepted) = 0;

  // Cancels a stream (client gone, explicit cancel). Idempotent; the sink
  // still gets its end event (code Cancelled).
  virtual void cancel(const std::string& stream_id) = 0;

  virtual Readiness readiness() const = 0;

  // Restarts, crashes, breaker transitions and states, requests in flight,
  // streams, the control plane's queue: a consistent-enough snapshot.
  virtual MetricsSnapshot metrics() const { return {}; }
};

}  // namespace mlxs::control
