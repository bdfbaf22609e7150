#pragma once
// Settings of the HTTP server (flags of `serve`, or the config file's server
// section once control/ loads it).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "server/openai_request.h"
#include "telemetry/tracer.h"

namespace mlxs::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (see HttpServer::port())
  int threads = 2;            // I/O threads; streams cost no thread each
  // Bearer keys; empty: no authentication. /health and /ready stay open.
  std::vector<std::string> api_keys;
  std::size_t max_body_bytes = 8u << 20;
  std::size_t max_header_bytes = 16u << 10;
  // The whole request header must arrive within this (slow-header clients);
  // also how long an idle keep-alive connection is kept.
  int header_timeout_ms = 15000;
  int body_timeout_ms = 60000;
  // A client that reads none of its stream for this long is dropped.
  int write_timeout_ms = 60000;
  // Unsent stream output past this is a client too slow to keep: dropped.
  std::size_t max_pending_bytes = 8u << 20;
  int max_connections = 16384;
  int max_concurrent_streams = 8192;  // generate calls in flight, all models
  int retry_after_s = 1;
  RequestLimits limits;
  // POST /v1/models/load reads only directories inside these.
  std::vector<std::string> model_roots;
  // load_model's quantization when a POST /v1/models/load names none
  // (model.default_quantization; empty: as stored).
  std::string default_quantization;
  // Spans of generation requests go here (null: tracing off).
  std::shared_ptr<telemetry::Tracer> tracer;
};

}  // namespace mlxs::server
