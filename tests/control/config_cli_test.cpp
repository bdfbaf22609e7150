// `mlx-serving config validate | schema | show` through the binary: exit
// codes, every error on its own line with path, code and source, warnings
// for the original's Apple sections, the schema export, the merged view.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "testing/fixtures.h"
#include "testing/process.h"

namespace mlxs::control {
namespace {

using mlxs::testing::run_process;

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = mlxs::testing::temp_dir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

mlxs::testing::ProcessResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), mlxs::testing::mlx_serving_binary());
  return run_process(args, 60);
}

TEST(ConfigCli, ValidateReportsEveryErrorAndWarning) {
  const std::string src = std::getenv("MLXS_SOURCE_DIR");
  auto r = cli({"config", "validate", src + "/config/runtime.yaml", "--no-env"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("is valid"), std::string::npos);

  const std::string bad = write_file("bad.yaml",
                                     "json_rpc:\n  default_timout_ms: 5\n"
                                     "metal_optimizations:\n  enabled: true\n"
                                     "workers:\n  count: 0\n");
  r = cli({"config", "validate", bad, "--no-env", "--set", "supervisor.heartbeat_timeout_ms=oops"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: ConfigError: json_rpc.default_timout_ms: [unknown_key]"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("did you mean 'default_timeout_ms'?"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("workers.count: [minimum]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("supervisor.heartbeat_timeout_ms: [type]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("(from --set)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("warning: metal_optimizations: [ignored_section]"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("3 errors in"), std::string::npos) << r.err;

  r = cli({"config", "validate", bad, "--no-env", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  auto report = core::parse_json(r.out, "report", core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(report.is_ok()) << r.out;
  EXPECT_EQ((*report)["valid"], false);
  EXPECT_EQ((*report)["errors"].size(), 2u);
  EXPECT_EQ((*report)["warnings"][0]["path"], "metal_optimizations");

  r = cli({"config", "validate", mlxs::testing::temp_dir() + "/none.yaml"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("[file]"), std::string::npos) << r.err;
  r = cli({"config", "validate"});
  EXPECT_EQ(r.exit_code, 2) << "usage error";
}

TEST(ConfigCli, SchemaAndShow) {
  auto r = cli({"config", "schema"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto schema = core::parse_json(r.out, "schema", core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(schema.is_ok());
  EXPECT_EQ((*schema)["$schema"], "https://json-schema.org/draft/2020-12/schema");
  EXPECT_TRUE((*schema)["properties"].contains("json_rpc"));

  const std::string file = write_file("show.yaml", "json_rpc:\n  default_timeout_ms: 1000\n");
  ::setenv("MLXS_SUPERVISOR__HEARTBEAT_INTERVAL_MS", "321", 1);
  r = cli({"config", "show", "--config", file, "--set", "workers.count=2"});
  ::unsetenv("MLXS_SUPERVISOR__HEARTBEAT_INTERVAL_MS");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto shown = core::parse_json(r.out, "show", core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(shown.is_ok()) << r.out;
  EXPECT_EQ((*shown)["json_rpc"]["default_timeout_ms"], 1000);
  EXPECT_EQ((*shown)["supervisor"]["heartbeat_interval_ms"], 321);
  EXPECT_EQ((*shown)["workers"]["count"], 2);
  EXPECT_EQ((*shown)["json_rpc"]["circuit_breaker"]["recovery_timeout_ms"], 10000);
}

}  // namespace
}  // namespace mlxs::control
