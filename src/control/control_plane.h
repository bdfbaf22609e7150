#pragma once
// The Gateway over one or more supervised workers (WorkerSlot): routes each
// request by params.model_id to the worker that holds the model, chooses a
// worker for load_model (the one already holding it, else the one holding the
// fewest models) and remembers the choice, so that a restarted worker gets
// its models back and its requests go to it again.

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "control/config.h"
#include "control/gateway.h"
#include "control/launcher.h"
#include "control/options.h"
#include "control/worker_slot.h"

namespace mlxs::control {

class ControlPlane final : public Gateway {
 public:
  // One worker per launcher, named worker-0, worker-1, ...
  ControlPlane(std::vector<WorkerLauncher> launchers, SupervisorOptions options);
  ~ControlPlane() override;

  // Starts supervising (workers come up in the background; readiness() says
  // when they are up).
  void start();
  // Orderly shutdown of every worker. Idempotent; the destructor calls it.
  void stop();

  void call(std::string method, Json params, Reply reply) override;
  void generate(protocol::GenerateParams params, std::shared_ptr<StreamSink> sink,
                Reply accepted) override;
  void cancel(const std::string& stream_id) override;
  Readiness readiness() const override;
  MetricsSnapshot metrics() const override;

 private:
  WorkerSlot* slot_of(const std::string& model_id) const;
  std::size_t choose_for_load(const std::string& model_id);
  void load_model(Json params, Reply reply);
  void unload_model(Json params, Reply reply);
  void runtime_state(Reply reply);
  std::string new_stream_id();

  std::vector<std::unique_ptr<WorkerSlot>> slots_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> routes_;  // model_id -> slot
  std::uint64_t next_stream_ = 0;
  std::string stream_prefix_;
};

// Asks every slot for runtime/state and answers with the merge: the models
// of all, the streams of all (the first error otherwise).
void merge_runtime_state(const std::vector<WorkerSlot*>& slots, Gateway::Reply reply);

// Makes the in-process launcher of a worker that runs on CUDA device `device`
// (src/cli provides it: runtime::Server on a socket pair).
using InProcessLauncherFactory = std::function<WorkerLauncher(int device)>;

// argv of worker `index`: this executable with the configured logging,
// `runtime`, config.worker_args, then its backend and device.
std::vector<std::string> configured_worker_argv(const ControlConfig& config, int index);

// The control plane a configuration describes: `config.workers` workers,
// each a child process (configured_worker_argv) or, with config.in_process,
// each started by `in_process`. Not started yet.
core::Result<std::unique_ptr<ControlPlane>> make_control_plane(
    const ControlConfig& config, const InProcessLauncherFactory& in_process);

}  // namespace mlxs::control
