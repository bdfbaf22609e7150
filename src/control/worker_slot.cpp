#include "control/worker_slot.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/log.h"
#include "protocol/codec.h"
#include "protocol/messages_runtime.h"
#include "protocol/notifications.h"
#include "protocol/schemas.h"
#include "protocol/version.h"

namespace mlxs::control {

using core::ErrorCode;
using core::Status;

namespace {

constexpr core::Nanos kTickNs = 200 * kMillis;

double ms(core::Nanos ns) {
  return static_cast<double>(ns) / 1e6;
}

void reply_error(const Gateway::Reply& reply, Status status) {
  if (reply) reply(core::Result<Json>(std::move(status)));
}

// A worker's message checked against its schema document, then read.
template <class T>
core::Result<T> checked(const Json& value, std::string_view schema) {
  MLXS_ASSIGN_OR_RETURN(const protocol::SchemaSet* schemas, protocol::SchemaSet::rpc());
  MLXS_RETURN_IF_ERROR(schemas->validate(schema, value));
  return protocol::from_json<T>(value, std::string(schema));
}

// load_model's memory report (ours: an original runtime sends none). One
// that breaks its schema is left out with a warning, never a failed load.
std::optional<protocol::ModelMemory> memory_report(const Json& result) {
  if (!result.is_object() || !result.contains("memory")) return std::nullopt;
  auto parsed = checked<protocol::LoadModelResult>(result, "load_model.result");
  if (!parsed.is_ok()) {
    core::log_warn("worker_bad_load_result", {{"error", parsed.status().message()}});
    return std::nullopt;
  }
  return parsed->memory;
}

}  // namespace

WorkerSlot::WorkerSlot(std::string name, WorkerLauncher launcher, SupervisorOptions options,
                       const core::Clock& clock)
    : name_(std::move(name)),
      launcher_(std::move(launcher)),
      options_(std::move(options)),
      clock_(clock),
      breaker_(name_, options_.breaker, clock_,
               [this](BreakerState from, BreakerState to, BreakerEvent, const std::string&) {
                 on_transition(from, to);
               }) {}

WorkerSlot::~WorkerSlot() {
  stop();
}

void WorkerSlot::on_transition(BreakerState from, BreakerState to) {
  // Runs inside Breaker calls, which are made with mutex_ held.
  ++transitions_[{from, to}];
}

void WorkerSlot::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { supervise(); });
}

void WorkerSlot::stop() {
  std::shared_ptr<WorkerClient> coming_up;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable() && !client_) return;
    stopping_ = true;
    if (client_ && !serving_) coming_up = client_;  // a start in progress: cut it short
  }
  cv_.notify_all();
  if (coming_up) coming_up->kill("the control plane is stopping");
  coming_up.reset();
  if (thread_.joinable()) thread_.join();
  std::shared_ptr<WorkerClient> client;
  {
    std::unique_lock lock(mutex_);
    refuse_queue(lock, ErrorCode::kCancelled, "the control plane is shutting down");
    client = std::move(client_);
    serving_ = false;
    breaker_.stop("the control plane is stopping");
  }
  if (client) {
    if (!client->closed())
      client->call("shutdown", Json::object(), options_.shutdown_timeout_ns, {});
    const int status = client->wait_exit(options_.shutdown_timeout_ns);
    core::log_info("worker_stopped", {{"worker", name_}, {"exit_status", status}});
    retire(std::move(client));
  }
}

core::Nanos WorkerSlot::backoff() const {
  const int n = std::max(consecutive_failures_, 1);
  const double d = static_cast<double>(options_.backoff_initial_ns) *
                   std::pow(options_.backoff_multiplier, static_cast<double>(n - 1));
  return static_cast<core::Nanos>(std::min(d, static_cast<double>(options_.backoff_max_ns)));
}

core::Nanos WorkerSlot::timeout_for(const std::string& method) const {
  return method == "load_model" ? options_.load_timeout_ns : options_.request_timeout_ns;
}

// ------------------------------------------------------------ requests

void WorkerSlot::call(std::string method, Json params, Reply reply) {
  Queued q;
  q.method = std::move(method);
  q.params = std::move(params);
  q.reply = std::move(reply);
  enqueue(std::move(q));
}

void WorkerSlot::generate(std::string stream_id, Json params, std::shared_ptr<StreamSink> sink,
                          Reply accepted) {
  Queued q;
  q.method = "generate";
  q.params = std::move(params);
  q.reply = std::move(accepted);
  q.sink = std::move(sink);
  q.stream_id = std::move(stream_id);
  enqueue(std::move(q));
}

void WorkerSlot::enqueue(Queued q) {
  std::unique_lock lock(mutex_);
  if (serving_ && client_ && !lost_ && !client_->closed()) {
    auto client = client_;
    lock.unlock();
    dispatch(client, std::move(q));
    return;
  }
  if (stopping_) {
    lock.unlock();
    reply_error(q.reply, Status(ErrorCode::kCancelled, "the control plane is shutting down"));
    return;
  }
  if (breaker_.state() == BreakerState::kTripped) {
    const std::string why = not_ready_reason_locked();
    lock.unlock();
    ++queue_rejected_;
    reply_error(q.reply, Status(ErrorCode::kTransportError, why));
    return;
  }
  if (queue_.size() >= options_.max_queued_requests) {
    lock.unlock();
    ++queue_rejected_;
    // Named by the HTTP request id when serve passed one (generate params).
    const auto rid = q.params.is_object() ? q.params.find("request_id") : q.params.end();
    core::log_warn("control_queue_full",
                   {{"worker", name_},
                    {"limit", options_.max_queued_requests},
                    {"request_id", rid != q.params.end() && rid->is_string() ? *rid : Json("")}});
    reply_error(q.reply, Status(ErrorCode::kQueueFull,
                                fmt::format("{} is restarting and {} requests already wait for it",
                                            name_, options_.max_queued_requests)));
    return;
  }
  q.deadline = clock_.now_ns() + timeout_for(q.method);
  queue_.push_back(std::move(q));
}

void WorkerSlot::dispatch(const std::shared_ptr<WorkerClient>& client, Queued q) {
  const core::Nanos timeout = timeout_for(q.method);
  if (!q.sink) {
    client->call(q.method, std::move(q.params), timeout, std::move(q.reply));
    return;
  }
  if (!streams_.add(q.stream_id, q.sink)) {
    reply_error(q.reply, Status(ErrorCode::kInvalidParams,
                                fmt::format("stream_id {} is already running", q.stream_id)));
    return;
  }
  client->call("generate", std::move(q.params), timeout,
               [this, id = q.stream_id, reply = std::move(q.reply)](core::Result<Json> r) {
                 // A refused start never reaches the sink.
                 if (!r.is_ok()) streams_.remove(id);
                 if (reply) reply(std::move(r));
               });
}

bool WorkerSlot::cancel(const std::string& stream_id) {
  std::unique_lock lock(mutex_);
  const auto it = std::find_if(queue_.begin(), queue_.end(),
                               [&](const Queued& q) { return q.sink && q.stream_id == stream_id; });
  if (it != queue_.end()) {
    Queued q = std::move(*it);
    queue_.erase(it);
    lock.unlock();
    reply_error(q.reply,
                Status(ErrorCode::kCancelled, "the stream was cancelled before it started"));
    return true;
  }
  if (!streams_.contains(stream_id) || !client_) return false;
  auto client = client_;
  lock.unlock();
  client->call("stream/cancel", Json{{"stream_id", stream_id}}, options_.request_timeout_ns, {});
  return true;
}

void WorkerSlot::refuse_queued(ErrorCode code, const std::string& why) {
  std::unique_lock lock(mutex_);
  refuse_queue(lock, code, why);
}

void WorkerSlot::refuse_queue(std::unique_lock<std::mutex>& lock, ErrorCode code,
                              const std::string& why) {
  std::deque<Queued> refused;
  refused.swap(queue_);
  if (refused.empty()) return;
  queue_rejected_ += static_cast<std::int64_t>(refused.size());
  lock.unlock();
  for (auto& q : refused) reply_error(q.reply, Status(code, why));
  lock.lock();
}

void WorkerSlot::expire_queue(std::unique_lock<std::mutex>& lock) {
  const core::Nanos now = clock_.now_ns();
  std::vector<Queued> expired;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->deadline <= now) {
      expired.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  if (expired.empty()) return;
  const std::string why =
      fmt::format("timed out waiting for {} to start ({})", name_, not_ready_reason_locked());
  lock.unlock();
  for (auto& q : expired) reply_error(q.reply, Status(ErrorCode::kTimeout, why));
  lock.lock();
}

// ------------------------------------------------------------ models

void WorkerSlot::remember_model(const std::string& model_id, Json load_params) {
  std::lock_guard lock(mutex_);
  models_[model_id] = std::move(load_params);
}

void WorkerSlot::forget_model(const std::string& model_id) {
  std::lock_guard lock(mutex_);
  models_.erase(model_id);
  records_.erase(model_id);
}

void WorkerSlot::load_started(const std::string& model_id) {
  std::lock_guard lock(mutex_);
  ModelRecord& r = records_[model_id];
  ++r.loads;
  r.state = "loading";
  r.load.reset();  // this load's reports replace the last one's
}

void WorkerSlot::load_finished(const std::string& model_id, const core::Result<Json>& result) {
  std::lock_guard lock(mutex_);
  const auto it = records_.find(model_id);
  if (it == records_.end()) return;  // unloaded meanwhile
  ModelRecord& r = it->second;
  r.loads = std::max(r.loads - 1, 0);
  if (result.is_ok()) r.memory = memory_report(*result);
  if (r.loads > 0) return;
  if (!result.is_ok() && models_.count(model_id) == 0) {
    records_.erase(it);  // a first load that failed: nothing is held
    return;
  }
  // A failed reload leaves the model it replaced serving, if the worker is up.
  r.state = result.is_ok() || r.memory ? "ready" : "restarting";
}

void WorkerSlot::on_load_progress(const protocol::Notification& n) {
  auto p = checked<protocol::LoadProgressNotice>(n.params, "model.load_progress.params");
  if (!p.is_ok()) {
    core::log_warn("worker_bad_notification", {{"worker", name_}, {"error", p.status().message()}});
    return;
  }
  std::lock_guard lock(mutex_);
  const auto it = records_.find(p->model_id);
  // Only a load we sent: a stray report must not invent a model.
  if (it == records_.end() || it->second.loads == 0) return;
  it->second.load = std::move(p).value();
}

bool WorkerSlot::holds(const std::string& model_id) const {
  std::lock_guard lock(mutex_);
  return models_.count(model_id) != 0;
}

std::size_t WorkerSlot::model_count() const {
  std::lock_guard lock(mutex_);
  return models_.size();
}

// ------------------------------------------------------------ supervision

void WorkerSlot::supervise() {
  std::unique_lock lock(mutex_);
  const auto wait_until = [&](core::Nanos when) {
    const core::Nanos delay = std::clamp<core::Nanos>(when - clock_.now_ns(), 0, kTickNs);
    cv_.wait_for(lock, std::chrono::nanoseconds(delay), [&] { return stopping_ || lost_; });
  };
  while (!stopping_) {
    switch (breaker_.state()) {
      case BreakerState::kStopped:
        (void)breaker_.launch();
        next_attempt_ = clock_.now_ns();
        break;
      case BreakerState::kStarting:
      case BreakerState::kHalfOpen: {
        expire_queue(lock);
        if (clock_.now_ns() < next_attempt_) {
          wait_until(next_attempt_);
          break;
        }
        lock.unlock();
        const Status s = bring_up();
        lock.lock();
        if (stopping_) break;
        if (s.is_ok() && lost_) {
          // It started, then broke before serving anything: a crash.
          (void)breaker_.ready();
          on_worker_lost(lock);
          break;
        }
        if (s.is_ok()) {
          (void)breaker_.ready();
          consecutive_failures_ = 0;
          serving_ = true;
          heartbeat_pending_ = false;
          next_heartbeat_ = clock_.now_ns() + options_.heartbeat_interval_ns;
          std::deque<Queued> replay;
          replay.swap(queue_);
          auto client = client_;
          lock.unlock();
          for (auto& q : replay) {
            ++replayed_;
            dispatch(client, std::move(q));
          }
          lock.lock();
          break;
        }
        ++start_failures_;
        ++consecutive_failures_;
        last_error_ = s.message();
        core::log_error(
            "worker_start_failed",
            {{"worker", name_}, {"error", last_error_}, {"consecutive", consecutive_failures_}});
        if (breaker_.failure(last_error_) == BreakerState::kTripped) {
          refuse_queue(lock, ErrorCode::kTransportError, not_ready_reason_locked());
        }
        next_attempt_ = clock_.now_ns() + backoff();
        break;
      }
      case BreakerState::kRunning: {
        if (lost_) {
          on_worker_lost(lock);
          break;
        }
        wait_until(std::min(next_heartbeat_, clock_.now_ns() + kTickNs));
        if (stopping_ || lost_) break;
        auto client = client_;
        lock.unlock();
        if (client) client->expire_overdue();
        lock.lock();
        heartbeat(lock);
        break;
      }
      case BreakerState::kTripped:
        if (breaker_.try_half_open()) {
          next_attempt_ = clock_.now_ns();
          break;
        }
        wait_until(breaker_.retry_at());
        break;
    }
  }
}

void WorkerSlot::on_worker_lost(std::unique_lock<std::mutex>& lock) {
  serving_ = false;
  heartbeat_pending_ = false;
  auto client = std::move(client_);
  lost_ = false;
  ++crashes_;
  ++consecutive_failures_;
  const std::string why = last_error_;
  // Nothing is loaded any more until reconciliation reloads it.
  for (auto& [id, r] : records_) {
    r.memory.reset();
    if (r.loads == 0) r.state = "restarting";
  }
  lock.unlock();
  retire(std::move(client));  // joins its threads and reaps the process
  lock.lock();
  core::log_error("worker_lost", {{"worker", name_}, {"reason", why}});
  if (breaker_.failure(why) == BreakerState::kTripped) {
    refuse_queue(lock, ErrorCode::kTransportError, not_ready_reason_locked());
  }
  next_attempt_ = clock_.now_ns() + backoff();
}

void WorkerSlot::heartbeat(std::unique_lock<std::mutex>& lock) {
  if (heartbeat_pending_ || clock_.now_ns() < next_heartbeat_ || !client_) return;
  heartbeat_pending_ = true;
  auto client = client_;
  const std::uint64_t gen = generation_;
  lock.unlock();
  // The reply may run on the client's reader thread: it holds no reference
  // to the client (the last one must never be dropped there).
  client->call("runtime/state", Json::object(), options_.heartbeat_timeout_ns,
               [this, gen](core::Result<Json> r) {
                 std::lock_guard l(mutex_);
                 if (gen != generation_) return;
                 heartbeat_pending_ = false;
                 const core::Nanos now = clock_.now_ns();
                 next_heartbeat_ = now + options_.heartbeat_interval_ns;
                 if (r.is_ok() || r.status().code() != ErrorCode::kTimeout || !client_) return;
                 // Silence counts only while we were reading: a slow consumer
                 // of ours (a callback still running, bytes arriving) is not a
                 // hung worker.
                 if (client_->delivering() ||
                     now - client_->last_read_ns() < options_.heartbeat_timeout_ns) {
                   return;
                 }
                 ++hangs_;
                 const std::string why =
                     fmt::format("no answer to runtime/state within {} ms (hung)",
                                 ms(options_.heartbeat_timeout_ns));
                 core::log_error("worker_hung", {{"worker", name_}, {"reason", why}});
                 client_->kill(why);
               });
  client.reset();
  lock.lock();
}

void WorkerSlot::retire(std::shared_ptr<WorkerClient> client) {
  if (!client) return;
  // Other threads hold a copy only for the instant of a call; wait for them,
  // so that the client is destroyed here and never on its own reader thread.
  for (int i = 0; i < 1000 && client.use_count() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  client.reset();
}

Status WorkerSlot::bring_up() {
  auto launched = launcher_(name_);
  if (!launched.is_ok()) return launched.status();
  std::shared_ptr<WorkerClient> client;
  {
    std::lock_guard lock(mutex_);
    const std::uint64_t gen = ++generation_;
    if (gen > 1) ++restarts_;
    WorkerClient::Callbacks callbacks;
    callbacks.on_notification = [this](protocol::Notification n) {
      if (n.method == protocol::kModelLoadProgress) return on_load_progress(n);
      const Status s = streams_.deliver(n);
      if (!s.is_ok())
        core::log_warn("worker_bad_notification", {{"worker", name_}, {"error", s.message()}});
    };
    callbacks.on_closed = [this, gen](const Status& why) {
      {
        // Not ready from here on, before any stream hears of the crash.
        std::lock_guard l(mutex_);
        if (gen == generation_) {
          lost_ = true;
          last_error_ = why.message();
        }
      }
      // Every stream ends now, from the reader thread, before any restart.
      streams_.end_all(ErrorCode::kWorkerCrashed, why.message());
      cv_.notify_all();
    };
    client = std::make_shared<WorkerClient>(name_, std::move(*launched), options_.client,
                                            std::move(callbacks), clock_);
    client_ = client;
    lost_ = false;
    if (stopping_) client->kill("the control plane is stopping");
  }
  client->start();
  const auto tear_down = [&](const Status& why) {
    client->kill(why.message());
    {
      std::lock_guard lock(mutex_);
      if (client_ == client) client_.reset();
      lost_ = false;
    }
    retire(std::move(client));
    return why;
  };
  Json info_params = {{"protocol_version", protocol::protocol_version_string()}};
  // stream.step when configured; load progress always (the dashboard's bar).
  Json extensions = Json::array();
  if (options_.step_stream) extensions.push_back(protocol::kExtStreamStep);
  extensions.push_back(protocol::kExtLoadProgress);
  info_params["extensions"] = std::move(extensions);
  auto info = client->call_sync("runtime/info", info_params, options_.startup_timeout_ns);
  if (!info.is_ok()) return tear_down(info.status().with_context("runtime/info"));
  auto parsed = protocol::from_json<protocol::RuntimeInfoResult>(*info, "runtime/info result");
  if (!parsed.is_ok()) return tear_down(parsed.status());
  if (parsed->protocol_version) {
    auto v = protocol::parse_protocol_version(*parsed->protocol_version);
    if (!v.is_ok() || v->major != protocol::kProtocolMajor) {
      return tear_down(
          Status(ErrorCode::kUnsupported,
                 fmt::format("the worker speaks protocol {}, we speak {}",
                             *parsed->protocol_version, protocol::protocol_version_string())));
    }
  }
  const Status reconciled = reconcile(*client);
  if (!reconciled.is_ok()) return tear_down(reconciled);
  std::vector<std::string> ext = parsed->extensions.value_or(std::vector<std::string>{});
  core::log_info("worker_ready", {{"worker", client->describe()},
                                  {"protocol_version", parsed->protocol_version.value_or("1.0")},
                                  {"extensions", ext},
                                  {"restarts", restarts_.load()}});
  return {};
}

Status WorkerSlot::reconcile(WorkerClient& client) {
  auto state = client.call_sync("runtime/state", Json::object(), options_.startup_timeout_ns);
  if (!state.is_ok()) return state.status().with_context("runtime/state");
  MLXS_ASSIGN_OR_RETURN(auto parsed,
                        protocol::from_json<protocol::RuntimeStateResult>(*state, "runtime/state"));
  std::set<std::string> loaded;
  for (const auto& m : parsed.loaded_models) loaded.insert(m.model_id);
  std::map<std::string, Json> wanted;
  {
    std::lock_guard lock(mutex_);
    wanted = models_;
  }
  Json reloaded = Json::array(), failed = Json::array(), unloaded = Json::array();
  for (const auto& [id, params] : wanted) {
    if (loaded.count(id) != 0) continue;
    load_started(id);
    auto r = client.call_sync("load_model", params, options_.load_timeout_ns);
    load_finished(id, r);
    if (r.is_ok()) {
      ++reloads_;
      reloaded.push_back(id);
      continue;
    }
    if (r.status().code() == ErrorCode::kWorkerCrashed)
      return r.status().with_context("reload " + id);
    failed.push_back({{"model_id", id}, {"error", r.status().to_string()}});
    std::lock_guard lock(mutex_);
    last_error_ = fmt::format("reloading {} failed: {}", id, r.status().message());
  }
  for (const auto& id : loaded) {
    if (wanted.count(id) != 0) continue;
    auto r = client.call_sync("unload_model", Json{{"model_id", id}}, options_.request_timeout_ns);
    if (r.is_ok()) unloaded.push_back(id);
  }
  core::log_event(
      failed.empty() ? core::LogLevel::kInfo : core::LogLevel::kError, "worker_reconciled",
      {{"worker", name_}, {"reloaded", reloaded}, {"unloaded", unloaded}, {"failed", failed}});
  return {};
}

// ------------------------------------------------------------ reports

bool WorkerSlot::ready() const {
  std::lock_guard lock(mutex_);
  return serving_ && !lost_;
}

BreakerState WorkerSlot::state() const {
  std::lock_guard lock(mutex_);
  return breaker_.state();
}

std::string WorkerSlot::not_ready_reason() const {
  std::lock_guard lock(mutex_);
  return not_ready_reason_locked();
}

std::string WorkerSlot::not_ready_reason_locked() const {
  const std::string last = last_error_.empty() ? "" : " (last error: " + last_error_ + ")";
  switch (breaker_.state()) {
    case BreakerState::kRunning:
      return serving_ && !lost_ ? "" : name_ + " is restarting" + last;
    case BreakerState::kStarting:
      return name_ + " is starting" + last;
    case BreakerState::kHalfOpen:
      return name_ + " is being probed after its circuit breaker tripped" + last;
    case BreakerState::kTripped: {
      const double wait_s =
          static_cast<double>(std::max<core::Nanos>(breaker_.retry_at() - clock_.now_ns(), 0)) /
          1e9;
      return fmt::format(
          "{}: circuit breaker tripped after {} failures within {:.0f} s{}; next try in "
          "{:.1f} s",
          name_, breaker_.recent_failures(),
          static_cast<double>(breaker_.options().failure_window_ns) / 1e9, last, wait_s);
    }
    case BreakerState::kStopped:
      return name_ + " is stopped";
  }
  return name_ + " is in an unknown state";
}

WorkerHealth WorkerSlot::health() const {
  std::lock_guard lock(mutex_);
  WorkerHealth h;
  h.name = name_;
  h.breaker_state = std::string(breaker_state_name(breaker_.state()));
  for (const auto& [id, params] : models_) h.models.push_back(id);
  h.restarts = static_cast<int>(restarts_.load());
  h.last_error = last_error_;
  for (const auto& [id, r] : records_) h.model_status.push_back({id, r.state, r.memory, r.load});
  return h;
}

void WorkerSlot::collect(MetricsSnapshot& out) const {
  std::lock_guard lock(mutex_);
  const auto add = [&](std::string name, std::string help, MetricType type, double value,
                       std::vector<std::pair<std::string, std::string>> extra = {}) {
    MetricSample s;
    s.name = std::move(name);
    s.help = std::move(help);
    s.type = type;
    s.labels = {{"worker", name_}};
    for (auto& l : extra) s.labels.push_back(std::move(l));
    s.value = value;
    out.samples.push_back(std::move(s));
  };
  const auto counter = [&](std::string name, std::string help, std::int64_t v) {
    add(std::move(name), std::move(help), MetricType::kCounter, static_cast<double>(v));
  };
  counter("mlxs_worker_restarts_total", "Worker restarts after a crash, hang or failed start",
          restarts_.load());
  counter("mlxs_worker_crashes_total",
          "Workers lost while running (exit, kill, protocol violation)", crashes_.load());
  counter("mlxs_worker_hangs_total", "Workers killed for not answering heartbeats", hangs_.load());
  counter("mlxs_worker_start_failures_total", "Worker starts that failed", start_failures_.load());
  counter("mlxs_control_queue_rejected_total",
          "Requests refused by the control plane queue (full, breaker tripped, stopping)",
          queue_rejected_.load());
  counter("mlxs_control_requests_replayed_total", "Queued requests replayed on a restarted worker",
          replayed_.load());
  counter("mlxs_worker_models_reloaded_total", "Models reloaded by reconciliation",
          reloads_.load());
  for (const auto& [edge, n] : transitions_) {
    add("mlxs_breaker_transitions_total", "Circuit breaker transitions", MetricType::kCounter,
        static_cast<double>(n),
        {{"from", std::string(breaker_state_name(edge.first))},
         {"to", std::string(breaker_state_name(edge.second))}});
  }
  for (int i = 0; i < kBreakerStateCount; ++i) {
    const auto st = static_cast<BreakerState>(i);
    add("mlxs_breaker_state", "1 for the breaker's current state", MetricType::kGauge,
        st == breaker_.state() ? 1.0 : 0.0, {{"state", std::string(breaker_state_name(st))}});
  }
  add("mlxs_worker_up", "1 while the worker serves requests", MetricType::kGauge,
      serving_ && !lost_ ? 1.0 : 0.0);
  add("mlxs_worker_requests_in_flight", "Requests sent to the worker and not answered",
      MetricType::kGauge, client_ ? static_cast<double>(client_->pending()) : 0.0);
  add("mlxs_worker_streams_active", "Streams running on the worker", MetricType::kGauge,
      static_cast<double>(streams_.size()));
  add("mlxs_control_queue_depth", "Requests waiting for the worker to (re)start",
      MetricType::kGauge, static_cast<double>(queue_.size()));
  add("mlxs_worker_models", "Models the worker should hold", MetricType::kGauge,
      static_cast<double>(models_.size()));
  for (const auto& [id, r] : records_) {
    if (!r.memory) continue;
    const char* help = "Bytes a loaded model holds on its device, by kind (weights, kv_cache)";
    add("mlxs_model_memory_bytes", help, MetricType::kGauge,
        static_cast<double>(r.memory->weights_bytes), {{"model", id}, {"kind", "weights"}});
    add("mlxs_model_memory_bytes", help, MetricType::kGauge,
        static_cast<double>(r.memory->kv_cache_bytes), {{"model", id}, {"kind", "kv_cache"}});
  }
}

}  // namespace mlxs::control
