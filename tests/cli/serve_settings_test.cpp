// What `serve --in-process` hands its worker: the configuration's workers
// section read into RuntimeOptions, max_batch_tokens and the backend that
// picks its default included, as far as the budget the engine is set up
// with, and kv_cache_dtype as far as the backend choice (process workers get
// the same keys as flags: control_unit_test).
#include "cli/serve_settings.h"

#include <gtest/gtest.h>

#include "control/config.h"
#include "runtime/backend_choice.h"
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

// workers.kv_cache_dtype as the in-process worker's BackendChoice, the
// alias included; serve checks that choice before any worker starts.
TEST(ServeSettings, KvCacheDtypeReachesTheInProcessWorker) {
  EXPECT_EQ(options_with({}).backend.kv_cache_dtype, runtime::KvCacheDtype::kAuto);
  const runtime::RuntimeOptions cuda =
      options_with({"workers.backend=cuda", "workers.kv_cache_dtype=fp8_e4m3"});
  EXPECT_EQ(cuda.backend.kind, "cuda");
  EXPECT_EQ(cuda.backend.kv_cache_dtype, runtime::KvCacheDtype::kFp8);
  EXPECT_EQ(options_with({"workers.kv_cache_dtype=bf16"}).backend.kv_cache_dtype,
            runtime::KvCacheDtype::kBf16);
  const runtime::RuntimeOptions cpu = options_with({"workers.kv_cache_dtype=f32"});
  EXPECT_EQ(cpu.backend.kv_cache_dtype, runtime::KvCacheDtype::kF32);
  EXPECT_TRUE(runtime::check_backend_choice(cpu.backend).is_ok());
}

}  // namespace
}  // namespace mlxs::cli
