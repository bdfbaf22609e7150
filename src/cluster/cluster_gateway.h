#pragma once
// The control plane of `serve --cluster`: the Gateway over worker hosts found
// through NATS. Workers announce themselves (directory.h); each one gets a
// supervised WorkerSlot whose launcher attaches to it (a session of its own,
// carried by a Bridge over a socket pair), so start-up negotiation, heartbeats,
// hang detection, reconciliation of its models, restarts with backoff and the
// breaker are the single-host control plane's. Each request goes to a worker
// that is up and holds its model, chosen by prefix-cache affinity and load
// (routing.h); while none is up the request waits here (bounded, until the
// request timeout) and goes to the first that comes up, so a NATS restart or
// a lost host loses no request that had not started. A worker whose
// announcements stop for the offline timeout is cut off at once: its
// streams end with WorkerCrashed; requests sent to it that it had not yet
// accepted, and those queued for it, go back to waiting and on to another
// host holding the model (request_fate.h); it rejoins when it announces again.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cluster/bridge.h"
#include "cluster/cluster_config.h"
#include "cluster/directory.h"
#include "cluster/latency_window.h"
#include "cluster/nats_client.h"
#include "cluster/routing.h"
#include "control/control_plane.h"
#include "control/gateway.h"
#include "control/options.h"
#include "control/worker_slot.h"

namespace mlxs::cluster {

class ClusterGateway final : public control::Gateway {
 public:
  using Json = control::Json;

  ClusterGateway(ClusterConfig config, control::SupervisorOptions options);
  ~ClusterGateway() override;

  // Connects to NATS, listens for workers and asks them to announce.
  core::Status start();
  // Refuses what waits, stops every worker session. Idempotent.
  void stop();

  void call(std::string method, Json params, Reply reply) override;
  void generate(protocol::GenerateParams params, std::shared_ptr<control::StreamSink> sink,
                Reply accepted) override;
  void cancel(const std::string& stream_id) override;
  control::Readiness readiness() const override;
  control::MetricsSnapshot metrics() const override;

  // The worker a stream was sent to (empty when unknown); the last 65536.
  std::string worker_of(const std::string& stream_id) const;

 private:
  struct Link;
  struct Remote {
    std::string id;
    std::unique_ptr<control::WorkerSlot> slot;
    std::size_t capacity = 1;
    std::size_t others = 0;  // streams other control planes run there (announced)
    std::mutex link_mutex;
    std::shared_ptr<Link> link;  // the current session
  };
  struct Waiting {
    std::string method;  // "generate" or a call's method
    Json params;
    std::shared_ptr<control::StreamSink> sink;
    Reply reply;
    std::string model;
    std::string stream_id;
    std::uint64_t key = 0;
    core::Nanos deadline = 0;
    core::Nanos received = 0;     // arrival at the gateway
    int losses = 0;               // hosts lost before it started
    std::string avoid;            // the host it was last lost on...
    core::Nanos avoid_until = 0;  // ...skipped until then (its slot may still look up)
  };

  core::Result<control::LaunchedWorker> attach(Remote& remote);
  void cut(Remote& remote, const core::Status& why);
  void on_announce(std::string_view data);
  void on_leave(std::string_view data);
  Remote& add_remote_locked(const std::string& id);
  void tick();
  // A worker for `model` now, or null.
  Remote* route(const Waiting& w, bool* affinity_hit);
  bool known_model(const std::string& model) const;
  void send(Remote& remote, Waiting w);
  void wait_or_refuse(Waiting w);
  // A generate whose host was lost before it started: back to the queue's
  // front (tick() routes it, avoiding that host for a heartbeat interval).
  void requeue(std::unique_lock<std::mutex>& lock, Waiting w);
  std::vector<Remote*> remotes() const;

  const ClusterConfig config_;
  const control::SupervisorOptions options_;
  std::string name_;  // this control plane, in logs and attach requests
  std::unique_ptr<NatsConnection> nats_;
  std::unique_ptr<Subscription> announce_sub_;
  std::unique_ptr<Subscription> leave_sub_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  Directory directory_;
  AffinityTable affinity_;
  std::vector<std::unique_ptr<Remote>> remotes_;  // never shrinks before stop()
  std::deque<Waiting> waiting_;
  std::unordered_map<std::string, std::string> routed_;  // stream id -> worker
  std::deque<std::string> routed_order_;
  // Generates sent to a host that has not answered yet -> cancelled since.
  std::unordered_map<std::string, bool> unanswered_;
  std::uint64_t next_stream_ = 0;
  std::uint64_t next_session_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  std::thread thread_;

  // Metrics (under mutex_).
  std::int64_t routed_total_ = 0;
  std::int64_t affinity_hits_ = 0;
  std::int64_t waited_total_ = 0;
  std::int64_t wait_timeouts_ = 0;
  std::int64_t offline_total_ = 0;
  std::int64_t bad_announcements_ = 0;
  core::Nanos route_ns_total_ = 0;
  std::int64_t rerouted_ = 0;
  // Arrival to hand-off to the chosen host's session, requests routed at once.
  LatencyWindow dispatch_{4096};
};

}  // namespace mlxs::cluster
