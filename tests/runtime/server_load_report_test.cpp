// What a load reports besides the original's fields: load_model's `memory`
// (weights as the backend holds them, the KV cache the engine was given, the
// device) and, only on a connection that negotiated the extension,
// model.load_progress notifications while the weights are bound: before the
// answer, non-decreasing, ending at every byte and tensor of the checkpoint.
#include <gtest/gtest.h>

#include "harness.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "protocol/protocol.h"
#include "runtime/engine_setup.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

using core::Json;
using testing::Harness;

class ServerLoadReport : public ::testing::Test {
 protected:
  std::string dir = mlxs::testing::fixture_path("hf-tiny/llama");

  // Bytes of the checkpoint's tensors as the loader sees them.
  std::int64_t payload() const {
    auto store = model::WeightStore::open_dir(dir);
    EXPECT_TRUE(store.is_ok());
    std::int64_t n = 0;
    for (const auto& [name, e] : (*store)->tensors()) n += static_cast<std::int64_t>(e.nbytes);
    return n;
  }
};

std::vector<Json> progress_lines(const std::vector<Json>& lines, const std::string& model_id) {
  std::vector<Json> out;
  for (const Json& l : lines) {
    if (l.value("method", "") == "model.load_progress" && l["params"]["model_id"] == model_id) {
      out.push_back(l["params"]);
    }
  }
  return out;
}

TEST_F(ServerLoadReport, MemoryOfAFloat32ModelOnTheCpu) {
  Harness h;  // an original client: it negotiates nothing
  const Json r = h.request("load_model", Json{{"model_id", "m"}, {"local_path", dir}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  const Json& info = r["result"];
  ASSERT_TRUE(info.contains("memory")) << info.dump();
  EXPECT_TRUE((*protocol::SchemaSet::rpc())->validate("load_model.result", info).is_ok());
  const Json& mem = info["memory"];
  // f32 weights are read in place and f32 norms stay f32: as stored.
  EXPECT_EQ(mem["weights_bytes"].get<std::int64_t>(), payload());
  auto cfg = model::load_model_config(dir + "/config.json", "config.json");
  ASSERT_TRUE(cfg.is_ok());
  // f32 K and V per layer, per position of a 16-token block, per KV head.
  const std::int64_t block = cfg->layers * kKvBlockSize * cfg->kv_heads * cfg->head_dim * 2 *
                             static_cast<int>(sizeof(float));
  EXPECT_EQ(mem["kv_block_bytes"].get<std::int64_t>(), block);
  const std::int64_t blocks = mem["kv_blocks_total"];
  EXPECT_EQ(blocks, static_cast<std::int64_t>(Harness::defaults().kv_memory_bytes) / block);
  EXPECT_EQ(mem["kv_cache_bytes"].get<std::int64_t>(), blocks * block);
  EXPECT_EQ(mem["device"], "cpu");
  EXPECT_EQ(mem["kv_cache_dtype"], "f32") << "auto on the CPU";

  // runtime/telemetry's engine entry says the same.
  const Json tel = h.request("runtime/telemetry")["result"];
  ASSERT_EQ(tel["engines"].size(), 1u);
  EXPECT_EQ(tel["engines"][0]["weights_bytes"], mem["weights_bytes"]);
  EXPECT_EQ(tel["engines"][0]["kv_cache_bytes"], mem["kv_cache_bytes"]);
  EXPECT_EQ(tel["engines"][0]["device"], "cpu");
  EXPECT_EQ(tel["engines"][0]["kv_cache_dtype"], "f32");
  EXPECT_TRUE((*protocol::SchemaSet::rpc())->validate("runtime.telemetry.result", tel).is_ok());

  EXPECT_TRUE(progress_lines(h.lines(), "m").empty()) << "never sent unless negotiated";
}

// kv_cache_dtype on the CPU: f32 loads as auto does; a bf16 or fp8 cache is
// a ModelLoadError naming the option and the backend, and nothing loads.
TEST_F(ServerLoadReport, TheCpuRefusesAKvCacheOtherThanF32AtLoad) {
  RuntimeOptions f32 = Harness::defaults();
  f32.backend.kv_cache_dtype = KvCacheDtype::kF32;
  {
    Harness h(f32);
    const Json r = h.request("load_model", Json{{"model_id", "m"}, {"local_path", dir}});
    ASSERT_TRUE(r.contains("result")) << r.dump();
    EXPECT_EQ(r["result"]["memory"]["kv_cache_dtype"], "f32");
  }
  for (const KvCacheDtype refused : {KvCacheDtype::kBf16, KvCacheDtype::kFp8}) {
    RuntimeOptions options = Harness::defaults();
    options.backend.kv_cache_dtype = refused;
    for (const int ranks : {1, 2}) {  // the tensor-parallel path checks it too
      options.tensor_parallel = ranks;
      Harness h(options);
      const Json r = h.request("load_model", Json{{"model_id", "m"}, {"local_path", dir}});
      ASSERT_TRUE(r.contains("error")) << r.dump();
      EXPECT_EQ(r["error"]["code"], -32001) << r.dump();  // ModelLoadError
      const std::string message = r["error"]["message"].get<std::string>();
      EXPECT_NE(message.find("kv_cache_dtype " + std::string(kv_cache_dtype_name(refused))),
                std::string::npos)
          << message;
      EXPECT_NE(message.find("cpu backend"), std::string::npos) << message;
      const Json tel = h.request("runtime/telemetry")["result"];
      EXPECT_TRUE(tel["engines"].empty()) << tel.dump();
    }
  }
}

TEST_F(ServerLoadReport, ProgressOnlyWhenNegotiatedAndEndingAtTheTotal) {
  Harness h;
  // Another extension does not switch progress on.
  const Json step = h.request("runtime/info", Json{{"extensions", {"stream.step"}}});
  EXPECT_EQ(step["result"]["extensions"], Json::array({"stream.step"}));
  ASSERT_TRUE(
      h.request("load_model", Json{{"model_id", "a"}, {"local_path", dir}}).contains("result"));
  EXPECT_TRUE(progress_lines(h.lines(), "a").empty());

  const Json info =
      h.request("runtime/info", Json{{"extensions", {"model.load_progress"}}})["result"];
  EXPECT_EQ(info["extensions"], Json::array({"model.load_progress"}));
  const auto caps = info["capabilities"];
  EXPECT_NE(std::find(caps.begin(), caps.end(), "model.load_progress"), caps.end());

  const int id = h.call("load_model", Json{{"model_id", "b"}, {"local_path", dir}});
  ASSERT_TRUE(h.response(id).contains("result"));
  // Every report of the load comes before its answer.
  std::vector<Json> before;
  bool answered = false;
  for (const Json& l : h.lines()) {
    if (l.contains("id") && l["id"] == id) answered = true;
    if (l.value("method", "") != "model.load_progress") continue;
    EXPECT_FALSE(answered) << "a report after the answer: " << l.dump();
    if (l["params"]["model_id"] == "b") before.push_back(l["params"]);
  }
  ASSERT_FALSE(before.empty());
  const auto& schemas = **protocol::SchemaSet::rpc();
  std::int64_t done = 0, tensors = 0;
  for (const Json& p : before) {
    EXPECT_TRUE(schemas.validate("model.load_progress.params", p).is_ok()) << p.dump();
    EXPECT_GE(p["done_bytes"].get<std::int64_t>(), done) << "never goes back";
    EXPECT_GE(p["tensors_done"].get<std::int64_t>(), tensors);
    EXPECT_EQ(p["total_bytes"].get<std::int64_t>(), payload());
    EXPECT_LE(p["done_bytes"], p["total_bytes"]);
    done = p["done_bytes"];
    tensors = p["tensors_done"];
  }
  EXPECT_EQ(before.back()["done_bytes"], before.back()["total_bytes"]);
  EXPECT_EQ(before.back()["tensors_done"], before.back()["tensors_total"]);

  // Negotiating again without it switches it off.
  h.request("runtime/info", Json{{"extensions", Json::array()}});
  ASSERT_TRUE(
      h.request("load_model", Json{{"model_id", "c"}, {"local_path", dir}}).contains("result"));
  EXPECT_TRUE(progress_lines(h.lines(), "c").empty());
}

}  // namespace
}  // namespace mlxs::runtime
