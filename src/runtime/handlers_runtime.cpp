// runtime/info, runtime/state, runtime/telemetry and stream/cancel.
#include <algorithm>

#include "build_info.h"
#include "runtime/loaded_model.h"
#include "runtime/process_info.h"
#include "runtime/server.h"

namespace mlxs::runtime {

using protocol::Method;

namespace {

// The original's list (compat/jsonrpc.md §4.1) less what we lack (guidance),
// with the vision methods, then ours. The client switches batch_generate and batch_tokenize
// on from here.
std::vector<std::string> capabilities() {
  return {"load_model",
          "generate",
          "batch_generate",
          "batch_generate_parallel",
          "continuous_generate",
          "get_batcher_metrics",
          "get_batcher_health",
          "get_week4_metrics",
          "tokenize",
          "check_draft",
          "batch_tokenize",
          "batch_check_draft",
          "runtime/telemetry",
          "load_vision_model",
          "generate_with_image",
          "unload_model",
          "detokenize",
          std::string(protocol::kExtStreamCancel),
          std::string(protocol::kExtStreamStep),
          std::string(protocol::kExtLoadProgress),
          "protocol_version"};
}

}  // namespace

Server::Reply Server::runtime_info(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto p, protocol::parse_params<protocol::RuntimeInfoParams>(Method::kRuntimeInfo, params));
  if (p.protocol_version)
    MLXS_RETURN_IF_ERROR(protocol::check_protocol_version(*p.protocol_version));
  std::vector<std::string> enabled;
  {
    std::lock_guard lock(extensions_mutex_);
    if (p.extensions) {
      extensions_ = protocol::negotiate_extensions(*p.extensions);
      const bool step = std::find(extensions_.begin(), extensions_.end(),
                                  protocol::kExtStreamStep) != extensions_.end();
      output_.set_step_mode(step);
      load_progress_on_.store(std::find(extensions_.begin(), extensions_.end(),
                                        protocol::kExtLoadProgress) != extensions_.end());
    }
    enabled = extensions_;
  }
  protocol::RuntimeInfoResult r;
  r.capabilities = capabilities();
  const ProcessMemory mem = process_memory();
  r.memory.rss = mem.rss;
  r.memory.vms = mem.vms;
  r.protocol_version = protocol::protocol_version_string();
  r.extensions = std::move(enabled);
  const std::string device = device_name(options_.backend);
  r.server = std::string("mlx-serving ") + MLXS_VERSION + " (" + device + ")";
  return protocol::to_json(r);
}

Server::Reply Server::runtime_state() {
  protocol::RuntimeStateResult r;
  for (const auto& m : registry_->ready())
    r.loaded_models.push_back(
        {m->model_id, "ready", m->model->vision() != nullptr ? "vision" : "text"});
  r.active_streams = static_cast<std::int64_t>(streams_.size());
  // As the original: the count of runtime/state calls.
  r.restart_count = state_calls_.fetch_add(1) + 1;
  return protocol::to_json(r);
}

Server::Reply Server::runtime_telemetry() {
  protocol::RuntimeTelemetryResult r;
  r.enabled = true;
  r.sampling_rate = 1.0;
  protocol::GenerationTelemetry gen;
  std::vector<protocol::EngineTelemetry> engines;
  for (const auto& m : registry_->ready()) {
    const engine::EngineMetrics e = m->engine->metrics();
    protocol::EngineTelemetry t;
    t.model_id = m->model_id;
    t.waiting_interactive = e.waiting[0];
    t.waiting_batch = e.waiting[1];
    t.running = e.running;
    t.active_requests = e.active_requests;
    t.preemptions = static_cast<std::int64_t>(e.preemptions);
    t.kv_blocks_total = e.kv_blocks_total;
    t.kv_blocks_used = e.kv_blocks_used;
    t.kv_blocks_cached_free = e.kv_blocks_cached_free;
    t.prefix_queries = static_cast<std::int64_t>(e.prefix_queries);
    t.prefix_hits = static_cast<std::int64_t>(e.prefix_hits);
    t.prompt_tokens = static_cast<std::int64_t>(e.prompt_tokens);
    t.cached_prompt_tokens = static_cast<std::int64_t>(e.cached_prompt_tokens);
    t.generated_tokens = static_cast<std::int64_t>(e.generated_tokens);
    t.steps = static_cast<std::int64_t>(e.steps);
    t.requests_finished = static_cast<std::int64_t>(e.requests_finished);
    t.device_busy_us = static_cast<std::int64_t>(e.device_busy_us);
    t.device_idle_us = static_cast<std::int64_t>(e.device_idle_us);
    if (const auto& mem = m->info.memory) {
      t.weights_bytes = mem->weights_bytes;
      t.kv_cache_bytes = mem->kv_cache_bytes;
      t.kv_block_bytes = mem->kv_block_bytes;
      t.device = mem->device;
      t.kv_cache_dtype = mem->kv_cache_dtype;
    }
    gen.tokens_generated += t.generated_tokens;
    gen.completed += m->stats.finished() - m->stats.failed();
    gen.failed += m->stats.failed();
    engines.push_back(std::move(t));
  }
  gen.total_requests = streams_started_.load();
  gen.active_streams = static_cast<std::int64_t>(streams_.size());
  r.generation = gen;
  r.tokenization = protocol::TokenizationTelemetry{tokenize_calls_.load(), tokenize_tokens_.load()};
  protocol::ErrorTelemetry errs;
  errs.total = errors_.load();
  errs.timeouts = timeouts_.load();
  const auto requests = requests_.load();
  errs.error_rate =
      requests > 0 ? static_cast<double>(errs.total) / static_cast<double>(requests) : 0.0;
  r.errors = errs;
  r.native_optimizations = Json{{"enabled",
                                 {{"metal_pool", false},
                                  {"blit_queue", false},
                                  {"command_ring", false},
                                  {"cpu_tokenizer", false},
                                  {"weight_manager", false}}},
                                {"statistics", Json::object()}};
  r.engines = std::move(engines);
  if (options_.tracer && options_.report_tracing) {
    const telemetry::ExporterCounters c = options_.tracer->counters();
    r.tracing = protocol::TracingTelemetry{static_cast<std::int64_t>(c.exported),
                                           static_cast<std::int64_t>(c.dropped),
                                           static_cast<std::int64_t>(c.failed)};
  }
  return protocol::to_json(r);
}

Server::Reply Server::stream_cancel(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto p, protocol::parse_params<protocol::StreamCancelParams>(Method::kStreamCancel, params));
  protocol::StreamCancelResult r;
  const auto record = streams_.find(p.stream_id);
  if (record && !record->cancel_requested.exchange(true)) {
    if (auto model = record->model.lock()) model->host->cancel(*record);
    r.cancelled = true;
  }
  return protocol::to_json(r);
}

}  // namespace mlxs::runtime
