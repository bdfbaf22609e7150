#pragma once
// Helpers of the control plane's end-to-end tests: launchers that record the
// workers they start (and can switch command between launches), options with
// short timeouts, synchronous calls and bounded waits.

#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "control/control_plane.h"
#include "control/launcher.h"
#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::control::testing {

using core::Json;
using namespace std::chrono_literals;

inline std::vector<std::string> runtime_argv() {
  return {mlxs::testing::mlx_serving_binary(), "runtime", "--threads", "1", "--kv-memory-mb", "64"};
}

inline std::vector<std::string> fake_argv(const std::string& mode) {
  const char* env = std::getenv("MLXS_FAKE_WORKER");
  return {env != nullptr ? env : "control_fake_worker", mode};
}

// Starts argv_for(n) for the n-th launch (0-based) and records each pid.
class RecordingLauncher {
 public:
  explicit RecordingLauncher(std::function<std::vector<std::string>(int)> argv_for)
      : argv_for_(std::move(argv_for)) {}

  WorkerLauncher launcher() {
    return [this](const std::string& name) -> core::Result<LaunchedWorker> {
      const int n = launches_.fetch_add(1);
      auto r = process_launcher(argv_for_(n))(name);
      if (r.is_ok()) {
        std::lock_guard lock(mutex_);
        pids_.push_back(r->handle->pid());
      }
      return r;
    };
  }
  int launches() const { return launches_.load(); }
  int last_pid() {
    std::lock_guard lock(mutex_);
    return pids_.empty() ? -1 : pids_.back();
  }

 private:
  std::function<std::vector<std::string>(int)> argv_for_;
  std::atomic<int> launches_{0};
  std::mutex mutex_;
  std::vector<int> pids_;
};

inline SupervisorOptions fast_options() {
  SupervisorOptions o;
  o.startup_timeout_ns = 60'000 * kMillis;  // sanitizer builds start slowly
  o.request_timeout_ns = 60'000 * kMillis;
  o.load_timeout_ns = 60'000 * kMillis;
  o.heartbeat_interval_ns = 200 * kMillis;
  o.heartbeat_timeout_ns = 2'000 * kMillis;
  o.shutdown_timeout_ns = 5'000 * kMillis;
  o.backoff_initial_ns = 20 * kMillis;
  o.backoff_max_ns = 200 * kMillis;
  return o;
}

inline core::Result<Json> call_sync(Gateway& g, const std::string& method, Json params,
                                    std::chrono::seconds limit = 60s) {
  auto promise = std::make_shared<std::promise<core::Result<Json>>>();
  auto future = promise->get_future();
  g.call(method, std::move(params),
         [promise](core::Result<Json> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(limit) != std::future_status::ready) {
    return core::Status(core::ErrorCode::kTimeout, "test: no answer to " + method);
  }
  return future.get();
}

inline core::Result<Json> generate_sync(Gateway& g, protocol::GenerateParams p,
                                        std::shared_ptr<StreamSink> sink,
                                        std::chrono::seconds limit = 60s) {
  auto promise = std::make_shared<std::promise<core::Result<Json>>>();
  auto future = promise->get_future();
  g.generate(std::move(p), std::move(sink),
             [promise](core::Result<Json> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(limit) != std::future_status::ready) {
    return core::Status(core::ErrorCode::kTimeout, "test: generate was not accepted");
  }
  return future.get();
}

// Polls `pred` every 10 ms until it holds or `limit` passes.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline bool wait_ready(Gateway& g, std::chrono::milliseconds limit = 60s) {
  return eventually([&] { return g.readiness().ready; }, limit);
}

inline double metric(const Gateway& g, const std::string& name,
                     std::vector<std::pair<std::string, std::string>> labels = {}) {
  double total = 0;
  for (const auto& s : g.metrics().samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& l : labels) {
      bool found = false;
      for (const auto& have : s.labels) found = found || have == l;
      match = match && found;
    }
    if (match) total += s.value;
  }
  return total;
}

inline std::string tiny_model_dir() {
  return mlxs::testing::fixture_path("hf-tiny/llama");
}

inline Json load_params(const std::string& id) {
  return Json{{"model_id", id}, {"local_path", tiny_model_dir()}};
}

inline protocol::GenerateParams gen_params(const std::string& model, std::int64_t max_tokens,
                                           int salt = 0) {
  protocol::GenerateParams p;
  p.model_id = model;
  p.prompt_tokens = {1, 10 + salt, 20 + salt};
  p.max_tokens = max_tokens;
  p.temperature = 0.0;
  return p;
}

}  // namespace mlxs::control::testing
