#pragma once
// Messages of the runtime's own methods: runtime/info (with our version
// negotiation), runtime/state, runtime/telemetry, shutdown, and our
// stream/cancel extension (compat/jsonrpc.md §4.1-4.4).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/codec.h"

namespace mlxs::protocol {

// A method without parameters ({} or no `params` member).
struct NoParams {
  template <class S, class V>
  static void fields(S& /*s*/, V& /*v*/) {}
};

struct RuntimeInfoParams {
  // Ours: "major.minor" the client speaks; an unknown major is refused.
  std::optional<std::string> protocol_version;
  // Ours: extensions the client wants on this connection (replaces the set).
  std::optional<std::vector<std::string>> extensions;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("protocol_version", s.protocol_version);
    v("extensions", s.extensions);
  }
};

struct MemoryUsage {
  std::int64_t rss = 0;  // bytes
  std::int64_t vms = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("rss", s.rss);
    v("vms", s.vms);
  }
};

struct RuntimeInfoResult {
  std::string version = "0.1.0";
  std::string mlx_version = "not installed";
  std::string mlx_lm_version = "not installed";
  std::string protocol = "json-rpc-2.0";
  std::vector<std::string> capabilities;
  bool mlx_supported = false;
  MemoryUsage memory;
  // Ours (absent from the original's answer).
  std::optional<std::string> protocol_version;
  std::optional<std::vector<std::string>> extensions;  // enabled on this connection
  std::optional<std::string> server;                   // "mlx-serving 0.1.0 (cpu)"
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("version", s.version);
    v("mlx_version", s.mlx_version);
    v("mlx_lm_version", s.mlx_lm_version);
    v("protocol", s.protocol);
    v("capabilities", s.capabilities);
    v("mlx_supported", s.mlx_supported);
    v("memory", s.memory);
    v("protocol_version", s.protocol_version);
    v("extensions", s.extensions);
    v("server", s.server);
  }
};

struct LoadedModel {
  std::string model_id;
  std::string state = "ready";
  std::string type = "text";  // "text" | "vision"
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("state", s.state);
    v("type", s.type);
  }
};

struct RuntimeStateResult {
  std::vector<LoadedModel> loaded_models;
  std::int64_t active_streams = 0;
  // Counts calls, as the original does (it is not a restart counter).
  std::int64_t restart_count = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("loaded_models", s.loaded_models);
    v("active_streams", s.active_streams);
    v("restart_count", s.restart_count);
  }
};

struct GenerationTelemetry {
  std::int64_t total_requests = 0;
  std::int64_t completed = 0;
  std::int64_t failed = 0;
  std::int64_t cancelled = 0;
  std::int64_t active_streams = 0;
  std::int64_t tokens_generated = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("total_requests", s.total_requests);
    v("completed", s.completed);
    v("failed", s.failed);
    v("cancelled", s.cancelled);
    v("active_streams", s.active_streams);
    v("tokens_generated", s.tokens_generated);
  }
};

struct TokenizationTelemetry {
  std::int64_t total_requests = 0;
  std::int64_t total_tokens = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("total_requests", s.total_requests);
    v("total_tokens", s.total_tokens);
  }
};

struct ErrorTelemetry {
  std::int64_t total = 0;
  std::int64_t timeouts = 0;
  double error_rate = 0.0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("total", s.total);
    v("timeouts", s.timeouts);
    v("error_rate", s.error_rate);
  }
};

// The worker's trace exporter (ours; absent when it exports no spans of its own).
struct TracingTelemetry {
  std::int64_t exported = 0;
  std::int64_t dropped = 0;
  std::int64_t failed = 0;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("exported", s.exported);
    v("dropped", s.dropped);
    v("failed", s.failed);
  }
};

// One loaded model's engine counters (engine::EngineMetrics on the wire).
struct EngineTelemetry {
  std::string model_id;
  std::int64_t waiting_interactive = 0;
  std::int64_t waiting_batch = 0;
  std::int64_t running = 0;
  std::int64_t active_requests = 0;
  std::int64_t preemptions = 0;
  std::int64_t kv_blocks_total = 0;
  std::int64_t kv_blocks_used = 0;
  std::int64_t kv_blocks_cached_free = 0;
  std::int64_t prefix_queries = 0;
  std::int64_t prefix_hits = 0;
  std::int64_t prompt_tokens = 0;
  std::int64_t cached_prompt_tokens = 0;
  std::int64_t generated_tokens = 0;
  std::int64_t steps = 0;
  std::int64_t requests_finished = 0;
  // Ours: the device's busy and idle time over the steps, µs (zero on the
  // CPU), from which the share of a step the device waits follows.
  std::int64_t device_busy_us = 0;
  std::int64_t device_idle_us = 0;
  // The model's memory (as load_model's `memory` reports it).
  std::optional<std::int64_t> weights_bytes;
  std::optional<std::int64_t> kv_cache_bytes;
  std::optional<std::int64_t> kv_block_bytes;
  std::optional<std::string> device;
  std::optional<std::string> kv_cache_dtype;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("model_id", s.model_id);
    v("waiting_interactive", s.waiting_interactive);
    v("waiting_batch", s.waiting_batch);
    v("running", s.running);
    v("active_requests", s.active_requests);
    v("preemptions", s.preemptions);
    v("kv_blocks_total", s.kv_blocks_total);
    v("kv_blocks_used", s.kv_blocks_used);
    v("kv_blocks_cached_free", s.kv_blocks_cached_free);
    v("prefix_queries", s.prefix_queries);
    v("prefix_hits", s.prefix_hits);
    v("prompt_tokens", s.prompt_tokens);
    v("cached_prompt_tokens", s.cached_prompt_tokens);
    v("generated_tokens", s.generated_tokens);
    v("steps", s.steps);
    v("requests_finished", s.requests_finished);
    v("device_busy_us", s.device_busy_us);
    v("device_idle_us", s.device_idle_us);
    v("weights_bytes", s.weights_bytes);
    v("kv_cache_bytes", s.kv_cache_bytes);
    v("kv_block_bytes", s.kv_block_bytes);
    v("device", s.device);
    v("kv_cache_dtype", s.kv_cache_dtype);
  }
};

struct RuntimeTelemetryResult {
  bool enabled = true;
  std::optional<double> sampling_rate;
  std::optional<GenerationTelemetry> generation;
  std::optional<TokenizationTelemetry> tokenization;
  std::optional<ErrorTelemetry> errors;
  // The original's Apple-native module report: all off here.
  Json native_optimizations = Json::object();
  std::optional<std::vector<EngineTelemetry>> engines;  // ours
  std::optional<TracingTelemetry> tracing;              // ours
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("enabled", s.enabled);
    v("sampling_rate", s.sampling_rate);
    v("generation", s.generation);
    v("tokenization", s.tokenization);
    v("errors", s.errors);
    v("native_optimizations", s.native_optimizations);
    v("engines", s.engines);
    v("tracing", s.tracing);
  }
};

// shutdown and unload_model answer {"success": true}.
struct SuccessResult {
  bool success = true;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("success", s.success);
  }
};

// Ours: stream/cancel (advertised as the capability "stream/cancel").
struct StreamCancelParams {
  std::string stream_id;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("stream_id", s.stream_id);
  }
};

struct StreamCancelResult {
  // False when no running stream had that id (already ended, or unknown).
  bool cancelled = false;
  template <class S, class V>
  static void fields(S& s, V& v) {
    v("cancelled", s.cancelled);
  }
};

}  // namespace mlxs::protocol
