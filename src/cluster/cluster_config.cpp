#include "cluster/cluster_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <fmt/format.h>

#include "control/yaml_json.h"
#include "core/json_util.h"

namespace mlxs::cluster {

using core::ErrorCode;
using core::Json;
using core::Status;

namespace {

constexpr std::size_t kMaxString = 1024;
constexpr std::size_t kMaxList = 256;

struct Ctx {
  std::string file;
  std::vector<std::string>* warnings;
};

Status bad(const Ctx& c, const std::string& key, const std::string& what) {
  return core::make_error(ErrorCode::kConfigError, "cluster file {}: {}: {}", c.file, key, what);
}

std::string join(const std::string& section, std::string_view key) {
  return section.empty() ? std::string(key) : section + "." + std::string(key);
}

// Every key of `obj` is known, or one of the original's keys that mean
// nothing here (a warning each).
Status check_keys(const Ctx& c, const Json& obj, const std::string& section,
                  std::initializer_list<std::string_view> known,
                  std::initializer_list<std::pair<std::string_view, std::string_view>> ignored) {
  if (!obj.is_object()) return bad(c, section.empty() ? "(top)" : section, "must be a mapping");
  for (const auto& [key, value] : obj.items()) {
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    const auto it = std::find_if(ignored.begin(), ignored.end(),
                                 [&key = key](const auto& p) { return p.first == key; });
    if (it != ignored.end()) {
      c.warnings->push_back(fmt::format("{}: ignored ({})", join(section, key), it->second));
      continue;
    }
    std::string list;
    for (const auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
    return bad(c, join(section, key), "unknown key (known: " + list + ")");
  }
  return {};
}

bool has(const Json& obj, std::string_view key) {
  const auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

Status get_int(const Ctx& c, const Json& obj, const std::string& section, std::string_view key,
               std::int64_t lo, std::int64_t hi, int* out) {
  if (!has(obj, key)) return {};
  const Json& v = obj.at(std::string(key));
  if (!v.is_number_integer()) return bad(c, join(section, key), "must be an integer");
  // Unsigned values past int64 read as negative here; both ends are checked.
  const bool over =
      v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi);
  const std::int64_t n = over ? hi + 1 : v.get<std::int64_t>();
  if (n < lo || n > hi) {
    return bad(c, join(section, key), fmt::format("must be in [{}, {}]", lo, hi));
  }
  *out = static_cast<int>(n);
  return {};
}

Status get_bool(const Ctx& c, const Json& obj, const std::string& section, std::string_view key,
                bool* out) {
  if (!has(obj, key)) return {};
  const Json& v = obj.at(std::string(key));
  if (!v.is_boolean()) return bad(c, join(section, key), "must be true or false");
  *out = v.get<bool>();
  return {};
}

Status check_string(const Ctx& c, const Json& v, const std::string& key) {
  if (!v.is_string()) return bad(c, key, "must be a string");
  const auto& s = v.get_ref<const std::string&>();
  if (s.size() > kMaxString) return bad(c, key, fmt::format("longer than {} bytes", kMaxString));
  if (std::any_of(s.begin(), s.end(),
                  [](char ch) { return static_cast<unsigned char>(ch) < 0x20; })) {
    return bad(c, key, "holds a control character");
  }
  return {};
}

Status get_string(const Ctx& c, const Json& obj, const std::string& section, std::string_view key,
                  std::string* out) {
  if (!has(obj, key)) return {};
  const Json& v = obj.at(std::string(key));
  if (Status s = check_string(c, v, join(section, key)); !s.is_ok()) return s;
  *out = v.get<std::string>();
  return {};
}

Status get_token(const Ctx& c, const Json& obj, const std::string& section, std::string_view key,
                 std::string* out) {
  std::string s;
  if (Status st = get_string(c, obj, section, key, &s); !st.is_ok()) return st;
  if (!has(obj, key)) return {};
  if (!valid_token(s)) return bad(c, join(section, key), "must match [A-Za-z0-9_-]{1,64}");
  *out = s;
  return {};
}

Status get_list(const Ctx& c, const Json& obj, const std::string& key, const Json** out) {
  *out = nullptr;
  if (!has(obj, key)) return {};
  const Json& v = obj.at(key);
  if (!v.is_array()) return bad(c, key, "must be a list");
  if (v.size() > kMaxList) return bad(c, key, fmt::format("more than {} entries", kMaxList));
  *out = &v;
  return {};
}

Status check_server_url(const Ctx& c, const std::string& key, const std::string& url) {
  if (!url.starts_with("nats://") && !url.starts_with("tls://")) {
    return bad(c, key, "must start with nats:// or tls://");
  }
  if (url.find_first_of(" ,") != std::string::npos) return bad(c, key, "one URL, no spaces");
  return {};
}

Status read_nats(const Ctx& c, const Json& n, NatsSettings* out) {
  const std::string sec = "nats";
  if (Status s =
          check_keys(c, n, sec,
                     {"mode", "serverUrl", "servers", "user", "password", "reconnect",
                      "maxReconnectAttempts", "reconnectTimeWait", "connectTimeoutMs", "embedded"},
                     {});
      !s.is_ok()) {
    return s;
  }
  std::string mode = "external";
  if (Status s = get_string(c, n, sec, "mode", &mode); !s.is_ok()) return s;
  if (mode == "embedded") {
    return bad(c, "nats.mode",
               "embedded: mlx-serving does not embed a NATS server; run nats-server and set "
               "nats.mode: external with nats.serverUrl");
  }
  if (mode != "external") return bad(c, "nats.mode", "must be external");
  if (has(n, "embedded")) c.warnings->push_back("nats.embedded: ignored (no embedded server)");
  std::vector<std::string> servers;
  if (has(n, "serverUrl")) {
    std::string url;
    if (Status s = get_string(c, n, sec, "serverUrl", &url); !s.is_ok()) return s;
    if (Status s = check_server_url(c, "nats.serverUrl", url); !s.is_ok()) return s;
    servers.push_back(url);
  }
  const Json* list = nullptr;
  if (Status s = get_list(c, n, "servers", &list); !s.is_ok())
    return bad(c, "nats.servers", s.message());
  if (list != nullptr) {
    if (list->size() > 16) return bad(c, "nats.servers", "at most 16 servers");
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string key = fmt::format("nats.servers.{}", i);
      if (Status s = check_string(c, (*list)[i], key); !s.is_ok()) return s;
      const std::string url = (*list)[i].get<std::string>();
      if (Status s = check_server_url(c, key, url); !s.is_ok()) return s;
      servers.push_back(url);
    }
  }
  if (!servers.empty()) out->servers = servers;
  if (Status s = get_string(c, n, sec, "user", &out->user); !s.is_ok()) return s;
  if (Status s = get_string(c, n, sec, "password", &out->password); !s.is_ok()) return s;
  if (Status s = get_bool(c, n, sec, "reconnect", &out->reconnect); !s.is_ok()) return s;
  if (Status s =
          get_int(c, n, sec, "maxReconnectAttempts", -1, 1'000'000, &out->max_reconnect_attempts);
      !s.is_ok()) {
    return s;
  }
  if (Status s = get_int(c, n, sec, "reconnectTimeWait", 10, 600'000, &out->reconnect_wait_ms);
      !s.is_ok()) {
    return s;
  }
  return get_int(c, n, sec, "connectTimeoutMs", 100, 60'000, &out->connect_timeout_ms);
}

Status read_worker(const Ctx& c, const Json& w, const std::string& base_dir, WorkerSettings* out) {
  const std::string sec = "worker";
  if (Status s = check_keys(c, w, sec,
                            {"workerId", "models", "maxSessions", "maxStreams", "sessionProcesses"},
                            {{"port", "workers talk through NATS, they listen on no port"}});
      !s.is_ok()) {
    return s;
  }
  if (Status s = get_token(c, w, sec, "workerId", &out->id); !s.is_ok()) return s;
  if (Status s = get_int(c, w, sec, "maxSessions", 1, 64, &out->max_sessions); !s.is_ok()) return s;
  if (Status s = get_int(c, w, sec, "maxStreams", 1, 65536, &out->max_streams); !s.is_ok())
    return s;
  if (Status s = get_bool(c, w, sec, "sessionProcesses", &out->session_processes); !s.is_ok())
    return s;
  const Json* models = nullptr;
  if (Status s = get_list(c, w, "models", &models); !s.is_ok())
    return bad(c, "worker.models", s.message());
  if (models == nullptr) return {};
  std::set<std::string> seen;
  for (std::size_t i = 0; i < models->size(); ++i) {
    const std::string key = fmt::format("worker.models.{}", i);
    const Json& m = (*models)[i];
    if (Status s = check_keys(c, m, key, {"id", "path"}, {}); !s.is_ok()) return s;
    if (!has(m, "id") || !has(m, "path")) return bad(c, key, "needs id and path");
    WorkerModel model;
    if (Status s = get_string(c, m, key, "id", &model.id); !s.is_ok()) return s;
    if (Status s = get_string(c, m, key, "path", &model.path); !s.is_ok()) return s;
    if (model.id.empty() || model.path.empty()) return bad(c, key, "id and path must not be empty");
    if (!seen.insert(model.id).second) return bad(c, key + ".id", "repeats " + model.id);
    std::filesystem::path p(model.path);
    if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
    model.path = p.lexically_normal().string();
    out->models.push_back(std::move(model));
  }
  return {};
}

Status read_discovery(const Ctx& c, const Json& d, DiscoverySettings* out) {
  const std::string sec = "discovery";
  if (Status s = check_keys(
          c, d, sec, {"enabled", "heartbeatIntervalMs", "offlineTimeoutMs", "attachTimeoutMs"},
          {{"controllerIp", "workers find control planes through NATS"}});
      !s.is_ok()) {
    return s;
  }
  if (Status s = get_bool(c, d, sec, "enabled", &out->enabled); !s.is_ok()) return s;
  if (Status s =
          get_int(c, d, sec, "heartbeatIntervalMs", 50, 600'000, &out->heartbeat_interval_ms);
      !s.is_ok()) {
    return s;
  }
  if (Status s = get_int(c, d, sec, "offlineTimeoutMs", 100, 3'600'000, &out->offline_timeout_ms);
      !s.is_ok()) {
    return s;
  }
  if (Status s = get_int(c, d, sec, "attachTimeoutMs", 100, 120'000, &out->attach_timeout_ms);
      !s.is_ok()) {
    return s;
  }
  if (out->offline_timeout_ms < 2 * out->heartbeat_interval_ms) {
    return bad(c, "discovery.offlineTimeoutMs",
               fmt::format("{} ms is less than two heartbeat intervals ({} ms): one late "
                           "announcement would count as a lost worker",
                           out->offline_timeout_ms, 2 * out->heartbeat_interval_ms));
  }
  return {};
}

Status read_balancing(const Ctx& c, const Json& b, BalancingSettings* out) {
  const std::string sec = "load_balancing";
  if (Status s = check_keys(
          c, b, sec, {"strategy", "stickySession", "affinityPrefixChars", "affinityEntries"}, {});
      !s.is_ok()) {
    return s;
  }
  std::string strategy = "smart";
  if (Status s = get_string(c, b, sec, "strategy", &strategy); !s.is_ok()) return s;
  if (strategy == "smart") {
    out->strategy = Strategy::kSmart;
  } else if (strategy == "least_loaded" || strategy == "least-loaded") {
    out->strategy = Strategy::kLeastLoaded;
  } else {
    return bad(c, "load_balancing.strategy", "must be smart or least_loaded");
  }
  bool sticky = false;
  if (Status s = get_bool(c, b, sec, "stickySession", &sticky); !s.is_ok()) return s;
  if (sticky) {
    c.warnings->push_back(
        "load_balancing.stickySession: ignored (strategy smart keeps a prompt prefix on the worker "
        "that holds its KV blocks)");
  }
  int prefix = static_cast<int>(out->affinity_prefix);
  if (Status s = get_int(c, b, sec, "affinityPrefixChars", 16, 65536, &prefix); !s.is_ok())
    return s;
  out->affinity_prefix = static_cast<std::size_t>(prefix);
  int entries = static_cast<int>(out->affinity_entries);
  if (Status s = get_int(c, b, sec, "affinityEntries", 1, 1'000'000, &entries); !s.is_ok())
    return s;
  out->affinity_entries = static_cast<std::size_t>(entries);
  return {};
}

}  // namespace

bool valid_token(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '-';
  });
}

core::Result<ClusterConfig> parse_cluster_config(std::string_view text,
                                                 const std::string& display_name,
                                                 const std::string& base_dir) {
  if (text.size() > kMaxClusterFileBytes) {
    return core::make_error(ErrorCode::kConfigError, "cluster file {}: larger than {} bytes",
                            display_name, kMaxClusterFileBytes);
  }
  auto doc = control::yaml_to_json(text, display_name);
  if (!doc) return doc.status();
  ClusterConfig out;
  const Ctx c{display_name, &out.warnings};
  const Json& top = *doc;
  if (Status s = check_keys(
          c, top, "", {"mode", "name", "nats", "worker", "discovery", "workers", "load_balancing"},
          {{"controller", "the HTTP address is serve's --host/--port"},
           {"logging", "serve's and runtime's --log-* flags"}});
      !s.is_ok()) {
    return s;
  }
  std::string mode = "both";
  if (Status s = get_string(c, top, "", "mode", &mode); !s.is_ok()) return s;
  if (mode == "both") {
    out.mode = ClusterMode::kBoth;
  } else if (mode == "controller") {
    out.mode = ClusterMode::kController;
  } else if (mode == "worker") {
    out.mode = ClusterMode::kWorker;
  } else {
    return bad(c, "mode", "must be controller, worker or both");
  }
  if (Status s = get_token(c, top, "", "name", &out.name); !s.is_ok()) return s;
  if (has(top, "nats")) {
    if (Status s = read_nats(c, top["nats"], &out.nats); !s.is_ok()) return s;
  }
  if (has(top, "worker")) {
    if (Status s = read_worker(c, top["worker"], base_dir, &out.worker); !s.is_ok()) return s;
  }
  if (has(top, "discovery")) {
    if (Status s = read_discovery(c, top["discovery"], &out.discovery); !s.is_ok()) return s;
  }
  if (has(top, "workers")) {
    const Json& w = top["workers"];
    if (Status s = check_keys(c, w, "workers", {"static"}, {}); !s.is_ok()) return s;
    const Json* list = nullptr;
    if (Status s = get_list(c, w, "static", &list); !s.is_ok())
      return bad(c, "workers.static", s.message());
    for (std::size_t i = 0; list != nullptr && i < list->size(); ++i) {
      const std::string key = fmt::format("workers.static.{}", i);
      const Json& v = (*list)[i];
      // The original lists {id, ...} records or bare ids.
      const Json& id = v.is_object() && v.contains("id") ? v["id"] : v;
      if (Status s = check_string(c, id, key); !s.is_ok()) return s;
      if (!valid_token(id.get<std::string>())) return bad(c, key, "must match [A-Za-z0-9_-]{1,64}");
      out.static_workers.push_back(id.get<std::string>());
    }
  }
  if (!out.discovery.enabled && out.static_workers.empty()) {
    return bad(c, "discovery.enabled",
               "false needs workers.static: without announcements no worker would be found");
  }
  if (has(top, "load_balancing")) {
    if (Status s = read_balancing(c, top["load_balancing"], &out.balancing); !s.is_ok()) return s;
  }
  return out;
}

core::Result<ClusterConfig> load_cluster_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return core::make_error(ErrorCode::kConfigError, "cluster file {}: cannot be read", path);
  std::string text(kMaxClusterFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  const std::string dir = std::filesystem::absolute(path).parent_path().string();
  return parse_cluster_config(text, path, dir);
}

}  // namespace mlxs::cluster
