// config migrate: an original runtime.yaml that sets every key of
// ../shared/compat/config.md gets a verdict per key, the keys with an effect
// land where they act, and the result loads with no error and no warning.
// Malformed, truncated and hostile YAML gives a coded error, never a crash.
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "control/config.h"
#include "control/config_migrate.h"
#include "control/yaml_json.h"
#include "testing/fixtures.h"

namespace mlxs::control {
namespace {

using core::Json;

// Every key of compat/config.md §4 with a value other than its default where
// the key has an effect, plus the environments the original ships.
constexpr std::string_view kEveryKey = R"(json_rpc:
  default_timeout_ms: 120000
  max_line_buffer_size: 65536
  max_pending_requests: 100
  retry:
    max_attempts: 3
    initial_delay_ms: 100
    max_delay_ms: 5000
    backoff_multiplier: 2.0
    jitter: 0.25
    retryable_errors: [TIMEOUT, ECONNRESET]
  circuit_breaker:
    failure_threshold: 7
    recovery_timeout_ms: 20000
    half_open_max_calls: 1
    half_open_success_threshold: 2
    failure_window_ms: 90000
python_bridge:
  max_buffer_size: 1048576
  stream_queue_size: 100
  queue_put_max_retries: 100
  queue_put_backoff_ms: 10
binary_streaming:
  use_messagepack: false
ipc_batching:
  enabled: false
  max_tokens_per_batch: 24
  flush_interval_ms: 6
object_pooling:
  enabled: true
  chunk_pool_size: 100
  stats_pool_size: 20
  event_pool_size: 20
performance:
  aggressive_gc: false
  enable_batching: false
  batch_size: 10
  batch_timeout_ms: 50
  use_messagepack: false
python_runtime:
  python_path: .mlx-serving-venv/bin/python
  runtime_path: python/runtime.py
  max_restarts: 3
  startup_timeout_ms: 30000
  shutdown_timeout_ms: 4000
  init_probe_fallback_ms: 3000
  restart_delay_base_ms: 1500
stream_registry:
  default_timeout_ms: 300000
  max_active_streams: 10
  cleanup_interval_ms: 60000
  adaptive_limits:
    enabled: false
    min_streams: 1
    max_streams: 50
    target_ttft_ms: 1000
    target_latency_ms: 100
    adjustment_interval_ms: 5000
    scale_up_threshold: 0.8
    scale_down_threshold: 0.3
  chunk_pooling:
    enabled: true
    pool_size: 1000
    pool_cleanup_interval_ms: 30000
  backpressure:
    enabled: true
    max_unacked_chunks: 100
    ack_timeout_ms: 5000
    slow_consumer_threshold_ms: 1000
  metrics:
    enabled: true
    track_ttft: true
    track_throughput: true
    track_cancellations: true
    export_interval_ms: 10000
streaming:
  phase4:
    adaptive_governor:
      enabled: false
      target_ttft_ms: 550
      max_concurrent: 80
      min_concurrent: 16
      pid: {kp: 0.35, ki: 0.08, kd: 0.15, integral_saturation: 200, sample_interval_ms: 200}
      cleanup: {sweep_interval_ms: 100, max_stale_lifetime_ms: 500}
      tenant_budgets:
        default: {tenant_id: default, hard_limit: 20, burst_limit: 32, decay_ms: 60000}
batch_queue:
  enabled: true
  max_batch_size: 20
  flush_interval_ms: 2
  adaptive_sizing: true
  target_batch_time_ms: 10
  priority_queue: true
generate_batcher:
  enabled: true
  min_batch_size: 2
  max_batch_size: 16
  min_hold_ms: 0.75
  max_hold_ms: 3
  background_hold_extension_ms: 2
  target_batch_time_ms: 12
  pause_on_backpressure_ms: 20
continuous_batching:
  max_batch_size: 8
  batch_window_ms: 10.0
  adaptive_sizing: true
  target_gpu_utilization: 85
  min_batch_size: 1
request_deduplication: {enabled: true, ttl_ms: 1000, max_entries: 1000, max_payload_bytes: 10240}
prompt_cache:
  enabled: true
  max_entries: 10000
  max_total_tokens: 1000000
  max_total_bytes: 104857600
  ttl_ms: 300000
  cleanup_interval_ms: 60000
  persistence: {enabled: false, path: .cache/prompts, save_interval_ms: 300000}
request_coalescing: {enabled: true, max_subscribers: 100, timeout_ms: 5000}
model:
  default_context_length: 8192
  default_max_tokens: 512
  max_loaded_models: 5
  supported_dtypes: [float16, bfloat16, float32]
  default_quantization: none
  default_dtype: unknown
  trusted_model_directories: [/srv/models]
  max_generation_tokens: 4096
  max_temperature: 2.0
  memory_cache:
    enabled: true
    max_cached_models: 5
    eviction_strategy: lru
    warmup_on_start: []
    track_stats: true
cache:
  enabled: true
  cache_dir: .mlx-serving-cache
  max_size_bytes: 107374182400
  max_age_days: 30
  eviction_policy: lru
  preload_models: []
  validate_on_startup: true
  enable_compression: false
model_preload:
  enabled: true
  parallel: false
  max_parallel: 2
  fail_fast: false
  models:
    - model_id: mlx-community/Llama-3.2-3B-Instruct-4bit
      warmup_requests: 3
      max_tokens: 10
      warmup_prompts: [Hello, "What is 2+2?", Tell me a joke]
generation_warmup:
  enabled: true
  request_count: 0
  max_tokens: 16
  temperature: 0.2
  top_p: 0.95
  timeout_ms: 1500
  prompts: [Hi]
  model_overrides: [{match: llama, request_count: 1, max_tokens: 8, temperature: 0.1, prompts: [Hi]}]
outlines:
  max_schema_size_bytes: 32768
mlx:
  concurrency_limit: 1
  force_metal_sync: true
telemetry:
  enabled: false
  service_name: mlx-serving
  prometheus_port: 9464
  export_interval_ms: 60000
  sampling_rate: 1.0
development:
  verbose: true
  debug: false
  log_ipc: false
  enable_profiling: false
metal_optimizations:
  enabled: true
  memory_pool: {enabled: false, heap_size_mb: 256, num_heaps: 4, warmup_sizes: [32, 64, 128], track_statistics: true, log_exhaustion: true}
  blit_queue: {enabled: false, use_shared_events: true, staging_buffer_size_mb: 64, max_concurrent_ops: 8, verbose_logging: false, track_metrics: true}
  command_buffer_ring: {enabled: false, ring_size: 3, timeout_ms: 0, log_wait_events: false, track_statistics: true}
  graceful_fallback: true
  fallback_log_level: warn
cpu_optimizations:
  enabled: true
  parallel_tokenizer: {enabled: false, num_threads: 8, use_accelerate: true, batch_mode: true, thread_pool_size: 8, track_statistics: true, log_operations: false}
kv_cache_pool: {enabled: false, max_size: 100, ttl_seconds: 300.0, enable_prefix_sharing: true, prefix_length_ratio: 0.6, enable_statistics: true, log_operations: false}
advanced_optimizations:
  enabled: true
  weight_management: {enabled: true, pin_critical_weights: true, pin_all_weights: false, prefetch_enabled: true, prefetch_threads: 2, warmup_on_load: true, warmup_buffer_mb: 512, use_mmap: true, critical_layers: 3}
  multi_model: {enabled: false, max_cached_models: 3, eviction_strategy: lru, memory_threshold_gb: 16, enable_pinning: true, preload_on_startup: [], preload_parallel: 2}
  priority_scheduling:
    enabled: false
    max_queue_size: 1000
    max_concurrent: 10
    enable_metrics: true
    policy: {shortest_job_first: true, fairness_weight: 0.1, aging_enabled: true, aging_interval_ms: 5000, aging_boost: 1}
    sla: {high_target_ms: 50, high_max_ms: 100, normal_target_ms: 200, normal_max_ms: 500, low_target_ms: 1000, low_max_ms: 2000}
  horizontal_scaling:
    enabled: false
    load_balancer:
      strategy: least_loaded
      health_check_interval_ms: 10000
      unhealthy_threshold: 3
      circuit_breaker: {failure_threshold: 5, timeout_ms: 30000, half_open_requests: 3}
    distributed_cache: {enabled: false, redis_url: "redis://localhost:6379", default_ttl_ms: 300000, compression_threshold: 10240, local_fallback: true}
    instance_registry: {auto_scaling: false, scale_up_threshold: 0.8, scale_down_threshold: 0.3, min_instances: 1, max_instances: 10, prometheus_enabled: false}
runtime_router: {enabled: false, worker_count: 3, routing_strategy: round-robin, health_check_interval_ms: 5000, worker_restart_delay_ms: 1000, sticky_session_enabled: true, sticky_session_ttl_ms: 300000}
python_runtime_manager: {enabled: false, worker_count: 3, heartbeat_interval_ms: 5000, heartbeat_timeout_ms: 10000}
adaptive_batch_coordinator: {enabled: false, python_rpc_method: adaptive_batch.update_metrics, update_interval_ms: 1000, default_batch_size: 4, min_batch_size: 2, max_batch_size: 16, rpc_timeout_ms: 100}
retry_policy: {enabled: false, max_attempts: 3, initial_delay_ms: 100, max_delay_ms: 5000, backoff_multiplier: 2.0, jitter: 0.25, retryable_errors: [TIMEOUT, ECONNRESET, EPIPE, WORKER_RESTART]}
circuit_breaker: {enabled: false, failure_threshold: 5, recovery_timeout_ms: 10000, half_open_max_calls: 1, half_open_success_threshold: 2, failure_window_ms: 60000}
connection_pool: {enabled: false, min_connections: 2, max_connections: 10, acquire_timeout_ms: 5000, idle_timeout_ms: 60000, health_check_interval_ms: 30000, warmup_on_start: true}
streaming_controller: {enabled: false, chunk_size_bytes: 65536, chunk_timeout_ms: 100, max_unacked_chunks: 100, ack_timeout_ms: 5000, slow_consumer_threshold_ms: 1000, metrics_export_interval_ms: 10000}
model_lifecycle_manager: {enabled: false, idle_timeout_ms: 300000, max_loaded_models: 5, prefetch_enabled: true, prefetch_min_confidence: 0.7, warmups_on_startup: [], pinned_models: [], drain_timeout_ms: 30000}
rolling_restart_coordinator: {enabled: false, drain_timeout_ms: 30000, min_active_workers: 1, preflight_check_enabled: true, preflight_timeout_ms: 5000, request_replay_enabled: true, max_replay_attempts: 1, watchdog_interval_ms: 5000}
transport:
  http2: {enabled: false, max_sessions: 16, max_streams_per_session: 100, ping_interval_ms: 15000, connect_timeout_ms: 200, tls: {ca_file: ca.pem, cert_file: cert.pem, key_file: key.pem, reject_unauthorized: true}}
  websocket: {enabled: false, max_connections: 200, max_frame_size_bytes: 1048576, idle_timeout_ms: 600000, heartbeat_interval_ms: 30000}
  sse_writer: {chunk_pool: {max_pool_size: 1000, chunk_size: 65536}, backpressure_threshold: 1048576, max_buffered_chunks: 100}
ttft_accelerator:
  enabled: false
  warm_queue: {max_size: 100, ttl_ms: 800, priority_by_tokens: true}
  speculation: {enabled: false, allowlist_only: true, max_candidates: 1000, min_confidence: 0.85, decay_factor: 0.8}
  kv_prep: {enabled: false, prefetch_enabled: true, cache_warmup_ms: 50}
qos_monitor:
  enabled: false
  evaluator: {enabled: false, evaluation_interval_ms: 5000, window_ms: 60000, tdigest_compression: 100}
  executor: {enabled: false, cooldown_ms: 60000, max_executions_per_window: 5, execution_window_ms: 300000, loop_detection_window: 6}
  policy_store:
    policies:
      - {id: default_ttft_policy, metric: ttft, percentile: 95, threshold_ms: 550, action: scale_up, governor_delta: 5}
      - {id: error_rate_policy, metric: error_rate, threshold: 0.01, action: alert}
production_infrastructure:
  enabled: false
  canary_deployment:
    enabled: false
    initial_stage: "off"
    auto_advance: false
    router: {enabled: true, rollout_percentage: 0.0, strategy: hash, hash_key: user_id}
    health_check: {enabled: true, interval_seconds: 30, window_size_seconds: 60}
    rollback: {enabled: true, error_rate_threshold: 2.0, latency_threshold_p95: 1.5, cooldown_minutes: 5}
  ab_testing: {enabled: false, min_sample_size: 30, confidence_level: 0.95, warmup_runs: 3, timeout_ms: 30000}
  regression_detection:
    enabled: false
    monitoring: {enabled: true, window_size_seconds: 60, check_interval_seconds: 30}
    thresholds: {throughput_drop_percent: 5.0, ttft_increase_percent: 10.0, error_rate_percent: 1.0, p99_latency_increase_percent: 20.0}
    alerting: {enabled: true, channels: [], slack_webhook_url: "", pagerduty_integration_key: "", generic_webhook_url: ""}
    rollback: {auto_rollback: true}
model_concurrency_limiter:
  enabled: false
environments:
  production:
    python_runtime: {startup_timeout_ms: 60000, max_restarts: 5}
    stream_registry: {max_active_streams: 50}
  development:
    python_runtime: {startup_timeout_ms: 15000}
  test:
    python_runtime: {startup_timeout_ms: 15000, max_restarts: 1}
    json_rpc: {default_timeout_ms: 30000}
    stream_registry: {default_timeout_ms: 30000}
)";

// The leaves of a document as dotted paths (what the report must cover).
void leaves(const Json& node, const std::string& prefix, std::set<std::string>& out) {
  for (const auto& [key, value] : node.items()) {
    const std::string path = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object() && !value.empty()) {
      leaves(value, path, out);
    } else {
      out.insert(path);
    }
  }
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = mlxs::testing::temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(ConfigMigrate, EveryKeyOfTheOriginalGetsAVerdictAndTheResultValidates) {
  auto m = migrate_original_config(kEveryKey, "runtime.yaml");
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_TRUE(m->errors.empty()) << m->errors.front();

  // One entry per key of the input; none unknown; every drop says why.
  std::set<std::string> expected;
  auto doc = yaml_to_json(kEveryKey, "runtime.yaml");
  ASSERT_TRUE(doc.is_ok());
  leaves(*doc, "", expected);
  std::map<std::string, const MigrationEntry*> by_key;
  for (const auto& e : m->entries) {
    EXPECT_TRUE(by_key.emplace(e.key, &e).second) << "twice: " << e.key;
    EXPECT_FALSE(e.note.empty()) << e.key;
    EXPECT_EQ(e.note.find("not a key of the original"), std::string::npos) << e.key;
  }
  for (const auto& k : expected) EXPECT_TRUE(by_key.count(k)) << "no verdict for " << k;
  EXPECT_EQ(by_key.size(), expected.size());

  auto action = [&](const std::string& key) {
    const auto it = by_key.find(key);
    return it == by_key.end() ? std::string("absent")
                              : std::string(migration_action_name(it->second->action));
  };
  EXPECT_EQ(action("json_rpc.default_timeout_ms"), "honoured");
  EXPECT_EQ(action("python_runtime.restart_delay_base_ms"), "mapped");
  EXPECT_EQ(action("stream_registry.max_active_streams"), "mapped");
  EXPECT_EQ(action("metal_optimizations.memory_pool.heap_size_mb"), "dropped");
  EXPECT_EQ(action("environments.test.json_rpc.default_timeout_ms"), "honoured");
  EXPECT_EQ(action("environments.production.python_runtime.max_restarts"), "dropped");
  EXPECT_EQ(action("telemetry.service_name"), "mapped");
  EXPECT_EQ(action("telemetry.sampling_rate"), "mapped");
  EXPECT_EQ(action("telemetry.enabled"), "dropped") << "the original never exported traces";

  // The keys with an effect, where they act.
  const Json& c = m->config;
  EXPECT_EQ(c["json_rpc"]["default_timeout_ms"], 120000);
  EXPECT_EQ(c["json_rpc"]["max_line_buffer_size"], 65536);
  EXPECT_EQ(c["json_rpc"]["circuit_breaker"]["failure_threshold"], 7);
  EXPECT_FALSE(c["json_rpc"].contains("retry"));
  EXPECT_EQ(c["python_runtime"]["startup_timeout_ms"], 30000);
  EXPECT_FALSE(c["python_runtime"].contains("python_path"));
  EXPECT_EQ(c["supervisor"]["restart_backoff"]["initial_ms"], 1500);
  EXPECT_EQ(c["server"]["max_concurrent_streams"], 10);
  EXPECT_EQ(c["workers"]["extra_args"],
            Json::array({"--no-ipc-batching", "--max-tokens-per-batch", "24"}));
  EXPECT_EQ(c["model"]["trusted_model_directories"], Json::array({"/srv/models"}));
  EXPECT_EQ(c["logging"]["level"], "debug");
  EXPECT_EQ(c["environments"]["production"]["server"]["max_concurrent_streams"], 50);
  EXPECT_FALSE(c.contains("metal_optimizations"));
  EXPECT_FALSE(c.contains("batch_queue"));
  EXPECT_EQ(c["tracing"]["service_name"], "mlx-serving");
  EXPECT_EQ(c["tracing"]["sample_ratio"], 1.0);
  EXPECT_FALSE(c["tracing"].contains("endpoint")) << "no collector is implied";

  // Written out, it loads as our configuration with no error and no warning
  // (what `config validate` checks), environments included.
  const std::string path = write_file("migrated.yaml", migration_yaml(*m, "runtime.yaml"));
  for (const char* env : {"development", "production", "test"}) {
    ConfigInputs in;
    in.file = path;
    in.environment = {{"MLXS_ENV", env}};
    const ConfigReport r = load_config(in);
    EXPECT_TRUE(r.ok()) << env << ": " << r.status().to_string();
    EXPECT_TRUE(r.warnings.empty()) << env << ": " << r.warnings.front().to_string();
    if (std::string(env) == "production") {
      EXPECT_EQ(r.effective["python_runtime"]["startup_timeout_ms"], 60000);
      EXPECT_EQ(r.effective["server"]["max_concurrent_streams"], 50);
    }
    if (std::string(env) == "test") {
      EXPECT_EQ(r.effective["json_rpc"]["default_timeout_ms"], 30000);
    }
  }

  const std::string report = migration_report(*m);
  EXPECT_NE(report.find("mapped   python_runtime.restart_delay_base_ms \u2192 "
                        "supervisor.restart_backoff.initial_ms"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("dropped  batch_queue.enabled: "), std::string::npos);
}

TEST(ConfigMigrate, UnknownKeysAreDroppedAndOutOfBoundsValuesAreReported) {
  auto m = migrate_original_config(
      "json_rpc:\n  default_timout_ms: 5\n  max_line_buffer_size: 10\n", "old.yaml");
  ASSERT_TRUE(m.is_ok());
  ASSERT_EQ(m->entries.size(), 2u);
  EXPECT_EQ(m->entries[0].key, "json_rpc.default_timout_ms");
  EXPECT_EQ(m->entries[0].action, MigrationAction::kDropped);
  EXPECT_NE(m->entries[0].note.find("not a key"), std::string::npos);
  ASSERT_EQ(m->errors.size(), 1u);
  EXPECT_NE(m->errors[0].find("json_rpc.max_line_buffer_size"), std::string::npos) << m->errors[0];

  // An empty file migrates to an empty (all defaults) configuration.
  m = migrate_original_config("", "empty.yaml");
  ASSERT_TRUE(m.is_ok());
  EXPECT_TRUE(m->entries.empty());
  EXPECT_NE(migration_yaml(*m, "empty.yaml").find("{}"), std::string::npos);
}

TEST(ConfigMigrate, MalformedTruncatedAndHostileYamlGiveCodedErrors) {
  const std::string truncated(kEveryKey.substr(0, kEveryKey.size() / 3));
  std::string deep;
  for (int i = 0; i < 200; ++i) deep += std::string(static_cast<std::size_t>(i) * 2, ' ') + "k:\n";
  std::string nested_flow(3000, '[');
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c) {
    bomb += fmt::format("{}: &{} [*{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}, *{}]\n", c, c, c - 1,
                        c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
  }
  const std::vector<std::string> bad = {
      "json_rpc: [unclosed\n",
      "json_rpc:\n  default_timeout_ms: 1\n bad indent: 2\n",
      "- a list\n- not a mapping\n",
      "just a scalar\n",
      "\t: tab\n",
      deep,
      nested_flow,
      bomb,
      std::string("json_rpc:\n  a: \"\xff\xfe\"\n"),
      std::string("a: 1\0b: 2", 9),
  };
  for (const auto& text : bad) {
    auto m = migrate_original_config(text, "hostile.yaml");
    if (m.is_ok()) {
      // Some of these are valid YAML; then every key still has a verdict.
      EXPECT_FALSE(m->entries.empty()) << text.substr(0, 40);
      continue;
    }
    EXPECT_EQ(m.status().code(), core::ErrorCode::kConfigError) << text.substr(0, 40);
    EXPECT_NE(m.status().message().find("hostile.yaml"), std::string::npos) << m.status().message();
  }
  // The truncated file parses or fails with a code, never crashes.
  auto t = migrate_original_config(truncated, "truncated.yaml");
  if (!t.is_ok()) {
    EXPECT_EQ(t.status().code(), core::ErrorCode::kConfigError);
  }
}

}  // namespace
}  // namespace mlxs::control
