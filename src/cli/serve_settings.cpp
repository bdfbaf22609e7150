#include "cli/serve_settings.h"

#include "core/log.h"

namespace mlxs::cli {
namespace {

LogFlagsGiven g_log_flags;  // set once by main before any thread starts

std::vector<std::string> strings(const core::Json& list) {
  std::vector<std::string> out;
  for (const auto& v : list) out.push_back(v.get<std::string>());
  return out;
}

}  // namespace

server::ServerOptions server_options(const core::Json& s, const server::RequestLimits& limits) {
  server::ServerOptions o;
  o.host = s["host"].get<std::string>();
  o.port = s["port"].get<std::uint16_t>();
  o.threads = s["threads"].get<int>();
  o.api_keys = strings(s["api_keys"]);
  o.max_body_bytes = s["max_body_bytes"].get<std::size_t>();
  o.max_header_bytes = s["max_header_bytes"].get<std::size_t>();
  o.header_timeout_ms = s["header_timeout_ms"].get<int>();
  o.body_timeout_ms = s["body_timeout_ms"].get<int>();
  o.write_timeout_ms = s["write_timeout_ms"].get<int>();
  o.max_pending_bytes = s["max_pending_bytes"].get<std::size_t>();
  o.max_connections = s["max_connections"].get<int>();
  o.max_concurrent_streams = s["max_concurrent_streams"].get<int>();
  o.retry_after_s = s["retry_after_s"].get<int>();
  o.model_roots = strings(s["model_roots"]);
  o.limits = limits;
  return o;
}

runtime::RuntimeOptions in_process_options(const core::Json& c) {
  runtime::RuntimeOptions o;
  const core::Json& w = c["workers"];
  o.threads = w["threads"].get<int>();
  o.kv_memory_bytes = w["kv_memory_mb"].get<std::size_t>() << 20;
  o.model_dirs = strings(w["model_dirs"]);
  o.backend.kind = w["backend"].get<std::string>();
  if (const core::Json& trusted = c["model"]["trusted_model_directories"]; trusted.is_array()) {
    o.trusted_dirs = strings(trusted);
  }
  return o;
}

std::optional<std::string> apply_log_flags(const std::string& level, const std::string& format,
                                           const std::vector<std::string>& modules) {
  core::LogLevel l = core::LogLevel::kInfo;
  if (!core::parse_log_level(level, &l))
    return "--log-level must be debug, info, warn, error or off";
  core::LogFormat f = core::LogFormat::kJson;
  if (!core::parse_log_format(format, &f)) return "--log-format must be auto, json or text";
  std::vector<std::pair<std::string, core::LogLevel>> levels;
  for (const auto& m : modules) {
    const auto eq = m.find('=');
    core::LogLevel ml = core::LogLevel::kInfo;
    if (eq == std::string::npos || eq == 0 || !core::parse_log_level(m.substr(eq + 1), &ml)) {
      return "--log-module takes MODULE=LEVEL (debug, info, warn, error or off)";
    }
    levels.emplace_back(m.substr(0, eq), ml);
  }
  core::set_log_level(l);
  core::set_log_format(f);
  core::set_module_log_levels(std::move(levels));
  return std::nullopt;
}

LogFlagsGiven log_flags_given() {
  return g_log_flags;
}
void set_log_flags_given(LogFlagsGiven given) {
  g_log_flags = given;
}

}  // namespace mlxs::cli
