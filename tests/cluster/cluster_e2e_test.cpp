// Many hosts on one machine: a real nats-server on a loopback port chosen by
// the test, two worker hosts (`mlx-serving runtime --cluster`, each its own
// process) holding the tiny fixture model, and a control plane
// (ClusterGateway) in this process. A stream is served, a repeated prompt
// goes back to its worker, cancellation crosses hosts, a worker host killed
// mid-stream ends its stream with WorkerCrashed within the offline timeout,
// a request sent to it meanwhile (not started there) is served by the other
// host instead of failing, the next request goes to the other host, the
// killed host rejoins when it comes back, and a NATS server restart is
// survived: a request made while the server is down waits and is served
// once it is back. Separate processes on loopback; cluster_netns_e2e_test
// puts each host in a network namespace of its own. Every wait is bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "child_process.h"
#include "cluster/bridge.h"
#include "cluster/cluster_gateway.h"
#include "control/harness.h"
#include "control/recording_sink.h"

namespace mlxs::cluster {
namespace {

namespace fs = std::filesystem;
using control::testing::eventually;
using control::testing::gen_params;
using control::testing::generate_sync;
using control::testing::RecordingSink;
using namespace std::chrono_literals;

std::string find_nats_server() {
  return testing::find_program("nats-server");
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

using testing::Child;

class ClusterE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    nats_binary_ = find_nats_server();
    if (nats_binary_.empty()) {
      GTEST_SKIP() << "nats-server is not installed (Debian package nats-server; scripts/setup.sh "
                      "installs it): the cluster end-to-end test cannot run";
    }
    port_ = free_port();
    ASSERT_GT(port_, 0);
    dir_ = fs::temp_directory_path() / ("mlxs-cluster-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    cluster_ = "e2e" + std::to_string(::getpid());
    start_nats();
    for (const char* id : {"w1", "w2"}) write_file(id, "worker");
    write_file("cp", "controller");
  }
  void TearDown() override {
    if (gateway_) gateway_->stop();
    for (auto& [id, w] : workers_) w.stop(SIGTERM);
    nats_.stop(SIGKILL);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void start_nats() {
    nats_ = Child({nats_binary_, "-a", "127.0.0.1", "-p", std::to_string(port_)});
    ASSERT_TRUE(nats_.running());
    ASSERT_TRUE(eventually([&] { return port_open(port_); }, 10s)) << "nats-server did not listen";
  }

  void write_file(const std::string& id, const std::string& mode, bool session_processes = false,
                  int heartbeat_ms = 100, int offline_ms = kOfflineMs) {
    std::ofstream out(dir_ / (id + ".yaml"));
    out << "mode: " << mode << "\n"
        << "name: " << cluster_ << "\n"
        << "nats: {serverUrl: 'nats://127.0.0.1:" << port_
        << "', reconnectTimeWait: 100, maxReconnectAttempts: -1}\n"
        << "discovery: {heartbeatIntervalMs: " << heartbeat_ms
        << ", offlineTimeoutMs: " << offline_ms << ", attachTimeoutMs: 20000}\n";
    if (mode == "worker") {
      out << "worker: {workerId: " << id << ", models: [{id: tiny, path: '"
          << control::testing::tiny_model_dir() << "'}]"
          << (session_processes ? ", sessionProcesses: true" : "") << "}\n";
    }
  }

  void start_worker(const std::string& id) {
    workers_[id] =
        Child({mlxs::testing::mlx_serving_binary(), "--log-level", "warn", "runtime", "--threads",
               "1", "--kv-memory-mb", "64", "--cluster", (dir_ / (id + ".yaml")).string()});
    ASSERT_TRUE(workers_[id].running());
  }

  void start_gateway() {
    auto config = load_cluster_config((dir_ / "cp.yaml").string());
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    control::SupervisorOptions o = control::testing::fast_options();
    o.breaker.recovery_timeout_ns = 300 * control::kMillis;
    gateway_ = std::make_unique<ClusterGateway>(*config, o);
    ASSERT_TRUE(gateway_->start().is_ok());
  }

  std::size_t workers_up() {
    std::size_t up = 0;
    for (const auto& w : gateway_->readiness().workers) up += w.breaker_state == "Running" ? 1 : 0;
    return up;
  }

  // A stream of `max_tokens` on tiny; accepted (or the test fails).
  std::shared_ptr<RecordingSink> stream(int salt, std::int64_t max_tokens, std::string* worker,
                                        const std::string& id = "") {
    auto sink = std::make_shared<RecordingSink>();
    auto p = gen_params("tiny", max_tokens, salt);
    if (!id.empty()) p.stream_id = id;
    if (max_tokens > 100) p.stop_token_ids = {};
    auto r = generate_sync(*gateway_, p, sink, 120s);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    if (r.is_ok() && worker != nullptr)
      *worker = gateway_->worker_of((*r)["stream_id"].get<std::string>());
    return sink;
  }

  static constexpr int kOfflineMs = 1500;
  std::string nats_binary_;
  int port_ = -1;
  fs::path dir_;
  std::string cluster_;
  Child nats_;
  std::map<std::string, Child> workers_;
  std::unique_ptr<ClusterGateway> gateway_;
};

TEST_F(ClusterE2E, ServesSurvivesAHostLossAndANatsRestart) {
  start_worker("w1");
  start_worker("w2");
  start_gateway();
  ASSERT_TRUE(eventually([&] { return workers_up() == 2; }, 120s)) << gateway_->readiness().reason;

  // A stream through NATS, complete; the same prompt goes back to its worker.
  std::string first;
  auto s1 = stream(0, 12, &first);
  ASSERT_TRUE(s1->wait_end(60s));
  EXPECT_EQ(s1->end->event, "completed") << s1->end->error.value_or("");
  EXPECT_GT(s1->ids.size(), 0u);
  ASSERT_TRUE(s1->stats);
  std::string again;
  auto s2 = stream(0, 12, &again);
  ASSERT_TRUE(s2->wait_end(60s));
  EXPECT_EQ(again, first) << "prefix-cache affinity";
  EXPECT_EQ(s2->ids, s1->ids) << "greedy is deterministic across the bridge";
  EXPECT_GE(control::testing::metric(*gateway_, "mlxs_cluster_affinity_hits_total"), 1.0);
  // Calls with a model id are routed too; the worker's error keeps its code
  // across hosts (the fixture has no tokenizer.json).
  auto tok = control::testing::call_sync(*gateway_, "tokenize",
                                         core::Json{{"model_id", "tiny"}, {"text", "hello"}});
  ASSERT_FALSE(tok.is_ok());
  EXPECT_EQ(tok.status().code(), core::ErrorCode::kTokenizerError) << tok.status().to_string();
  auto state = control::testing::call_sync(*gateway_, "runtime/state", core::Json::object());
  ASSERT_TRUE(state.is_ok()) << state.status().to_string();
  EXPECT_EQ((*state)["loaded_models"].size(), 2u) << "tiny on each worker host";

  // Cancellation crosses hosts: the stream ends, once.
  auto long_one = stream(3, 4000, nullptr, "to-cancel");
  ASSERT_TRUE(long_one->wait_tokens(1, 60s));
  gateway_->cancel("to-cancel");
  ASSERT_TRUE(long_one->wait_end(30s));
  EXPECT_EQ(long_one->ends, 1);
  EXPECT_LT(long_one->ids.size(), 4000u);

  // Kill the worker host of a running stream: it ends with WorkerCrashed
  // within the offline timeout (plus scheduling slack), the next request
  // goes to the other host.
  std::string victim;
  auto doomed = stream(5, 4000, &victim);
  ASSERT_TRUE(doomed->wait_tokens(1, 60s));
  ASSERT_TRUE(workers_.count(victim)) << victim;
  const auto killed_at = std::chrono::steady_clock::now();
  workers_[victim].stop(SIGKILL);
  // The same prompt again, at once: affinity sends it to the dead host, which
  // counts as up until its offline timeout. It had not started there, so it
  // goes back to waiting and is served by the other host instead of failing.
  auto rerouted = std::make_shared<RecordingSink>();
  auto rerouted_accepted = std::make_shared<std::promise<core::Result<core::Json>>>();
  auto rerouted_future = rerouted_accepted->get_future();
  gateway_->generate(gen_params("tiny", 8, 5), rerouted,
                     [rerouted_accepted](auto r) { rerouted_accepted->set_value(std::move(r)); });
  // One more to the dead host, cancelled before the host could answer: its
  // loss must not send it on to the other host (the cancel found it neither
  // waiting nor running); it ends as cancelled, with no tokens.
  auto cancelled = std::make_shared<RecordingSink>();
  auto cancelled_reply = std::make_shared<std::promise<core::Result<core::Json>>>();
  auto cancelled_future = cancelled_reply->get_future();
  auto cancel_params = gen_params("tiny", 8, 5);
  cancel_params.stream_id = "cancel-while-lost";
  gateway_->generate(cancel_params, cancelled,
                     [cancelled_reply](auto r) { cancelled_reply->set_value(std::move(r)); });
  gateway_->cancel("cancel-while-lost");
  ASSERT_TRUE(doomed->wait_end(std::chrono::milliseconds(kOfflineMs) + 3s));
  EXPECT_EQ(doomed->end->code, "WorkerCrashed") << doomed->end->error.value_or("");
  EXPECT_LT(doomed->ended_at - killed_at, std::chrono::milliseconds(kOfflineMs) + 2s);
  EXPECT_EQ(doomed->ends, 1);
  ASSERT_EQ(rerouted_future.wait_for(120s), std::future_status::ready);
  const auto rerouted_result = rerouted_future.get();
  ASSERT_TRUE(rerouted_result.is_ok()) << rerouted_result.status().to_string();
  ASSERT_TRUE(rerouted->wait_end(60s));
  EXPECT_EQ(rerouted->end->event, "completed") << rerouted->end->error.value_or("");
  EXPECT_NE(gateway_->worker_of((*rerouted_result)["stream_id"].get<std::string>()), victim);
  EXPECT_GE(control::testing::metric(*gateway_, "mlxs_cluster_rerouted_total"), 1.0);
  ASSERT_EQ(cancelled_future.wait_for(30s), std::future_status::ready);
  const auto cancelled_result = cancelled_future.get();
  ASSERT_FALSE(cancelled_result.is_ok()) << "a cancelled request was run on another host";
  EXPECT_EQ(cancelled_result.status().code(), core::ErrorCode::kCancelled)
      << cancelled_result.status().to_string();
  EXPECT_TRUE(cancelled->ids.empty());
  EXPECT_EQ(gateway_->worker_of("cancel-while-lost"), victim) << "sent nowhere else";
  std::string survivor;
  auto after = stream(0, 8, &survivor);
  ASSERT_TRUE(after->wait_end(60s));
  EXPECT_EQ(after->end->event, "completed") << after->end->error.value_or("");
  EXPECT_NE(survivor, victim);
  EXPECT_GE(control::testing::metric(*gateway_, "mlxs_cluster_offline_total"), 1.0);

  // It rejoins when it announces again.
  start_worker(victim);
  ASSERT_TRUE(eventually([&] { return workers_up() == 2; }, 120s)) << gateway_->readiness().reason;

  // NATS goes away: the hosts are cut off; a request made now waits, and is
  // served once the server is back and the hosts have rejoined.
  nats_.stop(SIGKILL);
  ASSERT_TRUE(
      eventually([&] { return workers_up() == 0; }, std::chrono::milliseconds(kOfflineMs) + 10s));
  auto waiting = std::make_shared<RecordingSink>();
  auto accepted = std::make_shared<std::promise<core::Result<core::Json>>>();
  auto accepted_future = accepted->get_future();
  gateway_->generate(gen_params("tiny", 8, 0), waiting,
                     [accepted](core::Result<core::Json> r) { accepted->set_value(std::move(r)); });
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(accepted_future.wait_for(0s), std::future_status::timeout) << "it waits";
  start_nats();
  ASSERT_EQ(accepted_future.wait_for(120s), std::future_status::ready);
  auto r = accepted_future.get();
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(waiting->wait_end(60s));
  EXPECT_EQ(waiting->end->event, "completed") << waiting->end->error.value_or("");
  ASSERT_GE(s1->ids.size(), waiting->ids.size());
  EXPECT_TRUE(std::equal(waiting->ids.begin(), waiting->ids.end(), s1->ids.begin()))
      << "the same greedy tokens as before the restart";
  ASSERT_TRUE(eventually([&] { return workers_up() == 2; }, 120s));
  auto last = stream(9, 8, nullptr);
  ASSERT_TRUE(last->wait_end(60s));
  EXPECT_EQ(last->end->event, "completed") << last->end->error.value_or("");
}

// The streams of other control planes that `g` sees announced for `worker`.
double other_streams(const ClusterGateway& g, const std::string& worker) {
  return control::testing::metric(g, "mlxs_cluster_worker_other_streams", {{"worker", worker}});
}

// The children of process `parent` (from /proc: every process's parent).
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
    const auto close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) out.push_back(static_cast<pid_t>(std::stoi(name)));
  }
  return out;
}

// worker.sessionProcesses: the session's runtime is a child process of the
// host. Killing it mid-stream ends that stream with WorkerCrashed while the
// host lives on (it keeps announcing), and the control plane attaches a new
// session, in a new child, that serves the next request.
TEST_F(ClusterE2E, ASessionProcessThatDiesEndsItsSessionAndTheHostServesOn) {
  write_file("w1", "worker", /*session_processes=*/true);
  start_worker("w1");
  start_gateway();
  ASSERT_TRUE(eventually([&] { return workers_up() == 1; }, 120s)) << gateway_->readiness().reason;
  auto first = stream(1, 8, nullptr);
  ASSERT_TRUE(first->wait_end(60s));
  EXPECT_EQ(first->end->event, "completed") << first->end->error.value_or("");

  const pid_t host = workers_["w1"].pid();
  std::vector<pid_t> sessions;
  ASSERT_TRUE(eventually([&] { return (sessions = children_of(host)).size() == 1; }, 10s))
      << "one session, one child runtime (" << children_of(host).size() << ")";
  // The host counts the child's streams from the lines it carries: another
  // control plane sees the running one in its announcements.
  auto config = load_cluster_config((dir_ / "cp.yaml").string());
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  ClusterGateway other(*config, control::testing::fast_options());
  ASSERT_TRUE(other.start().is_ok());
  auto doomed = stream(2, 4000, nullptr);
  ASSERT_TRUE(doomed->wait_tokens(1, 60s));
  ASSERT_TRUE(eventually([&] { return other_streams(other, "w1") == 1.0; }, 30s))
      << "the host announces the child's stream";
  other.stop();  // its session, and that session's child, end
  ASSERT_TRUE(eventually([&] { return (sessions = children_of(host)).size() == 1; }, 30s));
  ASSERT_EQ(::kill(sessions[0], SIGKILL), 0);
  ASSERT_TRUE(doomed->wait_end(30s));
  EXPECT_EQ(doomed->end->code, "WorkerCrashed") << doomed->end->error.value_or("");
  EXPECT_EQ(::kill(host, 0), 0) << "the host outlives its session";

  ASSERT_TRUE(eventually([&] { return workers_up() == 1; }, 120s)) << gateway_->readiness().reason;
  auto after = stream(3, 8, nullptr);
  ASSERT_TRUE(after->wait_end(60s));
  EXPECT_EQ(after->end->event, "completed") << after->end->error.value_or("");
  const auto now = children_of(host);
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0], sessions[0]) << "a fresh child serves the new session";
}

// Between heartbeats a host announces its load when it changes: with a 10 s
// heartbeat, another control plane sees a new stream within seconds.
TEST_F(ClusterE2E, ALoadChangeIsAnnouncedBeforeTheNextHeartbeat) {
  write_file("w1", "worker", false, /*heartbeat_ms=*/10000, /*offline_ms=*/30000);
  write_file("cp", "controller", false, 10000, 30000);
  start_worker("w1");
  start_gateway();
  ASSERT_TRUE(eventually([&] { return workers_up() == 1; }, 60s)) << gateway_->readiness().reason;
  auto config = load_cluster_config((dir_ / "cp.yaml").string());
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  ClusterGateway other(*config, control::testing::fast_options());
  ASSERT_TRUE(other.start().is_ok());
  // Its attach is announced at once, with no stream yet.
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& w : other.readiness().workers) {
          if (w.breaker_state == "Running") return true;
        }
        return false;
      },
      60s));
  auto running = stream(4, 4000, nullptr, "between-heartbeats");
  ASSERT_TRUE(running->wait_tokens(1, 60s));
  EXPECT_TRUE(eventually([&] { return other_streams(other, "w1") == 1.0; }, 3s))
      << "announced before the next heartbeat (10 s)";
  gateway_->cancel("between-heartbeats");
  ASSERT_TRUE(running->wait_end(30s));
  other.stop();
}

// Two control planes share the hosts: each routes by its own streams plus
// the streams the hosts announce for the other one.
TEST_F(ClusterE2E, RoutesByTheLoadOtherControlPlanesRunOnAHost) {
  start_worker("w1");
  start_worker("w2");
  start_gateway();
  auto config = load_cluster_config((dir_ / "cp.yaml").string());
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  ClusterGateway other(*config, control::testing::fast_options());
  ASSERT_TRUE(other.start().is_ok());
  const auto up = [](const ClusterGateway& g) {
    std::size_t n = 0;
    for (const auto& w : g.readiness().workers) n += w.breaker_state == "Running" ? 1 : 0;
    return n;
  };
  ASSERT_TRUE(eventually([&] { return up(*gateway_) == 2 && up(other) == 2; }, 120s));

  // Three long streams through the first control plane, on one host (the
  // same prompt: affinity keeps them together).
  const auto long_params = [](int salt, const std::string& id) {
    auto p = gen_params("tiny", 4000, salt);
    p.stop_token_ids = {};
    p.ignore_eos = true;
    p.stream_id = id;
    return p;
  };
  std::string busy;
  std::vector<std::shared_ptr<RecordingSink>> long_ones;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "busy-" + std::to_string(i);
    long_ones.push_back(std::make_shared<RecordingSink>());
    auto r = generate_sync(*gateway_, long_params(11, id), long_ones.back(), 120s);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    if (i == 0) busy = gateway_->worker_of(id);
    EXPECT_EQ(gateway_->worker_of(id), busy);
  }
  ASSERT_TRUE(workers_.count(busy)) << busy;
  ASSERT_TRUE(eventually([&] { return other_streams(other, busy) >= 3.0; }, 30s))
      << "the host announces the first control plane's streams";
  // Freeze the busy host, so that its announced load stays what it was (its
  // streams would otherwise run out at the tiny model's context length),
  // for less than the offline timeout.
  ::kill(workers_[busy].pid(), SIGSTOP);
  EXPECT_EQ(control::testing::metric(*gateway_, "mlxs_cluster_worker_other_streams"), 0.0)
      << "a control plane does not count its own streams twice";

  // The second control plane, with nothing of its own in flight, sends two
  // new prompts: both go to the other host (by its own count alone the
  // second would go to the busy one).
  std::vector<std::string> ids;
  for (int salt : {21, 22}) {
    const std::string id = "other-" + std::to_string(salt);
    auto r = generate_sync(other, long_params(salt, id), std::make_shared<RecordingSink>(), 120s);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_NE(other.worker_of(id), busy) << id;
    ids.push_back(id);
  }
  ::kill(workers_[busy].pid(), SIGCONT);
  for (const auto& id : ids) other.cancel(id);
  for (int i = 0; i < 3; ++i) gateway_->cancel("busy-" + std::to_string(i));
  for (auto& s : long_ones) ASSERT_TRUE(s->wait_end(30s));
  other.stop();
}

TEST_F(ClusterE2E, HostileAnnouncementsAreCountedAndIgnored) {
  start_gateway();
  NatsSettings settings;
  settings.servers = {"nats://127.0.0.1:" + std::to_string(port_)};
  auto nc = NatsConnection::connect(settings, "hostile test peer");
  ASSERT_TRUE(nc.is_ok()) << nc.status().to_string();
  for (const std::string& bad :
       {std::string("{"), std::string(R"({"v":1,"id":"a.>"})"), std::string(100000, 'x')}) {
    ASSERT_TRUE((*nc)->publish(announce_subject(cluster_), bad).is_ok());
  }
  ASSERT_TRUE((*nc)->flush(5000).is_ok());
  ASSERT_TRUE(eventually(
      [&] {
        return control::testing::metric(*gateway_, "mlxs_cluster_bad_announcements_total") >= 3;
      },
      10s));
  EXPECT_TRUE(gateway_->readiness().workers.empty());
  auto r = control::testing::call_sync(*gateway_, "tokenize",
                                       core::Json{{"model_id", "tiny"}, {"text", "x"}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), core::ErrorCode::kModelNotLoaded);
}

// Reads what the local end of a bridge receives until EOF (bounded).
std::string read_to_end(int fd, std::chrono::milliseconds limit) {
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out + "<no EOF>";
}

TEST_F(ClusterE2E, BridgeCarriesLinesAndEndsTheSessionOnAGap) {
  NatsSettings settings;
  settings.servers = {"nats://127.0.0.1:" + std::to_string(port_)};
  auto nc = NatsConnection::connect(settings, "bridge test");
  ASSERT_TRUE(nc.is_ok()) << nc.status().to_string();
  // What the bridge publishes (its local side's lines), in order.
  std::mutex mutex;
  std::vector<std::string> published;
  auto sub = (*nc)->subscribe("t.out", [&](std::string_view data, std::string_view) {
    std::lock_guard lock(mutex);
    published.emplace_back(data);
  });
  ASSERT_TRUE(sub.is_ok());
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::atomic<int> ends{0};
  core::Status why;
  Bridge bridge(**nc, "t.out", "t.in", fds[1], fds[1], 64, [&](const core::Status& s) {
    why = s;
    ++ends;
  });
  ASSERT_TRUE(bridge.start().is_ok());
  // Local lines go out one message each, numbered; blank lines are skipped.
  const std::string local = "{\"a\":1}\n\n{\"b\":2}\n";
  ASSERT_EQ(::write(fds[0], local.data(), local.size()), static_cast<ssize_t>(local.size()));
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard lock(mutex);
        return published.size() == 2;
      },
      10s));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(published[0], "1 {\"a\":1}");
    EXPECT_EQ(published[1], "2 {\"b\":2}");
  }
  // Messages in come out as lines; #3 after #1 is a gap: the session ends
  // with TransportError, the local side sees the end of input.
  ASSERT_TRUE((*nc)->publish("t.in", encode_line(1, "{\"x\":1}")).is_ok());
  ASSERT_TRUE((*nc)->publish("t.in", encode_line(3, "{\"x\":3}")).is_ok());
  ASSERT_TRUE((*nc)->flush(5000).is_ok());
  EXPECT_EQ(read_to_end(fds[0], 10s), "{\"x\":1}\n");
  ASSERT_TRUE(eventually([&] { return ends.load() == 1; }, 10s));
  EXPECT_EQ(why.code(), core::ErrorCode::kTransportError) << why.to_string();
  EXPECT_NE(why.message().find("#3 after #1"), std::string::npos) << why.message();
  // The peer was told: an end frame after the two lines.
  ASSERT_TRUE(eventually(
      [&] {
        std::lock_guard lock(mutex);
        return published.size() == 3;
      },
      10s));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(published[2], "3");
  }
  bridge.close(core::Status(core::ErrorCode::kWorkerCrashed, "again"));
  EXPECT_EQ(ends.load(), 1) << "a session ends once";
  ::close(fds[0]);
}

TEST_F(ClusterE2E, BridgeRefusesAnOversizedLocalLine) {
  NatsSettings settings;
  settings.servers = {"nats://127.0.0.1:" + std::to_string(port_)};
  auto nc = NatsConnection::connect(settings, "bridge test");
  ASSERT_TRUE(nc.is_ok()) << nc.status().to_string();
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  std::atomic<int> ends{0};
  core::Status why;
  Bridge bridge(**nc, "u.out", "u.in", fds[1], fds[1], 16, [&](const core::Status& s) {
    why = s;
    ++ends;
  });
  ASSERT_TRUE(bridge.start().is_ok());
  const std::string line(100, 'z');
  ASSERT_EQ(::write(fds[0], line.data(), line.size()), static_cast<ssize_t>(line.size()));
  ASSERT_EQ(::write(fds[0], "\n", 1), 1);
  ASSERT_TRUE(eventually([&] { return ends.load() == 1; }, 10s));
  EXPECT_EQ(why.code(), core::ErrorCode::kTransportError) << why.to_string();
  EXPECT_EQ(read_to_end(fds[0], 10s), "");
  ::close(fds[0]);
}

}  // namespace
}  // namespace mlxs::cluster
