// `mlx-serving config migrate` through the binary: the original's shipped
// runtime.yaml layout becomes a file that `config validate` accepts without a
// warning; the report names every key; bad input is a coded error.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::testing {
namespace {

ProcessResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), mlx_serving_binary());
  return run_process(args, 60);
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

constexpr const char* kOriginal = R"(batch_queue:
  enabled: true
  max_batch_size: 20
python_runtime:
  python_path: .mlx-serving-venv/bin/python
  runtime_path: python/runtime.py
  max_restarts: 3
  startup_timeout_ms: 30000
  restart_delay_base_ms: 1000
json_rpc:
  default_timeout_ms: 300000
  max_line_buffer_size: 65536
stream_registry:
  max_active_streams: 10
metal_optimizations:
  enabled: true
development:
  verbose: false
environments:
  production:
    python_runtime:
      startup_timeout_ms: 60000
      max_restarts: 5
    stream_registry:
      max_active_streams: 50
)";

TEST(ConfigMigrateCli, WritesAFileThatValidatesAndReportsEveryKey) {
  const std::string in = write_file("original.yaml", kOriginal);
  const std::string out = temp_dir() + "/ours.yaml";
  auto r = cli({"config", "migrate", in, "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_NE(r.out.find("honoured json_rpc.default_timeout_ms"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mapped   stream_registry.max_active_streams \u2192 "
                       "server.max_concurrent_streams"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("dropped  metal_optimizations.enabled: Apple-specific"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("15 keys: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("wrote " + out), std::string::npos);

  for (const char* env : {"development", "production"}) {
    r = run_process({"/usr/bin/env", std::string("MLXS_ENV=") + env, mlx_serving_binary(), "config",
                     "validate", out},
                    60);
    EXPECT_EQ(r.exit_code, 0) << env << ": " << r.err;
    EXPECT_EQ(r.err.find("warning"), std::string::npos) << env << ": " << r.err;
  }

  // Without --out the file goes to stdout and the report to stderr.
  r = cli({"config", "migrate", in});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("max_concurrent_streams: 10"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("dropped  batch_queue.enabled"), std::string::npos) << r.err;

  r = cli({"config", "migrate", in, "--json", "--out", out});
  EXPECT_EQ(r.exit_code, 0);
  auto report = core::parse_json(r.out, "report", core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(report.is_ok()) << r.out;
  EXPECT_EQ((*report)["valid"], true);
  EXPECT_EQ((*report)["keys"].size(), 15u);
}

TEST(ConfigMigrateCli, BadInputIsACodedError) {
  auto r = cli({"config", "migrate", write_file("broken.yaml", "json_rpc: [\n  a: 1\n")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: ConfigError: "), std::string::npos) << r.err;

  r = cli({"config", "migrate", temp_dir() + "/none.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: ConfigError: "), std::string::npos) << r.err;

  // A value the original took but ours bounds: reported, nothing written.
  const std::string out = temp_dir() + "/never.yaml";
  r = cli({"config", "migrate", write_file("low.yaml", "json_rpc:\n  max_line_buffer_size: 10\n"),
           "--out", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("json_rpc.max_line_buffer_size"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));

  r = cli({"config", "migrate"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace mlxs::testing
