// Our detokenize method (tokenize's inverse) on a synthetic model with a real
// Llama-3 tokenizer: round trips, special tokens, and every bad input as a
// coded error that leaves the worker serving; and load_model's one-token
// warm-up, which runs before the load answers.
#include <gtest/gtest.h>

#include "harness.h"
#include "model/synth.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

using core::Json;
using testing::Harness;

// A tiny random-weight Llama with the real Llama-3 tokenizer files; empty when
// the tokenizer packages are not installed (scripts/setup.sh installs them).
std::string synth_model() {
  static const std::string dir = [] {
    model::SynthOptions o;
    o.preset = "tiny";
    o.arch = "llama";
    o.tokenizer = "llama3";
    o.out_dir = mlxs::testing::temp_dir() + "/detokenize-synth";
    auto w = model::write_synthetic_model(o);
    if (!w.is_ok()) {
      EXPECT_EQ(w.status().code(), core::ErrorCode::kNotFound) << w.status().to_string();
      return std::string();
    }
    return o.out_dir;
  }();
  return dir;
}

void expect_code(const Json& response, int number, const std::string& code) {
  ASSERT_TRUE(response.contains("error")) << response.dump();
  EXPECT_EQ(response["error"]["code"], number) << response.dump();
  EXPECT_EQ(response["error"]["data"]["code"], code) << response.dump();
}

class Detokenize : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = synth_model();
    if (dir.empty()) GTEST_SKIP() << "tokenizer packages not installed (scripts/setup.sh)";
    load = h.request("load_model", Json{{"model_id", "m"}, {"local_path", dir}});
    ASSERT_TRUE(load.contains("result")) << load.dump();
  }
  std::string dir;
  Harness h;
  Json load;
};

TEST_F(Detokenize, InvertsTokenize) {
  const std::string text = "Hello, world! Ünïcödé and  spaces.";
  const Json t = h.request("tokenize", Json{{"model_id", "m"}, {"text", text}});
  ASSERT_TRUE(t.contains("result")) << t.dump();
  const Json tokens = t["result"]["tokens"];
  ASSERT_GT(tokens.size(), 2u);

  Json r = h.request("detokenize",
                     Json{{"model_id", "m"}, {"tokens", tokens}, {"skip_special_tokens", true}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["text"], text);
  const auto& schemas = **protocol::SchemaSet::rpc();
  EXPECT_TRUE(schemas.validate("detokenize.result", r["result"]).is_ok());

  // Special tokens stay unless asked to skip them.
  const Json bos = h.request(
      "tokenize",
      Json{{"model_id", "m"}, {"text", "<|begin_of_text|>"}, {"add_special_tokens", false}});
  ASSERT_EQ(bos["result"]["tokens"].size(), 1u) << bos.dump();
  Json with = Json::array({bos["result"]["tokens"][0]});
  for (const Json& id : tokens) with.push_back(id);
  r = h.request("detokenize", Json{{"model_id", "m"}, {"tokens", with}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["text"], "<|begin_of_text|>" + text);
  r = h.request("detokenize",
                Json{{"model_id", "m"}, {"tokens", with}, {"skip_special_tokens", true}});
  EXPECT_EQ(r["result"]["text"], text) << r.dump();

  r = h.request("detokenize", Json{{"model_id", "m"}, {"tokens", Json::array()}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["text"], "");
}

TEST_F(Detokenize, MalformedParamsAreInvalidParams) {
  for (const Json& tokens : {Json("abc"), Json::array({1, "x"}), Json::array({1.5}),
                             Json::array({-1}), Json(nullptr), Json::object()}) {
    const Json r = h.request("detokenize", Json{{"model_id", "m"}, {"tokens", tokens}});
    expect_code(r, -32602, "InvalidParams");
    EXPECT_FALSE(r["error"]["data"]["errors"].empty()) << r.dump();
  }
  expect_code(h.request("detokenize", Json{{"model_id", "m"}}), -32602, "InvalidParams");
  expect_code(h.request("detokenize", Json::array({1, 2})), -32602, "InvalidParams");
  expect_code(h.request("detokenize", Json{{"model_id", "nope"}, {"tokens", Json::array({1})}}),
              -32005, "ModelNotLoaded");
}

TEST_F(Detokenize, OutOfRangeIdsAreRefusedNotDropped) {
  for (const std::int64_t id : {std::int64_t{1} << 20, std::int64_t{2147483647}}) {
    const Json r =
        h.request("detokenize", Json{{"model_id", "m"}, {"tokens", Json::array({1, id})}});
    expect_code(r, -32602, "InvalidParams");
    const std::string message = r["error"]["message"];
    EXPECT_NE(message.find("/tokens/1"), std::string::npos) << message;
  }
  // Past int32: the schema refuses it before any reader.
  expect_code(h.request("detokenize",
                        Json{{"model_id", "m"}, {"tokens", Json::array({std::int64_t{1} << 40})}}),
              -32602, "InvalidParams");
  // The worker still serves.
  const Json r = h.request("detokenize", Json{{"model_id", "m"}, {"tokens", Json::array({1})}});
  EXPECT_TRUE(r.contains("result")) << r.dump();
}

TEST_F(Detokenize, AModelWithoutTokenizerIsATokenizerError) {
  const Json l = h.request(
      "load_model",
      Json{{"model_id", "bare"}, {"local_path", mlxs::testing::fixture_path("hf-tiny/llama")}});
  ASSERT_TRUE(l.contains("result")) << l.dump();
  expect_code(h.request("detokenize", Json{{"model_id", "bare"}, {"tokens", Json::array({1})}}),
              -32003, "TokenizerError");
}

// /ready counts a model once the worker lists it: that must mean one real
// token went through its engine, before load_model answered.
TEST_F(Detokenize, LoadAnswersAfterAOneTokenWarmUp) {
  const auto& schemas = **protocol::SchemaSet::rpc();
  EXPECT_TRUE(schemas.validate("load_model.result", load["result"]).is_ok()) << load.dump();
  ASSERT_TRUE(load["result"].contains("warmup_seconds")) << load.dump();
  EXPECT_GE(load["result"]["warmup_seconds"].get<double>(), 0.0);
  const Json t = h.request("runtime/telemetry");
  ASSERT_TRUE(t.contains("result")) << t.dump();
  ASSERT_EQ(t["result"]["engines"].size(), 1u) << t.dump();
  const Json& e = t["result"]["engines"][0];
  EXPECT_EQ(e["generated_tokens"], 1) << e.dump();
  EXPECT_EQ(e["requests_finished"], 1) << e.dump();
  EXPECT_EQ(e["kv_blocks_used"], 0) << "the warm-up frees its KV blocks: " << e.dump();
  // Loading the same source again reuses the model: no second warm-up.
  const Json again = h.request("load_model", Json{{"model_id", "m"}, {"local_path", dir}});
  ASSERT_TRUE(again.contains("result")) << again.dump();
  EXPECT_EQ(h.request("runtime/telemetry")["result"]["engines"][0]["generated_tokens"], 1);
}

}  // namespace
}  // namespace mlxs::runtime
