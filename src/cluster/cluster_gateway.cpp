#include "cluster/cluster_gateway.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include <fmt/format.h>

#include "cluster/request_fate.h"
#include "core/error.h"
#include "core/log.h"
#include "protocol/codec.h"

namespace mlxs::cluster {

using control::LaunchedWorker;
using control::WorkerSlot;
using core::ErrorCode;
using core::Status;

namespace {

constexpr std::size_t kRoutedMemory = 65536;

core::Nanos now_ns() {
  return core::SteadyClock::instance().now_ns();
}

core::Nanos ms_to_ns(int ms) {
  return static_cast<core::Nanos>(ms) * 1'000'000;
}

void refuse(const control::Gateway::Reply& reply, Status status) {
  if (reply) reply(core::Result<control::Json>(std::move(status)));
}

bool starts_streams(const std::string& method) {
  return method == "generate" || method == "batch_generate" ||
         method == "batch_generate_parallel" || method == "continuous_generate" ||
         method == "generate_with_image";
}

}  // namespace

// One attached session: the bridge between the slot's WorkerClient (the
// other end of the socket pair) and the worker's subjects.
struct ClusterGateway::Link {
  std::mutex mutex;
  std::unique_ptr<Bridge> bridge;

  void kill(const Status& why) {
    std::lock_guard lock(mutex);
    if (bridge) bridge->close(why);
  }
  void destroy() {
    std::unique_ptr<Bridge> b;
    {
      std::lock_guard lock(mutex);
      b = std::move(bridge);
    }
    b.reset();
  }
};

namespace {

// What the slot's WorkerClient holds: kill() ends the session (the worker
// stops its side), wait() releases the bridge.
template <class Link>
class RemoteHandle final : public control::WorkerHandle {
 public:
  RemoteHandle(std::shared_ptr<Link> link, std::string what)
      : link_(std::move(link)), what_(std::move(what)) {}
  ~RemoteHandle() override { link_->destroy(); }
  void kill() override {
    link_->kill(Status(ErrorCode::kWorkerCrashed, "session closed by the control plane"));
  }
  int wait() override {
    link_->destroy();
    return 0;
  }
  std::string describe() const override { return what_; }

 private:
  std::shared_ptr<Link> link_;
  std::string what_;
};

}  // namespace

ClusterGateway::ClusterGateway(ClusterConfig config, control::SupervisorOptions options)
    : config_(std::move(config)),
      options_([&] {
        // The slot pings every heartbeat interval (the worker ends a session
        // silent past the offline timeout) and calls a worker hung when a
        // ping stays unanswered for the offline timeout.
        control::SupervisorOptions o = options;
        o.heartbeat_interval_ns = ms_to_ns(config_.discovery.heartbeat_interval_ms);
        o.heartbeat_timeout_ns = ms_to_ns(config_.discovery.offline_timeout_ms);
        return o;
      }()),
      directory_(ms_to_ns(config_.discovery.offline_timeout_ms)),
      affinity_(config_.balancing.affinity_entries) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  // Unique among control planes (a host's load is announced per name), also
  // for several in one process.
  static std::atomic<unsigned> made{0};
  name_ = fmt::format("cp-{:x}-{:x}-{}", static_cast<unsigned>(::getpid()),
                      static_cast<std::uint64_t>(ms), made.fetch_add(1));
}

ClusterGateway::~ClusterGateway() {
  stop();
}

core::Status ClusterGateway::start() {
  auto nats = NatsConnection::connect(config_.nats, "mlx-serving control plane " + name_);
  if (!nats) return nats.status();
  nats_ = std::move(*nats);
  auto announce =
      nats_->subscribe(announce_subject(config_.name),
                       [this](std::string_view data, std::string_view) { on_announce(data); });
  if (!announce) return announce.status();
  announce_sub_ = std::move(*announce);
  auto leave =
      nats_->subscribe(leave_subject(config_.name),
                       [this](std::string_view data, std::string_view) { on_leave(data); });
  if (!leave) return leave.status();
  leave_sub_ = std::move(*leave);
  if (Status s = nats_->flush(config_.nats.connect_timeout_ms); !s.is_ok()) return s;
  {
    std::lock_guard lock(mutex_);
    started_ = true;
    for (const auto& id : config_.static_workers) add_remote_locked(id).slot->start();
  }
  // Workers answer with an announcement at once instead of at their next beat.
  (void)nats_->publish(discover_subject(config_.name), "{}");
  thread_ = std::thread([this] { tick(); });
  core::log_info("cluster_control_started", {{"control", name_}, {"cluster", config_.name}});
  return {};
}

void ClusterGateway::stop() {
  std::deque<Waiting> waiting;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    waiting.swap(waiting_);
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& w : waiting) {
    refuse(w.reply, Status(ErrorCode::kWorkerCrashed, "the control plane is stopping"));
  }
  announce_sub_.reset();
  leave_sub_.reset();
  std::vector<std::unique_ptr<Remote>> remotes;
  {
    std::lock_guard lock(mutex_);
    remotes.swap(remotes_);
  }
  for (auto& r : remotes) r->slot->stop();
  remotes.clear();  // joins the slots' threads, releases every session
  nats_.reset();
}

ClusterGateway::Remote& ClusterGateway::add_remote_locked(const std::string& id) {
  auto remote = std::make_unique<Remote>();
  remote->id = id;
  Remote* r = remote.get();
  remote->slot = std::make_unique<WorkerSlot>(
      id, [this, r](const std::string&) { return attach(*r); }, options_);
  remotes_.push_back(std::move(remote));
  return *r;
}

std::vector<ClusterGateway::Remote*> ClusterGateway::remotes() const {
  std::lock_guard lock(mutex_);
  std::vector<Remote*> out;
  for (const auto& r : remotes_) out.push_back(r.get());
  return out;
}

core::Result<LaunchedWorker> ClusterGateway::attach(Remote& remote) {
  std::string session;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return Status(ErrorCode::kWorkerCrashed, "the control plane is stopping");
    const bool listed = std::find(config_.static_workers.begin(), config_.static_workers.end(),
                                  remote.id) != config_.static_workers.end();
    if (!listed && !directory_.online(remote.id)) {
      return core::make_error(ErrorCode::kWorkerCrashed,
                              "worker host {} is offline (no announcement within {} ms)", remote.id,
                              config_.discovery.offline_timeout_ms);
    }
    session = fmt::format("{}-{}", name_, ++next_session_);
  }
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Status(ErrorCode::kIoError, "cannot create a session's socket pair");
  }
  auto link = std::make_shared<Link>();
  link->bridge =
      std::make_unique<Bridge>(*nats_, session_subject(config_.name, remote.id, session, "in"),
                               session_subject(config_.name, remote.id, session, "out"), fds[1],
                               fds[1], options_.client.max_line_bytes, nullptr);
  const auto fail = [&](const Status& why) {
    link->destroy();
    ::close(fds[0]);
    return core::make_error(ErrorCode::kWorkerCrashed, "cannot attach to worker host {}: {}",
                            remote.id, why.message());
  };
  if (Status s = link->bridge->start(); !s.is_ok()) return fail(s);
  auto answer = nats_->request(attach_subject(config_.name, remote.id),
                               Json{{"session", session}, {"control", name_}}.dump(),
                               config_.discovery.attach_timeout_ms);
  if (!answer) return fail(answer.status());
  const Json reply = Json::parse(*answer, nullptr, /*allow_exceptions=*/false);
  if (reply.is_discarded() || !reply.is_object() || !reply.value("ok", false)) {
    const Json err = reply.is_object() ? reply.value("error", Json::object()) : Json::object();
    const std::string message = err.is_object()
                                    ? err.value("message", std::string("unreadable answer"))
                                    : "unreadable answer";
    return fail(Status(ErrorCode::kWorkerCrashed, message));
  }
  {
    std::lock_guard lock(remote.link_mutex);
    remote.link = link;
  }
  core::log_info("cluster_attached", {{"worker", remote.id}, {"session", session}});
  LaunchedWorker w;
  w.to_worker = fds[0];
  w.from_worker = fds[0];
  w.handle = std::make_unique<RemoteHandle<Link>>(
      link, fmt::format("worker host {} session {}", remote.id, session));
  return w;
}

void ClusterGateway::cut(Remote& remote, const Status& why) {
  std::shared_ptr<Link> link;
  {
    std::lock_guard lock(remote.link_mutex);
    link = remote.link;
  }
  if (link) link->kill(why);
  // What waits in the slot for this host was never sent: the send() wrapper
  // sees WorkerCrashed before a start and routes it elsewhere.
  remote.slot->refuse_queued(ErrorCode::kWorkerCrashed, why.message());
}

void ClusterGateway::on_announce(std::string_view data) {
  auto a = decode_announcement(data);
  std::lock_guard lock(mutex_);
  if (!a) {
    ++bad_announcements_;
    core::log_debug("cluster_bad_announcement", {{"error", a.status().message()}});
    return;
  }
  if (stopping_ || !started_) return;
  const std::string id = a->id;
  const bool joined = directory_.observe(*a, now_ns());
  auto it =
      std::find_if(remotes_.begin(), remotes_.end(), [&id](const auto& r) { return r->id == id; });
  const bool created = it == remotes_.end();
  Remote* remote = created ? &add_remote_locked(id) : it->get();
  remote->capacity = static_cast<std::size_t>(a->max_streams);
  // Our own streams there we count ourselves, at once; the others' come
  // with each announcement (a heartbeat interval old at most).
  remote->others = 0;
  if (a->streams) {
    const auto mine = a->streams_by_control.find(name_);
    const int own = mine == a->streams_by_control.end() ? 0 : mine->second;
    remote->others = static_cast<std::size_t>(std::max(0, *a->streams - own));
  }
  for (const auto& m : a->models) {
    if (!remote->slot->holds(m.id)) {
      remote->slot->remember_model(m.id, Json{{"model_id", m.id}, {"local_path", m.path}});
    }
  }
  if (created) remote->slot->start();
  if (joined) {
    core::log_info("cluster_worker_online",
                   {{"worker", id}, {"models", a->models.size()}, {"sessions", a->sessions}});
  }
}

void ClusterGateway::on_leave(std::string_view data) {
  const Json j = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string()) return;
  const std::string id = j["id"].get<std::string>();
  Remote* remote = nullptr;
  {
    std::lock_guard lock(mutex_);
    if (!directory_.leave(id)) return;
    for (auto& r : remotes_) {
      if (r->id == id) remote = r.get();
    }
  }
  core::log_info("cluster_worker_left", {{"worker", id}});
  if (remote != nullptr) {
    cut(*remote,
        core::make_error(ErrorCode::kWorkerCrashed, "worker host {} left the cluster", id));
  }
}

void ClusterGateway::tick() {
  const std::string beat = Json{{"control", name_}}.dump();
  core::Nanos next_beat = 0;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(20));
    if (stopping_) break;
    const core::Nanos now = now_ns();
    if (now >= next_beat) {
      // Worker hosts keep this control plane's sessions while it beats, even
      // when a slot sends nothing for a while (it does not ping while its
      // worker loads a model).
      next_beat = now + ms_to_ns(config_.discovery.heartbeat_interval_ms);
      lock.unlock();
      (void)nats_->publish(beat_subject(config_.name), beat);
      lock.lock();
      if (stopping_) break;
    }
    std::vector<Remote*> gone;
    for (const auto& id : directory_.expire(now)) {
      ++offline_total_;
      for (auto& r : remotes_) {
        if (r->id == id) gone.push_back(r.get());
      }
    }
    std::deque<Waiting> waiting;
    waiting.swap(waiting_);
    lock.unlock();
    for (Remote* r : gone) {
      const Status why =
          core::make_error(ErrorCode::kWorkerCrashed,
                           "worker host {} missed its heartbeats (no announcement for {} ms)",
                           r->id, config_.discovery.offline_timeout_ms);
      core::log_error("cluster_worker_offline", {{"worker", r->id}, {"reason", why.message()}});
      cut(*r, why);
    }
    std::deque<Waiting> still;
    for (auto& w : waiting) {
      bool hit = false;
      if (Remote* r = route(w, &hit); r != nullptr) {
        send(*r, std::move(w));
      } else if (now > w.deadline) {
        lock.lock();
        ++wait_timeouts_;
        lock.unlock();
        refuse(w.reply,
               core::make_error(ErrorCode::kTimeout, "no worker holding {} came up within {} ms",
                                w.model.empty() ? "a model" : w.model,
                                options_.request_timeout_ns / 1'000'000));
      } else {
        still.push_back(std::move(w));
      }
    }
    lock.lock();
    // Those that waited keep their place before the ones that came since.
    for (auto it = still.rbegin(); it != still.rend(); ++it) waiting_.push_front(std::move(*it));
  }
}

ClusterGateway::Remote* ClusterGateway::route(const Waiting& w, bool* affinity_hit) {
  const core::Nanos start = now_ns();
  const std::string& model = w.model;
  const std::uint64_t key = w.key;
  std::lock_guard lock(mutex_);
  std::vector<Candidate> candidates;
  candidates.reserve(remotes_.size());
  for (const auto& r : remotes_) {
    const bool avoided = r->id == w.avoid && start < w.avoid_until;
    candidates.push_back({r->id, r->slot->ready() && !avoided,
                          model.empty() || r->slot->holds(model), r->slot->active_streams(),
                          r->capacity, r->others});
  }
  const std::string last = key != 0 ? affinity_.lookup(key) : std::string();
  const auto choice = choose_worker(candidates, last, config_.balancing.strategy);
  if (!choice) return nullptr;
  Remote* r = remotes_[choice->index].get();
  if (key != 0) affinity_.record(key, r->id);
  *affinity_hit = choice->affinity_hit;
  ++routed_total_;
  affinity_hits_ += choice->affinity_hit ? 1 : 0;
  route_ns_total_ += now_ns() - start;
  return r;
}

bool ClusterGateway::known_model(const std::string& model) const {
  std::lock_guard lock(mutex_);
  return std::any_of(remotes_.begin(), remotes_.end(),
                     [&model](const auto& r) { return r->slot->holds(model); });
}

void ClusterGateway::send(Remote& remote, Waiting w) {
  if (w.method == "generate") {
    {
      std::lock_guard lock(mutex_);
      routed_[w.stream_id] = remote.id;
      unanswered_[w.stream_id] = false;
      routed_order_.push_back(w.stream_id);
      while (routed_order_.size() > kRoutedMemory) {
        routed_.erase(routed_order_.front());
        routed_order_.pop_front();
      }
    }
    // The answer decides the request's fate (request_fate.h): accepted, it
    // runs here to its end; lost before that, it goes back to waiting.
    auto back = std::make_shared<Waiting>();
    back->method = w.method;
    back->params = w.params;
    back->sink = w.sink;
    back->reply = std::move(w.reply);
    back->model = w.model;
    back->stream_id = w.stream_id;
    back->key = w.key;
    back->deadline = w.deadline;
    back->received = w.received;
    back->losses = w.losses;
    const std::string host = remote.id;
    remote.slot->generate(
        w.stream_id, std::move(w.params), std::move(w.sink),
        [this, back, host](core::Result<Json> r) {
          FateEvent e = r.is_ok() ? FateEvent::kAccepted : fate_event_of(r.status().code());
          if (e == FateEvent::kHostLost && back->losses + 1 >= kMaxHostLosses)
            e = FateEvent::kRetriesOut;
          std::unique_lock lock(mutex_);
          // A cancel that came while the host had not answered found the
          // request neither waiting nor running: it is honoured here, in the
          // same critical section as the requeue, so no cancel slips between.
          const auto pending = unanswered_.find(back->stream_id);
          const bool cancelled = pending != unanswered_.end() && pending->second;
          if (pending != unanswered_.end()) unanswered_.erase(pending);
          if (cancelled && e == FateEvent::kHostLost) e = FateEvent::kCancelled;
          if (fate_transition(FateState::kSent, e).next == FateState::kWaiting) {
            ++back->losses;
            back->avoid = host;
            back->avoid_until = now_ns() + ms_to_ns(config_.discovery.heartbeat_interval_ms);
            core::log_warn("cluster_request_rerouted", {{"stream_id", back->stream_id},
                                                        {"worker", host},
                                                        {"reason", r.status().message()}});
            return requeue(lock, std::move(*back));
          }
          lock.unlock();
          if (e == FateEvent::kCancelled) {
            return refuse(back->reply,
                          Status(ErrorCode::kCancelled, "cancelled before a worker took it"));
          }
          if (back->reply) back->reply(std::move(r));
        });
    return;
  }
  remote.slot->call(std::move(w.method), std::move(w.params), std::move(w.reply));
}

void ClusterGateway::requeue(std::unique_lock<std::mutex>& lock, Waiting w) {
  if (stopping_) {
    lock.unlock();
    return refuse(w.reply, Status(ErrorCode::kWorkerCrashed, "the control plane is stopping"));
  }
  ++rerouted_;
  // It waited longest: first in line, past the queue's bound (it was admitted).
  waiting_.push_front(std::move(w));
}

void ClusterGateway::wait_or_refuse(Waiting w) {
  std::unique_lock lock(mutex_);
  if (stopping_) {
    lock.unlock();
    return refuse(w.reply, Status(ErrorCode::kWorkerCrashed, "the control plane is stopping"));
  }
  if (waiting_.size() >= options_.max_queued_requests) {
    lock.unlock();
    return refuse(w.reply, core::make_error(ErrorCode::kQueueFull,
                                            "{} requests already wait for a worker host to come up",
                                            options_.max_queued_requests));
  }
  w.deadline = now_ns() + options_.request_timeout_ns;
  ++waited_total_;
  waiting_.push_back(std::move(w));
}

void ClusterGateway::generate(protocol::GenerateParams params,
                              std::shared_ptr<control::StreamSink> sink, Reply accepted) {
  if (!known_model(params.model_id)) {
    return refuse(accepted,
                  Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + params.model_id));
  }
  if (!params.stream_id || params.stream_id->empty()) {
    std::lock_guard lock(mutex_);
    params.stream_id = fmt::format("{}-s{}", name_, ++next_stream_);
  }
  Waiting w;
  w.method = "generate";
  w.model = params.model_id;
  w.stream_id = *params.stream_id;
  w.key = config_.balancing.strategy == Strategy::kSmart
              ? prefix_key(params, config_.balancing.affinity_prefix)
              : 0;
  w.params = protocol::to_json(params);
  w.sink = std::move(sink);
  w.reply = std::move(accepted);
  w.received = now_ns();
  w.deadline = w.received + options_.request_timeout_ns;
  bool hit = false;
  if (Remote* r = route(w, &hit); r != nullptr) {
    const core::Nanos received = w.received;
    send(*r, std::move(w));
    dispatch_.record(now_ns() - received);
    return;
  }
  wait_or_refuse(std::move(w));
}

void ClusterGateway::call(std::string method, Json params, Reply reply) {
  if (method == "shutdown") {
    return refuse(reply, Status(ErrorCode::kUnsupported,
                                "shutdown belongs to the control plane, not to a client"));
  }
  if (starts_streams(method)) {
    return refuse(
        reply, Status(ErrorCode::kUnsupported, method + " starts streams: use Gateway::generate"));
  }
  if (!params.is_object()) params = Json::object();
  const std::vector<Remote*> all = remotes();
  std::vector<WorkerSlot*> up;
  for (Remote* r : all) {
    if (r->slot->ready()) up.push_back(r->slot.get());
  }
  if (method == "runtime/state") return control::merge_runtime_state(up, std::move(reply));
  const auto model_it = params.find("model_id");
  const std::string model =
      model_it != params.end() && model_it->is_string() ? model_it->get<std::string>() : "";
  if (method == "load_model" && !model.empty()) {
    // The worker that holds it already, else the one up with the fewest models.
    WorkerSlot* slot = nullptr;
    for (Remote* r : all) {
      if (slot == nullptr && r->slot->holds(model)) slot = r->slot.get();
    }
    for (WorkerSlot* s : up) {
      if (slot == nullptr || (!slot->holds(model) && s->model_count() < slot->model_count())) {
        slot = s;
      }
    }
    if (slot == nullptr) {
      return refuse(reply, Status(ErrorCode::kWorkerCrashed, "no worker host is up"));
    }
    slot->load_started(model);
    slot->call("load_model", params,
               [slot, model, params, reply = std::move(reply)](core::Result<Json> r) {
                 if (r.is_ok()) slot->remember_model(model, params);
                 slot->load_finished(model, r);
                 if (reply) reply(std::move(r));
               });
    return;
  }
  if (method == "unload_model" && !model.empty()) {
    std::vector<WorkerSlot*> holders;
    for (Remote* r : all) {
      if (r->slot->holds(model)) holders.push_back(r->slot.get());
    }
    if (holders.empty())
      return refuse(reply, Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + model));
    auto remaining = std::make_shared<std::atomic<std::size_t>>(holders.size());
    auto shared_reply = std::make_shared<Reply>(std::move(reply));
    for (WorkerSlot* slot : holders) {
      slot->call("unload_model", params,
                 [slot, model, remaining, shared_reply](core::Result<Json> r) {
                   if (r.is_ok() || r.status().code() == ErrorCode::kModelNotLoaded)
                     slot->forget_model(model);
                   // The last answer is the client's.
                   if (--*remaining == 0 && *shared_reply) (*shared_reply)(std::move(r));
                 });
    }
    return;
  }
  if (!model.empty() && !known_model(model)) {
    return refuse(reply, Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + model));
  }
  if (all.empty()) {
    return refuse(reply, Status(ErrorCode::kWorkerCrashed, "no worker host has announced itself"));
  }
  Waiting w;
  w.method = std::move(method);
  w.params = std::move(params);
  w.reply = std::move(reply);
  w.model = model;
  bool hit = false;
  if (Remote* r = route(w, &hit); r != nullptr) return send(*r, std::move(w));
  wait_or_refuse(std::move(w));
}

void ClusterGateway::cancel(const std::string& stream_id) {
  Reply reply;
  {
    std::lock_guard lock(mutex_);
    const auto it = std::find_if(waiting_.begin(), waiting_.end(),
                                 [&](const Waiting& w) { return w.stream_id == stream_id; });
    if (it != waiting_.end()) {
      reply = std::move(it->reply);
      waiting_.erase(it);
    } else if (const auto sent = unanswered_.find(stream_id); sent != unanswered_.end()) {
      sent->second = true;  // should its host be lost before answering, it ends here
    }
  }
  if (reply) {
    return refuse(reply, Status(ErrorCode::kCancelled, "cancelled before a worker took it"));
  }
  for (Remote* r : remotes()) {
    if (r->slot->cancel(stream_id)) return;
  }
}

control::Readiness ClusterGateway::readiness() const {
  control::Readiness out;
  std::size_t up = 0;
  const std::vector<Remote*> all = remotes();
  for (Remote* r : all) {
    out.workers.push_back(r->slot->health());
    up += r->slot->ready() ? 1 : 0;
  }
  out.ready = up > 0;
  if (!out.ready) {
    out.reason = all.empty() ? "no worker host has announced itself"
                             : fmt::format("none of {} worker host(s) is up", all.size());
  }
  return out;
}

control::MetricsSnapshot ClusterGateway::metrics() const {
  control::MetricsSnapshot out;
  for (Remote* r : remotes()) r->slot->collect(out);
  std::lock_guard lock(mutex_);
  const auto add = [&out](const char* name, const char* help, control::MetricType type,
                          double value) {
    out.samples.push_back({name, help, type, {}, value});
  };
  using control::MetricType;
  add("mlxs_cluster_workers_online", "Worker hosts announcing themselves", MetricType::kGauge,
      static_cast<double>(directory_.online_count()));
  add("mlxs_cluster_routed_total", "Requests routed to a worker host", MetricType::kCounter,
      static_cast<double>(routed_total_));
  add("mlxs_cluster_affinity_hits_total", "Requests sent where their prompt prefix went before",
      MetricType::kCounter, static_cast<double>(affinity_hits_));
  add("mlxs_cluster_waiting", "Requests waiting for a worker host to come up", MetricType::kGauge,
      static_cast<double>(waiting_.size()));
  add("mlxs_cluster_waited_total", "Requests that had to wait for a worker host",
      MetricType::kCounter, static_cast<double>(waited_total_));
  add("mlxs_cluster_wait_timeouts_total", "Requests refused after waiting the request timeout",
      MetricType::kCounter, static_cast<double>(wait_timeouts_));
  add("mlxs_cluster_offline_total", "Worker hosts cut off for missed heartbeats",
      MetricType::kCounter, static_cast<double>(offline_total_));
  add("mlxs_cluster_bad_announcements_total", "Announcements refused as malformed",
      MetricType::kCounter, static_cast<double>(bad_announcements_));
  add("mlxs_cluster_route_seconds_total", "Time spent choosing workers", MetricType::kCounter,
      static_cast<double>(route_ns_total_) * 1e-9);
  add("mlxs_cluster_rerouted_total",
      "Requests sent back to waiting because their host was lost before they started",
      MetricType::kCounter, static_cast<double>(rerouted_));
  add("mlxs_cluster_dispatch_seconds_total",
      "Arrival at the control plane to hand-off to the chosen host's session, summed",
      MetricType::kCounter, static_cast<double>(dispatch_.total()) * 1e-9);
  add("mlxs_cluster_dispatched_total", "Requests whose dispatch time is summed above",
      MetricType::kCounter, static_cast<double>(dispatch_.count()));
  for (const auto& [q, label] : {std::pair{0.5, "0.5"}, {0.99, "0.99"}}) {
    out.samples.push_back({"mlxs_cluster_dispatch_seconds",
                           "Dispatch time over the last 4096 requests routed at once",
                           MetricType::kGauge,
                           {{"quantile", label}},
                           static_cast<double>(dispatch_.quantile(q)) * 1e-9});
  }
  for (const auto& r : remotes_) {
    out.samples.push_back({"mlxs_cluster_worker_other_streams",
                           "Streams other control planes run on the worker host (announced)",
                           MetricType::kGauge,
                           {{"worker", r->id}},
                           static_cast<double>(r->others)});
  }
  if (nats_) {
    add("mlxs_cluster_nats_reconnects_total", "Reconnections to the NATS server",
        MetricType::kCounter, static_cast<double>(nats_->reconnects()));
  }
  return out;
}

std::string ClusterGateway::worker_of(const std::string& stream_id) const {
  std::lock_guard lock(mutex_);
  const auto it = routed_.find(stream_id);
  return it == routed_.end() ? std::string() : it->second;
}

}  // namespace mlxs::cluster
