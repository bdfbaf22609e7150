// `serve --config FILE` end to end: the file's server, model and logging
// sections take effect (API keys, model roots, the default quantization of
// loads, the log level, also in the worker process it starts), flags given
// on the command line win over the file, and load requests choose their own
// quantization or get a coded 400 for one that does not exist; the logging
// section (level and per-module levels) holds in serve and its worker.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "raw_http.h"
#include "serve_process.h"
#include "testing/fixtures.h"

namespace mlxs::testing {
namespace {

using core::Json;
namespace fs = std::filesystem;

const std::vector<std::string> kAuth = {"Authorization: Bearer file-key"};

class ServeConfigE2E : public SharedServeSuite {
 protected:
  static void SetUpTestSuite() {
    model_ = synth_test_model();
    ASSERT_FALSE(model_.empty()) << "dev synth-model failed";
    const std::string config = temp_dir() + "/serve_config_e2e.yaml";
    std::ofstream(config) << "server:\n"
                          << "  port: 1\n"  // the --port flag below must win
                          << "  api_keys: [file-key]\n"
                          << "  model_roots: [" << fs::path(model_).parent_path().string() << "]\n"
                          << "model:\n  default_quantization: int8\n"
                          << "logging:\n  level: warn\n  modules: {runtime: info}\n"
                          << "workers:\n  threads: 2\n";
    // ServeProcess adds --port 0, which must win over the file's port.
    start_shared({"--config", config});
  }
  static RawReply load(const Json& body) {
    return http_call(server_->port(), "POST", "/v1/models/load", body.dump(), kAuth);
  }
  static std::string model_name() { return fs::path(model_).filename().string(); }

  static inline std::string model_;
};

TEST_F(ServeConfigE2E, ApiKeysFromTheFileAreRequired) {
  EXPECT_EQ(http_call(server_->port(), "GET", "/v1/models").status, 401);
  EXPECT_EQ(http_call(server_->port(), "GET", "/v1/models", "", kAuth).status, 200);
  EXPECT_EQ(http_call(server_->port(), "GET", "/health").status, 200) << "stays open";
}

TEST_F(ServeConfigE2E, LoadsTakeTheDefaultQuantizationUnlessTheyNameOne) {
  auto r = load({{"model", "by-default"}, {"path", model_name()}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string by_default = json_of(r)["details"]["quantization"].get<std::string>();
  EXPECT_NE(by_default.find("int8"), std::string::npos) << by_default;

  r = load({{"model", "as-stored"}, {"path", model_name()}, {"quantization", "none"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r)["details"]["quantization"], "none") << r.body;

  r = load({{"model", "four-bit"}, {"path", model_name()}, {"quantization", "int4"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string four = json_of(r)["details"]["quantization"].get<std::string>();
  EXPECT_NE(four.find("int4"), std::string::npos) << four;
  // The quantized model serves.
  r = http_call(server_->port(), "POST", "/v1/completions",
                R"({"model":"four-bit","prompt":"Hello","max_tokens":3,"ignore_eos":true})", kAuth);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json_of(r)["usage"]["completion_tokens"], 3) << r.body;

  for (const Json& bad : {Json("int3"), Json(4), Json("INT4")}) {
    r = load({{"model", "bad"}, {"path", model_name()}, {"quantization", bad}});
    EXPECT_EQ(r.status, 400) << bad.dump() << " -> " << r.body;
    EXPECT_EQ(json_of(r)["error"]["code"], "InvalidParams") << r.body;
  }
}

TEST_F(ServeConfigE2E, TheFilesLogLevelsReachServeAndItsWorker) {
  ASSERT_EQ(load({{"model", "logged"}, {"path", model_name()}}).status, 200);
  const std::string log = server_->log();
  // Info events are filtered at warn in both processes, but for the runtime
  // module's (the worker's model load), which has its own level.
  EXPECT_NE(log.find(R"("event":"runtime_model_loaded")"), std::string::npos) << log;
  std::size_t infos = 0, runtime_infos = 0;
  for (std::size_t at = 0; (at = log.find(R"("level":"info")", at)) != std::string::npos; ++at) {
    const std::size_t begin = log.rfind('\n', at) + 1;
    const std::string line = log.substr(begin, log.find('\n', at) - begin);
    ++infos;
    if (line.find(R"("event":"runtime_)") != std::string::npos) ++runtime_infos;
  }
  EXPECT_GT(infos, 0u);
  EXPECT_EQ(infos, runtime_infos) << log;
}

}  // namespace
}  // namespace mlxs::testing
