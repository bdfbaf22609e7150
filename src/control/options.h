#pragma once
// Settings of the control plane's supervision, read from the `supervisor`,
// `json_rpc` and `python_runtime` sections of the configuration (config.h);
// the defaults are those of config/runtime.yaml.

#include <cstddef>
#include <string>
#include <vector>

#include "control/breaker.h"
#include "control/worker_client.h"
#include "core/clock.h"

namespace mlxs::control {

inline constexpr core::Nanos kMillis = 1'000'000;

struct SupervisorOptions {
  // The worker must answer runtime/info (and runtime/state) within this.
  core::Nanos startup_timeout_ns = 15'000 * kMillis;
  // Requests other than load_model (json_rpc.default_timeout_ms).
  core::Nanos request_timeout_ns = 300'000 * kMillis;
  core::Nanos load_timeout_ns = 300'000 * kMillis;
  // runtime/state pings; a worker that leaves one unanswered this long while
  // we are reading is hung, and is killed and restarted.
  core::Nanos heartbeat_interval_ns = 5'000 * kMillis;
  core::Nanos heartbeat_timeout_ns = 10'000 * kMillis;
  // After `shutdown`, the worker is killed when still there after this.
  core::Nanos shutdown_timeout_ns = 5'000 * kMillis;
  // Restart delays: initial x multiplier^(consecutive failures - 1), capped.
  core::Nanos backoff_initial_ns = 100 * kMillis;
  core::Nanos backoff_max_ns = 5'000 * kMillis;
  double backoff_multiplier = 2.0;
  // Requests held while a worker (re)starts; more are refused (QueueFull).
  std::size_t max_queued_requests = 256;
  // Ask the worker for one stream.step notification per engine step.
  bool step_stream = true;
  ClientOptions client;
  BreakerOptions breaker;
};

}  // namespace mlxs::control
