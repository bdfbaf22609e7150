// WorkerClient against a peer on a socket pair driven by the test: answers
// matched by id in any order, worker error codes restored, notifications in
// order, deadlines on an injected clock, late answers dropped, the in-flight
// limit, and a protocol violation ending the connection with every pending
// request failed and on_closed run once.
#include "control/worker_client.h"

#include <sys/socket.h>
#include <unistd.h>

#include <future>

#include <gtest/gtest.h>

namespace mlxs::control {
namespace {

using core::ErrorCode;
using core::Json;

class SocketHandle final : public WorkerHandle {
 public:
  explicit SocketHandle(int peer) : peer_(peer) {}
  void kill() override { ::shutdown(peer_, SHUT_RDWR); }
  int wait() override { return 0; }
  std::string describe() const override { return "socket"; }

 private:
  int peer_;
};

class WorkerClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer_ = fds[1];
    LaunchedWorker w;
    w.to_worker = w.from_worker = fds[0];
    w.handle = std::make_unique<SocketHandle>(peer_);
    WorkerClient::Callbacks cb;
    cb.on_notification = [this](protocol::Notification n) {
      std::lock_guard lock(mutex_);
      notes_.push_back(n.method + ":" + n.params.dump());
    };
    cb.on_closed = [this](const core::Status& why) {
      std::lock_guard lock(mutex_);
      closed_.push_back(why.message());
    };
    ClientOptions o;
    o.max_pending = 3;
    client_ = std::make_unique<WorkerClient>("w", std::move(w), o, std::move(cb), clock_);
    client_->start();
  }
  void TearDown() override {
    client_.reset();
    ::close(peer_);
  }

  // The next request line the client wrote.
  Json read_request() {
    std::string line;
    char c;
    while (::read(peer_, &c, 1) == 1 && c != '\n') line += c;
    return Json::parse(line);
  }
  void write_line(const std::string& s) {
    const std::string line = s + "\n";
    ASSERT_EQ(::write(peer_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }

  using Answer = std::shared_ptr<std::promise<core::Result<Json>>>;
  Answer call(const std::string& method, core::Nanos timeout = 0) {
    auto p = std::make_shared<std::promise<core::Result<Json>>>();
    client_->call(method, Json::object(), timeout,
                  [p](core::Result<Json> r) { p->set_value(std::move(r)); });
    return p;
  }

  core::FakeClock clock_;
  int peer_ = -1;
  std::unique_ptr<WorkerClient> client_;
  std::mutex mutex_;
  std::vector<std::string> notes_;
  std::vector<std::string> closed_;
};

TEST_F(WorkerClientTest, AnswersAreMatchedByIdInAnyOrder) {
  auto a = call("runtime/info");
  auto b = call("tokenize");
  const Json ra = read_request();
  const Json rb = read_request();
  EXPECT_EQ(ra["method"], "runtime/info");
  EXPECT_EQ(rb["method"], "tokenize");
  EXPECT_EQ(ra["jsonrpc"], "2.0");
  EXPECT_NE(ra["id"], rb["id"]);
  write_line(Json{{"jsonrpc", "2.0"}, {"method", "stream.event"}, {"params", {{"n", 1}}}}.dump());
  write_line(Json{{"jsonrpc", "2.0"},
                  {"id", rb["id"]},
                  {"error", {{"code", -32005}, {"message", "Model not loaded: m"}}}}
                 .dump());
  write_line(Json{{"jsonrpc", "2.0"}, {"id", ra["id"]}, {"result", {{"v", 1}}}}.dump());
  write_line(Json{{"jsonrpc", "2.0"}, {"method", "stream.event"}, {"params", {{"n", 2}}}}.dump());
  auto fa = a->get_future();
  auto fb = b->get_future();
  const auto got_a = fa.get();
  const auto got_b = fb.get();
  ASSERT_TRUE(got_a.is_ok());
  EXPECT_EQ((*got_a)["v"], 1);
  ASSERT_FALSE(got_b.is_ok());
  EXPECT_EQ(got_b.status().code(), ErrorCode::kModelNotLoaded);
  EXPECT_EQ(got_b.status().message(), "Model not loaded: m");
  // A round trip after the notifications: they were delivered before it.
  auto c = call("runtime/state");
  write_line(Json{{"jsonrpc", "2.0"}, {"id", read_request()["id"]}, {"result", nullptr}}.dump());
  ASSERT_TRUE(c->get_future().get().is_ok());
  std::lock_guard lock(mutex_);
  EXPECT_EQ(notes_, (std::vector<std::string>{"stream.event:{\"n\":1}", "stream.event:{\"n\":2}"}));
  EXPECT_TRUE(closed_.empty());
}

TEST_F(WorkerClientTest, DeadlinesFollowTheClockAndLateAnswersAreDropped) {
  auto slow = call("tokenize", 1'000);
  const Json req = read_request();
  clock_.advance_ns(999);
  client_->expire_overdue();
  EXPECT_EQ(client_->pending(), 1u);
  clock_.advance_ns(1);
  client_->expire_overdue();
  const auto r = slow->get_future().get();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kTimeout);
  EXPECT_EQ(client_->pending(), 0u);
  // The late answer is dropped; the connection stays usable.
  write_line(Json{{"jsonrpc", "2.0"}, {"id", req["id"]}, {"result", 1}}.dump());
  auto next = call("runtime/state");
  write_line(Json{{"jsonrpc", "2.0"}, {"id", read_request()["id"]}, {"result", 2}}.dump());
  const auto n = next->get_future().get();
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(*n, 2);
  EXPECT_FALSE(client_->closed());
}

TEST_F(WorkerClientTest, InFlightLimitRefusesWithQueueFull) {
  std::vector<Answer> held;
  for (int i = 0; i < 3; ++i) held.push_back(call("tokenize"));
  auto refused = call("tokenize");
  const auto r = refused->get_future().get();
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kQueueFull);
}

TEST_F(WorkerClientTest, ProtocolViolationClosesOnceAndFailsEveryPendingRequest) {
  auto a = call("tokenize");
  auto b = call("load_model");
  read_request();
  read_request();
  write_line("Traceback (most recent call last):");
  for (auto* p : {&a, &b}) {
    const auto r = (*p)->get_future().get();
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kWorkerCrashed);
    EXPECT_NE(r.status().message().find("protocol violation"), std::string::npos)
        << r.status().message();
  }
  EXPECT_TRUE(client_->closed());
  auto after = call("runtime/info");
  EXPECT_EQ(after->get_future().get().status().code(), ErrorCode::kWorkerCrashed);
  client_->kill("again");
  client_.reset();  // joins the reader, which has run on_closed by then
  std::lock_guard lock(mutex_);
  ASSERT_EQ(closed_.size(), 1u);
  EXPECT_NE(closed_[0].find("not a JSON-RPC message"), std::string::npos) << closed_[0];
}

}  // namespace
}  // namespace mlxs::control
