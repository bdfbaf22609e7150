// Configuration: defaults, the shipped file, layering (file, environment,
// flags) with sources, environments blocks, every error with path, code and
// sentence, did-you-mean for unknown keys, warnings for the original's
// sections without meaning here, and the options the control plane takes.
#include "control/config.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "control/config_schema.h"
#include "control/control_plane.h"
#include "testing/fixtures.h"

namespace mlxs::control {
namespace {

using core::Json;

std::string write_yaml(const std::string& name, const std::string& text) {
  const std::string path = mlxs::testing::temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

const ConfigIssue* find_issue(const std::vector<ConfigIssue>& issues, const std::string& path) {
  for (const auto& i : issues) {
    if (i.path == path) return &i;
  }
  return nullptr;
}

TEST(Config, SchemaCompilesAndDefaultsAreValid) {
  ASSERT_TRUE(config_schema().is_ok()) << config_schema().status().to_string();
  const ConfigReport r = load_config({});
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.effective["json_rpc"]["default_timeout_ms"], 300000);
  EXPECT_EQ(r.effective["json_rpc"]["circuit_breaker"]["failure_threshold"], 5);
  EXPECT_EQ(r.effective["workers"]["count"], 1);
  EXPECT_TRUE(r.effective["model"]["trusted_model_directories"].is_null());
}

TEST(Config, ShippedFileIsValidAndEqualsTheDefaults) {
  const char* src = std::getenv("MLXS_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  ConfigInputs in;
  in.file = std::string(src) + "/config/runtime.yaml";
  const ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_EQ(r.effective, load_config({}).effective) << "the file states the defaults";
}

TEST(Config, LayersMergeInOrderAndNameTheirSource) {
  ConfigInputs in;
  in.file = write_yaml("layers.yaml",
                       "json_rpc:\n  default_timeout_ms: 1000\n  max_pending_requests: 7\n"
                       "supervisor:\n  heartbeat_interval_ms: 50\n");
  in.environment = {{"MLXS_JSON_RPC__DEFAULT_TIMEOUT_MS", "2000"},
                    {"MLXS_SUPERVISOR__RESTART_BACKOFF__MAX_MS", "777"},
                    {"MLXS_BINARY", "/not/an/override"},
                    {"PATH", "/usr/bin"}};
  in.sets = {"json_rpc.default_timeout_ms=3000", "workers.model_dirs=[/a, /b]"};
  const ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r.effective["json_rpc"]["default_timeout_ms"], 3000) << "flags win";
  EXPECT_EQ(r.effective["json_rpc"]["max_pending_requests"], 7) << "file kept";
  EXPECT_EQ(r.effective["supervisor"]["restart_backoff"]["max_ms"], 777) << "env applied";
  EXPECT_EQ(r.effective["supervisor"]["restart_backoff"]["initial_ms"], 100) << "defaults kept";
  EXPECT_EQ(r.effective["workers"]["model_dirs"], Json::array({"/a", "/b"}));
  EXPECT_FALSE(r.effective.contains("binary"));

  const ControlConfig cc = control_config(r.effective);
  EXPECT_EQ(cc.supervisor.request_timeout_ns, 3000 * kMillis);
  EXPECT_EQ(cc.supervisor.heartbeat_interval_ns, 50 * kMillis);
  EXPECT_EQ(cc.supervisor.backoff_max_ns, 777 * kMillis);
  EXPECT_EQ(cc.supervisor.client.max_pending, 7u);
  const std::vector<std::string> want = {"--kv-memory-mb",
                                         "1024",
                                         "--model-dir",
                                         "/a",
                                         "--model-dir",
                                         "/b",
                                         "--image-max-mb",
                                         "10",
                                         "--image-url-timeout-ms",
                                         "10000"};
  EXPECT_EQ(cc.worker_args, want);

  // A GPU memory share reaches the workers; out of range is a ConfigError.
  ConfigInputs gpu = in;
  gpu.sets.push_back("workers.gpu_memory_fraction=0.85");
  const ConfigReport g = load_config(gpu);
  ASSERT_TRUE(g.ok()) << g.status().to_string();
  const auto& args = control_config(g.effective).worker_args;
  const auto at = std::find(args.begin(), args.end(), "--gpu-memory-fraction");
  ASSERT_NE(at, args.end());
  EXPECT_EQ(*(at + 1), "0.85");
  gpu.sets.back() = "workers.gpu_memory_fraction=1.5";
  EXPECT_FALSE(load_config(gpu).ok());
}

// workers.tensor_parallel reaches each worker as --tensor-parallel (not at
// its default of 1); 0 or more than 64 ranks is a ConfigError naming the key.
TEST(Config, TensorParallelReachesTheWorkersAndBadCountsAreRefused) {
  const ControlConfig defaults = control_config(load_config({}).effective);
  EXPECT_EQ(defaults.tensor_parallel, 1);
  EXPECT_EQ(
      std::find(defaults.worker_args.begin(), defaults.worker_args.end(), "--tensor-parallel"),
      defaults.worker_args.end());
  ConfigInputs in;
  in.sets = {"workers.tensor_parallel=2"};
  const ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ControlConfig cc = control_config(r.effective);
  EXPECT_EQ(cc.tensor_parallel, 2);
  const auto at = std::find(cc.worker_args.begin(), cc.worker_args.end(), "--tensor-parallel");
  ASSERT_NE(at, cc.worker_args.end());
  EXPECT_EQ(*(at + 1), "2");
  for (const char* bad : {"workers.tensor_parallel=0", "workers.tensor_parallel=-2",
                          "workers.tensor_parallel=65", "workers.tensor_parallel=two"}) {
    ConfigInputs b;
    b.sets = {bad};
    const ConfigReport rb = load_config(b);
    EXPECT_FALSE(rb.ok()) << bad;
    EXPECT_EQ(rb.status().code(), core::ErrorCode::kConfigError) << bad;
    EXPECT_NE(rb.status().message().find("tensor_parallel"), std::string::npos)
        << rb.status().message();
  }
}

// workers.max_running_streams reaches process workers as
// --max-running-streams (not at its default) and is bounded.
TEST(Config, MaxRunningStreamsReachesTheWorkersAndIsBounded) {
  const ControlConfig defaults = control_config(load_config({}).effective);
  EXPECT_EQ(
      std::find(defaults.worker_args.begin(), defaults.worker_args.end(), "--max-running-streams"),
      defaults.worker_args.end());
  ConfigInputs in;
  in.sets = {"workers.max_running_streams=256"};
  const ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ControlConfig cc = control_config(r.effective);
  const auto at = std::find(cc.worker_args.begin(), cc.worker_args.end(), "--max-running-streams");
  ASSERT_NE(at, cc.worker_args.end());
  EXPECT_EQ(*(at + 1), "256");
  for (const char* bad : {"workers.max_running_streams=0", "workers.max_running_streams=1025",
                          "workers.max_running_streams=many"}) {
    ConfigInputs b;
    b.sets = {bad};
    const ConfigReport rb = load_config(b);
    EXPECT_FALSE(rb.ok()) << bad;
    EXPECT_EQ(rb.status().code(), core::ErrorCode::kConfigError) << bad;
    EXPECT_NE(rb.status().message().find("max_running_streams"), std::string::npos)
        << rb.status().message();
  }
}

// workers.max_batch_tokens reaches process workers as --max-batch-tokens
// (not at 0, where each worker picks by its backend) and is 0 or 16..65536,
// from --set and from a file alike.
TEST(Config, MaxBatchTokensReachesTheWorkersAndIsBounded) {
  const ConfigReport defaults = load_config({});
  EXPECT_EQ(defaults.effective["workers"]["max_batch_tokens"], 0) << "auto by default";
  const ControlConfig dc = control_config(defaults.effective);
  EXPECT_EQ(std::find(dc.worker_args.begin(), dc.worker_args.end(), "--max-batch-tokens"),
            dc.worker_args.end());
  for (const char* good : {"16", "2048", "65536"}) {
    ConfigInputs in;
    in.sets = {std::string("workers.max_batch_tokens=") + good};
    const ConfigReport r = load_config(in);
    ASSERT_TRUE(r.ok()) << good << ": " << r.status().to_string();
    const ControlConfig cc = control_config(r.effective);
    const auto at = std::find(cc.worker_args.begin(), cc.worker_args.end(), "--max-batch-tokens");
    ASSERT_NE(at, cc.worker_args.end()) << good;
    EXPECT_EQ(*(at + 1), good);
  }
  ConfigInputs zero;
  zero.sets = {"workers.max_batch_tokens=0"};
  EXPECT_TRUE(load_config(zero).ok()) << "0 asks for the backend's default";
  for (const char* bad : {"workers.max_batch_tokens=15", "workers.max_batch_tokens=1",
                          "workers.max_batch_tokens=-1", "workers.max_batch_tokens=65537",
                          "workers.max_batch_tokens=many", "workers.max_batch_tokens=512.5"}) {
    ConfigInputs b;
    b.sets = {bad};
    const ConfigReport rb = load_config(b);
    EXPECT_FALSE(rb.ok()) << bad;
    EXPECT_EQ(rb.status().code(), core::ErrorCode::kConfigError) << bad;
    EXPECT_NE(rb.status().message().find("workers.max_batch_tokens"), std::string::npos)
        << rb.status().message();
  }
  // In a file: a string is a type error naming the key and its source.
  ConfigInputs file;
  file.file = write_yaml("batch-tokens.yaml", "workers:\n  max_batch_tokens: lots\n");
  const ConfigReport rf = load_config(file);
  ASSERT_FALSE(rf.ok());
  const ConfigIssue* issue = find_issue(rf.errors, "workers.max_batch_tokens");
  ASSERT_NE(issue, nullptr) << rf.status().to_string();
  EXPECT_EQ(issue->code, "type");
  EXPECT_EQ(issue->source, "file");
  file.file = write_yaml("batch-tokens-ok.yaml", "workers:\n  max_batch_tokens: 4096\n");
  const ConfigReport ok = load_config(file);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok.effective["workers"]["max_batch_tokens"], 4096);
}

// workers.kv_cache_dtype reaches process workers as --kv-cache-dtype (not
// at auto, where each worker picks by its backend), the alias fp8_e4m3
// passed as written; any other name or a non-string is a ConfigError
// naming the key, from --set and from a file alike.
TEST(Config, KvCacheDtypeReachesTheWorkersAndIsChecked) {
  const ConfigReport defaults = load_config({});
  EXPECT_EQ(defaults.effective["workers"]["kv_cache_dtype"], "auto");
  const ControlConfig dc = control_config(defaults.effective);
  EXPECT_EQ(std::find(dc.worker_args.begin(), dc.worker_args.end(), "--kv-cache-dtype"),
            dc.worker_args.end());
  for (const char* good : {"bf16", "fp8", "fp8_e4m3", "f32"}) {
    ConfigInputs in;
    in.sets = {std::string("workers.kv_cache_dtype=") + good};
    const ConfigReport r = load_config(in);
    ASSERT_TRUE(r.ok()) << good << ": " << r.status().to_string();
    const ControlConfig cc = control_config(r.effective);
    const auto at = std::find(cc.worker_args.begin(), cc.worker_args.end(), "--kv-cache-dtype");
    ASSERT_NE(at, cc.worker_args.end()) << good;
    EXPECT_EQ(*(at + 1), good);
  }
  ConfigInputs automatic;
  automatic.sets = {"workers.kv_cache_dtype=auto"};
  EXPECT_TRUE(load_config(automatic).ok());
  for (const char* bad :
       {"workers.kv_cache_dtype=fp16", "workers.kv_cache_dtype=FP8", "workers.kv_cache_dtype=e4m3",
        "workers.kv_cache_dtype=''", "workers.kv_cache_dtype=8", "workers.kv_cache_dtype=[bf16]"}) {
    ConfigInputs b;
    b.sets = {bad};
    const ConfigReport rb = load_config(b);
    EXPECT_FALSE(rb.ok()) << bad;
    EXPECT_EQ(rb.status().code(), core::ErrorCode::kConfigError) << bad;
    EXPECT_NE(rb.status().message().find("workers.kv_cache_dtype"), std::string::npos)
        << rb.status().message();
  }
  // In a file: a number is a type error naming the key and its source.
  ConfigInputs file;
  file.file = write_yaml("kv-dtype.yaml", "workers:\n  kv_cache_dtype: 8\n");
  const ConfigReport rf = load_config(file);
  ASSERT_FALSE(rf.ok());
  const ConfigIssue* issue = find_issue(rf.errors, "workers.kv_cache_dtype");
  ASSERT_NE(issue, nullptr) << rf.status().to_string();
  EXPECT_EQ(issue->code, "type");
  EXPECT_EQ(issue->source, "file");
  file.file = write_yaml("kv-dtype-name.yaml", "workers:\n  kv_cache_dtype: int8\n");
  const ConfigReport rn = load_config(file);
  ASSERT_FALSE(rn.ok());
  ASSERT_NE(find_issue(rn.errors, "workers.kv_cache_dtype"), nullptr) << rn.status().to_string();
  file.file = write_yaml("kv-dtype-ok.yaml", "workers:\n  kv_cache_dtype: fp8\n");
  const ConfigReport ok = load_config(file);
  ASSERT_TRUE(ok.ok()) << ok.status().to_string();
  EXPECT_EQ(ok.effective["workers"]["kv_cache_dtype"], "fp8");
}

TEST(Config, ImageSourcesReachTheWorkersAndBadHostsAreRefused) {
  ConfigInputs in;
  in.sets = {"images.max_mb=4", "images.local_roots=[/srv/img]",
             "images.url_allow=[cdn.example.com, '*.images.example.org']",
             "images.url_timeout_ms=2500", "images.url_ca_file=/etc/private-ca.pem"};
  const ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const auto& args = control_config(r.effective).worker_args;
  const std::vector<std::string> tail(args.end() - 12, args.end());
  const std::vector<std::string> want = {"--image-max-mb",         "4",
                                         "--image-url-timeout-ms", "2500",
                                         "--image-root",           "/srv/img",
                                         "--image-url-allow",      "cdn.example.com",
                                         "--image-url-allow",      "*.images.example.org",
                                         "--image-ca-file",        "/etc/private-ca.pem"};
  EXPECT_EQ(tail, want);
  for (const char* bad : {"images.url_allow=[http://cdn.example.com]", "images.url_allow=['*']",
                          "images.url_allow=[a.com/path]", "images.url_allow=['a.com:8080']",
                          "images.max_mb=0", "images.url_timeout_ms=5", "images.colour=1"}) {
    ConfigInputs b;
    b.sets = {bad};
    const ConfigReport rb = load_config(b);
    EXPECT_FALSE(rb.ok()) << bad;
    EXPECT_EQ(rb.status().code(), core::ErrorCode::kConfigError) << bad;
  }
}

TEST(Config, WorkersBackendDevicesQuantizationAndLogLevel) {
  const ControlConfig defaults = control_config(load_config({}).effective);
  EXPECT_EQ(defaults.backend, "cpu");
  EXPECT_TRUE(defaults.default_quantization.empty()) << "none: as stored";
  EXPECT_EQ(defaults.log_level, "info");
  EXPECT_EQ(worker_device(defaults, 3), 0);
  const auto argv0 = configured_worker_argv(defaults, 0);
  EXPECT_EQ(std::vector<std::string>(argv0.begin() + 1, argv0.begin() + 6),
            std::vector<std::string>({"--log-level", "info", "--log-format", "auto", "runtime"}));
  EXPECT_EQ(std::vector<std::string>(argv0.end() - 2, argv0.end()),
            std::vector<std::string>({"--backend", "cpu"}));

  ConfigInputs in;
  in.sets = {"workers.count=3",
             "workers.backend=cuda",
             "workers.devices=[2, 5]",
             "model.default_quantization=int4",
             "logging.level=debug",
             "logging.format=text",
             "logging.modules={runtime: warn}"};
  const ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ControlConfig cc = control_config(r.effective);
  EXPECT_EQ(cc.backend, "cuda");
  EXPECT_EQ(cc.default_quantization, "int4");
  EXPECT_EQ(cc.log_level, "debug");
  EXPECT_EQ(worker_device(cc, 0), 2);
  EXPECT_EQ(worker_device(cc, 1), 5);
  EXPECT_EQ(worker_device(cc, 2), 2) << "round robin over the list";
  const auto argv = configured_worker_argv(cc, 1);
  EXPECT_EQ(std::vector<std::string>(argv.end() - 4, argv.end()),
            std::vector<std::string>({"--backend", "cuda", "--device", "5"}));
  EXPECT_EQ(std::vector<std::string>(argv.begin() + 1, argv.begin() + 8),
            std::vector<std::string>({"--log-level", "debug", "--log-format", "text",
                                      "--log-module", "runtime=warn", "runtime"}));

  // Values the workers cannot take are errors before anything starts.
  for (const char* bad : {"workers.backend=tpu", "workers.devices=[-1]", "workers.devices=[64]",
                          "model.default_quantization=int3", "logging.format=xml",
                          "logging.modules={runtime: loud}", "logging.modules={Run-Time: info}"}) {
    ConfigInputs b;
    b.sets = {bad};
    EXPECT_FALSE(load_config(b).ok()) << bad;
  }
}

TEST(Config, TracingSectionReachesTheWorkersArgv) {
  const ControlConfig defaults = control_config(load_config({}).effective);
  EXPECT_TRUE(defaults.tracing.endpoint.empty()) << "null: off";
  EXPECT_TRUE(tracing_worker_args(defaults.tracing).empty());
  for (const auto& arg : configured_worker_argv(defaults, 0)) EXPECT_NE(arg, "--otlp-endpoint");

  ConfigInputs in;
  in.sets = {"tracing.endpoint=http://collector:4318",
             "tracing.service_name=edge",
             "tracing.sample_ratio=0.25",
             "tracing.batch_size=64",
             "tracing.queue_limit=100",
             "tracing.export_timeout_ms=250"};
  const ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const ControlConfig cc = control_config(r.effective);
  EXPECT_EQ(cc.tracing.endpoint, "http://collector:4318");
  EXPECT_EQ(cc.tracing.sample_ratio, 0.25);
  const std::vector<std::string> want = {"--otlp-endpoint",          "http://collector:4318",
                                         "--otlp-service-name",      "edge",
                                         "--otlp-sample-ratio",      "0.25",
                                         "--otlp-batch-size",        "64",
                                         "--otlp-queue-limit",       "100",
                                         "--otlp-export-timeout-ms", "250"};
  EXPECT_EQ(tracing_worker_args(cc.tracing), want);
  const auto argv = configured_worker_argv(cc, 0);
  EXPECT_NE(std::search(argv.begin(), argv.end(), want.begin(), want.end()), argv.end());

  for (const char* bad :
       {"tracing.endpoint=https://collector:4318", "tracing.endpoint=collector:4318",
        "tracing.endpoint=http://c:4318/v1?x=1", "tracing.sample_ratio=1.5",
        "tracing.sample_ratio=-0.1", "tracing.batch_size=0", "tracing.queue_limit=0",
        "tracing.export_timeout_ms=0", "tracing.service_name=", "tracing.sampling=1"}) {
    ConfigInputs b;
    b.sets = {bad};
    const ConfigReport bad_report = load_config(b);
    ASSERT_FALSE(bad_report.ok()) << bad;
    EXPECT_EQ(bad_report.status().code(), core::ErrorCode::kConfigError) << bad;
    EXPECT_EQ(bad_report.errors[0].path.rfind("tracing", 0), 0u) << bad_report.errors[0].path;
  }
}

TEST(Config, EveryErrorHasPathCodeSentenceAndSource) {
  ConfigInputs in;
  in.file = write_yaml("bad.yaml",
                       "json_rpc:\n  defualt_timeout_ms: 5\n  max_line_buffer_size: 10\n"
                       "  circuit_breaker:\n    failure_threshold: many\n"
                       "supervisr:\n  heartbeat_interval_ms: 5\n");
  in.environment = {{"MLXS_SUPERVISOR__HEARTBEAT_TIMEOUT_MS", "-1"}};
  const ConfigReport r = load_config(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), core::ErrorCode::kConfigError);

  const ConfigIssue* typo = find_issue(r.errors, "json_rpc.defualt_timeout_ms");
  ASSERT_NE(typo, nullptr) << r.status().to_string();
  EXPECT_EQ(typo->code, "unknown_key");
  EXPECT_NE(typo->message.find("did you mean 'default_timeout_ms'?"), std::string::npos)
      << typo->message;
  EXPECT_EQ(typo->source, "file");

  const ConfigIssue* section = find_issue(r.errors, "supervisr");
  ASSERT_NE(section, nullptr);
  EXPECT_NE(section->message.find("did you mean 'supervisor'?"), std::string::npos)
      << section->message;

  const ConfigIssue* small = find_issue(r.errors, "json_rpc.max_line_buffer_size");
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(small->code, "minimum");

  const ConfigIssue* type = find_issue(r.errors, "json_rpc.circuit_breaker.failure_threshold");
  ASSERT_NE(type, nullptr);
  EXPECT_EQ(type->code, "type");

  const ConfigIssue* env = find_issue(r.errors, "supervisor.heartbeat_timeout_ms");
  ASSERT_NE(env, nullptr);
  EXPECT_EQ(env->source, "MLXS_SUPERVISOR__HEARTBEAT_TIMEOUT_MS");
  EXPECT_EQ(r.errors.size(), 5u) << r.status().to_string();
  for (const auto& e : r.errors) {
    EXPECT_FALSE(e.message.empty());
    EXPECT_EQ(e.message.find('\n'), std::string::npos);
  }
}

TEST(Config, OriginalFileLoadsWithWarningsForSectionsWithoutMeaning) {
  ConfigInputs in;
  in.file = write_yaml(
      "original.yaml",
      "batch_queue:\n  enabled: true\n  max_batch_size: 20\n"
      "python_runtime:\n  python_path: .mlx-serving-venv/bin/python\n"
      "  runtime_path: python/runtime.py\n  max_restarts: 3\n"
      "  startup_timeout_ms: 30000\n"
      "json_rpc:\n  default_timeout_ms: 300000\n  max_line_buffer_size: 65536\n"
      "  retry:\n    max_attempts: 3\n    retryable_errors: [TIMEOUT, ECONNRESET]\n"
      "metal_optimizations:\n  enabled: true\n  memory_pool:\n    heap_size_mb: 256\n"
      "cpu_optimizations:\n  enabled: true\n"
      "stream_registry:\n  max_active_streams: 10\n"
      "environments:\n  development:\n    python_runtime:\n      startup_timeout_ms: 15000\n"
      "  production:\n    python_runtime:\n      startup_timeout_ms: 60000\n");
  ConfigReport r = load_config(in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r.effective["python_runtime"]["startup_timeout_ms"], 15000) << "development by default";
  EXPECT_FALSE(r.effective.contains("environments"));
  const ConfigIssue* metal = find_issue(r.warnings, "metal_optimizations");
  ASSERT_NE(metal, nullptr);
  EXPECT_EQ(metal->code, "ignored_section");
  EXPECT_NE(metal->message.find("Apple-specific"), std::string::npos);
  EXPECT_NE(find_issue(r.warnings, "cpu_optimizations"), nullptr);
  EXPECT_NE(find_issue(r.warnings, "batch_queue"), nullptr);
  EXPECT_NE(find_issue(r.warnings, "stream_registry"), nullptr);
  EXPECT_EQ(r.warnings.size(), 4u);

  in.environment = {{"MLXS_ENV", "production"}};
  r = load_config(in);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.effective["python_runtime"]["startup_timeout_ms"], 60000);
}

TEST(Config, BadYamlAndBadOverridesAreReported) {
  ConfigInputs in;
  in.file = write_yaml("broken.yaml", "json_rpc:\n  default_timeout_ms: [1,\n");
  ConfigReport r = load_config(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].code, "yaml");
  EXPECT_NE(r.errors[0].message.find("broken.yaml:"), std::string::npos) << r.errors[0].message;

  in.file = write_yaml("list.yaml", "- a\n- b\n");
  r = load_config(in);
  ASSERT_FALSE(r.ok());

  in.file.reset();
  in.sets = {"no_equals_sign", "json_rpc.default_timeout_ms.x=1"};
  r = load_config(in);
  ASSERT_EQ(r.errors.size(), 2u) << r.status().to_string();
  EXPECT_EQ(r.errors[0].code, "flag");
  EXPECT_EQ(r.errors[1].path, "json_rpc.default_timeout_ms");

  in.file = mlxs::testing::temp_dir() + "/missing.yaml";
  in.sets.clear();
  r = load_config(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.errors[0].code, "file");
}

TEST(Config, DidYouMean) {
  const std::vector<std::string> words = {"heartbeat_interval_ms", "heartbeat_timeout_ms",
                                          "load_timeout_ms"};
  EXPECT_EQ(did_you_mean("heartbeat_intervl_ms", words), "heartbeat_interval_ms");
  EXPECT_EQ(did_you_mean("load_timout_ms", words), "load_timeout_ms");
  EXPECT_FALSE(did_you_mean("colour", words).has_value());
}

}  // namespace
}  // namespace mlxs::control
