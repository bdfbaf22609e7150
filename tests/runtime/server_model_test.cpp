// The worker with a real (tiny) model: load, state, generate with greedy
// reference tokens, notification order, stream.step, cancel, unload while
// streaming, batch starts, and the errors of a model without a tokenizer.
#include <set>

#include <gtest/gtest.h>

#include "harness.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

using core::Json;
using testing::Harness;

struct Reference {
  std::vector<int> prompt, continuation;
  std::vector<double> margins;
};

Reference reference(const std::string& dir) {
  auto ref = core::read_json_file(dir + "/reference.json", "reference.json",
                                  core::ErrorCode::kInvalidParams);
  EXPECT_TRUE(ref.is_ok());
  const Json& p = (*ref)["prompts"][0];
  return {p["input_ids"].get<std::vector<int>>(), p["continuation_ids"].get<std::vector<int>>(),
          p["greedy_top2_margins"].get<std::vector<double>>()};
}

Json load(Harness& h, const std::string& id, const std::string& dir) {
  const Json r =
      h.request("load_model", Json{{"model_id", id}, {"local_path", dir}, {"draft", false}});
  EXPECT_TRUE(r.contains("result")) << r.dump();
  return r.contains("result") ? r["result"] : Json();
}

// Token ids of one stream, in order, from chunks (single or batched) or steps.
std::vector<int> token_ids(const std::vector<Json>& notes, const std::string& sid) {
  std::vector<int> ids;
  for (const Json& n : notes) {
    const Json& p = n["params"];
    if (n["method"] == "stream.chunk") {
      if (p.contains("tokens")) {
        for (const Json& t : p["tokens"]) ids.push_back(t["token_id"]);
      } else {
        ids.push_back(p["token_id"]);
      }
    } else if (n["method"] == "stream.step") {
      for (const Json& s : p["streams"]) {
        if (s["stream_id"] != sid) continue;
        for (const Json& t : s["token_ids"]) ids.push_back(t);
      }
    }
  }
  return ids;
}

void expect_order(const std::vector<Json>& notes, bool ok) {
  ASSERT_FALSE(notes.empty());
  const auto& schemas = **protocol::SchemaSet::rpc();
  bool saw_stats = false;
  for (std::size_t i = 0; i < notes.size(); ++i) {
    const std::string m = notes[i]["method"];
    EXPECT_TRUE(schemas.validate(m + ".params", notes[i]["params"]).is_ok()) << notes[i].dump();
    if (m == "stream.stats") {
      EXPECT_FALSE(saw_stats);
      saw_stats = true;
      EXPECT_EQ(i + 2, notes.size()) << "stats come right before the final event";
    } else if (m == "stream.event") {
      EXPECT_EQ(i + 1, notes.size()) << "the final event is last";
    } else {
      EXPECT_FALSE(saw_stats) << "no chunk after stats";
    }
  }
  EXPECT_EQ(saw_stats, ok);
  EXPECT_EQ(notes.back()["params"]["event"], ok ? "completed" : "error");
}

class ServerModel : public ::testing::Test {
 protected:
  std::string dir = mlxs::testing::fixture_path("hf-tiny/llama");
};

TEST_F(ServerModel, LoadGenerateGreedyReferenceThenUnload) {
  Harness h;
  const Reference ref = reference(dir);
  const Json info = load(h, "tiny-llama", dir);
  EXPECT_EQ(info["model_id"], "tiny-llama");
  EXPECT_EQ(info["state"], "ready");
  EXPECT_EQ(info["is_vision_model"], false);
  EXPECT_EQ(info["dtype"], "float32");
  EXPECT_GT(info["parameter_count"].get<std::int64_t>(), 0);
  EXPECT_GT(info["context_length"].get<std::int64_t>(), 16);
  EXPECT_TRUE(info["cached_path"].is_string());
  EXPECT_TRUE((*protocol::SchemaSet::rpc())->validate("load_model.result", info).is_ok());

  Json state = h.request("runtime/state")["result"];
  ASSERT_EQ(state["loaded_models"].size(), 1u);
  EXPECT_EQ(state["loaded_models"][0],
            (Json{{"model_id", "tiny-llama"}, {"state", "ready"}, {"type", "text"}}));

  const Json start = h.request("generate", Json{{"model_id", "tiny-llama"},
                                                {"prompt", ""},
                                                {"prompt_tokens", ref.prompt},
                                                {"stream_id", "g1"},
                                                {"max_tokens", 16},
                                                {"temperature", 0},
                                                {"streaming", true}});
  ASSERT_TRUE(start.contains("result")) << start.dump();
  EXPECT_EQ(start["result"]["stream_id"], "g1");
  EXPECT_GT(start["result"]["started_at"].get<double>(), 1.7e9);
  const auto notes = h.stream("g1");
  expect_order(notes, true);
  const auto ids = token_ids(notes, "g1");
  ASSERT_EQ(ids.size(), 16u);
  for (std::size_t j = 0; j < ids.size(); ++j) {
    if (ref.margins[j] <= 1e-2) break;
    EXPECT_EQ(ids[j], ref.continuation[j]) << "step " << j;
  }
  const Json& stats = notes[notes.size() - 2]["params"];
  EXPECT_EQ(stats["tokens_generated"], 16);
  EXPECT_LE(stats["time_to_first_token"].get<double>(), stats["total_time"].get<double>());
  EXPECT_EQ(notes.back()["params"]["finish_reason"], "length");

  // The start response precedes the stream's first notification.
  const auto lines = h.lines();
  std::size_t response_at = 0, first_note = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].contains("result") && lines[i]["result"].contains("stream_id")) response_at = i;
    if (lines[i].value("method", "") == "stream.chunk" && first_note == lines.size())
      first_note = i;
  }
  EXPECT_LT(response_at, first_note);

  // Without a tokenizer: text prompts and tokenize are TokenizerErrors.
  Json r = h.request("tokenize", Json{{"model_id", "tiny-llama"}, {"text", "hello"}});
  EXPECT_EQ(r["error"]["code"], -32003) << r.dump();
  EXPECT_EQ(r["error"]["data"]["model_id"], "tiny-llama");
  r = h.request("generate", Json{{"model_id", "tiny-llama"}, {"prompt", "hello"}});
  EXPECT_EQ(r["error"]["code"], -32003) << r.dump();
  r = h.request("generate",
                Json{{"model_id", "tiny-llama"}, {"prompt_tokens", {1, 99999}}, {"max_tokens", 2}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
  r = h.request("generate",
                Json{{"model_id", "tiny-llama"},
                     {"prompt_tokens", {1, 5}},
                     {"guidance", {{"mode", "json_schema"}, {"schema", {{"type", "object"}}}}}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
  EXPECT_EQ(r["error"]["data"]["code"], "Unsupported");
  r = h.request(
      "generate",
      Json{{"model_id", "tiny-llama"}, {"prompt_tokens", {1}}, {"guidance", {{"mode", "regex"}}}});
  EXPECT_EQ(r["error"]["data"]["code"], "GuidanceError") << r.dump();

  // An empty prompt starts from BOS; required_dtype mismatch fails the stream after its start.
  r = h.request("generate", Json{{"model_id", "tiny-llama"},
                                 {"stream_id", "dt"},
                                 {"required_dtype", "bfloat16"},
                                 {"max_tokens", 2}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  const auto dt = h.stream("dt");
  expect_order(dt, false);
  EXPECT_NE(dt.back()["params"]["error"].get<std::string>().find("dtype"), std::string::npos);
  r = h.request("generate", Json{{"model_id", "tiny-llama"},
                                 {"stream_id", "bos"},
                                 {"max_tokens", 2},
                                 {"required_dtype", "fp32"}});
  ASSERT_TRUE(r.contains("result"));
  expect_order(h.stream("bos"), true);

  EXPECT_EQ(h.request("unload_model", Json{{"model_id", "tiny-llama"}})["result"]["success"], true);
  EXPECT_EQ(h.request("runtime/state")["result"]["loaded_models"], Json::array());
  r = h.request("generate", Json{{"model_id", "tiny-llama"}, {"prompt_tokens", {1}}});
  EXPECT_EQ(r["error"]["code"], -32005);
  EXPECT_EQ(r["error"]["message"], "Model not loaded: tiny-llama");
}

// load_model's quantization: int4/int8/fp8 quantize a float checkpoint while
// loading; on a quantized folder the value must agree with how it is stored.
TEST_F(ServerModel, QuantizationAtLoadOrAsStored) {
  Harness h;
  const Json q = h.request("load_model",
                           Json{{"model_id", "q8"}, {"local_path", dir}, {"quantization", "int8"}});
  ASSERT_TRUE(q.contains("result")) << q.dump();
  EXPECT_EQ(q["result"]["quantization"], "int8 at load");
  EXPECT_TRUE((*protocol::SchemaSet::rpc())->validate("load_model.result", q["result"]).is_ok());
  const Json start = h.request("generate", Json{{"model_id", "q8"},
                                                {"prompt", ""},
                                                {"prompt_tokens", {5, 6, 7}},
                                                {"stream_id", "q"},
                                                {"max_tokens", 4},
                                                {"temperature", 0},
                                                {"streaming", true}});
  ASSERT_TRUE(start.contains("result")) << start.dump();
  const auto notes = h.stream("q");
  expect_order(notes, true);
  EXPECT_EQ(token_ids(notes, "q").size(), 4u);

  const std::string q4 = mlxs::testing::fixture_path("hf-tiny-quant/llama_mlx_q4");
  const Json stored = h.request(
      "load_model", Json{{"model_id", "mlx4"}, {"local_path", q4}, {"quantization", "int4"}});
  ASSERT_TRUE(stored.contains("result")) << stored.dump();
  EXPECT_EQ(stored["result"]["quantization"], "mlx-affine 4-bit");
  const Json clash = h.request(
      "load_model", Json{{"model_id", "clash"}, {"local_path", q4}, {"quantization", "int8"}});
  ASSERT_TRUE(clash.contains("error")) << clash.dump();
  EXPECT_EQ(clash["error"]["code"], -32001) << clash.dump();
  EXPECT_NE(clash["error"]["message"].get<std::string>().find("already quantized"),
            std::string::npos);
  const Json unknown = h.request(
      "load_model", Json{{"model_id", "u"}, {"local_path", dir}, {"quantization", "int3"}});
  ASSERT_TRUE(unknown.contains("error")) << unknown.dump();
  EXPECT_EQ(unknown["error"]["code"], -32602) << unknown.dump();
}

TEST_F(ServerModel, BatchGenerateManyStreamsAndCollisions) {
  Harness h;
  load(h, "m", dir);
  Json requests = Json::array();
  for (int i = 0; i < 6; ++i) {
    requests.push_back(Json{{"model_id", i == 5 ? "absent" : "m"},
                            {"stream_id", "b" + std::to_string(i)},
                            {"prompt_tokens", {1, 10 + i, 20 + i}},
                            {"max_tokens", 5 + i},
                            {"temperature", 0.8},
                            {"seed", 7}});
  }
  const Json r = h.request("batch_generate", Json{{"requests", requests}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_TRUE(
      (*protocol::SchemaSet::rpc())->validate("batch_generate.result", r["result"]).is_ok());
  const Json& results = r["result"]["results"];
  ASSERT_EQ(results.size(), 6u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(results[i]["success"], true) << results[i].dump();
    EXPECT_EQ(results[i]["result"]["stream_id"], "b" + std::to_string(i));
    EXPECT_TRUE(results[i]["error"].is_null());
  }
  EXPECT_EQ(results[5]["success"], false);
  EXPECT_EQ(results[5]["error"], "Model not loaded: absent");
  for (int i = 0; i < 5; ++i) {
    const auto notes = h.stream("b" + std::to_string(i));
    expect_order(notes, true);
    EXPECT_EQ(
        token_ids(notes, "b" + std::to_string(i)).size() + 0u <= static_cast<std::size_t>(5 + i),
        true);
  }
  // A running stream's id cannot be reused; a finished one's can.
  Json g = h.request(
      "generate",
      Json{{"model_id", "m"}, {"stream_id", "b0"}, {"prompt_tokens", {1}}, {"max_tokens", 1}});
  EXPECT_TRUE(g.contains("result")) << g.dump();
  h.stream("b0");
}

TEST_F(ServerModel, StepExtensionCarriesEveryStreamPerStep) {
  Harness h;
  load(h, "m", dir);
  ASSERT_TRUE(h.request("runtime/info", Json{{"extensions", {"stream.step"}}}).contains("result"));
  Json requests = Json::array();
  for (int i = 0; i < 3; ++i) {
    requests.push_back(Json{{"model_id", "m"},
                            {"stream_id", "s" + std::to_string(i)},
                            {"prompt_tokens", {1, 30 + i}},
                            {"max_tokens", 8},
                            {"temperature", 0}});
  }
  ASSERT_TRUE(h.request("batch_generate", Json{{"requests", requests}}).contains("result"));
  for (int i = 0; i < 3; ++i) {
    const std::string sid = "s" + std::to_string(i);
    const auto notes = h.stream(sid);
    expect_order(notes, true);
    EXPECT_EQ(token_ids(notes, sid).size(), 8u);
  }
  std::size_t steps = 0, chunks = 0, multi = 0;
  std::int64_t last_step = -1;
  for (const Json& l : h.lines()) {
    if (l.value("method", "") == "stream.step") {
      ++steps;
      if (l["params"]["streams"].size() > 1) ++multi;
      // One line per engine step: step numbers only grow.
      const std::int64_t step = l["params"]["step"];
      EXPECT_GT(step, last_step);
      last_step = step;
      std::set<std::string> ids;
      for (const Json& s : l["params"]["streams"]) {
        EXPECT_TRUE(ids.insert(s["stream_id"].get<std::string>()).second)
            << "a stream once per step";
      }
    }
    if (l.value("method", "") == "stream.chunk") ++chunks;
  }
  EXPECT_EQ(chunks, 0u);
  // Eight tokens take eight engine steps, but how many lines carry them is
  // not fixed: a step whose output would queue behind a backlogged writer is
  // carried by the next step's line (engine_host skips the drain), and the
  // engine may run all eight steps before the batch's start response is
  // queued and its streams are drained at all (one line then carries every
  // token). What holds whatever the timing is checked per line above.
  EXPECT_GE(steps, 1u);
  EXPECT_GT(multi, 0u) << "streams of one step share a notification";
}

// A prompt longer than a small step budget runs in chunks of it (100
// tokens in 32, 32, 32 and 4) and gives the tokens of the default budget,
// which takes it in one pass; the budget is the worker's own option.
TEST_F(ServerModel, ASmallStepBudgetChunksThePromptWithTheSameGreedyTokens) {
  std::vector<int> prompt;
  for (int i = 0; i < 100; ++i) prompt.push_back(5 + (i * 37) % 500);
  const auto run = [&](RuntimeOptions options) {
    Harness h(options);
    load(h, "m", dir);
    const Json r = h.request("generate", Json{{"model_id", "m"},
                                              {"stream_id", "s"},
                                              {"prompt_tokens", prompt},
                                              {"max_tokens", 12},
                                              {"temperature", 0},
                                              {"stop_token_ids", Json::array()}});
    EXPECT_TRUE(r.contains("result")) << r.dump();
    const auto notes = h.stream("s");
    expect_order(notes, true);
    return token_ids(notes, "s");
  };
  const std::vector<int> whole = run(Harness::defaults());
  ASSERT_EQ(whole.size(), 12u);
  RuntimeOptions small = Harness::defaults();
  small.max_batch_tokens = 32;
  small.max_running_streams = 4;  // else the budget is raised to the 64 streams' rows
  EXPECT_EQ(run(small), whole);
}

TEST_F(ServerModel, CancelAndUnloadEndStreamsCleanly) {
  RuntimeOptions options = Harness::defaults();
  Harness h(options);
  load(h, "m", dir);
  // Long streams (no end-of-sequence stop: they run to the context's end
  // unless cancelled); cancel one, unload the model under the other.
  for (const char* sid : {"c1", "c2"}) {
    Json r = h.request("generate", Json{{"model_id", "m"},
                                        {"stream_id", sid},
                                        {"prompt_tokens", {1, 40}},
                                        {"max_tokens", 4096},
                                        {"ignore_eos", true},
                                        {"stop_token_ids", {}}});
    ASSERT_TRUE(r.contains("result")) << r.dump();
  }
  // A running stream's id is taken. How long c1 runs is up to the engine, so
  // the contract is checked on the output's order: the id is refused, or
  // c1's final event was written before the new stream's start response.
  const int again_id = h.call(
      "generate",
      Json{{"model_id", "m"}, {"stream_id", "c1"}, {"prompt_tokens", {1}}, {"max_tokens", 1}});
  const Json again = h.response(again_id);
  if (again.contains("error")) {
    EXPECT_EQ(again["error"]["code"], -32602) << again.dump();
  } else {
    const auto lines = h.lines();
    std::size_t response_at = lines.size(), first_end = lines.size();
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].value("id", Json()) == again_id) response_at = i;
      if (first_end == lines.size() && lines[i].value("method", "") == "stream.event" &&
          lines[i]["params"]["stream_id"] == "c1")
        first_end = i;
    }
    EXPECT_LT(first_end, response_at) << "c1's id was reused while it ran: " << again.dump();
  }
  const Json c = h.request("stream/cancel", Json{{"stream_id", "c1"}});
  ASSERT_TRUE(c.contains("result")) << c.dump();
  const auto n1 = h.stream("c1");
  ASSERT_FALSE(n1.empty());
  if (c["result"]["cancelled"] == true && n1.back()["params"]["event"] == "completed") {
    const std::string reason = n1.back()["params"]["finish_reason"];
    EXPECT_TRUE(reason == "cancelled" || reason == "stop" || reason == "length") << reason;
  }
  expect_order(n1, true);
  EXPECT_EQ(h.request("unload_model", Json{{"model_id", "m"}})["result"]["success"], true);
  const auto n2 = h.stream("c2");
  ASSERT_FALSE(n2.empty());
  const Json& last = n2.back()["params"];
  if (last["event"] == "error") {
    EXPECT_NE(last["error"].get<std::string>().find("unloaded"), std::string::npos) << last.dump();
    expect_order(n2, false);
  } else {
    expect_order(n2, true);  // it may have finished on its own first
  }
  EXPECT_EQ(h.request("runtime/state")["result"]["active_streams"], 0);
}

TEST_F(ServerModel, ReloadSameSourceIsIdempotentAndRuntimeOnlyBatchers) {
  Harness h;
  const Json a = load(h, "m", dir);
  const Json b = load(h, "m", dir);
  EXPECT_EQ(a, b);
  Json r = h.request("get_batcher_health", Json{{"model_id", "m"}});
  EXPECT_EQ(r["error"]["code"], -32602) << "no continuous batcher yet";
  r = h.request("continuous_generate",
                Json{{"model_id", "m"}, {"prompt", ""}, {"stream_id", "cg"}, {"max_tokens", 3}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_TRUE(r["result"].is_null());
  const auto notes = h.stream("cg");
  ASSERT_FALSE(notes.empty());
  for (std::size_t i = 0; i + 1 < notes.size(); ++i) {
    EXPECT_EQ(notes[i]["method"], "stream.chunk");
    EXPECT_FALSE(notes[i]["params"].contains("tokens")) << "one token per chunk";
  }
  EXPECT_EQ(notes.back()["params"]["event"], "completed");
  EXPECT_TRUE(notes.back()["params"]["stats"].contains("tokens_generated"));
  for (const char* m : {"get_batcher_metrics", "get_batcher_health", "get_week4_metrics"}) {
    r = h.request(m, Json{{"model_id", "m"}});
    ASSERT_TRUE(r.contains("result")) << m << r.dump();
    EXPECT_TRUE(
        (*protocol::SchemaSet::rpc())->validate(std::string(m) + ".result", r["result"]).is_ok())
        << m;
  }
  r = h.request("batch_generate_parallel",
                Json{{"requests",
                      {{{"model_id", "m"}, {"stream_id", "p1"}, {"max_tokens", 2}},
                       {{"model_id", "m"}, {"stream_id", "p2"}, {"max_tokens", 2}}}}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(h.stream("p1").back()["params"]["event"], "completed");
  EXPECT_EQ(h.stream("p2").back()["params"]["event"], "completed");
  r = h.request("batch_generate_parallel",
                Json{{"requests", {{{"model_id", "m"}}, {{"model_id", "other"}}}}});
  EXPECT_EQ(r["error"]["code"], -32602);
  r = h.request("check_draft", Json{{"primary_id", "m"}, {"draft_id", "m"}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["compatible"], true);
  EXPECT_TRUE((*protocol::SchemaSet::rpc())->validate("check_draft.result", r["result"]).is_ok());
  r = h.request("batch_check_draft", Json{{"requests",
                                           {{{"primary_id", "m"}, {"draft_id", "m"}},
                                            {{"primary_id", "m"}, {"draft_id", "zz"}}}}});
  EXPECT_EQ(r["result"]["results"][0]["success"], true);
  EXPECT_EQ(r["result"]["results"][1]["error"], "Model not loaded: zz");
}

}  // namespace
}  // namespace mlxs::runtime
