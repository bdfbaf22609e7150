// `serve` started with no model, end to end over raw HTTP: /ready stays 503
// until a load (with its one-token warm-up) answered; POST /v1/detokenize
// round-trips /v1/tokenize and answers bad ids with coded 400s; a /metrics
// scrape exposes the three load signals the Gateway API Inference Extension
// reads, in valid Prometheus text; /v1/status and /metrics carry each model's
// memory, and /v1/status a load's progress while it runs and after.
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "raw_http.h"
#include "serve_process.h"
#include "testing/fixtures.h"
#include "testing/process.h"

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

// A checkpoint's tensors read from its safetensors headers.
struct Checkpoint {
  std::int64_t payload = 0;    // bytes of every tensor as stored
  std::int64_t cpu_bytes = 0;  // as the CPU backend holds them: 1-D tensors widened to f32
  std::int64_t tensors = 0;
};

Checkpoint read_checkpoint(const std::string& dir) {
  Checkpoint c;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".safetensors") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    std::uint64_t n = 0;
    in.read(reinterpret_cast<char*>(&n), sizeof(n));  // little-endian, as the format says
    std::string header(n, '\0');
    in.read(header.data(), static_cast<std::streamsize>(n));
    const Json h = Json::parse(header);
    for (const auto& [name, t] : h.items()) {
      if (name == "__metadata__") continue;
      const std::int64_t bytes =
          t["data_offsets"][1].get<std::int64_t>() - t["data_offsets"][0].get<std::int64_t>();
      std::int64_t numel = 1;
      for (const auto& d : t["shape"]) numel *= d.get<std::int64_t>();
      c.payload += bytes;
      c.cpu_bytes += t["shape"].size() == 1 ? numel * 4 : bytes;
      ++c.tensors;
    }
  }
  return c;
}

const Json* model_detail(const Json& status, const std::string& id) {
  for (const Json& d : status["model_details"]) {
    if (d["id"] == id) return &d;
  }
  return nullptr;
}

TEST_F(NativeE2E, StatusCarriesEachModelsMemoryAndItsLoadProgress) {
  // A bf16 checkpoint loaded as bf16: matrices are held as stored, norms as f32.
  const std::string dir = temp_dir() + "/serve-model-bf16";
  ASSERT_EQ(fs::path(dir).parent_path(), fs::path(model_).parent_path()) << "under the root";
  if (!fs::exists(dir + "/config.json")) {
    const auto made =
        run_process({mlx_serving_binary(), "dev", "synth-model", "--preset", "tiny", "--arch",
                     "qwen3", "--tokenizer", "qwen3", "--dtype", "bf16", "--out", dir});
    ASSERT_EQ(made.exit_code, 0) << made.err;
  }
  const Checkpoint ck = read_checkpoint(dir);
  ASSERT_GT(ck.tensors, 8) << "enough tensors to report progress on";

  // Poll the status while the load runs: every report seen of this load.
  std::atomic<bool> answered{false};
  std::vector<Json> seen;
  std::thread poller([&] {
    while (!answered.load()) {
      const auto r = http_call(port(), "GET", "/v1/status");
      if (r.status == 200) {
        const Json st = json_of(r);
        const Json* d = model_detail(st, "bf");
        if (d != nullptr && (*d)["state"] == "loading" && !(*d)["load"].is_null()) {
          seen.push_back((*d)["load"]);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  const auto load = http_call(port(), "POST", "/v1/models/load",
                              R"({"model":"bf","path":"serve-model-bf16","quantization":"none"})");
  answered.store(true);
  poller.join();
  ASSERT_EQ(load.status, 200) << load.body;
  std::int64_t done = 0;
  for (const Json& p : seen) {
    EXPECT_GE(p["done_bytes"].get<std::int64_t>(), done) << "progress never goes back";
    EXPECT_EQ(p["total_bytes"].get<std::int64_t>(), ck.payload);
    EXPECT_EQ(p["tensors_total"].get<std::int64_t>(), ck.tensors);
    done = p["done_bytes"];
  }

  const Json status = json_of(http_call(port(), "GET", "/v1/status"));
  const Json* d = model_detail(status, "bf");
  ASSERT_NE(d, nullptr) << status.dump();
  EXPECT_EQ((*d)["state"], "ready");
  EXPECT_EQ((*d)["worker"], "worker-0");
  // The finished load's last report stays: every byte and tensor bound.
  ASSERT_TRUE((*d)["load"].is_object()) << d->dump();
  EXPECT_EQ((*d)["load"]["done_bytes"].get<std::int64_t>(), ck.payload);
  EXPECT_EQ((*d)["load"]["total_bytes"].get<std::int64_t>(), ck.payload);
  EXPECT_EQ((*d)["load"]["tensors_done"].get<std::int64_t>(), ck.tensors);
  EXPECT_EQ((*d)["load"]["tensors_total"].get<std::int64_t>(), ck.tensors);

  const std::int64_t weights = (*d)["weights_bytes"];
  EXPECT_EQ(weights, ck.cpu_bytes);
  EXPECT_LT(weights, ck.payload * 2) << "bf16 matrices are not widened";
  std::ifstream config_file(dir + "/config.json");
  const Json config = Json::parse(config_file);
  const std::int64_t head_dim = config.contains("head_dim")
                                    ? config["head_dim"].get<std::int64_t>()
                                    : config["hidden_size"].get<std::int64_t>() /
                                          config["num_attention_heads"].get<std::int64_t>();
  // K and V in f32 for every layer, 16 positions a block, every KV head.
  const std::int64_t block = config["num_hidden_layers"].get<std::int64_t>() * 16 *
                             config["num_key_value_heads"].get<std::int64_t>() * head_dim * 2 * 4;
  EXPECT_EQ((*d)["kv_block_bytes"].get<std::int64_t>(), block);
  const std::int64_t blocks = (*d)["kv_blocks_total"];
  EXPECT_GT(blocks, 0);
  EXPECT_EQ((*d)["kv_cache_bytes"].get<std::int64_t>(), blocks * block);
  EXPECT_EQ((*d)["device"], "cpu");
  EXPECT_EQ(json_of(load)["details"]["memory"]["weights_bytes"], weights) << load.body;

  const std::string text = http_call(port(), "GET", "/metrics").body;
  EXPECT_NE(text.find("# TYPE mlxs_model_memory_bytes gauge\n"), std::string::npos) << text;
  const auto samples = parse_prometheus(text);
  const std::string series = R"(mlxs_model_memory_bytes{worker="worker-0",model="bf",kind=")";
  ASSERT_TRUE(samples.count(series + R"(weights"})")) << text;
  EXPECT_EQ(samples.at(series + R"(weights"})"), static_cast<double>(weights));
  EXPECT_EQ(samples.at(series + R"(kv_cache"})"), static_cast<double>(blocks * block));

  post("/v1/models/unload", Json{{"model", "bf"}}, 200);
  EXPECT_EQ(model_detail(json_of(http_call(port(), "GET", "/v1/status")), "bf"), nullptr);
  EXPECT_EQ(http_call(port(), "GET", "/metrics").body.find(series.substr(0, series.size() - 7)),
            std::string::npos)
      << "no memory series for an unloaded model";
}

}  // namespace
}  // namespace mlxs::testing
