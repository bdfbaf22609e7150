// What `serve --in-process` hands its worker: the configuration's workers
// section read into RuntimeOptions, max_batch_tokens and the backend that
// picks its default included, as far as the budget the engine is set up
// with (process workers get the same keys as flags: control_unit_test).
#include "cli/serve_settings.h"

#include <gtest/gtest.h>

#include "control/config.h"
#include "runtime/engine_setup.h"

namespace mlxs::cli {
namespace {

runtime::RuntimeOptions options_with(std::vector<std::string> sets) {
  control::ConfigInputs in;
  in.sets = std::move(sets);
  const control::ConfigReport r = control::load_config(in);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return in_process_options(r.effective);
}

TEST(ServeSettings, MaxBatchTokensReachesTheInProcessWorker) {
  runtime::RuntimeOptions o = options_with({});
  EXPECT_EQ(o.max_batch_tokens, 0);
  EXPECT_EQ(runtime::load_options_for(o, std::nullopt).max_batch_tokens, 512) << "CPU default";

  o = options_with({"workers.backend=cuda"});
  EXPECT_EQ(o.backend.kind, "cuda");
  EXPECT_EQ(runtime::load_options_for(o, std::nullopt).max_batch_tokens, 2048) << "CUDA default";

  o = options_with({"workers.max_batch_tokens=32", "workers.max_running_streams=4"});
  EXPECT_EQ(o.max_batch_tokens, 32);
  EXPECT_EQ(o.max_running_streams, 4);
  EXPECT_EQ(runtime::load_options_for(o, std::nullopt).max_batch_tokens, 32);

  o = options_with({"workers.backend=cuda", "workers.max_batch_tokens=8192"});
  EXPECT_EQ(runtime::load_options_for(o, std::nullopt).max_batch_tokens, 8192);
}

}  // namespace
}  // namespace mlxs::cli
