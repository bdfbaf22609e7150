#include "cluster/nats_client.h"

#include <nats/nats.h>

#include <chrono>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "core/log.h"

namespace mlxs::cluster {

using core::ErrorCode;

namespace {

natsConnection* conn_of(void* p) {
  return static_cast<natsConnection*>(p);
}

core::Status nats_error(const char* what, natsStatus s) {
  return core::make_error(s == NATS_TIMEOUT ? ErrorCode::kTimeout : ErrorCode::kTransportError,
                          "NATS {}: {}", what, natsStatus_GetText(s));
}

}  // namespace

struct Subscription::State {
  Handler handler;
  std::mutex mutex;
  std::condition_variable cv;
  bool complete = false;
};

namespace {

void deliver(natsConnection* /*nc*/, natsSubscription* /*sub*/, natsMsg* msg, void* closure) {
  auto* state = static_cast<Subscription::State*>(closure);
  const char* data = natsMsg_GetData(msg);
  const int len = natsMsg_GetDataLength(msg);
  const char* reply = natsMsg_GetReply(msg);
  state->handler(std::string_view(data != nullptr ? data : "", static_cast<std::size_t>(len)),
                 reply != nullptr ? std::string_view(reply) : std::string_view());
  natsMsg_Destroy(msg);
}

using SharedCounters = std::shared_ptr<NatsConnection::Counters>;

void on_disconnected(natsConnection* /*nc*/, void* closure) {
  ++(*static_cast<SharedCounters*>(closure))->disconnects;
  core::log_warn("nats_disconnected", {});
}

void on_reconnected(natsConnection* /*nc*/, void* closure) {
  ++(*static_cast<SharedCounters*>(closure))->reconnects;
  core::log_info("nats_reconnected", {});
}

// The last callback libnats makes for a connection.
void on_closed(natsConnection* /*nc*/, void* closure) {
  delete static_cast<SharedCounters*>(closure);
}

void completed(void* closure) {
  auto* state = static_cast<Subscription::State*>(closure);
  std::lock_guard lock(state->mutex);
  state->complete = true;
  state->cv.notify_all();
}

}  // namespace

Subscription::Subscription(void* sub, std::unique_ptr<State> state)
    : sub_(sub), state_(std::move(state)) {}

Subscription::~Subscription() {
  unsubscribe();
  bool done = false;
  {
    std::unique_lock lock(state_->mutex);
    done = state_->cv.wait_for(lock, std::chrono::seconds(5), [this] { return state_->complete; });
  }
  natsSubscription_Destroy(static_cast<natsSubscription*>(sub_));
  // A handler still running after 5 s keeps its state: leaked, not freed under it.
  if (!done) {
    core::log_error("nats_subscription_stuck", {{"wait_s", 5}});
    (void)state_.release();
  }
}

void Subscription::unsubscribe() {
  (void)natsSubscription_Unsubscribe(static_cast<natsSubscription*>(sub_));
}

core::Result<std::unique_ptr<NatsConnection>> NatsConnection::connect(const NatsSettings& settings,
                                                                      const std::string& name) {
  natsOptions* opts = nullptr;
  if (natsStatus s = natsOptions_Create(&opts); s != NATS_OK) return nats_error("options", s);
  std::vector<const char*> servers;
  for (const auto& url : settings.servers) servers.push_back(url.c_str());
  std::unique_ptr<NatsConnection> conn(new NatsConnection());
  natsStatus s = natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts, name.c_str());
  if (s == NATS_OK && !settings.user.empty()) {
    s = natsOptions_SetUserInfo(opts, settings.user.c_str(), settings.password.c_str());
  }
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts, settings.connect_timeout_ms);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(opts, settings.reconnect);
  if (s == NATS_OK) {
    s = natsOptions_SetMaxReconnect(
        opts, settings.max_reconnect_attempts < 0 ? INT_MAX : settings.max_reconnect_attempts);
  }
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, settings.reconnect_wait_ms);
  // Servers answer pings within seconds; a dead link is noticed in 2 x 2 s.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 2000);
  if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 32 << 20);
  auto* closure = new SharedCounters(conn->counters_);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, &on_disconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, &on_reconnected, closure);
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, &on_closed, closure);
  natsConnection* nc = nullptr;
  if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
  natsOptions_Destroy(opts);
  conn->nc_ = nc;
  if (s != NATS_OK) {
    // No connection, so no callback will run.
    delete closure;
    conn->nc_ = nullptr;
    std::string where;
    for (const auto& url : settings.servers) where += (where.empty() ? "" : ", ") + url;
    return nats_error(fmt::format("connect to {}", where).c_str(), s);
  }
  return conn;
}

NatsConnection::~NatsConnection() {
  if (nc_ != nullptr) {
    natsConnection_Close(conn_of(nc_));
    natsConnection_Destroy(conn_of(nc_));
  }
}

core::Status NatsConnection::publish(const std::string& subject, std::string_view data) {
  const natsStatus s = natsConnection_Publish(conn_of(nc_), subject.c_str(), data.data(),
                                              static_cast<int>(data.size()));
  return s == NATS_OK ? core::Status() : nats_error("publish", s);
}

core::Result<std::unique_ptr<Subscription>> NatsConnection::subscribe(
    const std::string& subject, Subscription::Handler handler) {
  auto state = std::make_unique<Subscription::State>();
  state->handler = std::move(handler);
  natsSubscription* sub = nullptr;
  natsStatus s =
      natsConnection_Subscribe(&sub, conn_of(nc_), subject.c_str(), &deliver, state.get());
  if (s != NATS_OK) return nats_error("subscribe", s);
  s = natsSubscription_SetOnCompleteCB(sub, &completed, state.get());
  // Protocol lines are small; a slow consumer gets up to 64 MiB queued.
  if (s == NATS_OK) s = natsSubscription_SetPendingLimits(sub, 1 << 20, 64 << 20);
  if (s != NATS_OK) {
    natsSubscription_Destroy(sub);
    return nats_error("subscribe", s);
  }
  return std::make_unique<Subscription>(sub, std::move(state));
}

core::Result<std::string> NatsConnection::request(const std::string& subject, std::string_view data,
                                                  int timeout_ms) {
  natsMsg* reply = nullptr;
  const natsStatus s = natsConnection_Request(&reply, conn_of(nc_), subject.c_str(), data.data(),
                                              static_cast<int>(data.size()), timeout_ms);
  if (s != NATS_OK) return nats_error(fmt::format("request on {}", subject).c_str(), s);
  std::string out(natsMsg_GetData(reply), static_cast<std::size_t>(natsMsg_GetDataLength(reply)));
  natsMsg_Destroy(reply);
  return out;
}

core::Status NatsConnection::flush(int timeout_ms) {
  const natsStatus s = natsConnection_FlushTimeout(conn_of(nc_), timeout_ms);
  return s == NATS_OK ? core::Status() : nats_error("flush", s);
}

bool NatsConnection::connected() const {
  return natsConnection_Status(conn_of(nc_)) == NATS_CONN_STATUS_CONNECTED;
}

}  // namespace mlxs::cluster
