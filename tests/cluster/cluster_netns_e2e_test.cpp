// Several hosts on one machine, each in a network namespace of its own
// (netns_lab.h): nats-server on one, two worker hosts (`runtime --cluster`)
// on two more, a control plane (`serve --cluster`, HTTP) on the fourth, all
// started with `ip netns exec`. A worker host killed mid-stream ends its
// stream with WorkerCrashed within the offline timeout, and a request sent
// to it meanwhile (by prompt affinity) is served by the other host instead
// of failing; a host whose link is cut is taken out and rejoins when the link
// is back; a NATS restart is survived (a request made while it is down is
// served once it is back). Skipped, saying why, where namespaces cannot be
// made. Every wait is bounded.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "child_process.h"
#include "control/harness.h"
#include "core/json_util.h"
#include "netns_lab.h"

namespace mlxs::cluster {
namespace {

namespace fs = std::filesystem;
using control::testing::eventually;
using testing::Child;
using testing::NetnsLab;
using namespace std::chrono_literals;

constexpr int kHeartbeatMs = 250;
constexpr int kOfflineMs = 2000;
constexpr int kHttpPort = 8080;  // the control plane's namespace is its own: no clash

// One HTTP/1.1 exchange with the control plane, from a socket made in a
// namespace that reaches it (Connection: close; the answer is read to EOF).
class HttpExchange {
 public:
  HttpExchange(int fd, const std::string& address, const std::string& method,
               const std::string& path, const std::string& body)
      : fd_(fd) {
    if (fd_ < 0) return;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kHttpPort);
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return;
    }
    const std::string req = method + " " + path + " HTTP/1.1\r\nHost: " + address +
                            "\r\nConnection: close\r\nContent-Type: application/json\r\n"
                            "Content-Length: " +
                            std::to_string(body.size()) + "\r\n\r\n" + body;
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
      close();
  }
  ~HttpExchange() { close(); }
  HttpExchange(const HttpExchange&) = delete;
  HttpExchange& operator=(const HttpExchange&) = delete;

  bool ok() const { return fd_ >= 0 || eof_; }
  // Reads until `what` is in the answer, EOF, or the limit; true if found.
  bool read_until(const std::string& what, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (text_.find(what) == std::string::npos && !eof_ &&
           std::chrono::steady_clock::now() < deadline) {
      if (fd_ < 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[8192];
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) {
        eof_ = true;
        close();
      } else {
        text_.append(buf, static_cast<std::size_t>(n));
      }
    }
    return text_.find(what) != std::string::npos;
  }
  // Reads to EOF (bounded); true when the server closed.
  bool read_all(std::chrono::milliseconds limit) {
    read_until("\x01never\x01", limit);
    return eof_;
  }
  int status() const { return text_.rfind("HTTP/1.1 ", 0) == 0 ? std::atoi(text_.c_str() + 9) : 0; }
  const std::string& text() const { return text_; }

 private:
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int fd_ = -1;
  bool eof_ = false;
  std::string text_;
};

std::string completion(const std::string& prompt, int max_tokens, bool stream) {
  return core::Json{{"model", "tiny"},    {"prompt", prompt}, {"max_tokens", max_tokens},
                    {"temperature", 0.0}, {"stream", stream}, {"ignore_eos", true}}
      .dump();
}

class ClusterNetns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string bin = mlxs::testing::mlx_serving_binary();
    model_dir_ =
        (fs::temp_directory_path() / ("mlxs-netns-model-" + std::to_string(::getpid()))).string();
    Child synth({bin, "dev", "synth-model", "--preset", "tiny", "--arch", "qwen3", "--tokenizer",
                 "qwen3", "--dtype", "f32", "--out", model_dir_},
                true);
    if (synth.wait_exit(300s) != 0) model_dir_.clear();
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!model_dir_.empty()) fs::remove_all(model_dir_, ec);
  }

  void SetUp() override {
    nats_binary_ = testing::find_program("nats-server");
    if (nats_binary_.empty()) {
      GTEST_SKIP() << "nats-server is not installed (Debian package nats-server; scripts/setup.sh "
                      "installs it): the network-namespace cluster test cannot run";
    }
    std::string why;
    lab_ = NetnsLab::create(&why);
    if (!lab_) {
      GTEST_SKIP() << "cannot make network namespaces (" << why
                   << "): the network-namespace cluster test needs root or CAP_NET_ADMIN and "
                      "iproute2";
    }
    for (const char* host : {"nats", "w1", "w2", "cp"}) {
      const std::string address = lab_->add_host(host, &why);
      if (address.empty() && std::string(host) == "nats") {
        lab_.reset();
        GTEST_SKIP() << "cannot make network namespaces (" << why << ")";
      }
      ASSERT_FALSE(address.empty()) << why;
      address_[host] = address;
    }
    ASSERT_FALSE(model_dir_.empty()) << "dev synth-model failed";
    dir_ = fs::temp_directory_path() / ("mlxs-netns-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (const char* id : {"w1", "w2"}) write_file(id, "worker");
    write_file("cp", "controller");
    start_nats();
    start_worker("w1");
    start_worker("w2");
    const std::string bin = mlxs::testing::mlx_serving_binary();
    cp_ = Child(lab_->in(
        "cp", {bin, "--log-level", "warn", "serve", "--cluster", (dir_ / "cp.yaml").string(),
               "--host", address_["cp"], "--port", std::to_string(kHttpPort)}));
    ASSERT_TRUE(cp_.running());
  }

  void TearDown() override {
    cp_.stop(SIGTERM);
    for (auto& [id, w] : workers_) w.stop(SIGTERM);
    nats_.stop(SIGKILL);
    lab_.reset();  // the namespaces go, whatever happened
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

  void write_file(const std::string& id, const std::string& mode) {
    std::ofstream out(dir_ / (id + ".yaml"));
    out << "mode: " << mode << "\nname: netns\n"
        << "nats: {serverUrl: 'nats://" << address_["nats"]
        << ":4222', reconnectTimeWait: 200, maxReconnectAttempts: -1, connectTimeoutMs: 2000}\n"
        << "discovery: {heartbeatIntervalMs: " << kHeartbeatMs
        << ", offlineTimeoutMs: " << kOfflineMs << ", attachTimeoutMs: 20000}\n";
    if (mode == "worker") {
      out << "worker: {workerId: " << id << ", models: [{id: tiny, path: '" << model_dir_
          << "'}]}\n";
    }
  }

  void start_nats() {
    nats_ = Child(lab_->in("nats", {nats_binary_, "-a", address_["nats"], "-p", "4222"}), true);
    ASSERT_TRUE(nats_.running());
  }

  void start_worker(const std::string& id) {
    workers_[id] = Child(lab_->in(
        id, {mlxs::testing::mlx_serving_binary(), "--log-level", "warn", "runtime", "--threads",
             "1", "--kv-memory-mb", "64", "--cluster", (dir_ / (id + ".yaml")).string()}));
    ASSERT_TRUE(workers_[id].running());
  }

  // An exchange with the control plane, from the nats host's namespace (on
  // the bridge, and its link is never cut).
  std::unique_ptr<HttpExchange> http(const std::string& method, const std::string& path,
                                     const std::string& body = "") {
    return std::make_unique<HttpExchange>(lab_->tcp_socket_in("nats"), address_["cp"], method, path,
                                          body);
  }

  // The value of one /metrics sample (exact name and labels), or -1.
  double metric(const std::string& sample) {
    auto h = http("GET", "/metrics");
    if (!h->read_all(10s) || h->status() != 200) return -1;
    const std::string& t = h->text();
    const std::string key = "\n" + sample + " ";
    const auto at = t.find(key);
    return at == std::string::npos ? -1 : std::atof(t.c_str() + at + key.size());
  }
  bool worker_up(const std::string& id) {
    return metric("mlxs_worker_up{worker=\"" + id + "\"}") == 1.0;
  }
  std::string streaming_on() {
    for (const char* id : {"w1", "w2"}) {
      if (metric("mlxs_worker_streams_active{worker=\"" + std::string(id) + "\"}") >= 1.0)
        return id;
    }
    return {};
  }
  // A short completion; its HTTP status (0: none within the bound).
  int complete(const std::string& prompt) {
    auto h = http("POST", "/v1/completions", completion(prompt, 4, false));
    h->read_all(120s);
    return h->status();
  }

  static inline std::string model_dir_;
  std::string nats_binary_;
  std::unique_ptr<NetnsLab> lab_;
  std::map<std::string, std::string> address_;
  fs::path dir_;
  Child nats_;
  std::map<std::string, Child> workers_;
  Child cp_;
};

TEST_F(ClusterNetns, HostLossLinkCutAndNatsRestart) {
  ASSERT_TRUE(eventually([&] { return worker_up("w1") && worker_up("w2"); }, 180s))
      << "both worker hosts up behind the control plane";
  EXPECT_EQ(complete("hello from another namespace"), 200);

  // A worker host killed mid-stream: its stream ends with WorkerCrashed
  // within the offline timeout (plus slack for a loaded machine).
  const std::string prompt = "a long story about network namespaces and their veth pairs";
  auto doomed = http("POST", "/v1/completions", completion(prompt, 4000, true));
  ASSERT_TRUE(doomed->read_until("\"text\"", 120s)) << doomed->text();
  std::string victim;
  ASSERT_TRUE(eventually(
      [&] {
        victim = streaming_on();
        return !victim.empty();
      },
      30s));
  const std::string survivor = victim == "w1" ? "w2" : "w1";
  workers_[victim].stop(SIGKILL);
  // The same prompt goes where its prefix went (affinity): to the dead host,
  // which still looks up until the offline timeout. It had not started
  // there, so it is served by the other host, not failed.
  auto queued = http("POST", "/v1/completions", completion(prompt, 4, false));
  ASSERT_TRUE(doomed->read_all(std::chrono::milliseconds(kOfflineMs) + 15s));
  EXPECT_NE(doomed->text().find("WorkerCrashed"), std::string::npos) << doomed->text();
  ASSERT_TRUE(queued->read_all(120s));
  EXPECT_EQ(queued->status(), 200) << queued->text();
  EXPECT_GE(metric("mlxs_cluster_rerouted_total"), 1.0);
  EXPECT_EQ(complete("after the loss"), 200);

  // It rejoins when it comes back.
  start_worker(victim);
  ASSERT_TRUE(eventually([&] { return worker_up(victim); }, 180s));

  // A cut link: the host is taken out (its announcements stop), requests
  // are served by the other; when the link is back it rejoins.
  ASSERT_TRUE(lab_->set_link(survivor, false));
  ASSERT_TRUE(eventually([&] { return !worker_up(survivor); },
                         std::chrono::milliseconds(kOfflineMs) + 30s));
  EXPECT_EQ(complete("while a link is down"), 200);
  ASSERT_TRUE(lab_->set_link(survivor, true));
  ASSERT_TRUE(eventually([&] { return worker_up(survivor); }, 180s)) << "rejoined after the cut";
  EXPECT_EQ(complete("after the link is back"), 200);

  // NATS restarts: both hosts are cut off; a request made meanwhile waits in
  // the control plane and is served once the server and the hosts are back.
  nats_.stop(SIGKILL);
  ASSERT_TRUE(eventually([&] { return !worker_up("w1") && !worker_up("w2"); },
                         std::chrono::milliseconds(kOfflineMs) + 30s));
  auto waiting = http("POST", "/v1/completions", completion("waiting for nats", 4, false));
  ASSERT_TRUE(waiting->ok());
  EXPECT_FALSE(waiting->read_until("HTTP/1.1", 500ms)) << "it waits: " << waiting->text();
  start_nats();
  ASSERT_TRUE(waiting->read_all(180s));
  EXPECT_EQ(waiting->status(), 200) << waiting->text();
  ASSERT_TRUE(eventually([&] { return worker_up("w1") && worker_up("w2"); }, 180s));
  EXPECT_EQ(complete("after the restart"), 200);
}

}  // namespace
}  // namespace mlxs::cluster
