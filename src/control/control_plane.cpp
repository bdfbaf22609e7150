#include "control/control_plane.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include <fmt/format.h>

#include "core/log.h"
#include "protocol/codec.h"
#include "protocol/messages_runtime.h"

namespace mlxs::control {

using core::ErrorCode;
using core::Status;

namespace {

void reply_error(const Gateway::Reply& reply, Status status) {
  if (reply) reply(core::Result<Json>(std::move(status)));
}

Status model_not_loaded(const std::string& id) {
  return Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + id);
}

}  // namespace

void merge_runtime_state(const std::vector<WorkerSlot*>& slots, Gateway::Reply reply) {
  // Every worker's state, merged: the models of all, the streams of all.
  struct Merge {
    std::mutex mutex;
    std::size_t remaining = 0;
    protocol::RuntimeStateResult total;
    Status error;
    Gateway::Reply reply;
  };
  if (slots.empty()) {
    reply_error(reply, Status(ErrorCode::kWorkerCrashed, "no worker is up"));
    return;
  }
  auto merge = std::make_shared<Merge>();
  merge->remaining = slots.size();
  merge->reply = std::move(reply);
  for (WorkerSlot* slot : slots) {
    slot->call("runtime/state", Json::object(), [merge](core::Result<Json> r) {
      std::unique_lock lock(merge->mutex);
      if (r.is_ok()) {
        auto s = protocol::from_json<protocol::RuntimeStateResult>(*r, "runtime/state");
        if (s.is_ok()) {
          for (auto& m : s->loaded_models) merge->total.loaded_models.push_back(std::move(m));
          merge->total.active_streams += s->active_streams;
          merge->total.restart_count += s->restart_count;
        } else if (merge->error.is_ok()) {
          merge->error = s.status();
        }
      } else if (merge->error.is_ok()) {
        merge->error = r.status();
      }
      if (--merge->remaining > 0) return;
      lock.unlock();
      if (!merge->error.is_ok()) {
        reply_error(merge->reply, merge->error);
      } else if (merge->reply) {
        merge->reply(core::Result<Json>(protocol::to_json(merge->total)));
      }
    });
  }
}

ControlPlane::ControlPlane(std::vector<WorkerLauncher> launchers, SupervisorOptions options) {
  // Writing to a worker that is gone must fail, not kill the control plane.
  ::signal(SIGPIPE, SIG_IGN);
  for (std::size_t i = 0; i < launchers.size(); ++i) {
    slots_.push_back(std::make_unique<WorkerSlot>(fmt::format("worker-{}", i),
                                                  std::move(launchers[i]), options));
  }
  // Stream ids unique across control-plane restarts: pid and start time.
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  stream_prefix_ =
      fmt::format("cp-{:x}-{:x}-", static_cast<unsigned>(::getpid()),
                  static_cast<std::uint64_t>(
                      std::chrono::duration_cast<std::chrono::milliseconds>(now).count()));
}

ControlPlane::~ControlPlane() {
  stop();
}

void ControlPlane::start() {
  for (auto& s : slots_) s->start();
}

void ControlPlane::stop() {
  for (auto& s : slots_) s->stop();
}

WorkerSlot* ControlPlane::slot_of(const std::string& model_id) const {
  std::lock_guard lock(mutex_);
  const auto it = routes_.find(model_id);
  return it == routes_.end() ? nullptr : slots_[it->second].get();
}

std::size_t ControlPlane::choose_for_load(const std::string& model_id) {
  std::lock_guard lock(mutex_);
  if (const auto it = routes_.find(model_id); it != routes_.end()) return it->second;
  // The fewest models, preferring a worker that is up over one that is not.
  std::size_t best = 0;
  auto best_key = std::make_pair(true, std::numeric_limits<std::size_t>::max());
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    std::size_t routed = 0;
    for (const auto& [id, slot] : routes_) routed += slot == i ? 1 : 0;
    const auto key = std::make_pair(!slots_[i]->ready(), routed);
    if (key < best_key) {
      best_key = key;
      best = i;
    }
  }
  routes_[model_id] = best;
  return best;
}

void ControlPlane::call(std::string method, Json params, Reply reply) {
  if (slots_.empty()) {
    reply_error(reply, Status(ErrorCode::kWorkerCrashed, "no worker is configured"));
    return;
  }
  if (method == "shutdown") {
    reply_error(reply, Status(ErrorCode::kUnsupported,
                              "shutdown belongs to the control plane, not to a client"));
    return;
  }
  if (method == "generate" || method == "batch_generate" || method == "batch_generate_parallel" ||
      method == "continuous_generate" || method == "generate_with_image") {
    reply_error(reply,
                Status(ErrorCode::kUnsupported, method + " starts streams: use Gateway::generate"));
    return;
  }
  if (!params.is_object()) params = Json::object();
  if (method == "load_model") return load_model(std::move(params), std::move(reply));
  if (method == "unload_model") return unload_model(std::move(params), std::move(reply));
  if (method == "runtime/state") return runtime_state(std::move(reply));
  const auto model = params.find("model_id");
  if (model != params.end() && model->is_string()) {
    const std::string id = model->get<std::string>();
    WorkerSlot* slot = slot_of(id);
    if (slot == nullptr) return reply_error(reply, model_not_loaded(id));
    slot->call(std::move(method), std::move(params), std::move(reply));
    return;
  }
  // Methods about the runtime itself go to the first worker.
  slots_.front()->call(std::move(method), std::move(params), std::move(reply));
}

void ControlPlane::load_model(Json params, Reply reply) {
  const auto model = params.find("model_id");
  if (model == params.end() || !model->is_string()) {
    // The worker words the refusal (it validates params against their schema).
    slots_.front()->call("load_model", std::move(params), std::move(reply));
    return;
  }
  const std::string id = model->get<std::string>();
  const std::size_t index = choose_for_load(id);
  WorkerSlot* slot = slots_[index].get();
  slot->load_started(id);
  slot->call("load_model", params,
             [this, slot, index, id, params, reply = std::move(reply)](core::Result<Json> r) {
               if (r.is_ok()) slot->remember_model(id, params);
               slot->load_finished(id, r);
               if (!r.is_ok() && !slot->holds(id)) {
                 std::lock_guard lock(mutex_);
                 const auto it = routes_.find(id);
                 if (it != routes_.end() && it->second == index) routes_.erase(it);
               }
               if (reply) reply(std::move(r));
             });
}

void ControlPlane::unload_model(Json params, Reply reply) {
  const auto model = params.find("model_id");
  if (model == params.end() || !model->is_string()) {
    slots_.front()->call("unload_model", std::move(params), std::move(reply));
    return;
  }
  const std::string id = model->get<std::string>();
  WorkerSlot* slot = slot_of(id);
  if (slot == nullptr) return reply_error(reply, model_not_loaded(id));
  slot->call("unload_model", std::move(params),
             [this, slot, id, reply = std::move(reply)](core::Result<Json> r) {
               if (r.is_ok() || r.status().code() == ErrorCode::kModelNotLoaded) {
                 slot->forget_model(id);
                 std::lock_guard lock(mutex_);
                 routes_.erase(id);
               }
               if (reply) reply(std::move(r));
             });
}

void ControlPlane::runtime_state(Reply reply) {
  std::vector<WorkerSlot*> slots;
  for (auto& slot : slots_) slots.push_back(slot.get());
  merge_runtime_state(slots, std::move(reply));
}

std::string ControlPlane::new_stream_id() {
  std::lock_guard lock(mutex_);
  return stream_prefix_ + std::to_string(++next_stream_);
}

void ControlPlane::generate(protocol::GenerateParams params, std::shared_ptr<StreamSink> sink,
                            Reply accepted) {
  WorkerSlot* slot = slot_of(params.model_id);
  if (slot == nullptr) return reply_error(accepted, model_not_loaded(params.model_id));
  if (!params.stream_id || params.stream_id->empty()) params.stream_id = new_stream_id();
  std::string id = *params.stream_id;
  slot->generate(std::move(id), protocol::to_json(params), std::move(sink), std::move(accepted));
}

void ControlPlane::cancel(const std::string& stream_id) {
  for (auto& slot : slots_) {
    if (slot->cancel(stream_id)) return;
  }
}

Readiness ControlPlane::readiness() const {
  Readiness r;
  r.ready = !slots_.empty();
  if (slots_.empty()) r.reason = "no worker is configured";
  for (const auto& slot : slots_) {
    r.workers.push_back(slot->health());
    const std::string why = slot->not_ready_reason();
    if (!why.empty()) {
      r.ready = false;
      if (!r.reason.empty()) r.reason += "; ";
      r.reason += why;
    }
  }
  return r;
}

MetricsSnapshot ControlPlane::metrics() const {
  MetricsSnapshot out;
  for (const auto& slot : slots_) slot->collect(out);
  return out;
}

std::vector<std::string> configured_worker_argv(const ControlConfig& config, int index) {
  std::vector<std::string> argv = runtime_worker_argv(config.worker_args);
  std::vector<std::string> logging = {"--log-level", config.log_level, "--log-format",
                                      config.log_format};
  for (const auto& [module, level] : config.log_modules) {
    logging.insert(logging.end(), {"--log-module", fmt::format("{}={}", module, level)});
  }
  argv.insert(argv.begin() + 1, logging.begin(), logging.end());
  const std::vector<std::string> tracing = tracing_worker_args(config.tracing);
  argv.insert(argv.end(), tracing.begin(), tracing.end());
  argv.insert(argv.end(), {"--backend", config.backend});
  if (config.backend == "cuda") {
    argv.insert(argv.end(), {"--device", std::to_string(worker_device(config, index))});
  }
  return argv;
}

core::Result<std::unique_ptr<ControlPlane>> make_control_plane(
    const ControlConfig& config, const InProcessLauncherFactory& in_process) {
  if (config.in_process && !in_process) {
    return Status(ErrorCode::kConfigError,
                  "workers.in_process is set but no in-process launcher exists");
  }
  std::vector<WorkerLauncher> launchers;
  for (int i = 0; i < std::max(1, config.workers); ++i) {
    launchers.push_back(config.in_process ? in_process(worker_device(config, i))
                                          : process_launcher(configured_worker_argv(config, i)));
  }
  return std::make_unique<ControlPlane>(std::move(launchers), config.supervisor);
}

}  // namespace mlxs::control
