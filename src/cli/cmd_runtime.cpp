// `mlx-serving runtime [--stdio]`: the runtime worker. It speaks the original
// mlx-serving JSON-RPC protocol on stdin/stdout (stdio is the default, so the
// original TypeScript client can start this binary directly as its
// pythonPath with runtimePath "runtime"), prints "MLX Runtime ready" on
// stderr when ready, and exits 0 on shutdown or at the end of stdin.
// With --cluster FILE it is a worker host instead: it serves the same
// protocol to control planes over NATS (src/cluster) until SIGINT/SIGTERM.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <string>

#include "cli/commands.h"
#include "cli/image_flags.h"
#include "cli/in_process_worker.h"
#include "cli/tracing_flags.h"
#include "control/launcher.h"
#include "core/json_util.h"
#include "runtime/server.h"
#if MLXS_HAVE_NATS
#include "cluster/worker_host.h"
#endif

namespace mlxs::cli {
namespace {

struct RuntimeArgs {
  bool stdio = true;
  int threads = 0;
  std::vector<std::string> trusted_dirs;
  std::vector<std::string> model_dirs;
  int kv_memory_mb = 1024;
  double gpu_memory_fraction = 0;
  int max_tokens_per_batch = 16;
  bool no_ipc_batching = false;
  runtime::BackendChoice backend;
  int tensor_parallel = 1;
  int max_running_streams = 64;
  int max_batch_tokens = 0;  // 0: the backend's default
  control::TracingConfig tracing;
  std::string cluster_file;
  ImageArgs images;
};

runtime::RuntimeOptions runtime_options(const RuntimeArgs& a) {
  runtime::RuntimeOptions options;
  options.threads = a.threads;
  options.backend = a.backend;
  options.tensor_parallel = a.tensor_parallel;
  options.max_running_streams = a.max_running_streams;
  options.max_batch_tokens = a.max_batch_tokens;
  options.trusted_dirs = a.trusted_dirs;
  options.model_dirs = a.model_dirs;
  options.kv_memory_bytes = static_cast<std::size_t>(a.kv_memory_mb) << 20;
  options.gpu_memory_fraction = a.gpu_memory_fraction;
  options.max_tokens_per_batch = a.max_tokens_per_batch;
  options.ipc_batching = !a.no_ipc_batching;
  options.images = image_sources(a.images);
  return options;
}

// The flags of a child `mlx-serving runtime` that serves as this runtime
// would (worker.sessionProcesses): every setting but --cluster.
std::vector<std::string> session_args(const RuntimeArgs& a) {
  std::vector<std::string> out = {"--threads",
                                  std::to_string(a.threads),
                                  "--kv-memory-mb",
                                  std::to_string(a.kv_memory_mb),
                                  "--gpu-memory-fraction",
                                  core::Json(a.gpu_memory_fraction).dump(),
                                  "--max-running-streams",
                                  std::to_string(a.max_running_streams),
                                  "--max-batch-tokens",
                                  std::to_string(a.max_batch_tokens),
                                  "--max-tokens-per-batch",
                                  std::to_string(a.max_tokens_per_batch),
                                  "--backend",
                                  a.backend.kind,
                                  "--device",
                                  std::to_string(a.backend.device),
                                  "--tensor-parallel",
                                  std::to_string(a.tensor_parallel)};
  out.insert(out.end(), {"--kv-cache-dtype",
                         std::string(runtime::kv_cache_dtype_name(a.backend.kv_cache_dtype))});
  if (a.no_ipc_batching) out.emplace_back("--no-ipc-batching");
  for (const auto& d : a.trusted_dirs) out.insert(out.end(), {"--trusted-dir", d});
  for (const auto& d : a.model_dirs) out.insert(out.end(), {"--model-dir", d});
  for (auto& f : image_flag_args(a.images)) out.push_back(std::move(f));
  for (auto& f : control::tracing_worker_args(a.tracing)) out.push_back(std::move(f));
  return out;
}

// A worker host of a cluster: a runtime server per attached control plane,
// in this process or (worker.sessionProcesses) as a child process each.
int run_cluster_worker(const RuntimeArgs& a) {
#if MLXS_HAVE_NATS
  auto config = cluster::load_cluster_config(a.cluster_file);
  if (!config)
    return report_error(std::string(config.status().code_name()), config.status().message());
  if (config->mode == cluster::ClusterMode::kController) {
    return report_error("ConfigError", "cluster file " + a.cluster_file +
                                           ": mode is controller; runtime --cluster is a worker");
  }
  for (const auto& w : config->warnings) std::fprintf(stderr, "mlx-serving: %s\n", w.c_str());
  for (const auto& m : config->worker.models) {
    std::error_code ec;
    if (!std::filesystem::is_directory(m.path, ec)) {
      return report_error("ModelLoadError", "model " + m.id + ": directory not found: " + m.path);
    }
  }
  if (config->worker.id.empty()) config->worker.id = cluster::default_worker_id();
  if (const core::Status s = runtime::check_backend_choice(a.backend); !s.is_ok()) {
    return report_error(std::string(s.code_name()), s.message());
  }
  if (const int refused = refuse_tensor_parallel(a.backend, a.tensor_parallel); refused != 0) {
    return refused;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  runtime::RuntimeOptions options = runtime_options(a);
  auto tracer = make_tracer(a.tracing);
  if (!tracer)
    return report_error(std::string(tracer.status().code_name()), tracer.status().message());
  options.tracer = *tracer;
  // A child session is its own process: a crash there (a device fault, an
  // abort) ends that session alone, and its control plane attaches anew.
  cluster::WorkerHost host(
      *config, config->worker.session_processes
                   ? control::process_launcher(control::runtime_worker_argv(session_args(a)))
                   : in_process_launcher(options));
  if (const core::Status s = host.start(); !s.is_ok()) {
    return report_error(std::string(s.code_name()), s.message());
  }
  std::fprintf(stderr, "mlx-serving: worker %s of cluster %s ready (%zu model(s))\n",
               host.id().c_str(), config->name.c_str(), config->worker.models.size());
  std::fflush(stderr);
  int sig = 0;
  sigwait(&signals, &sig);
  host.stop();
  if (options.tracer) options.tracer->shutdown();
  return 0;
#else
  return report_error("Unsupported", "--cluster " + a.cluster_file +
                                         ": this build has no NATS support (install libnats-dev)");
#endif
}

int run_runtime(const RuntimeArgs& a) {
  if (!a.cluster_file.empty()) return run_cluster_worker(a);
  // A closed client must not kill the worker with SIGPIPE: writes then fail
  // and the worker stops cleanly.
  std::signal(SIGPIPE, SIG_IGN);
  // stdout carries protocol lines only: the protocol gets its own copy of
  // the descriptor and anything else writing to stdout lands on stderr.
  const int protocol_out = ::dup(STDOUT_FILENO);
  if (protocol_out < 0 || ::dup2(STDERR_FILENO, STDOUT_FILENO) < 0) {
    return report_error("IoError", "cannot set up stdout for the protocol");
  }
  if (const core::Status s = runtime::check_backend_choice(a.backend); !s.is_ok()) {
    return report_error(std::string(s.code_name()), s.message());
  }
  if (const int refused = refuse_tensor_parallel(a.backend, a.tensor_parallel); refused != 0) {
    return refused;
  }
  runtime::RuntimeOptions options = runtime_options(a);
  // The original client kills the worker 5 s after shutdown: be gone first.
  options.exit_deadline_ms = 4000;
  auto tracer = make_tracer(a.tracing);
  if (!tracer)
    return report_error(std::string(tracer.status().code_name()), tracer.status().message());
  options.tracer = *tracer;
  int code = 0;
  {
    runtime::Server server(STDIN_FILENO, protocol_out, options);
    code = server.run();
  }
  // The last spans go out within one export timeout.
  if (options.tracer) options.tracer->shutdown();
  ::close(protocol_out);
  return code;
}

}  // namespace

void add_runtime_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<RuntimeArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "runtime", "Runtime worker: the original mlx-serving JSON-RPC protocol over stdin/stdout");
  cmd->add_flag("--stdio", args->stdio, "Speak JSON-RPC on stdin/stdout (the default)");
  cmd->add_option("--threads", args->threads, "CPU threads shared by all models (default: all)")
      ->check(CLI::Range(0, 1024));
  cmd->add_option("--trusted-dir", args->trusted_dirs,
                  "Only load local_path models inside this directory (repeatable)");
  cmd->add_option("--model-dir", args->model_dirs,
                  "Look up model ids as folders of this directory (repeatable)");
  cmd->add_option("--kv-memory-mb", args->kv_memory_mb, "KV cache memory per loaded model, MiB")
      ->check(CLI::Range(16, 1 << 20));
  cmd->add_option("--gpu-memory-fraction", args->gpu_memory_fraction,
                  "On a GPU: the KV cache takes what is left of this share of device memory after "
                  "the model loads (0: use --kv-memory-mb)")
      ->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--max-running-streams", args->max_running_streams,
                  "Streams one model decodes at once (its batch; default 64)")
      ->check(CLI::Range(1, 1024));
  add_max_batch_tokens_option(cmd, &args->max_batch_tokens);
  add_kv_cache_dtype_option(cmd, &args->backend.kv_cache_dtype);
  cmd->add_option("--max-tokens-per-batch", args->max_tokens_per_batch,
                  "Tokens per stream.chunk when the model size is unknown")
      ->check(CLI::Range(1, 1024));
  cmd->add_flag("--no-ipc-batching", args->no_ipc_batching,
                "Send every token in its own stream.chunk");
  cmd->add_option("--cluster", args->cluster_file,
                  "Serve control planes over NATS as a worker host of this cluster file "
                  "(docs/cluster.md) instead of stdin/stdout");
  add_backend_options(cmd, &args->backend);
  add_tensor_parallel_option(cmd, &args->tensor_parallel);
  add_image_options(cmd, &args->images);
  add_worker_tracing_options(cmd, &args->tracing);
  cmd->callback([args, action] { *action = [args] { return run_runtime(*args); }; });
}

}  // namespace mlxs::cli
