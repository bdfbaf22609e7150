#pragma once
// One supervised worker: its launcher, its circuit breaker, its current
// connection, the streams running on it, the models it should hold, and the
// requests waiting for it while it (re)starts.
//
// A supervising thread per slot starts the worker (runtime/info with protocol
// version and the stream.step extension, then reconciliation: runtime/state
// compared with the models it should hold, missing ones reloaded, strays
// unloaded), pings it with runtime/state, and restarts it with exponential
// backoff when it exits or hangs. A crash ends every stream at once with
// WorkerCrashed (from the reader thread, as soon as the connection ends);
// requests not yet sent stay queued and are replayed on the next worker.
// Repeated failures trip the breaker; while Tripped requests fail at once
// and the slot reports why until the cool-down lets a probe through.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "control/breaker.h"
#include "control/gateway.h"
#include "control/launcher.h"
#include "control/options.h"
#include "control/stream_table.h"
#include "control/worker_client.h"

namespace mlxs::control {

class WorkerSlot {
 public:
  using Reply = Gateway::Reply;

  WorkerSlot(std::string name, WorkerLauncher launcher, SupervisorOptions options,
             const core::Clock& clock = core::SteadyClock::instance());
  ~WorkerSlot();
  WorkerSlot(const WorkerSlot&) = delete;
  WorkerSlot& operator=(const WorkerSlot&) = delete;

  void start();
  // Orderly: refuses what is queued, asks the worker to shut down, kills it
  // after the shutdown timeout. Idempotent.
  void stop();

  // A request to this worker; queued while it (re)starts.
  void call(std::string method, Json params, Reply reply);
  // Starts a stream with an id the caller chose (params.stream_id).
  void generate(std::string stream_id, Json params, std::shared_ptr<StreamSink> sink,
                Reply accepted);
  // True when the stream was here (queued: refused with Cancelled; running:
  // stream/cancel sent, the worker ends it).
  bool cancel(const std::string& stream_id);
  // Refuses every request queued for the worker (not yet sent) with `code`,
  // so a caller that can route elsewhere (the cluster's control plane, when
  // a host is cut off) does not wait for this worker to come back.
  void refuse_queued(core::ErrorCode code, const std::string& why);

  // The models this worker should hold (reloaded after a restart).
  void remember_model(const std::string& model_id, Json load_params);
  void forget_model(const std::string& model_id);
  // A load_model of `model_id` was sent (it shows as loading, with the
  // worker's model.load_progress reports) and its answer or error came.
  void load_started(const std::string& model_id);
  void load_finished(const std::string& model_id, const core::Result<Json>& result);
  bool holds(const std::string& model_id) const;
  std::size_t model_count() const;
  // Streams running on the worker now (for routing by load).
  std::size_t active_streams() const { return streams_.size(); }

  const std::string& name() const { return name_; }
  bool ready() const;
  BreakerState state() const;
  // Why not ready (empty when ready).
  std::string not_ready_reason() const;
  WorkerHealth health() const;
  void collect(MetricsSnapshot& out) const;

 private:
  struct Queued {
    std::string method;
    Json params;
    Reply reply;
    std::shared_ptr<StreamSink> sink;  // generate only
    std::string stream_id;
    core::Nanos deadline = 0;
  };

  void supervise();
  core::Status bring_up();
  core::Status reconcile(WorkerClient& client);
  void on_worker_lost(std::unique_lock<std::mutex>& lock);
  void heartbeat(std::unique_lock<std::mutex>& lock);
  static void retire(std::shared_ptr<WorkerClient> client);
  void dispatch(const std::shared_ptr<WorkerClient>& client, Queued q);
  void enqueue(Queued q);
  void refuse_queue(std::unique_lock<std::mutex>& lock, core::ErrorCode code,
                    const std::string& why);
  void expire_queue(std::unique_lock<std::mutex>& lock);
  std::string not_ready_reason_locked() const;
  core::Nanos backoff() const;
  core::Nanos timeout_for(const std::string& method) const;
  void on_transition(BreakerState from, BreakerState to);
  void on_load_progress(const protocol::Notification& n);

  struct ModelRecord {
    std::string state = "loading";
    int loads = 0;  // load_model calls in flight
    std::optional<protocol::ModelMemory> memory;
    std::optional<protocol::LoadProgressNotice> load;
  };

  const std::string name_;
  WorkerLauncher launcher_;
  const SupervisorOptions options_;
  const core::Clock& clock_;
  StreamTable streams_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  Breaker breaker_;
  std::shared_ptr<WorkerClient> client_;  // set while a worker is up (or coming up)
  std::uint64_t generation_ = 0;          // of client_, so a stale connection is ignored
  bool lost_ = false;                     // client_'s connection ended
  bool serving_ = false;                  // Running and reconciled: requests go straight out
  bool stopping_ = false;
  bool started_ = false;
  bool heartbeat_pending_ = false;
  core::Nanos next_heartbeat_ = 0;
  core::Nanos next_attempt_ = 0;
  int consecutive_failures_ = 0;
  std::string last_error_;
  std::deque<Queued> queue_;
  std::map<std::string, Json> models_;          // model_id -> load_model params
  std::map<std::string, ModelRecord> records_;  // loading or loaded, by model_id
  std::thread thread_;

  // Metrics.
  std::atomic<std::int64_t> restarts_{0};
  std::atomic<std::int64_t> crashes_{0};
  std::atomic<std::int64_t> hangs_{0};
  std::atomic<std::int64_t> start_failures_{0};
  std::atomic<std::int64_t> queue_rejected_{0};
  std::atomic<std::int64_t> replayed_{0};
  std::atomic<std::int64_t> reloads_{0};
  std::map<std::pair<BreakerState, BreakerState>, std::int64_t> transitions_;  // under mutex_
};

}  // namespace mlxs::control
