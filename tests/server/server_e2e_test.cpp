// `mlx-serving serve` end to end over raw sockets: the OpenAI endpoints on a
// synthetic model, every kind of bad request (malformed JSON, wrong types,
// huge and truncated bodies, slow headers), a client that disconnects
// mid-stream (its KV blocks come back), 1,000 concurrent streaming clients
// (every one answered in full), API keys, 429 + Retry-After, model roots.
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "raw_http.h"
#include "serve_process.h"
#include "testing/fixtures.h"

namespace mlxs::testing {
namespace {

using core::Json;
namespace fs = std::filesystem;

std::string chat_body(int max_tokens, bool stream, const std::string& extra = "") {
  std::string body = R"({"model":"test","messages":[{"role":"user","content":"Hello there"}],)"
                     R"("temperature":0,"ignore_eos":true,"max_tokens":)" +
                     std::to_string(max_tokens) + (stream ? R"(,"stream":true)" : "");
  if (!extra.empty()) body += "," + extra;
  return body + "}";
}

// A Prometheus sample's value (the first line starting with `series`), or -1.
double metric(const std::string& text, const std::string& series) {
  std::size_t pos = 0;
  while ((pos = text.find(series, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      return std::stod(text.substr(pos + series.size() + 1));
    }
    pos += series.size();
  }
  return -1;
}

class ServeE2E : public SharedServeSuite {
 protected:
  static void SetUpTestSuite() {
    // 1,000 clients and the server's sockets, each a descriptor.
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 8192);
    setrlimit(RLIMIT_NOFILE, &lim);
    model_ = synth_test_model();
    ASSERT_FALSE(model_.empty()) << "dev synth-model failed";
    roots_ = fs::path(model_).parent_path().string();
    start_shared({"--model", "test=" + model_, "--threads", "2", "--header-timeout-ms", "1500",
                  "--max-body-bytes", "65536", "--model-root", roots_});
  }

  static inline std::string model_;
  static inline std::string roots_;
};

TEST_F(ServeE2E, HealthModelsSchemasAndRoutes) {
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
  auto r = http_call(port(), "GET", "/ready");
  EXPECT_EQ(r.status, 200) << r.body;
  r = http_call(port(), "GET", "/v1/models");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json_of(r)["data"][0]["id"], "test");
  EXPECT_EQ(json_of(http_call(port(), "GET", "/v1/models/test"))["object"], "model");
  r = http_call(port(), "GET", "/v1/models/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json_of(r)["error"]["code"], "ModelNotLoaded");
  r = http_call(port(), "GET", "/v1/schemas/chat.completions");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json_of(r)["$id"], "https://mlx-serving.dev/schemas/http/chat.completions.json");
  r = http_call(port(), "GET", "/nowhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json_of(r)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(http_call(port(), "GET", "/v1/chat/completions").status, 405);
  r = http_call(port(), "GET", "/v1/runtime/info");
  EXPECT_EQ(r.status, 200) << r.body;
  r = http_call(port(), "POST", "/v1/tokenize", R"({"model":"test","text":"hello world"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GT(json_of(r)["count"].get<int>(), 0);
}

TEST_F(ServeE2E, ChatCompletionWithUsageAndRequestId) {
  const auto r = http_call(port(), "POST", "/v1/chat/completions", chat_body(6, false),
                           {"X-Request-Id: abc-123"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("x-request-id"), "abc-123");
  const Json j = json_of(r);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_TRUE(j["choices"][0]["message"]["content"].is_string());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["completion_tokens"], 6);
  EXPECT_TRUE(j["usage"]["prompt_tokens_details"].contains("cached_tokens"));
  // Greedy and seeded: the same request gives the same text.
  const auto again = http_call(port(), "POST", "/v1/chat/completions", chat_body(6, false));
  EXPECT_EQ(json_of(again)["choices"][0]["message"]["content"],
            j["choices"][0]["message"]["content"]);
}

TEST_F(ServeE2E, StreamingChatFirstChunkRoleUsageAndDone) {
  const auto r = http_call(port(), "POST", "/v1/chat/completions",
                           chat_body(5, true, R"("stream_options":{"include_usage":true},"n":2)"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers.at("content-type"), "text/event-stream");
  const auto events = sse_data(r.body);
  ASSERT_GE(events.size(), 4u) << r.body;
  EXPECT_EQ(events.back(), "[DONE]");
  const Json first = Json::parse(events.front());
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  const Json usage = Json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 10);
  int finished = 0;
  for (std::size_t i = 0; i + 2 < events.size(); ++i) {
    const Json e = Json::parse(events[i]);
    EXPECT_TRUE(e.contains("usage") && e["usage"].is_null());
    if (e["choices"][0]["finish_reason"] == "length") ++finished;
  }
  EXPECT_EQ(finished, 2);
}

TEST_F(ServeE2E, CompletionsWithTokenIdsAndLogprobs) {
  const auto r = http_call(port(), "POST", "/v1/completions",
                           R"({"model":"test","prompt":[1,2,3],"max_tokens":3,"logprobs":2,)"
                           R"("ignore_eos":true,"temperature":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  const Json j = json_of(r);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["logprobs"]["token_logprobs"].size(), 3u) << j.dump();
}

TEST_F(ServeE2E, BadBodiesGetCodedErrors) {
  auto r = http_call(port(), "POST", "/v1/chat/completions", "{not json");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json_of(r)["error"]["code"], "ParseError");
  r = http_call(port(), "POST", "/v1/chat/completions",
                R"({"model":7,"messages":"hi","temperature":"hot","n":0})");
  ASSERT_EQ(r.status, 400);
  const Json e = json_of(r)["error"];
  EXPECT_EQ(e["code"], "InvalidParams");
  EXPECT_GE(e["details"].size(), 4u) << e.dump();
  EXPECT_NE(r.headers.count("x-request-id"), 0u);
  // No internal paths in any answer.
  EXPECT_EQ(r.body.find(roots_), std::string::npos);
  r = http_call(port(), "POST", "/v1/chat/completions",
                R"({"model":"nope","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(json_of(r)["error"]["code"], "ModelNotLoaded");
  // Unknown fields are ignored and named.
  r = http_call(port(), "POST", "/v1/chat/completions", chat_body(1, false, R"("frobnicate":1)"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.headers["warning"].find("frobnicate"), std::string::npos);
}

TEST_F(ServeE2E, HugeAndTruncatedBodies) {
  // Declared too large: refused before the body is read.
  RawConnection big(port());
  ASSERT_TRUE(
      big.send("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: "
               "99999999\r\n\r\n"));
  auto r = big.read_reply();
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(json_of(r)["error"]["code"], "PayloadTooLarge");
  // Chunked past the limit.
  RawConnection chunked(port());
  ASSERT_TRUE(
      chunked.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                   "chunked\r\n\r\n"));
  const std::string piece(32768, 'a');
  for (int i = 0; i < 3; ++i) chunked.send("8000\r\n" + piece + "\r\n");
  EXPECT_EQ(chunked.read_reply().status, 413);
  // Truncated: the client stops sending inside the body.
  RawConnection cut(port());
  ASSERT_TRUE(
      cut.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
               "{\"model\""));
  ::shutdown(cut.fd(), SHUT_WR);
  r = cut.read_reply();
  EXPECT_EQ(r.status, 400);
  // Garbage instead of HTTP.
  RawConnection junk(port());
  ASSERT_TRUE(junk.send("\x01\x02 nonsense\r\n\r\n"));
  EXPECT_EQ(junk.read_reply().status, 400);
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
}

TEST_F(ServeE2E, SlowHeaderClientIsDropped) {
  RawConnection slow(port());
  ASSERT_TRUE(slow.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\n"));
  // Others are served meanwhile.
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
  // One byte every 200 ms never completes the header: dropped at the deadline (1.5 s).
  bool closed = false;
  for (int i = 0; i < 100 && !closed; ++i) {
    slow.send("X");
    closed = slow.closed_by_server(200);
  }
  EXPECT_TRUE(closed);
}

TEST_F(ServeE2E, KeepAliveServesManyRequestsOnOneConnection) {
  RawConnection c(port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send(request_text("GET", "/health")));
    EXPECT_EQ(c.read_reply().status, 200);
  }
  ASSERT_TRUE(c.send(request_text("POST", "/v1/chat/completions", chat_body(2, true))));
  EXPECT_EQ(c.read_reply().status, 200);
  ASSERT_TRUE(c.send(request_text("GET", "/health")));
  EXPECT_EQ(c.read_reply().status, 200);
}

TEST_F(ServeE2E, DisconnectMidStreamFreesTheKvCache) {
  const auto kv_used = [] {
    return metric(http_call(port(), "GET", "/metrics").body, "mlxs_kv_blocks_used{model=\"test\"}");
  };
  const double baseline = kv_used();
  ASSERT_GE(baseline, 0) << http_call(port(), "GET", "/metrics").body;
  RawConnection c(port());
  ASSERT_TRUE(c.send(request_text("POST", "/v1/chat/completions", chat_body(4000, true))));
  // Wait for the first tokens, then check the stream holds KV blocks.
  // Three events: the role chunk and two with tokens.
  std::string seen;
  const auto events = [&] {
    std::size_t n = 0;
    for (std::size_t p = 0; (p = seen.find("data: ", p)) != std::string::npos; ++p) ++n;
    return n;
  };
  const auto start = std::chrono::steady_clock::now();
  while (events() < 3 && std::chrono::steady_clock::now() - start < std::chrono::seconds(120)) {
    pollfd pfd{c.fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(c.fd(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    seen.append(buf, static_cast<std::size_t>(n));
  }
  ASSERT_GE(events(), 3u) << seen;
  EXPECT_GT(kv_used(), baseline);
  c.close();
  // The server cancels the stream and the worker frees its blocks.
  double now = -1, running = -1;
  for (int i = 0; i < 600; ++i) {
    const std::string text = http_call(port(), "GET", "/metrics").body;
    now = metric(text, "mlxs_kv_blocks_used{model=\"test\"}");
    running = metric(text, "mlxs_streams_running{model=\"test\"}");
    if (now == baseline && running == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(now, baseline);
  EXPECT_EQ(running, 0);
  // The abandoned request is counted, as cancelled, not lost.
  const std::string text = http_call(port(), "GET", "/metrics").body;
  EXPECT_NE(text.find("mlxs_http_requests_total{route=\"/v1/chat/completions\",status=\"200\","
                      "code=\"Cancelled\""),
            std::string::npos)
      << text;
}

TEST_F(ServeE2E, ThousandConcurrentStreamingClientsAllFinish) {
  constexpr int kClients = 1000;
  constexpr int kTokens = 3;
  std::vector<std::unique_ptr<RawConnection>> conns;
  const std::string req = request_text(
      "POST", "/v1/completions",
      R"({"model":"test","prompt":"Once upon a time","max_tokens":)" + std::to_string(kTokens) +
          R"(,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true},)"
          // Batch class: its queue holds them all (interactive's is shorter).
          R"("priority":"batch"})");
  for (int i = 0; i < kClients; ++i) {
    conns.push_back(std::make_unique<RawConnection>(port()));
    ASSERT_TRUE(conns.back()->ok()) << i;
    ASSERT_TRUE(conns.back()->send(req)) << i;
  }
  // Read all of them at once: each answer is complete, with its usage and [DONE].
  std::vector<std::string> bodies(kClients);
  std::vector<bool> done(kClients, false);
  int finished = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(8);
  std::vector<pollfd> fds(kClients);
  while (finished < kClients && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < kClients; ++i) fds[i] = {done[i] ? -1 : conns[i]->fd(), POLLIN, 0};
    if (::poll(fds.data(), fds.size(), 500) <= 0) continue;
    for (int i = 0; i < kClients; ++i) {
      if (done[i] || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
      char buf[8192];
      const ssize_t n = ::recv(conns[i]->fd(), buf, sizeof buf, 0);
      if (n > 0) bodies[i].append(buf, static_cast<std::size_t>(n));
      if (n <= 0 || bodies[i].find("\r\n0\r\n\r\n") != std::string::npos) {
        done[i] = true;
        ++finished;
      }
    }
  }
  ASSERT_EQ(finished, kClients);
  int complete = 0;
  std::string complete_failures;
  for (const auto& b : bodies) {
    const bool ok = b.rfind("HTTP/1.1 200", 0) == 0 &&
                    b.find("data: [DONE]") != std::string::npos &&
                    b.find("\"completion_tokens\":" + std::to_string(kTokens)) != std::string::npos;
    if (ok) {
      ++complete;
    } else if (complete_failures.size() < 600) {
      complete_failures += b.substr(0, 300) + "\n---\n";
    }
  }
  EXPECT_EQ(complete, kClients) << complete_failures;
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);
}

TEST_F(ServeE2E, LoadAndUnloadOnlyUnderModelRoots) {
  auto r = http_call(port(), "POST", "/v1/models/load", R"({"model":"x","path":"../../etc"})");
  EXPECT_EQ(r.status, 400) << r.body;
  r = http_call(port(), "POST", "/v1/models/load", R"({"model":"x","path":"/etc"})");
  EXPECT_EQ(r.status, 400) << r.body;
  r = http_call(port(), "POST", "/v1/models/load", R"({"model":"x","path":"no-such-model"})");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(r.body.find(roots_), std::string::npos) << "leaks a path: " << r.body;
  const std::string name = fs::path(model_).filename().string();
  r = http_call(port(), "POST", "/v1/models/load",
                R"({"model":"second","path":")" + name + R"("})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find(roots_), std::string::npos) << "leaks a path: " << r.body;
  EXPECT_EQ(http_call(port(), "GET", "/v1/models/second").status, 200);
  r = http_call(port(), "POST", "/v1/models/unload", R"({"model":"second"})");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(http_call(port(), "GET", "/v1/models/second").status, 404);
}

TEST_F(ServeE2E, MetricsCountRequestsAndLatencies) {
  ASSERT_EQ(http_call(port(), "POST", "/v1/chat/completions", chat_body(2, false)).status, 200);
  const std::string text = http_call(port(), "GET", "/metrics").body;
  EXPECT_NE(text.find("mlxs_http_requests_total{route=\"/v1/chat/completions\",status=\"200\""),
            std::string::npos)
      << text;
  EXPECT_GT(metric(text, "mlxs_time_to_first_token_seconds_count{model=\"test\"}"), 0);
  EXPECT_GT(metric(text, "mlxs_generation_tokens_total{model=\"test\"}"), 0);
  EXPECT_NE(text.find("mlxs_e2e_request_latency_seconds_bucket"), std::string::npos);
}

TEST(ServeInProcess, ApiKeysAndOverload) {
  const std::string model = synth_test_model();
  ASSERT_FALSE(model.empty());
  std::string error;
  auto server = ServeProcess::start({"--in-process", "--model", "test=" + model, "--api-key",
                                     "sekret", "--max-concurrent-streams", "2", "--threads", "2"},
                                    &error);
  ASSERT_NE(server, nullptr) << error;
  const int port = server->port();
  EXPECT_EQ(http_call(port, "GET", "/health").status, 200);
  auto r = http_call(port, "GET", "/v1/models");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json_of(r)["error"]["code"], "Unauthorized");
  EXPECT_EQ(http_call(port, "GET", "/v1/models", "", {"Authorization: Bearer wrong"}).status, 401);
  const std::string auth = "Authorization: Bearer sekret";
  EXPECT_EQ(http_call(port, "GET", "/v1/models", "", {auth}).status, 200);
  // Two long streams fill the server; the third gets 429 + Retry-After.
  std::vector<std::unique_ptr<RawConnection>> hold;
  for (int i = 0; i < 2; ++i) {
    hold.push_back(std::make_unique<RawConnection>(port));
    ASSERT_TRUE(hold.back()->send(
        request_text("POST", "/v1/chat/completions", chat_body(4000, true), {auth})));
  }
  // Both are running once each has its first event.
  for (auto& c : hold) {
    std::string got;
    for (int i = 0; i < 1200 && got.find("data:") == std::string::npos; ++i) {
      pollfd pfd{c->fd(), POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(c->fd(), buf, sizeof buf, 0);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
    ASSERT_NE(got.find("data:"), std::string::npos);
  }
  r = http_call(port, "POST", "/v1/chat/completions", chat_body(2, false), {auth});
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(json_of(r)["error"]["code"], "QueueFull");
  EXPECT_EQ(r.headers.count("retry-after"), 1u);
  hold.clear();  // disconnects cancel both
  bool served = false;
  for (int i = 0; i < 300 && !served; ++i) {
    served =
        http_call(port, "POST", "/v1/chat/completions", chat_body(2, false), {auth}).status == 200;
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(served);
  EXPECT_EQ(server->stop(), 0) << server->log();
}

}  // namespace
}  // namespace mlxs::testing
