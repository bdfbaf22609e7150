#include "cli/serve_settings.h"

#include "cli/image_flags.h"

namespace mlxs::cli {
namespace {

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
  o.gpu_memory_fraction = w["gpu_memory_fraction"].get<double>();
  o.tensor_parallel = w["tensor_parallel"].get<int>();
  o.max_running_streams = w["max_running_streams"].get<int>();
  o.max_batch_tokens = w["max_batch_tokens"].get<int>();
  o.model_dirs = strings(w["model_dirs"]);
  o.backend.kind = w["backend"].get<std::string>();
  // The schema admits only the names parse_kv_cache_dtype knows.
  o.backend.kv_cache_dtype = runtime::parse_kv_cache_dtype(w["kv_cache_dtype"].get<std::string>())
                                 .value_or(runtime::KvCacheDtype::kAuto);
  if (const core::Json& trusted = c["model"]["trusted_model_directories"]; trusted.is_array()) {
    o.trusted_dirs = strings(trusted);
  }
  const core::Json& images = c["images"];
  ImageArgs image_args;
  image_args.max_mb = images["max_mb"].get<int>();
  image_args.roots = strings(images["local_roots"]);
  image_args.url_allow = strings(images["url_allow"]);
  image_args.url_timeout_ms = images["url_timeout_ms"].get<int>();
  image_args.ca_file = images["url_ca_file"].get<std::string>();
  o.images = image_sources(image_args);
  return o;
}

}  // namespace mlxs::cli
