#include "cluster/worker_host.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <vector>

#include <fmt/format.h>

#include "cluster/directory.h"
#include "core/json_util.h"
#include "core/log.h"

namespace mlxs::cluster {

using core::ErrorCode;
using core::Json;

namespace {

constexpr std::size_t kMaxLineBytes = 1u << 20;  // the control plane's ClientOptions default

core::Nanos now_ns() {
  return core::SteadyClock::instance().now_ns();
}

core::Nanos ms_to_ns(int ms) {
  return static_cast<core::Nanos>(ms) * 1'000'000;
}

}  // namespace

std::string default_worker_id() {
  std::array<char, 256> host{};
  if (::gethostname(host.data(), host.size() - 1) != 0) host[0] = '\0';
  std::string id;
  for (const char ch : std::string(host.data())) {
    const bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
    id += ok ? ch : '_';
  }
  id = id.substr(0, 48);
  if (id.empty()) id = "worker";
  return fmt::format("{}-{}", id, static_cast<long>(::getpid()));
}

WorkerHost::WorkerHost(ClusterConfig config, control::WorkerLauncher launcher)
    : config_(std::move(config)), launcher_(std::move(launcher)) {}

WorkerHost::~WorkerHost() {
  stop();
}

core::Status WorkerHost::start() {
  if (!valid_token(config_.worker.id)) {
    return core::make_error(ErrorCode::kConfigError, "worker id '{}' is not a subject token",
                            config_.worker.id);
  }
  auto nats = NatsConnection::connect(config_.nats, "mlx-serving worker " + id());
  if (!nats) return nats.status();
  nats_ = std::move(*nats);
  auto attach = nats_->subscribe(
      attach_subject(config_.name, id()),
      [this](std::string_view data, std::string_view reply) { on_attach(data, reply); });
  if (!attach) return attach.status();
  attach_sub_ = std::move(*attach);
  auto discover = nats_->subscribe(discover_subject(config_.name),
                                   [this](std::string_view, std::string_view) { announce(); });
  if (!discover) return discover.status();
  discover_sub_ = std::move(*discover);
  auto beat = nats_->subscribe(beat_subject(config_.name),
                               [this](std::string_view data, std::string_view) { on_beat(data); });
  if (!beat) return beat.status();
  beat_sub_ = std::move(*beat);
  if (core::Status s = nats_->flush(config_.nats.connect_timeout_ms); !s.is_ok()) return s;
  announce();
  thread_ = std::thread([this] { housekeeping(); });
  core::log_info(
      "cluster_worker_started",
      {{"worker", id()}, {"cluster", config_.name}, {"models", config_.worker.models.size()}});
  return {};
}

void WorkerHost::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  attach_sub_.reset();
  discover_sub_.reset();
  beat_sub_.reset();
  if (nats_) {
    (void)nats_->publish(leave_subject(config_.name), Json{{"id", id()}}.dump());
    (void)nats_->flush(1000);
  }
  std::map<std::string, std::unique_ptr<Session>> sessions;
  {
    std::lock_guard lock(mutex_);
    sessions.swap(sessions_);
  }
  for (auto& [sid, s] : sessions) reap(std::move(s));
  std::vector<Reaper> reapers;
  {
    std::lock_guard lock(mutex_);
    reapers.swap(reapers_);
  }
  for (auto& r : reapers) r.thread.join();
  nats_.reset();
}

std::size_t WorkerHost::sessions() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

void WorkerHost::respond(std::string_view reply, const core::Status& status) {
  if (reply.empty()) return;
  const Json answer =
      status.is_ok()
          ? Json{{"ok", true}, {"worker", id()}}
          : Json{{"error",
                  {{"code", std::string(status.code_name())}, {"message", status.message()}}}};
  (void)nats_->publish(std::string(reply), answer.dump());
}

void WorkerHost::on_attach(std::string_view data, std::string_view reply) {
  const Json req = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object() || !req.contains("session") ||
      !req["session"].is_string() || !valid_token(req["session"].get<std::string>())) {
    return respond(reply, core::Status(ErrorCode::kInvalidRequest,
                                       "attach needs {\"session\": <[A-Za-z0-9_-]{1,64}>}"));
  }
  const std::string sid = req["session"].get<std::string>();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return respond(reply, core::Status(ErrorCode::kWorkerCrashed, "shutting down"));
    if (sessions_.count(sid) != 0) {
      return respond(reply, core::Status(ErrorCode::kInvalidRequest, "session id in use"));
    }
    if (sessions_.size() >= static_cast<std::size_t>(config_.worker.max_sessions)) {
      return respond(reply, core::make_error(ErrorCode::kQueueFull,
                                             "worker {} serves {} control planes already (its "
                                             "maxSessions)",
                                             id(), sessions_.size()));
    }
  }
  auto launched = launcher_("session-" + sid);
  if (!launched) return respond(reply, launched.status());
  auto session = std::make_unique<Session>();
  session->id = sid;
  session->control = req.value("control", std::string());
  session->handle = std::move(launched->handle);
  session->bridge = std::make_unique<Bridge>(
      *nats_, session_subject(config_.name, id(), sid, "out"),
      session_subject(config_.name, id(), sid, "in"), launched->from_worker, launched->to_worker,
      kMaxLineBytes, [this](const core::Status&) { cv_.notify_all(); });
  // A worker the handle cannot ask (a child process): its streams are
  // counted from the lines the bridge carries.
  if (!session->handle->active_streams()) session->bridge->count_streams(&session->counter);
  if (core::Status s = session->bridge->start(); !s.is_ok()) {
    reap(std::move(session));
    return respond(reply, s);
  }
  core::log_info(
      "cluster_session_attached",
      {{"worker", id()}, {"session", sid}, {"control", req.value("control", std::string())}});
  {
    std::lock_guard lock(mutex_);
    if (!session->control.empty()) beats_[session->control] = now_ns();
    sessions_[sid] = std::move(session);
  }
  respond(reply, {});
  announce();
}

WorkerHost::Load WorkerHost::load_locked() const {
  Load load;
  int total = 0;
  for (const auto& [sid, s] : sessions_) {
    auto n = s->handle ? s->handle->active_streams() : std::nullopt;
    if (!n && s->handle) n = s->counter.active();
    if (!n) return {};  // a session the host cannot count: no load at all
    const int count = static_cast<int>(std::clamp<std::int64_t>(*n, 0, kMaxAnnouncedStreams));
    total = std::min(total + count, kMaxAnnouncedStreams);
    if (!s->control.empty()) {
      int& mine = load.by_control[s->control];
      mine = std::min(mine + count, total);
    }
  }
  load.streams = total;
  return load;
}

void WorkerHost::announce() {
  Announcement a;
  a.id = id();
  a.models = config_.worker.models;
  {
    std::lock_guard lock(mutex_);
    a.sessions = static_cast<int>(sessions_.size());
    // The host's load, per control plane, where every session can count it.
    Load load = load_locked();
    a.streams = load.streams;
    a.streams_by_control = std::move(load.by_control);
    announced_ = {a.streams, a.streams_by_control};
  }
  a.max_sessions = config_.worker.max_sessions;
  a.max_streams = config_.worker.max_streams;
  a.interval_ms = config_.discovery.heartbeat_interval_ms;
  if (nats_) (void)nats_->publish(announce_subject(config_.name), encode_announcement(a));
}

void WorkerHost::on_beat(std::string_view data) {
  if (data.size() > 1024) return;  // a name is a subject token: far less
  const Json j = Json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("control") || !j["control"].is_string()) return;
  const std::string control = j["control"].get<std::string>();
  std::lock_guard lock(mutex_);
  // Only control planes with a session here are remembered (bounded by maxSessions).
  const auto it = beats_.find(control);
  if (it != beats_.end()) it->second = now_ns();
}

void WorkerHost::reap(std::unique_ptr<Session> s) {
  if (!s) return;
  if (s->bridge) s->bridge->close(core::Status(ErrorCode::kWorkerCrashed, "session ended"));
  if (s->handle) s->handle->kill();
  s->bridge.reset();  // joins its reader
  if (s->handle) (void)s->handle->wait();
  core::log_info("cluster_session_ended", {{"worker", id()}, {"session", s->id}});
}

void WorkerHost::housekeeping() {
  const core::Nanos interval = ms_to_ns(config_.discovery.heartbeat_interval_ms);
  const core::Nanos idle_limit = ms_to_ns(config_.discovery.offline_timeout_ms);
  core::Nanos next_announce = now_ns() + interval;
  core::Nanos last_announce = 0;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(50));
    if (stopping_) break;
    const core::Nanos now = now_ns();
    std::vector<std::unique_ptr<Session>> ended;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      Bridge& b = *it->second->bridge;
      const auto beat = beats_.find(it->second->control);
      const core::Nanos heard =
          std::max(b.last_received_ns(), beat == beats_.end() ? core::Nanos{0} : beat->second);
      if (!b.ended() && now - heard > idle_limit) {
        b.close(core::make_error(ErrorCode::kTimeout, "control plane silent for {} ms",
                                 config_.discovery.offline_timeout_ms));
      }
      if (b.ended()) {
        ended.push_back(std::move(it->second));
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
    // Forget the beats of control planes left without a session here.
    for (auto it = beats_.begin(); it != beats_.end();) {
      const bool used = std::any_of(sessions_.begin(), sessions_.end(),
                                    [&](const auto& s) { return s.second->control == it->first; });
      it = used ? std::next(it) : beats_.erase(it);
    }
    // A worker busy loading may take long to stop: not on this thread.
    for (auto it = reapers_.begin(); it != reapers_.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = reapers_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& s : ended) {
      auto held = std::make_shared<std::unique_ptr<Session>>(std::move(s));
      auto done = std::make_shared<std::atomic<bool>>(false);
      reapers_.push_back({std::thread([this, held, done] {
                            reap(std::move(*held));
                            done->store(true);
                          }),
                          done});
    }
    // Between heartbeats the load goes out when it changed, at most every
    // kLoadAnnounceGap: other control planes route by it, and a heartbeat
    // interval (seconds) is long enough for a burst to land on one host.
    const bool changed = now - last_announce >= kLoadAnnounceGap && load_locked() != announced_;
    const bool due = now >= next_announce || !ended.empty() || changed;
    lock.unlock();
    if (due) {
      announce();
      last_announce = now;
      if (!changed) next_announce = now + interval;
    }
    lock.lock();
  }
}

}  // namespace mlxs::cluster
