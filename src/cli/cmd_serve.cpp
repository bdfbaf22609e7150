// `mlx-serving serve`: the control plane (one supervised runtime worker, a
// child process or --in-process) behind the OpenAI-compatible HTTP server.
// Loads every --model before listening, prints the address, and stops
// cleanly on SIGINT/SIGTERM.
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <future>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/in_process_worker.h"
#include "control/config.h"
#include "control/control_plane.h"
#include "core/log.h"
#include "server/server.h"

namespace mlxs::cli {
namespace {

namespace fs = std::filesystem;

struct ServeArgs {
  std::vector<std::string> models;  // DIR or ID=DIR
  std::vector<std::string> roots;
  server::ServerOptions http;
  std::vector<std::string> api_keys;
  std::string config_file;
  bool in_process = false;
  int threads = 0;
  int kv_memory_mb = 1024;
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

core::Status load(control::Gateway& gateway, const ModelSpec& m) {
  std::promise<core::Result<core::Json>> done;
  gateway.call("load_model", {{"model_id", m.id}, {"local_path", m.dir}},
               [&done](core::Result<core::Json> r) { done.set_value(std::move(r)); });
  auto result = done.get_future().get();
  if (!result.is_ok()) return result.status().with_context("model " + m.id);
  return {};
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

  // Supervision and worker settings: the configuration file's when given
  // (validated as a whole first), else the flags'.
  control::ControlConfig config;
  config.worker_args = {"--threads", std::to_string(a.threads), "--kv-memory-mb",
                        std::to_string(a.kv_memory_mb)};
  if (!a.config_file.empty()) {
    control::ConfigInputs inputs;
    inputs.file = a.config_file;
    inputs.environment = control::process_environment();
    const control::ConfigReport report = control::load_config(inputs);
    if (!report.ok()) {
      return report_error(std::string(report.status().code_name()), report.status().message());
    }
    config = control::control_config(report.effective);
  }
  runtime::RuntimeOptions worker;
  worker.threads = a.threads;
  worker.kv_memory_bytes = static_cast<std::size_t>(a.kv_memory_mb) << 20;
  std::vector<control::WorkerLauncher> launchers;
  for (int i = 0; i < std::max(1, config.workers); ++i) {
    if (a.in_process || config.in_process) {
      launchers.push_back(in_process_launcher(worker));
    } else {
      launchers.push_back(
          control::process_launcher(control::runtime_worker_argv(config.worker_args)));
    }
  }
  control::ControlPlane plane(std::move(launchers), config.supervisor);
  plane.start();
  for (const auto& m : models) {
    const core::Status s = load(plane, m);
    if (!s.is_ok()) return report_error(std::string(s.code_name()), s.message());
    core::log_info("model_loaded", {{"model", m.id}});
  }
  a.http.api_keys = a.api_keys;
  a.http.model_roots = a.roots;
  server::HttpServer http(a.http, plane);
  if (const core::Status s = http.start(); !s.is_ok()) {
    return report_error(std::string(s.code_name()), s.message());
  }
  std::fprintf(stderr, "mlx-serving: serving %zu model(s) on http://%s:%u\n", models.size(),
               a.http.host.c_str(), static_cast<unsigned>(http.port()));
  std::fflush(stderr);
  int sig = 0;
  sigwait(&signals, &sig);
  core::log_info("shutting_down", {{"signal", sig}});
  http.stop();
  plane.stop();
  return 0;
}

}  // namespace

void add_serve_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = parent.add_subcommand("serve", "Serve models over an OpenAI-compatible HTTP API");
  cmd->add_option("--model", args->models, "Model directory, or ID=DIR (repeatable)");
  cmd->add_option("--config", args->config_file,
                  "Configuration file (supervisor, workers); see `mlx-serving config`");
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
  cmd->callback([args, action] { *action = [args] { return run_serve(*args); }; });
}

}  // namespace mlxs::cli
