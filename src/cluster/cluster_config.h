#pragma once
// The cluster file of `serve --cluster` and `runtime --cluster`: where the
// NATS server is, who this worker is and which models it holds, how often
// workers announce themselves and when a silent one counts as gone, and how
// the control plane picks a worker. The keys are those of the original's
// config/cluster.yaml where they still mean something (compat/config.md §5);
// keys of the original that mean nothing here are accepted with a warning,
// unknown keys and bad values are ConfigError naming the key. Pure: the file
// is read with a size limit and parsed, nothing is checked on disk.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxs::cluster {

inline constexpr std::size_t kMaxClusterFileBytes = 1u << 20;

struct NatsSettings {
  std::vector<std::string> servers = {"nats://127.0.0.1:4222"};
  std::string user;
  std::string password;
  bool reconnect = true;
  int max_reconnect_attempts = -1;  // -1: forever
  int reconnect_wait_ms = 2000;
  int connect_timeout_ms = 2000;
};

struct WorkerModel {
  std::string id;
  std::string path;  // on the worker's host (relative paths: to the file's folder)
};

struct WorkerSettings {
  std::string id;  // empty: "<hostname>-<pid>" at start
  std::vector<WorkerModel> models;
  int max_sessions = 4;  // control planes attached at once
  int max_streams = 64;  // streams per control plane before routing prefers others
  // Each session's worker a child `mlx-serving runtime` (a crash ends that
  // session alone and its control plane re-attaches to a fresh one), not a
  // runtime server inside the host process.
  bool session_processes = false;
};

struct DiscoverySettings {
  bool enabled = true;               // false: only workers.static
  int heartbeat_interval_ms = 5000;  // announcements
  int offline_timeout_ms = 15000;    // no announcement this long: the worker is gone
  int attach_timeout_ms = 5000;      // a worker's answer to an attach request
};

enum class Strategy : std::uint8_t { kSmart, kLeastLoaded };

struct BalancingSettings {
  Strategy strategy = Strategy::kSmart;  // smart: load + prefix-cache affinity
  std::size_t affinity_prefix = 256;     // leading prompt characters (tokens: a quarter)
  std::size_t affinity_entries = 4096;   // prefixes remembered
};

enum class ClusterMode : std::uint8_t { kBoth, kController, kWorker };

struct ClusterConfig {
  ClusterMode mode = ClusterMode::kBoth;
  std::string name = "default";  // subjects are mlxs.<name>.*
  NatsSettings nats;
  WorkerSettings worker;
  DiscoverySettings discovery;
  std::vector<std::string> static_workers;  // attached to even before they announce
  BalancingSettings balancing;
  std::vector<std::string> warnings;  // original keys that mean nothing here
};

// Parses a cluster document (YAML or JSON). `base_dir` resolves relative
// model paths.
core::Result<ClusterConfig> parse_cluster_config(std::string_view text,
                                                 const std::string& display_name,
                                                 const std::string& base_dir);
// Reads (at most kMaxClusterFileBytes) and parses a cluster file.
core::Result<ClusterConfig> load_cluster_config(const std::string& path);

// [A-Za-z0-9_-]{1,64}: what may stand in a NATS subject token.
bool valid_token(std::string_view s);

}  // namespace mlxs::cluster
