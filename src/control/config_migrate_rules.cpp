// The rules, section by section as in compat/config.md §4. A key is honoured
// only where this engine acts on it with the original's meaning; keys our
// schema accepts for old files but that change nothing are dropped here, so a
// migrated file says exactly what takes effect.
#include "control/config_migrate_rules.h"

namespace mlxs::control {
namespace {

using enum RuleKind;

constexpr std::string_view kApple =
    "Apple-specific (MLX/Metal/Accelerate on macOS); no meaning on Linux CPU or CUDA";
constexpr std::string_view kUnwired =
    "read only by a class the original never wired into its Engine; no effect there either";
constexpr std::string_view kNotApplied =
    "accepted by `config validate` for old files, but not applied by this engine";

const MigrationRule kRules[] = {
    // 4.1 IPC / transport
    {"json_rpc.default_timeout_ms", kHonoured, "",
     "per-request timeout between control plane and worker"},
    {"json_rpc.max_line_buffer_size", kHonoured, "", "longest line accepted from a worker"},
    {"json_rpc.max_pending_requests", kHonoured, "", "requests in flight per worker"},
    {"json_rpc.retry", kDropped, "",
     "the control plane does not retry: requests queued while a worker restarts are replayed"},
    {"json_rpc.circuit_breaker.failure_threshold", kHonoured, "",
     "worker failures (failed starts, crashes, hangs) in the window that trip its breaker"},
    {"json_rpc.circuit_breaker.recovery_timeout_ms", kHonoured, "", "tripped -> half-open delay"},
    {"json_rpc.circuit_breaker.failure_window_ms", kHonoured, "",
     "failures older than this are forgotten"},
    {"json_rpc.circuit_breaker.half_open_max_calls", kDropped, "",
     "the half-open probe is always one worker start"},
    {"json_rpc.circuit_breaker.half_open_success_threshold", kDropped, "",
     "one successful probe start closes the breaker"},
    {"python_bridge", kDropped, "",
     "the worker reads requests of up to 1 MiB (the original's default) and has no token queues: "
     "streams are drained every engine step"},
    {"binary_streaming", kDropped, "", "JSON lines only (the original client needs them anyway)"},
    {"ipc_batching.enabled", kNoIpcBatching, "workers.extra_args",
     "false becomes the worker flag --no-ipc-batching; true is the worker's default"},
    {"ipc_batching.max_tokens_per_batch", kTokensPerBatch, "workers.extra_args",
     "becomes the worker flag --max-tokens-per-batch"},
    {"ipc_batching.flush_interval_ms", kDropped, "", "fixed at 6 ms, the original's default"},
    {"object_pooling", kDropped, "", "Python object reuse; no wire effect"},
    {"performance", kDropped, "", "had no effect in the original"},
    // 4.2 Python process
    {"python_runtime.python_path", kDropped, "",
     "the worker is this executable (mlx-serving runtime)"},
    {"python_runtime.runtime_path", kDropped, "",
     "the worker is this executable (mlx-serving runtime)"},
    {"python_runtime.max_restarts", kDropped, "",
     "restarts are bounded by json_rpc.circuit_breaker (failures within a window), not a lifetime "
     "count"},
    {"python_runtime.startup_timeout_ms", kHonoured, "",
     "a worker must answer runtime/info within this"},
    {"python_runtime.shutdown_timeout_ms", kHonoured, "",
     "wait after shutdown before killing a worker"},
    {"python_runtime.init_probe_fallback_ms", kDropped, "",
     "workers announce readiness at once; there is no fallback probe"},
    {"python_runtime.restart_delay_base_ms", kMove, "supervisor.restart_backoff.initial_ms",
     "the first restart's delay; later ones grow by supervisor.restart_backoff.multiplier"},
    // 4.3 Stream registry
    {"stream_registry.max_active_streams", kMove, "server.max_concurrent_streams",
     "concurrent generations, all models"},
    {"stream_registry.default_timeout_ms", kDropped, "",
     "a stream ends with its request's json_rpc.default_timeout_ms"},
    {"stream_registry", kDropped, "",
     "streams are tracked per request; slow clients are bounded by server.max_pending_bytes"},
    {"streaming", kDropped, "",
     "no adaptive governor: admission is bounded by server.max_concurrent_streams and "
     "supervisor.max_queued_requests"},
    // 4.4 Request batching
    {"batch_queue", kDropped, "",
     "the engine batches every running request each step; no request queue"},
    {"generate_batcher", kDropped, "", "not read by the original; the engine batches continuously"},
    {"continuous_batching", kDropped, "",
     "not read by the original; the engine batches continuously"},
    {"request_deduplication", kDropped, "", kUnwired},
    {"prompt_cache", kDropped, "", kUnwired},
    {"request_coalescing", kDropped, "", kUnwired},
    // 4.5 Models, caching, warm-up
    {"model.trusted_model_directories", kHonoured, "",
     "load_model's local_path must lie inside one of these (passed to workers as --trusted-dir)"},
    {"model.default_quantization", kDropped, "",
     "never read by the original; here it quantizes every model serve loads, so a migrated file "
     "leaves it out"},
    {"model", kDropped, "", kNotApplied},
    {"cache", kDropped, "",
     "no on-disk artifact cache: models load in place from their directories"},
    {"model_preload", kDropped, "",
     "never ran in the original (it always skipped); load models with serve --model"},
    {"generation_warmup", kDropped, "", "not read by the original"},
    {"outlines", kDropped, "",
     "structured output is compiled by our guidance module with its own bounds"},
    {"mlx", kDropped, "", kApple},
    // 4.6 Telemetry and development
    {"telemetry.service_name", kMove, "tracing.service_name",
     "the service.name of the traces sent when tracing.endpoint is set"},
    {"telemetry.sampling_rate", kMove, "tracing.sample_ratio", "share of new traces recorded"},
    {"telemetry", kDropped, "",
     "the original never started OpenTelemetry from it; metrics are served on /metrics and "
     "traces go to tracing.endpoint (an OTLP/HTTP collector)"},
    {"development.verbose", kDebugLevel, "logging.level", "true becomes logging.level: debug"},
    {"development.debug", kDebugLevel, "logging.level", "true becomes logging.level: debug"},
    {"development", kDropped, "", "no IPC log or profiler switch; use logging.level: debug"},
    // 4.7 Apple-native sections
    {"metal_optimizations", kDropped, "", kApple},
    {"cpu_optimizations", kDropped, "", kApple},
    {"kv_cache_pool", kDropped, "", kApple},
    {"advanced_optimizations", kDropped, "",
     "the original's native-module and library-only features; none was on a request path"},
    // 4.8 Classes not wired into Engine
    {"runtime_router", kDropped, "", kUnwired},
    {"python_runtime_manager", kDropped, "", kUnwired},
    {"adaptive_batch_coordinator", kDropped, "", kUnwired},
    {"retry_policy", kDropped, "", kUnwired},
    {"circuit_breaker", kDropped, "", kUnwired},
    {"connection_pool", kDropped, "", kUnwired},
    {"streaming_controller", kDropped, "", kUnwired},
    {"model_lifecycle_manager", kDropped, "", kUnwired},
    {"rolling_restart_coordinator", kDropped, "", kUnwired},
    {"transport", kDropped, "", kUnwired},
    {"ttft_accelerator", kDropped, "", kUnwired},
    {"qos_monitor", kDropped, "", kUnwired},
    {"production_infrastructure", kDropped, "", kUnwired},
    {"model_concurrency_limiter", kDropped, "", "removed in the original"},
    // Sections of our own format pass through, so a half-migrated file works.
    {"server", kHonoured, "", "this engine's own section"},
    {"workers", kHonoured, "", "this engine's own section"},
    {"supervisor", kHonoured, "", "this engine's own section"},
    {"logging", kHonoured, "", "this engine's own section"},
    {"tracing", kHonoured, "", "this engine's own section"},
};

bool covers(std::string_view rule, std::string_view path) {
  return path == rule || (path.size() > rule.size() && path.substr(0, rule.size()) == rule &&
                          path[rule.size()] == '.');
}

}  // namespace

const MigrationRule* find_migration_rule(std::string_view path) {
  const MigrationRule* best = nullptr;
  for (const auto& r : kRules) {
    if (covers(r.key, path) && (best == nullptr || r.key.size() > best->key.size())) best = &r;
  }
  return best;
}

}  // namespace mlxs::control
