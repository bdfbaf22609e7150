// The worker serving a model over 2 tensor-parallel ranks on the CPU: the
// greedy continuation of the reference prompt is the whole model's, and a
// count the model's heads do not divide is refused at load_model with
// ModelLoadError naming it.
#include <gtest/gtest.h>

#include "harness.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

using core::Json;
using testing::Harness;

std::vector<int> greedy_ids(Harness& h, const std::string& sid, const std::vector<int>& prompt) {
  const Json start = h.request("generate", Json{{"model_id", "tiny"},
                                                {"prompt", ""},
                                                {"prompt_tokens", prompt},
                                                {"stream_id", sid},
                                                {"max_tokens", 12},
                                                {"temperature", 0},
                                                {"streaming", true}});
  EXPECT_TRUE(start.contains("result")) << start.dump();
  std::vector<int> ids;
  for (const Json& n : h.stream(sid)) {
    const Json& p = n["params"];
    if (n["method"] == "stream.event") {
      EXPECT_EQ(p["event"], "completed") << n.dump();
    } else if (n["method"] == "stream.chunk") {
      if (p.contains("tokens")) {
        for (const Json& t : p["tokens"]) ids.push_back(t["token_id"]);
      } else {
        ids.push_back(p["token_id"]);
      }
    }
  }
  return ids;
}

std::vector<int> run(int ranks, const std::string& dir, const std::vector<int>& prompt) {
  RuntimeOptions o = Harness::defaults();
  o.tensor_parallel = ranks;
  o.threads = 2;
  Harness h(o);
  const Json r =
      h.request("load_model", Json{{"model_id", "tiny"}, {"local_path", dir}, {"draft", false}});
  EXPECT_TRUE(r.contains("result")) << r.dump();
  return greedy_ids(h, "s", prompt);
}

TEST(ServerTensorParallel, TwoRanksContinueAsTheWholeModel) {
  const std::string dir = mlxs::testing::fixture_path("hf-tiny/llama");
  auto ref = core::read_json_file(dir + "/reference.json", "reference.json",
                                  core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(ref.is_ok());
  const auto prompt = (*ref)["prompts"][0]["input_ids"].get<std::vector<int>>();
  const auto whole = run(1, dir, prompt);
  ASSERT_EQ(whole.size(), 12u);
  EXPECT_EQ(run(2, dir, prompt), whole);
}

TEST(ServerTensorParallel, ACountTheHeadsDoNotDivideIsAModelLoadError) {
  const std::string dir = mlxs::testing::fixture_path("hf-tiny/llama");  // 2 kv heads
  RuntimeOptions o = Harness::defaults();
  o.tensor_parallel = 4;
  o.threads = 1;
  Harness h(o);
  const Json r =
      h.request("load_model", Json{{"model_id", "tiny"}, {"local_path", dir}, {"draft", false}});
  ASSERT_TRUE(r.contains("error")) << r.dump();
  EXPECT_EQ(r["error"]["code"], -32001) << r.dump();
  EXPECT_NE(r["error"]["message"].get<std::string>().find("multiple of 4"), std::string::npos)
      << r.dump();
}

}  // namespace
}  // namespace mlxs::runtime
