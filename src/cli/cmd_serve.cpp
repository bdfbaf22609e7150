// `mlx-serving serve`: the control plane (one supervised runtime worker, a
// child process or --in-process, or with --cluster the worker hosts of a
// NATS cluster) behind the OpenAI-compatible HTTP server.
// Loads every --model before listening, prints the address, and stops
// cleanly on SIGINT/SIGTERM.
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/in_process_worker.h"
#include "cli/log_flags.h"
#include "cli/serve_settings.h"
#include "cli/tracing_flags.h"
#include "control/config.h"
#include "control/control_plane.h"
#include "core/log.h"
#include "server/server.h"
#if MLXS_HAVE_NATS
#include "cluster/cluster_gateway.h"
#endif

namespace mlxs::cli {
namespace {

namespace fs = std::filesystem;

struct ServeArgs {
  std::vector<std::string> models;  // DIR or ID=DIR
  std::vector<std::string> roots;
  server::ServerOptions http;
  std::vector<std::string> api_keys;
  std::string config_file;
  std::vector<std::string> sets;  // --set section.key=value
  bool in_process = false;
  int threads = 0;
  int kv_memory_mb = 1024;
  double gpu_memory_fraction = 0;
  int tensor_parallel = 1;
  int max_running_streams = 64;
  int max_batch_tokens = 0;
  runtime::BackendChoice backend;
  std::string quantization;
  std::string otlp_endpoint;
  std::string cluster_file;
  const CLI::App* cmd = nullptr;  // to tell the flags given from defaults
};

struct ModelSpec {
  std::string id;
  std::string dir;
};

core::Result<ModelSpec> parse_model(const std::string& arg) {
  ModelSpec m;
  const auto eq = arg.find('=');
  m.dir = eq == std::string::npos ? arg : arg.substr(eq + 1);
  std::error_code ec;
  const fs::path dir = fs::absolute(m.dir, ec);
  if (ec || !fs::is_directory(dir, ec)) {
    return core::make_error(core::ErrorCode::kModelLoadError, "model directory not found: {}",
                            m.dir);
  }
  m.dir = dir.lexically_normal().string();
  m.id = eq == std::string::npos ? fs::path(m.dir).filename().string() : arg.substr(0, eq);
  if (m.id.empty()) m.id = "model";
  return m;
}

core::Status load(control::Gateway& gateway, const ModelSpec& m, const std::string& quantization) {
  std::promise<core::Result<core::Json>> done;
  core::Json params = {{"model_id", m.id}, {"local_path", m.dir}};
  if (!quantization.empty()) params["quantization"] = quantization;
  gateway.call("load_model", std::move(params),
               [&done](core::Result<core::Json> r) { done.set_value(std::move(r)); });
  auto result = done.get_future().get();
  if (!result.is_ok()) return result.status().with_context("model " + m.id);
  return {};
}

// Lays the flags given on the command line over the configuration (CLI11
// checked their ranges; the document's bounds are the same or wider).
void apply_flags(const ServeArgs& a, core::Json* c) {
  const auto given = [&a](const char* flag) { return a.cmd != nullptr && a.cmd->count(flag) > 0; };
  core::Json& server = (*c)["server"];
  if (given("--host")) server["host"] = a.http.host;
  if (given("--port")) server["port"] = a.http.port;
  if (given("--http-threads")) server["threads"] = a.http.threads;
  if (given("--api-key")) server["api_keys"] = a.api_keys;
  if (given("--model-root")) server["model_roots"] = a.roots;
  if (given("--max-body-bytes")) server["max_body_bytes"] = a.http.max_body_bytes;
  if (given("--max-concurrent-streams")) {
    server["max_concurrent_streams"] = a.http.max_concurrent_streams;
  }
  if (given("--header-timeout-ms")) server["header_timeout_ms"] = a.http.header_timeout_ms;
  core::Json& workers = (*c)["workers"];
  if (given("--threads")) workers["threads"] = a.threads;
  if (given("--kv-memory-mb")) workers["kv_memory_mb"] = a.kv_memory_mb;
  if (given("--gpu-memory-fraction")) workers["gpu_memory_fraction"] = a.gpu_memory_fraction;
  if (given("--tensor-parallel")) workers["tensor_parallel"] = a.tensor_parallel;
  if (given("--max-running-streams")) workers["max_running_streams"] = a.max_running_streams;
  if (given("--max-batch-tokens")) workers["max_batch_tokens"] = a.max_batch_tokens;
  if (given("--kv-cache-dtype")) {
    workers["kv_cache_dtype"] = runtime::kv_cache_dtype_name(a.backend.kv_cache_dtype);
  }
  if (a.in_process) workers["in_process"] = true;
  if (given("--backend")) workers["backend"] = a.backend.kind;
  if (given("--device")) workers["devices"] = core::Json::array({a.backend.device});
  if (given("--quantization")) (*c)["model"]["default_quantization"] = a.quantization;
  if (given("--otlp-endpoint")) {
    (*c)["tracing"]["endpoint"] =
        a.otlp_endpoint.empty() ? core::Json(nullptr) : core::Json(a.otlp_endpoint);
  }
}

// The configuration's logging section where no logging flag was given; the
// workers then get what this process uses (flags or configuration).
void apply_logging(control::ControlConfig* config) {
  const LogFlagsGiven given = log_flags_given();
  if (!given.level) {
    core::LogLevel level = core::LogLevel::kInfo;
    if (core::parse_log_level(config->log_level, &level)) core::set_log_level(level);
  } else {
    config->log_level = std::string(core::log_level_name(core::log_level()));
  }
  if (!given.format) {
    core::LogFormat format = core::LogFormat::kJson;
    if (core::parse_log_format(config->log_format, &format)) core::set_log_format(format);
  } else {
    config->log_format = core::log_format() == core::LogFormat::kText ? "text" : "json";
  }
  if (!given.modules) {
    std::vector<std::pair<std::string, core::LogLevel>> levels;
    for (const auto& [module, name] : config->log_modules) {
      core::LogLevel level = core::LogLevel::kInfo;
      if (core::parse_log_level(name, &level)) levels.emplace_back(module, level);
    }
    core::set_module_log_levels(std::move(levels));
  } else {
    config->log_modules.clear();
    for (const auto& [module, level] : core::module_log_levels()) {
      config->log_modules.emplace_back(module, std::string(core::log_level_name(level)));
    }
  }
}

int run_serve(ServeArgs& a) {
  std::vector<ModelSpec> models;
  for (const auto& arg : a.models) {
    auto m = parse_model(arg);
    if (!m) return report_error(std::string(m.status().code_name()), m.status().message());
    models.push_back(*m);
  }
  // Signals go to the thread that waits for them, none to the workers' threads.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The configuration (file, environment, --set), then the flags given on
  // the command line over it.
  control::ConfigInputs inputs;
  if (!a.config_file.empty()) inputs.file = a.config_file;
  inputs.environment = control::process_environment();
  inputs.sets = a.sets;
  control::ConfigReport report = control::load_config(inputs);
  if (!report.ok()) {
    return report_error(std::string(report.status().code_name()), report.status().message());
  }
  for (const auto& w : report.warnings)
    core::log_warn("config_warning", {{"warning", w.to_string()}});
  core::Json& effective = report.effective;
  apply_flags(a, &effective);
  control::ControlConfig config = control::control_config(effective);
  apply_logging(&config);
  runtime::BackendChoice backend;
  backend.kind = config.backend;
  // A bf16 or fp8 cache on the CPU is refused before any worker starts,
  // not once per model load.
  backend.kv_cache_dtype = in_process_options(effective).backend.kv_cache_dtype;
  if (const core::Status s = runtime::check_backend_choice(backend); !s.is_ok()) {
    return report_error(std::string(s.code_name()), s.message());
  }
  // Every worker's ranks need their devices (the flag is laid over the
  // validated document, so its range is checked here too).
  for (int i = 0; i < std::max(1, config.workers); ++i) {
    backend.device = control::worker_device(config, i);
    if (const int refused = refuse_tensor_parallel(backend, config.tensor_parallel); refused != 0) {
      return refused;
    }
  }
  // One tracer for this process: the HTTP server's spans and, in-process,
  // the worker's; child workers get the same settings on their argv.
  auto tracer = make_tracer(config.tracing);
  if (!tracer)
    return report_error(std::string(tracer.status().code_name()), tracer.status().message());
  runtime::RuntimeOptions worker = in_process_options(effective);
  worker.tracer = *tracer;
  worker.report_tracing = false;  // serve's /metrics counts this tracer itself
  std::unique_ptr<control::ControlPlane> plane;
#if MLXS_HAVE_NATS
  std::unique_ptr<cluster::ClusterGateway> cluster_gateway;
#endif
  control::Gateway* gateway = nullptr;
  if (!a.cluster_file.empty()) {
#if MLXS_HAVE_NATS
    auto cluster_config = cluster::load_cluster_config(a.cluster_file);
    if (!cluster_config) {
      return report_error(std::string(cluster_config.status().code_name()),
                          cluster_config.status().message());
    }
    if (cluster_config->mode == cluster::ClusterMode::kWorker) {
      return report_error("ConfigError", "cluster file " + a.cluster_file +
                                             ": mode is worker; serve --cluster is a controller");
    }
    for (const auto& w : cluster_config->warnings)
      core::log_warn("cluster_config_warning", {{"warning", w}});
    cluster_gateway = std::make_unique<cluster::ClusterGateway>(*cluster_config, config.supervisor);
    if (const core::Status s = cluster_gateway->start(); !s.is_ok()) {
      return report_error(std::string(s.code_name()), s.message());
    }
    gateway = cluster_gateway.get();
    // --model loads need a worker host that is up.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::nanoseconds(config.supervisor.startup_timeout_ns);
    while (!models.empty() && !gateway->readiness().ready &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
#else
    return report_error(
        "Unsupported",
        "--cluster " + a.cluster_file + ": this build has no NATS support (install libnats-dev)");
#endif
  } else {
    auto made = control::make_control_plane(config, [&worker](int device) {
      runtime::RuntimeOptions o = worker;
      o.backend.device = device;
      return in_process_launcher(std::move(o));
    });
    if (!made) return report_error(std::string(made.status().code_name()), made.status().message());
    plane = std::move(*made);
    plane->start();
    gateway = plane.get();
  }
  const auto stop_gateway = [&] {
    if (plane) plane->stop();
#if MLXS_HAVE_NATS
    if (cluster_gateway) cluster_gateway->stop();
#endif
  };
  for (const auto& m : models) {
    const core::Status s = load(*gateway, m, config.default_quantization);
    if (!s.is_ok()) return report_error(std::string(s.code_name()), s.message());
    core::log_info("model_loaded", {{"model", m.id}});
  }
  server::ServerOptions http_options = server_options(effective["server"], a.http.limits);
  http_options.default_quantization = config.default_quantization;
  http_options.tracer = *tracer;
  server::HttpServer http(http_options, *gateway);
  if (const core::Status s = http.start(); !s.is_ok()) {
    return report_error(std::string(s.code_name()), s.message());
  }
  std::fprintf(stderr, "mlx-serving: serving %zu model(s) on http://%s:%u (%s)\n", models.size(),
               http_options.host.c_str(), static_cast<unsigned>(http.port()),
               a.cluster_file.empty() ? config.backend.c_str() : "cluster");
  std::fflush(stderr);
  int sig = 0;
  sigwait(&signals, &sig);
  core::log_info("shutting_down", {{"signal", sig}});
  http.stop();
  stop_gateway();
  if (*tracer) (*tracer)->shutdown();  // the last spans, within one export timeout
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = parent.add_subcommand("serve", "Serve models over an OpenAI-compatible HTTP API");
  cmd->add_option("--model", args->models, "Model directory, or ID=DIR (repeatable)");
  cmd->add_option("--config", args->config_file,
                  "Configuration file (server, workers, supervisor ...); flags given here win; "
                  "see `mlx-serving config`");
  cmd->add_option("--set", args->sets, "Override one key: section.key=value (repeatable)");
  add_backend_options(cmd, &args->backend);
  add_tensor_parallel_option(cmd, &args->tensor_parallel);
  cmd->add_option("--quantization", args->quantization,
                  "Quantize every model at load: int4, int8 (MLX affine, group 64), fp8; on a "
                  "quantized model, a consistency check (default: model.default_quantization)")
      ->check(CLI::IsMember({"none", "bf16", "fp16", "int4", "int8", "fp8"}));
  cmd->add_option("--host", args->http.host, "Address to listen on");
  cmd->add_option("--port", args->http.port, "Port (0: any free port)");
  cmd->add_flag("--in-process", args->in_process,
                "Run the worker in this process instead of a child process");
  cmd->add_option("--api-key", args->api_keys,
                  "Require Authorization: Bearer <key> (repeatable; default: open)")
      ->envname("MLXS_API_KEY");
  cmd->add_option("--model-root", args->roots,
                  "POST /v1/models/load may read model directories under this (repeatable)");
  cmd->add_option("--threads", args->threads, "Worker CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--kv-memory-mb", args->kv_memory_mb, "KV cache memory per model, MiB")
      ->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--gpu-memory-fraction", args->gpu_memory_fraction,
                  "On a GPU: the KV cache takes what is left of this share of device memory after "
                  "each model loads (0: use --kv-memory-mb)")
      ->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--max-running-streams", args->max_running_streams,
                  "Streams one model decodes at once (its batch; default 64)")
      ->check(CLI::Range(1, 1024));
  add_max_batch_tokens_option(cmd, &args->max_batch_tokens);
  add_kv_cache_dtype_option(cmd, &args->backend.kv_cache_dtype);
  cmd->add_option("--http-threads", args->http.threads, "HTTP I/O threads")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--max-body-bytes", args->http.max_body_bytes, "Largest request body");
  cmd->add_option("--max-concurrent-streams", args->http.max_concurrent_streams,
                  "Streams in flight before 429")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-tokens", args->http.limits.max_tokens_per_request,
                  "Largest max_tokens a request may ask for")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--header-timeout-ms", args->http.header_timeout_ms,
                  "Deadline for a request header (and keep-alive idle time)")
      ->check(CLI::Range(100, 3600000));
  add_otlp_endpoint_option(cmd, &args->otlp_endpoint);
  cmd->add_option("--cluster", args->cluster_file,
                  "Serve the worker hosts of this NATS cluster file instead of local workers "
                  "(docs/cluster.md)");
  args->cmd = cmd;
  cmd->callback([args, action] { *action = [args] { return run_serve(*args); }; });
}

}  // namespace mlxs::cli
