// `mlx-serving bench cluster`: one command for the many-hosts figures (issue
// 13). It starts a nats-server on a loopback port, one or two worker hosts
// (`runtime --cluster`, one CPU thread each, so two hosts are two threads on
// two cores, the same per-host budget), and a control plane
// (`serve --cluster`); it runs `bench serve`'s load through the control plane
// for each host count and reads the control plane's routing overhead (arrival
// to hand-off to the chosen host's session, mlxs_cluster_dispatch_seconds)
// from /metrics. A table on stdout, everything as JSON with --json.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "cli/commands.h"
#include "machine.h"
#include "serve_bench.h"

extern char** environ;

namespace mlxs::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct ClusterBenchArgs {
  std::string model_path;
  std::vector<int> hosts = {1, 2};
  bench::ServeBenchOptions load;
  int threads = 1;
  std::string json_path;
  bool quiet = false;
};

// A process of the bench (killed and reaped when dropped).
class Proc {
 public:
  explicit Proc(const std::vector<std::string>& argv, bool quiet) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (quiet) posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    if (quiet) posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    if (::posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
  }
  ~Proc() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
  }
  Proc(const Proc&) = delete;
  Proc& operator=(const Proc&) = delete;
  bool running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
};

int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

// GET http://127.0.0.1:port/path, the body ("" on any failure; 5 s bound).
std::string http_get(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  std::string text;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const std::string req =
        "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      char buf[16384];
      while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
      }
    }
  }
  ::close(fd);
  const auto body = text.find("\r\n\r\n");
  return text.rfind("HTTP/1.1 200", 0) == 0 && body != std::string::npos ? text.substr(body + 4)
                                                                         : std::string();
}

// One sample of a Prometheus text body (exact name with labels), or -1.
double sample(const std::string& metrics, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const auto at = ("\n" + metrics).find(key);
  return at == std::string::npos ? -1 : std::atof(metrics.c_str() + at + key.size() - 1);
}

std::string find_nats_server() {
  for (const char* d : {"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"}) {
    const fs::path p = fs::path(d) / "nats-server";
    if (::access(p.c_str(), X_OK) == 0) return p.string();
  }
  return {};
}

void write_cluster_file(const fs::path& file, const std::string& mode, int nats_port,
                        const std::string& worker, const std::string& model_path) {
  std::ofstream out(file);
  out << "mode: " << mode << "\nname: bench\n"
      << "nats: {serverUrl: 'nats://127.0.0.1:" << nats_port << "', reconnectTimeWait: 200}\n"
      << "discovery: {heartbeatIntervalMs: 1000, offlineTimeoutMs: 5000}\n";
  if (mode == "worker") {
    out << "worker: {workerId: " << worker << ", models: [{id: bench, path: '" << model_path
        << "'}]}\n";
  }
}

// One host count: workers, a control plane, the load, the overhead.
core::Result<json> run_one(const ClusterBenchArgs& a, int hosts, int nats_port,
                           const fs::path& dir) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::unique_ptr<Proc>> workers;
  for (int i = 0; i < hosts; ++i) {
    const std::string id = fmt::format("h{}", i + 1);
    const fs::path file = dir / (id + ".yaml");
    write_cluster_file(file, "worker", nats_port, id, a.model_path);
    workers.push_back(std::make_unique<Proc>(
        std::vector<std::string>{self, "--log-level", "warn", "runtime", "--threads",
                                 std::to_string(a.threads), "--cluster", file.string()},
        a.quiet));
  }
  const fs::path cp_file = dir / "cp.yaml";
  write_cluster_file(cp_file, "controller", nats_port, "", "");
  const int http_port = free_loopback_port();
  Proc cp({self, "--log-level", "warn", "serve", "--cluster", cp_file.string(), "--host",
           "127.0.0.1", "--port", std::to_string(http_port)},
          a.quiet);
  // Up: every host attached, negotiated and its model loaded.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  for (;;) {
    const std::string m = http_get(http_port, "/metrics");
    int up = 0;
    for (int i = 0; i < hosts; ++i)
      up += sample(m, fmt::format("mlxs_worker_up{{worker=\"h{}\"}}", i + 1)) == 1.0 ? 1 : 0;
    if (up == hosts) break;
    if (std::chrono::steady_clock::now() > deadline || !cp.running()) {
      return core::make_error(core::ErrorCode::kTimeout,
                              "{} of {} worker hosts came up behind the control plane", up, hosts);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  bench::ServeBenchOptions o = a.load;
  o.url = fmt::format("http://127.0.0.1:{}", http_port);
  o.model = "bench";
  o.progress = !a.quiet;
  // Warm-up (first requests pay lazy allocations on each host), then the run.
  bench::ServeBenchOptions warm = o;
  warm.num_prompts = std::max(2, hosts * 2);
  warm.progress = false;
  if (auto w = bench::run_serve_bench(warm); !w) return w.status();
  auto result = bench::run_serve_bench(o);
  if (!result) return result.status();
  const std::string m = http_get(http_port, "/metrics");
  const double sum = sample(m, "mlxs_cluster_dispatch_seconds_total");
  const double count = sample(m, "mlxs_cluster_dispatched_total");
  json r = {{"hosts", hosts},
            {"requests_per_s", (*result)["requests_per_s"]},
            {"output_tokens_per_s", (*result)["output_tokens_per_s"]},
            {"ttft", (*result)["ttft"]},
            {"e2e", (*result)["e2e"]},
            {"completed", (*result)["completed"]},
            {"failed", (*result)["failed"]},
            {"routing_overhead_us",
             {{"mean", count > 0 ? sum / count * 1e6 : 0.0},
              {"p50", sample(m, "mlxs_cluster_dispatch_seconds{quantile=\"0.5\"}") * 1e6},
              {"p99", sample(m, "mlxs_cluster_dispatch_seconds{quantile=\"0.99\"}") * 1e6},
              {"requests", count}}},
            {"serve", *result}};
  return r;
}

int run_bench_cluster(ClusterBenchArgs& a) {
  const std::string nats = find_nats_server();
  if (nats.empty())
    return report_error("Unsupported", "nats-server is not installed (Debian package nats-server)");
  if (!fs::exists(fs::path(a.model_path) / "config.json"))
    return report_error("InvalidParams", "--model " + a.model_path + " has no config.json");
  a.model_path = fs::absolute(a.model_path).string();
  const fs::path dir = fs::temp_directory_path() / fmt::format("mlxs-bench-cluster-{}", ::getpid());
  fs::create_directories(dir);
  const int nats_port = free_loopback_port();
  json runs = json::array();
  int code = 0;
  {
    Proc server({nats, "-a", "127.0.0.1", "-p", std::to_string(nats_port)}, true);
    for (int hosts : a.hosts) {
      auto r = run_one(a, hosts, nats_port, dir);
      if (!r) {
        code = report_error(std::string(r.status().code_name()), r.status().message());
        break;
      }
      runs.push_back(std::move(*r));
    }
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (code != 0) return code;
  std::printf("%-6s %10s %10s %10s %10s %12s %12s %12s\n", "hosts", "req/s", "tok/s", "ttft_p50ms",
              "ttft_p99ms", "route_p50us", "route_p99us", "route_mean");
  for (const auto& r : runs) {
    const auto& o = r["routing_overhead_us"];
    std::printf("%-6d %10.2f %10.1f %10.1f %10.1f %12.1f %12.1f %12.1f\n", r["hosts"].get<int>(),
                r["requests_per_s"].get<double>(), r["output_tokens_per_s"].get<double>(),
                r["ttft"]["p50_ms"].get<double>(), r["ttft"]["p99_ms"].get<double>(),
                o["p50"].get<double>(), o["p99"].get<double>(), o["mean"].get<double>());
  }
  if (!a.json_path.empty()) {
    const json out = {{"benchmark", "cluster"},
                      {"model", a.model_path},
                      {"threads_per_host", a.threads},
                      {"concurrency", a.load.concurrency},
                      {"num_prompts", a.load.num_prompts},
                      {"input_len", a.load.input_len},
                      {"output_len", a.load.output_len},
                      {"machine", bench::describe_machine()},
                      {"runs", runs}};
    std::ofstream f(a.json_path);
    f << out.dump(2) << "\n";
    if (!f) return report_error("IoError", "cannot write the JSON report");
  }
  return 0;
}

}  // namespace

void add_bench_cluster_command(CLI::App& app, Action* action) {
  CLI::App* bench_cmd = app.get_subcommand("bench");
  auto args = std::make_shared<ClusterBenchArgs>();
  auto& o = args->load;
  o.concurrency = 8;
  o.num_prompts = 64;
  o.input_len = 32;
  o.output_len = 16;
  o.ignore_eos = true;
  CLI::App* cmd = bench_cmd->add_subcommand(
      "cluster",
      "Requests/s, TTFT and routing overhead through one control plane over 1 vs 2 worker hosts "
      "(starts its own nats-server and hosts on loopback)");
  cmd->add_option("--model", args->model_path, "Model directory every host loads")->required();
  cmd->add_option("--hosts", args->hosts, "Host counts to run, in order")->check(CLI::Range(1, 8));
  cmd->add_option("--threads", args->threads, "CPU threads of each worker host")
      ->check(CLI::Range(1, 256));
  cmd->add_option("--concurrency", o.concurrency, "Clients sending at once")
      ->check(CLI::Range(1, 10000));
  cmd->add_option("--num-prompts", o.num_prompts, "Requests per host count")
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--input-len", o.input_len, "Prompt words (about one token each)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--output-len", o.output_len, "Tokens of each answer (ignore_eos)")
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--json", args->json_path, "Write the full result as JSON here");
  cmd->add_flag("--quiet", args->quiet, "No progress bars or process logs");
  cmd->callback([args, action] { *action = [args] { return run_bench_cluster(*args); }; });
}

}  // namespace mlxs::cli
