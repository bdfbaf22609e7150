#include "control/config.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include <fmt/format.h>

#include "control/config_schema.h"
#include "control/yaml_json.h"

extern char** environ;

namespace mlxs::control {

using core::ErrorCode;
using core::Json;

namespace {

constexpr std::size_t kMaxConfigBytes = 4u << 20;

std::string join_path(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ".") + p;
  return out;
}

std::vector<std::string> split(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  for (;;) {
    const auto at = s.find(sep);
    out.emplace_back(s.substr(0, at));
    if (at == std::string_view::npos) return out;
    s.remove_prefix(at + sep.size());
  }
}

// "/json_rpc/retry/0" -> "json_rpc.retry.0" (JSON pointer escapes undone).
std::string dotted(const std::string& pointer) {
  std::string out;
  for (const auto& part : split(pointer, "/")) {
    if (part.empty()) continue;
    std::string p = part;
    for (std::size_t at; (at = p.find("~1")) != std::string::npos;) p.replace(at, 2, "/");
    for (std::size_t at; (at = p.find("~0")) != std::string::npos;) p.replace(at, 2, "~");
    out += (out.empty() ? "" : ".") + p;
  }
  return out;
}

void deep_merge(Json& base, const Json& over) {
  if (!base.is_object() || !over.is_object()) {
    base = over;
    return;
  }
  for (const auto& [key, value] : over.items()) {
    if (base.contains(key) && base[key].is_object() && value.is_object()) {
      deep_merge(base[key], value);
    } else {
      base[key] = value;
    }
  }
}

Json defaults_of(const Json& node) {
  Json out = node.value("default", Json::object());
  const auto props = node.find("properties");
  if (props == node.end() || !out.is_object()) return out;
  for (const auto& [key, sub] : props->items()) {
    if (sub.contains("properties") || sub.contains("default")) out[key] = defaults_of(sub);
  }
  return out;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

class Loader {
 public:
  explicit Loader(const ConfigSchema& schema) : schema_(schema) {}

  ConfigReport run(const ConfigInputs& in) {
    report_.effective = defaults_of(schema_.document);
    if (in.file) read_file(*in.file, in.environment);
    for (const auto& [name, value] : in.environment) apply_env(name, value);
    for (const auto& set : in.sets) apply_set(set);
    check_keys(report_.effective, schema_.document, {});
    validate();
    return std::move(report_);
  }

 private:
  void error(std::string path, std::string code, std::string message, std::string source = "") {
    if (source.empty()) source = source_of(path);
    report_.errors.push_back(
        {std::move(path), std::move(code), std::move(message), std::move(source)});
  }

  std::string source_of(const std::string& path) const {
    // The most specific layer that set this path or one above it.
    for (std::string p = path;;) {
      if (const auto it = origin_.find(p); it != origin_.end()) return it->second;
      const auto dot = p.rfind('.');
      if (dot == std::string::npos) break;
      p.resize(dot);
    }
    return file_keys_.count(path) != 0 ? "file" : "default";
  }

  void note_file_keys(const Json& j, const std::string& prefix) {
    if (!j.is_object()) return;
    for (const auto& [key, value] : j.items()) {
      const std::string path = prefix.empty() ? key : prefix + "." + key;
      file_keys_.insert({path, 0});
      note_file_keys(value, path);
    }
  }

  void read_file(const std::string& path,
                 const std::vector<std::pair<std::string, std::string>>& env) {
    auto text = core::read_file(path, path, kMaxConfigBytes);
    if (!text.is_ok()) {
      error("", "file", text.status().message(), "file");
      return;
    }
    auto doc = yaml_to_json(*text, path);
    if (!doc.is_ok()) {
      error("", "yaml", doc.status().message(), "file");
      return;
    }
    Json file = std::move(*doc);
    if (const auto envs = file.find("environments"); envs != file.end()) {
      std::string name = "development";
      for (const char* var : {"NODE_ENV", "MLXS_ENV"}) {
        for (const auto& [k, v] : env) {
          if (k == var && !v.empty()) name = v;
        }
      }
      if (envs->is_object()) {
        if (const auto chosen = envs->find(name); chosen != envs->end() && chosen->is_object()) {
          Json block = *chosen;
          file.erase("environments");
          deep_merge(file, block);
        } else {
          file.erase("environments");
        }
      }
    }
    note_file_keys(file, "");
    deep_merge(report_.effective, file);
  }

  bool set_path(const std::vector<std::string>& parts, Json value, const std::string& source) {
    Json* node = &report_.effective;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      Json& next = (*node)[parts[i]];
      if (next.is_null()) next = Json::object();
      if (!next.is_object()) {
        error(join_path({parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(i) + 1}),
              "type", "is not a section, so it has no key " + parts[i + 1], source);
        return false;
      }
      node = &next;
    }
    (*node)[parts.back()] = std::move(value);
    origin_[join_path(parts)] = source;
    return true;
  }

  void apply_env(const std::string& name, const std::string& value) {
    constexpr std::string_view kPrefix = "MLXS_";
    if (name.rfind(kPrefix, 0) != 0 || name.find("__") == std::string::npos) return;
    std::vector<std::string> parts = split(std::string_view(name).substr(kPrefix.size()), "__");
    for (auto& p : parts) {
      std::transform(p.begin(), p.end(), p.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (p.empty()) {
        error("", "env", fmt::format("{} has an empty level between double underscores", name),
              name);
        return;
      }
    }
    set_path(parts, scalar_value(value), name);
  }

  void apply_set(const std::string& set) {
    const auto eq = set.find('=');
    if (eq == std::string::npos || eq == 0) {
      error("", "flag", fmt::format("--set {} is not of the form section.key=value", set), "--set");
      return;
    }
    const std::vector<std::string> parts = split(std::string_view(set).substr(0, eq), ".");
    for (const auto& p : parts) {
      if (p.empty()) {
        error("", "flag", fmt::format("--set {} has an empty key", set), "--set");
        return;
      }
    }
    set_path(parts, scalar_value(std::string_view(set).substr(eq + 1)), "--set");
  }

  // Unknown keys (with a did-you-mean) and the original's ignored sections.
  void check_keys(const Json& value, const Json& node, const std::vector<std::string>& path) {
    const auto props = node.find("properties");
    if (!value.is_object() || props == node.end()) return;
    const bool closed = node.value("additionalProperties", Json(true)) == Json(false);
    std::vector<std::string> known;
    for (const auto& [k, v] : props->items()) known.push_back(k);
    for (const auto& [key, sub] : value.items()) {
      std::vector<std::string> child = path;
      child.push_back(key);
      const std::string where = join_path(child);
      const auto it = props->find(key);
      if (it == props->end()) {
        if (!closed) continue;
        const std::string in = path.empty() ? "at the top level" : "in " + join_path(path);
        std::string message = fmt::format("unknown key '{}' {}", key, in);
        if (auto near = did_you_mean(key, known))
          message += fmt::format("; did you mean '{}'?", *near);
        error(where, "unknown_key", message);
        continue;
      }
      if (const auto ignored = it->find("x-mlxs-ignored"); ignored != it->end()) {
        const std::string why =
            *ignored == "apple"
                ? "is Apple-specific in the original mlx-serving (MLX/Metal); it has no meaning "
                  "here"
                : "is a section of the original mlx-serving that has no effect in this engine";
        report_.warnings.push_back({where, "ignored_section",
                                    fmt::format("'{}' {} and is ignored", key, why),
                                    source_of(where)});
        continue;
      }
      check_keys(sub, *it, child);
    }
  }

  void validate() {
    const schema::ValidationResult r = schema_.schema.validate(report_.effective);
    for (const auto& e : r.errors) {
      // Unknown keys were reported above, with a suggestion.
      const bool unknown =
          e.schema_path.size() >= 21 &&
          e.schema_path.rfind("/additionalProperties") == e.schema_path.size() - 21 &&
          (e.keyword == "additionalProperties" || e.keyword == "false");
      if (unknown) continue;
      const std::string path = dotted(e.instance_path);
      error(path, e.keyword, e.message);
    }
    if (r.truncated) error("", "truncated", "more errors were found than are listed");
  }

  const ConfigSchema& schema_;
  ConfigReport report_;
  std::map<std::string, std::string> origin_;  // path -> env name or --set
  std::map<std::string, int> file_keys_;
};

core::Nanos ms_at(const Json& j, const char* section, const char* key) {
  return j.at(section).at(key).get<core::Nanos>() * kMillis;
}

}  // namespace

std::string ConfigIssue::to_string() const {
  std::string out = path.empty() ? "" : path + ": ";
  out += "[" + code + "] " + message;
  if (!source.empty() && source != "default") out += " (from " + source + ")";
  return out;
}

core::Status ConfigReport::status() const {
  if (errors.empty()) return {};
  std::string msg =
      fmt::format("{} configuration error{}: ", errors.size(), errors.size() == 1 ? "" : "s");
  for (std::size_t i = 0; i < errors.size(); ++i)
    msg += (i == 0 ? "" : "; ") + errors[i].to_string();
  return core::Status(ErrorCode::kConfigError, msg);
}

std::optional<std::string> did_you_mean(const std::string& word,
                                        const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& c : candidates) {
    const std::size_t d = edit_distance(word, c);
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best;
}

ConfigReport load_config(const ConfigInputs& inputs) {
  auto schema = config_schema();
  if (!schema.is_ok()) {
    ConfigReport r;
    r.errors.push_back({"", "schema", schema.status().message(), ""});
    return r;
  }
  return Loader(**schema).run(inputs);
}

std::vector<std::pair<std::string, std::string>> process_environment() {
  std::vector<std::pair<std::string, std::string>> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq == std::string_view::npos) continue;
    out.emplace_back(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return out;
}

Json config_defaults() {
  auto schema = config_schema();
  return schema.is_ok() ? defaults_of((*schema)->document) : Json::object();
}

ControlConfig control_config(const Json& c) {
  ControlConfig out;
  SupervisorOptions& s = out.supervisor;
  s.startup_timeout_ns = ms_at(c, "python_runtime", "startup_timeout_ms");
  s.shutdown_timeout_ns = ms_at(c, "python_runtime", "shutdown_timeout_ms");
  s.request_timeout_ns = ms_at(c, "json_rpc", "default_timeout_ms");
  s.load_timeout_ns = ms_at(c, "supervisor", "load_timeout_ms");
  s.heartbeat_interval_ns = ms_at(c, "supervisor", "heartbeat_interval_ms");
  s.heartbeat_timeout_ns = ms_at(c, "supervisor", "heartbeat_timeout_ms");
  s.max_queued_requests = c["supervisor"]["max_queued_requests"].get<std::size_t>();
  s.step_stream = c["supervisor"]["stream_step"].get<bool>();
  const Json& backoff = c["supervisor"]["restart_backoff"];
  s.backoff_initial_ns = backoff["initial_ms"].get<core::Nanos>() * kMillis;
  s.backoff_max_ns = backoff["max_ms"].get<core::Nanos>() * kMillis;
  s.backoff_multiplier = backoff["multiplier"].get<double>();
  s.client.max_line_bytes = c["json_rpc"]["max_line_buffer_size"].get<std::size_t>();
  s.client.max_pending = c["json_rpc"]["max_pending_requests"].get<std::size_t>();
  const Json& cb = c["json_rpc"]["circuit_breaker"];
  s.breaker.failure_threshold = cb["failure_threshold"].get<int>();
  s.breaker.recovery_timeout_ns = cb["recovery_timeout_ms"].get<core::Nanos>() * kMillis;
  s.breaker.failure_window_ns = cb["failure_window_ms"].get<core::Nanos>() * kMillis;

  const Json& w = c["workers"];
  out.workers = w["count"].get<int>();
  out.in_process = w["in_process"].get<bool>();
  if (const int threads = w["threads"].get<int>(); threads > 0) {
    out.worker_args.insert(out.worker_args.end(), {"--threads", std::to_string(threads)});
  }
  out.worker_args.insert(out.worker_args.end(),
                         {"--kv-memory-mb", std::to_string(w["kv_memory_mb"].get<int>())});
  if (const double f = w["gpu_memory_fraction"].get<double>(); f > 0) {
    out.worker_args.insert(out.worker_args.end(), {"--gpu-memory-fraction", core::Json(f).dump()});
  }
  if (const int streams = w["max_running_streams"].get<int>(); streams != 64) {
    out.worker_args.insert(out.worker_args.end(),
                           {"--max-running-streams", std::to_string(streams)});
  }
  // 0 (auto) is the worker's own default: it picks by its backend.
  if (const int tokens = w["max_batch_tokens"].get<int>(); tokens != 0) {
    out.worker_args.insert(out.worker_args.end(), {"--max-batch-tokens", std::to_string(tokens)});
  }
  // auto is the worker's own default: it picks by its backend.
  if (const std::string dtype = w["kv_cache_dtype"].get<std::string>(); dtype != "auto") {
    out.worker_args.insert(out.worker_args.end(), {"--kv-cache-dtype", dtype});
  }
  out.tensor_parallel = w["tensor_parallel"].get<int>();
  if (out.tensor_parallel > 1) {
    out.worker_args.insert(out.worker_args.end(),
                           {"--tensor-parallel", std::to_string(out.tensor_parallel)});
  }
  for (const auto& d : w["model_dirs"])
    out.worker_args.insert(out.worker_args.end(), {"--model-dir", d});
  const Json& trusted = c["model"]["trusted_model_directories"];
  if (trusted.is_array()) {
    for (const auto& d : trusted)
      out.worker_args.insert(out.worker_args.end(), {"--trusted-dir", d});
  }
  const Json& images = c["images"];
  out.worker_args.insert(
      out.worker_args.end(),
      {"--image-max-mb", std::to_string(images["max_mb"].get<int>()), "--image-url-timeout-ms",
       std::to_string(images["url_timeout_ms"].get<int>())});
  for (const auto& d : images["local_roots"])
    out.worker_args.insert(out.worker_args.end(), {"--image-root", d});
  for (const auto& h : images["url_allow"])
    out.worker_args.insert(out.worker_args.end(), {"--image-url-allow", h});
  if (const std::string ca = images["url_ca_file"].get<std::string>(); !ca.empty()) {
    out.worker_args.insert(out.worker_args.end(), {"--image-ca-file", ca});
  }
  for (const auto& a : w["extra_args"]) out.worker_args.push_back(a.get<std::string>());
  out.backend = w["backend"].get<std::string>();
  for (const auto& d : w["devices"]) out.devices.push_back(d.get<int>());
  const std::string quantization = c["model"]["default_quantization"].get<std::string>();
  if (quantization != "none") out.default_quantization = quantization;
  out.log_level = c["logging"]["level"].get<std::string>();
  out.log_format = c["logging"]["format"].get<std::string>();
  for (const auto& [module, level] : c["logging"]["modules"].items()) {
    out.log_modules.emplace_back(module, level.get<std::string>());
  }
  const Json& t = c["tracing"];
  if (t["endpoint"].is_string()) out.tracing.endpoint = t["endpoint"].get<std::string>();
  out.tracing.service_name = t["service_name"].get<std::string>();
  out.tracing.sample_ratio = t["sample_ratio"].get<double>();
  out.tracing.batch_size = t["batch_size"].get<int>();
  out.tracing.queue_limit = t["queue_limit"].get<int>();
  out.tracing.export_timeout_ms = t["export_timeout_ms"].get<int>();
  return out;
}

std::vector<std::string> tracing_worker_args(const TracingConfig& t) {
  if (t.endpoint.empty()) return {};
  return {"--otlp-endpoint",          t.endpoint,
          "--otlp-service-name",      t.service_name,
          "--otlp-sample-ratio",      fmt::format("{}", t.sample_ratio),
          "--otlp-batch-size",        std::to_string(t.batch_size),
          "--otlp-queue-limit",       std::to_string(t.queue_limit),
          "--otlp-export-timeout-ms", std::to_string(t.export_timeout_ms)};
}

int worker_device(const ControlConfig& config, int index) {
  if (config.devices.empty()) return 0;
  return config.devices[static_cast<std::size_t>(index) % config.devices.size()];
}

}  // namespace mlxs::control
