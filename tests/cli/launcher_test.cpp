// scripts/mlx-serving-runtime as the original TypeScript client starts it:
// `<python_path> <runtime_path>`, with the readiness probe and a shutdown on
// stdin. The script must hand over to `mlx-serving runtime --stdio` with a
// clean stdout (JSON lines only) and the readiness marker on stderr.
#include <cstdlib>
#include <sstream>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "testing/process.h"

namespace mlxs::testing {
namespace {

TEST(RuntimeLauncher, StartsTheWorkerAsTheOriginalClientDoes) {
  const char* src = std::getenv("MLXS_SOURCE_DIR");
  ASSERT_NE(src, nullptr);
  const std::string script = std::string(src) + "/scripts/mlx-serving-runtime";
  const std::string input =
      R"({"jsonrpc":"2.0","id":"readiness-probe","method":"runtime/info","params":{}}\n)"
      R"({"jsonrpc":"2.0","id":"shutdown","method":"shutdown","params":{}}\n)";
  const std::string command = "printf '%b' '" + input + "' | MLXS_BINARY='" + mlx_serving_binary() +
                              "' '" + script + "' python/runtime.py";
  const ProcessResult r = run_process({"/bin/sh", "-c", command}, 60);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("MLX Runtime ready"), std::string::npos) << r.err;

  // Every stdout line is JSON; the probe is answered with its id.
  std::istringstream lines(r.out);
  bool probe = false;
  for (std::string line; std::getline(lines, line);) {
    auto j = core::parse_json(line, "line", core::ErrorCode::kParseError);
    ASSERT_TRUE(j.is_ok()) << "not JSON: " << line;
    if ((*j).value("id", core::Json()) == "readiness-probe") {
      probe = true;
      EXPECT_TRUE((*j)["result"].contains("mlx_version")) << line;
    }
  }
  EXPECT_TRUE(probe) << r.out;

  // Without a binary to run it says so on stderr, never on stdout.
  const ProcessResult missing = run_process(
      {"/usr/bin/env", "PATH=/nonexistent", "MLXS_BINARY=/nonexistent/mlx-serving", script}, 30);
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_TRUE(missing.out.empty());
  EXPECT_NE(missing.err.find("MLXS_BINARY"), std::string::npos);
}

}  // namespace
}  // namespace mlxs::testing
