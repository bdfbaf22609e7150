#pragma once
// A thin RAII layer over libnats (the NATS C client, Debian's libnats-dev):
// one connection with the cluster file's servers, credentials and reconnect
// policy, publishing, asynchronous subscriptions whose handler runs on the
// library's delivery thread of that subscription (in arrival order), and
// request/reply. Errors are TransportError (Timeout for a request that got
// no answer in time) with libnats' own wording.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cluster/cluster_config.h"
#include "core/status.h"

namespace mlxs::cluster {

class Subscription {
 public:
  // data, and the reply subject ("" when none).
  using Handler = std::function<void(std::string_view data, std::string_view reply)>;
  struct State;
  // `sub` is libnats' natsSubscription (opaque here).
  Subscription(void* sub, std::unique_ptr<State> state);
  // Unsubscribes and waits (bounded) until the handler no longer runs.
  // Never destroy a subscription from its own handler.
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  // Stops deliveries; safe from any thread, the handler's included.
  void unsubscribe();

 private:
  void* sub_;
  std::unique_ptr<State> state_;
};

class NatsConnection {
 public:
  // Connects (TransportError when no server answers within the connect
  // timeout). `name` shows in the server's connection list.
  static core::Result<std::unique_ptr<NatsConnection>> connect(const NatsSettings& settings,
                                                               const std::string& name);
  ~NatsConnection();
  NatsConnection(const NatsConnection&) = delete;
  NatsConnection& operator=(const NatsConnection&) = delete;

  // While reconnecting, libnats buffers what is published (reconnect buffer).
  core::Status publish(const std::string& subject, std::string_view data);
  core::Result<std::unique_ptr<Subscription>> subscribe(const std::string& subject,
                                                        Subscription::Handler handler);
  // The answer's payload.
  core::Result<std::string> request(const std::string& subject, std::string_view data,
                                    int timeout_ms);
  // Round trip to the server: subscriptions made before are in place.
  core::Status flush(int timeout_ms);

  bool connected() const;
  std::int64_t disconnects() const { return counters_->disconnects.load(); }
  std::int64_t reconnects() const { return counters_->reconnects.load(); }

  // Counted by libnats' callbacks, which may run after the connection is
  // destroyed: the closed callback releases the callbacks' reference.
  struct Counters {
    std::atomic<std::int64_t> disconnects{0};
    std::atomic<std::int64_t> reconnects{0};
  };

 private:
  NatsConnection() = default;
  void* nc_ = nullptr;  // libnats' natsConnection
  std::shared_ptr<Counters> counters_ = std::make_shared<Counters>();
};

}  // namespace mlxs::cluster
