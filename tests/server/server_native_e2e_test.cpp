// `serve` started with no model, end to end over raw HTTP: /ready stays 503
// until a load (with its one-token warm-up) answered; POST /v1/detokenize
// round-trips /v1/tokenize and answers bad ids with coded 400s; a /metrics
// scrape exposes the three load signals the Gateway API Inference Extension
// reads, in valid Prometheus text.
#include <chrono>
#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "raw_http.h"
#include "serve_process.h"

namespace mlxs::testing {
namespace {

using core::Json;
namespace fs = std::filesystem;

class NativeE2E : public SharedServeSuite {
 protected:
  static void SetUpTestSuite() {
    model_ = synth_test_model();
    ASSERT_FALSE(model_.empty()) << "dev synth-model failed";
    start_shared({"--threads", "2", "--model-root", fs::path(model_).parent_path().string()});
  }
  // Loads the model as "test" once; the load's answer.
  static Json ensure_loaded() {
    static const Json details = [] {
      const auto r =
          http_call(port(), "POST", "/v1/models/load",
                    R"({"model":"test","path":")" + fs::path(model_).filename().string() + R"("})");
      EXPECT_EQ(r.status, 200) << r.body;
      return r.status == 200 ? json_of(r)["details"] : Json();
    }();
    return details;
  }
  static Json post(const std::string& path, const Json& body, int expect) {
    const auto r = http_call(port(), "POST", path, body.dump());
    EXPECT_EQ(r.status, expect) << path << " " << body.dump() << " -> " << r.body;
    return json_of(r);
  }

  static inline std::string model_;
};

TEST_F(NativeE2E, ReadyOnlyOnceAModelRanItsWarmUpToken) {
  // 503 while the worker starts, and still 503 once it serves without a model.
  RawReply r;
  for (int i = 0; i < 600; ++i) {
    r = http_call(port(), "GET", "/ready");
    ASSERT_EQ(r.status, 503) << r.body;
    if (json_of(r)["reason"] == "no model is loaded") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(json_of(r)["reason"], "no model is loaded") << r.body;
  EXPECT_EQ(http_call(port(), "GET", "/health").status, 200);

  const Json details = ensure_loaded();
  ASSERT_TRUE(details.contains("warmup_seconds")) << details.dump();
  EXPECT_GE(details["warmup_seconds"].get<double>(), 0.0);
  r = http_call(port(), "GET", "/ready");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r)["workers"][0]["models"], Json::array({"test"})) << r.body;
  EXPECT_NE(http_call(port(), "GET", "/metrics").body.find("\nmlxs_ready 1\n"), std::string::npos);
}

TEST_F(NativeE2E, EveryAnsweredRequestHasAnAccessLogLineWithItsId) {
  const auto r = http_call(port(), "GET", "/v1/models", "", {"X-Request-Id: access-log-7f3a"});
  ASSERT_EQ(r.status, 200) << r.body;
  // The line is written once the answer went out; stderr is read by a thread.
  std::string line;
  for (int i = 0; i < 100 && line.empty(); ++i) {
    const std::string log = server_->log();
    const auto at = log.find(R"("request_id":"access-log-7f3a")");
    if (at != std::string::npos) {
      const std::size_t begin = log.rfind('\n', at) + 1;
      line = log.substr(begin, log.find('\n', at) - begin);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_FALSE(line.empty()) << server_->log();
  const Json j = Json::parse(line);
  EXPECT_EQ(j["event"], "http_request");
  EXPECT_EQ(j["status"], 200);
  EXPECT_EQ(j["code"], "ok");
  EXPECT_GE(j["seconds"].get<double>(), 0.0);
}

TEST_F(NativeE2E, DetokenizeInvertsTokenize) {
  ensure_loaded();
  const std::string text = "Hello, world! Ünïcödé";
  const Json t = post("/v1/tokenize", {{"model", "test"}, {"text", text}}, 200);
  ASSERT_TRUE(t["tokens"].is_array()) << t.dump();
  const Json d =
      post("/v1/detokenize",
           {{"model", "test"}, {"tokens", t["tokens"]}, {"skip_special_tokens", true}}, 200);
  EXPECT_EQ(d, Json({{"text", text}}));
  EXPECT_EQ(post("/v1/detokenize", {{"model", "test"}, {"tokens", Json::array()}}, 200)["text"],
            "");
}

TEST_F(NativeE2E, DetokenizeBadInputIsACoded4xx) {
  ensure_loaded();
  // Malformed bodies: refused by the document before any worker sees them.
  for (const Json& tokens : {Json("abc"), Json::array({1, "x"}), Json::array({-1}),
                             Json::array({1.5}), Json::array({std::int64_t{1} << 40})}) {
    const Json e = post("/v1/detokenize", {{"model", "test"}, {"tokens", tokens}}, 400);
    EXPECT_EQ(e["error"]["code"], "InvalidParams") << e.dump();
  }
  auto r = http_call(port(), "POST", "/v1/detokenize", R"({"model":"test","tokens":[1,)");
  EXPECT_EQ(r.status, 400) << r.body;
  // Well-formed ids the vocabulary lacks: the worker's coded refusal.
  for (const std::int64_t id : {std::int64_t{1} << 24, std::int64_t{2147483647}}) {
    const Json e =
        post("/v1/detokenize", {{"model", "test"}, {"tokens", Json::array({1, id})}}, 400);
    EXPECT_EQ(e["error"]["code"], "InvalidParams") << e.dump();
    EXPECT_NE(e["error"]["message"].get<std::string>().find("/tokens/1"), std::string::npos);
  }
  const Json e = post("/v1/detokenize", {{"model", "nope"}, {"tokens", Json::array({1})}}, 404);
  EXPECT_EQ(e["error"]["code"], "ModelNotLoaded") << e.dump();
  // Nothing of that hurt the worker.
  EXPECT_EQ(http_call(port(), "GET", "/ready").status, 200);
  post("/v1/detokenize", {{"model", "test"}, {"tokens", Json::array({1, 2})}}, 200);
}

// Every sample line is `name{labels} value` or `name value`, every family has
// one TYPE; returns the samples by series.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  std::map<std::string, double> samples;
  std::map<std::string, int> types;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      const std::string name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_EQ(++types[name], 1) << "second TYPE for " << name;
      continue;
    }
    if (line.front() == '#') continue;
    const auto space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

TEST_F(NativeE2E, MetricsExposeTheGatewayLoadSignals) {
  ensure_loaded();
  ASSERT_EQ(http_call(port(), "POST", "/v1/completions",
                      R"({"model":"test","prompt":"Hi","max_tokens":2,"temperature":0})")
                .status,
            200);
  const std::string text = http_call(port(), "GET", "/metrics").body;
  const auto samples = parse_prometheus(text);
  for (const char* family :
       {"mlxs_requests_waiting", "mlxs_requests_running", "mlxs_kv_cache_usage_ratio"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + family + " gauge\n"), std::string::npos)
        << family << "\n"
        << text;
    const auto it = samples.find(std::string(family) + "{model=\"test\"}");
    ASSERT_NE(it, samples.end()) << family << "\n" << text;
    EXPECT_GE(it->second, 0.0) << family;
  }
  // Idle now: nothing waits or runs, and the KV use is a fraction.
  EXPECT_EQ(samples.at("mlxs_requests_waiting{model=\"test\"}"), 0.0);
  EXPECT_EQ(samples.at("mlxs_requests_running{model=\"test\"}"), 0.0);
  EXPECT_LE(samples.at("mlxs_kv_cache_usage_ratio{model=\"test\"}"), 1.0);
}

}  // namespace
}  // namespace mlxs::testing
