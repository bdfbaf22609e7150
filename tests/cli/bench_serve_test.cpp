// `bench serve` against stand-in servers: it times tokens as they arrive
// (five SSE tokens 300 ms apart: the first token's time must come well
// before the end, which a reader that waits for its buffer to fill misses,
// and the gaps between tokens must be seen), and it reports HTTP errors with
// their status and message.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::testing {
namespace {

// Answers every request on its connections with a slow SSE stream, or
// (refuse) with a 429 and a JSON error body of known length, as a server
// whose queue is full does.
class SlowSseServer {
 public:
  explicit SlowSseServer(bool refuse = false) : refuse_(refuse) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] { serve(); });
  }
  ~SlowSseServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::thread([c, refuse = refuse_] { answer(c, refuse); }).detach();
    }
  }
  static void send_all(int c, const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(c, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  static void answer(int c, bool refuse) {
    std::string request;
    char buf[4096];
    for (;;) {  // one request: headers, then its Content-Length body
      const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
      if (n <= 0) break;
      request.append(buf, static_cast<std::size_t>(n));
      const auto end = request.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      const auto cl = request.find("Content-Length: ");
      const std::size_t body = cl == std::string::npos ? 0 : std::stoul(request.substr(cl + 16));
      if (request.size() >= end + 4 + body) break;
    }
    if (refuse) {
      const std::string body =
          R"j({"error":{"code":"QueueFull","message":"the interactive queue is full (256 waiting)"}})j";
      send_all(c,
               "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
               "Retry-After: 1\r\nContent-Length: " +
                   std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
      ::close(c);
      return;
    }
    send_all(c,
             "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    auto chunk = [c](const std::string& data) {
      const std::string event = "data: " + data + "\n\n";
      char size[32];
      std::snprintf(size, sizeof(size), "%zx\r\n", event.size());
      send_all(c, size + event + "\r\n");
    };
    for (int i = 0; i < 5; ++i) {
      if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
      chunk(R"({"choices":[{"index":0,"text":"tok)" + std::to_string(i) +
            R"(","finish_reason":null}]})");
    }
    chunk(R"({"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":5}})");
    chunk("[DONE]");
    send_all(c, "0\r\n\r\n");
    ::close(c);
  }

  bool refuse_ = false;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(BenchServe, TimesTheFirstTokenWhenItArrives) {
  SlowSseServer server;
  const std::string json = temp_dir() + "/bench_serve_slow.json";
  const auto r = run_process({mlx_serving_binary(), "bench", "serve", "--url",
                              "http://127.0.0.1:" + std::to_string(server.port()), "--model", "m",
                              "--concurrency", "1", "--num-prompts", "2", "--input-len", "4",
                              "--output-len", "5", "--quiet", "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  std::ifstream in(json);
  const core::Json j = core::Json::parse(in, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  const double ttft = j["ttft"]["p50_ms"].get<double>();
  const double e2e = j["e2e"]["p50_ms"].get<double>();
  // Four 300 ms gaps follow the first token.
  EXPECT_LT(ttft + 900.0, e2e) << j.dump();
  EXPECT_GT(j["itl"]["mean_ms"].get<double>(), 200.0) << j.dump();
}

// An HTTP error is counted as a failed request with its status and the
// server's message (Boost's parser once failed every response with a
// Content-Length as "body limit exceeded").
TEST(BenchServe, ReportsHttpErrorsWithTheirStatus) {
  SlowSseServer server(/*refuse=*/true);
  const std::string json = temp_dir() + "/bench_serve_refused.json";
  const auto r = run_process({mlx_serving_binary(), "bench", "serve", "--url",
                              "http://127.0.0.1:" + std::to_string(server.port()), "--model", "m",
                              "--concurrency", "2", "--num-prompts", "3", "--input-len", "4",
                              "--output-len", "5", "--quiet", "--json", json});
  std::ifstream in(json);
  const core::Json j = core::Json::parse(in, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out << r.err;
  EXPECT_EQ(j["failed"].get<int>(), 3) << j.dump();
  ASSERT_FALSE(j["errors"].empty()) << j.dump();
  EXPECT_EQ(j["errors"][0].get<std::string>(),
            "HTTP 429: the interactive queue is full (256 waiting)")
      << j.dump();
}

}  // namespace
}  // namespace mlxs::testing
