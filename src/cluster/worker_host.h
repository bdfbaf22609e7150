#pragma once
// The worker side of `runtime --cluster`: connects to NATS, announces this
// worker (id, the models it holds, sessions, limits) every heartbeat
// interval and whenever a control plane asks (discover), and serves attach
// requests: each attached control plane gets a session of its own, a worker
// made by the injected launcher (the runtime server on a socket pair, or a
// child `mlx-serving runtime`) whose protocol lines a Bridge carries over the
// session's subjects. A session ends when its control plane closes it, when
// the worker ends, or when the control plane stays silent past the offline
// timeout (it beats every heartbeat interval, besides the session's own
// pings, which pause while a model loads); the worker is then stopped, on a
// thread of its own so announcements never wait for a busy worker to end.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/bridge.h"
#include "cluster/cluster_config.h"
#include "cluster/nats_client.h"
#include "control/launcher.h"

namespace mlxs::cluster {

class WorkerHost {
 public:
  // config.worker.id must be set (see default_worker_id).
  WorkerHost(ClusterConfig config, control::WorkerLauncher launcher);
  ~WorkerHost();
  WorkerHost(const WorkerHost&) = delete;
  WorkerHost& operator=(const WorkerHost&) = delete;

  // Connects, subscribes, announces. TransportError when NATS is not there.
  core::Status start();
  // Says goodbye, ends every session. Idempotent.
  void stop();

  const std::string& id() const { return config_.worker.id; }
  std::size_t sessions() const;

 private:
  struct Session {
    std::string id;
    std::string control;    // the control plane's name (its beats keep the session)
    StreamCounter counter;  // a child worker's streams, from the bridge's lines
    std::unique_ptr<Bridge> bridge;
    std::unique_ptr<control::WorkerHandle> handle;
  };

  // Streams in flight over every session (nullopt: a session cannot tell)
  // and each control plane's share, as announced.
  struct Load {
    std::optional<int> streams;
    std::map<std::string, int> by_control;
    bool operator==(const Load&) const = default;
  };
  // The shortest time between two announcements that only report a change
  // of load.
  static constexpr core::Nanos kLoadAnnounceGap = 100'000'000;

  Load load_locked() const;  // mutex_ held
  void on_attach(std::string_view data, std::string_view reply);
  void respond(std::string_view reply, const core::Status& status);
  void announce();
  void housekeeping();
  void reap(std::unique_ptr<Session> s);
  void on_beat(std::string_view data);

  ClusterConfig config_;
  control::WorkerLauncher launcher_;
  std::unique_ptr<NatsConnection> nats_;
  std::unique_ptr<Subscription> attach_sub_;
  std::unique_ptr<Subscription> discover_sub_;
  std::unique_ptr<Subscription> beat_sub_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::unique_ptr<Session>> sessions_;
  std::map<std::string, core::Nanos> beats_;  // control plane -> last beat (those with sessions)
  Load announced_;                            // the load the last announcement carried
  struct Reaper {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  std::vector<Reaper> reapers_;  // sessions being stopped (joined when done, and at stop())
  bool stopping_ = false;
  std::thread thread_;
};

// "<hostname>-<pid>", cut to a valid subject token.
std::string default_worker_id();

}  // namespace mlxs::cluster
