// Our generate fields for the OpenAI-compatible server (logit_bias,
// top_logprobs, priority, ignore_eos, min_tokens, timeout_ms) reach the
// engine, and the final messages carry prompt_tokens and cached_tokens.
#include <gtest/gtest.h>

#include "harness.h"
#include "testing/fixtures.h"

namespace mlxs::runtime {
namespace {

using core::Json;
using testing::Harness;

// Every chunk token of one stream, in order (single and batched forms).
std::vector<Json> chunk_tokens(const std::vector<Json>& notes) {
  std::vector<Json> out;
  for (const Json& n : notes) {
    if (n["method"] != "stream.chunk") continue;
    const Json& p = n["params"];
    if (p.contains("tokens")) {
      for (const Json& t : p["tokens"]) out.push_back(t);
    } else {
      out.push_back(p);
    }
  }
  return out;
}

void expect_valid(const std::vector<Json>& notes) {
  const auto& schemas = **protocol::SchemaSet::rpc();
  for (const Json& n : notes) {
    EXPECT_TRUE(schemas.validate(n["method"].get<std::string>() + ".params", n["params"]).is_ok())
        << n.dump();
  }
}

class GenerateFields : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config =
        core::read_json_file(dir + "/config.json", "config.json", core::ErrorCode::kInvalidParams);
    ASSERT_TRUE(config.is_ok());
    const Json& eos = (*config)["eos_token_id"];
    eos_id = eos.is_array() ? eos[0].get<int>() : eos.get<int>();
    vocab = (*config)["vocab_size"].get<int>();
    // A token that is neither an end nor a start token.
    forced = (eos_id + 5) % vocab;
    const Json r = h.request("load_model", Json{{"model_id", "m"}, {"local_path", dir}});
    ASSERT_TRUE(r.contains("result")) << r.dump();
  }

  std::vector<Json> run(const std::string& sid, Json params) {
    params["model_id"] = "m";
    params["stream_id"] = sid;
    const Json r = h.request("generate", params);
    EXPECT_TRUE(r.contains("result")) << r.dump();
    auto notes = h.stream(sid);
    expect_valid(notes);
    return notes;
  }

  std::string dir = mlxs::testing::fixture_path("hf-tiny/llama");
  Harness h;
  int eos_id = 0, vocab = 0, forced = 0;
};

TEST_F(GenerateFields, LogitBiasForcesAToken) {
  const auto notes = run("lb", Json{{"prompt_tokens", {1, 10, 11}},
                                    {"max_tokens", 6},
                                    {"temperature", 0},
                                    {"logit_bias", {{std::to_string(forced), 100}}}});
  const auto tokens = chunk_tokens(notes);
  ASSERT_EQ(tokens.size(), 6u);
  for (const Json& t : tokens) EXPECT_EQ(t["token_id"], forced);
  // Keys must be token ids of the vocabulary.
  Json r = h.request("generate",
                     Json{{"model_id", "m"}, {"prompt_tokens", {1}}, {"logit_bias", {{"abc", 1}}}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
  r = h.request("generate", Json{{"model_id", "m"},
                                 {"prompt_tokens", {1}},
                                 {"logit_bias", {{std::to_string(vocab + 10), 1}}}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
  r = h.request("generate",
                Json{{"model_id", "m"}, {"prompt_tokens", {1}}, {"logit_bias", {{"3", 101}}}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
}

TEST_F(GenerateFields, TopLogprobsInChunksAndSteps) {
  auto check = [](const Json& alternatives, const Json& chosen_id, double chosen_logprob) {
    ASSERT_EQ(alternatives.size(), 3u);
    double previous = 0.0;
    for (const Json& alt : alternatives) {
      EXPECT_TRUE(alt["token"].is_string());
      const double lp = alt["logprob"];
      EXPECT_LE(lp, previous + 1e-9) << "best first";
      previous = lp;
    }
    // Greedy: the chosen token is the best alternative.
    EXPECT_EQ(alternatives[0]["token_id"], chosen_id);
    EXPECT_NEAR(alternatives[0]["logprob"].get<double>(), chosen_logprob, 1e-4);
  };
  const Json params{
      {"prompt_tokens", {1, 20, 21}}, {"max_tokens", 5}, {"temperature", 0}, {"top_logprobs", 3}};
  const auto tokens = chunk_tokens(run("tl", params));
  ASSERT_EQ(tokens.size(), 5u);
  for (const Json& t : tokens) {
    ASSERT_TRUE(t.contains("logprob")) << "top_logprobs turns logprob on";
    check(t["top_logprobs"], t["token_id"], t["logprob"]);
  }
  // Without it, no alternatives.
  for (const Json& t :
       chunk_tokens(run("no", Json{{"prompt_tokens", {1, 20}}, {"max_tokens", 2}}))) {
    EXPECT_FALSE(t.contains("top_logprobs"));
    EXPECT_FALSE(t.contains("logprob"));
  }
  ASSERT_TRUE(h.request("runtime/info", Json{{"extensions", {"stream.step"}}}).contains("result"));
  std::size_t seen = 0;
  for (const Json& n : run("ts", params)) {
    if (n["method"] != "stream.step") continue;
    for (const Json& s : n["params"]["streams"]) {
      if (s["stream_id"] != "ts") continue;
      ASSERT_EQ(s["top_logprobs"].size(), s["token_ids"].size());
      for (std::size_t i = 0; i < s["token_ids"].size(); ++i) {
        check(s["top_logprobs"][i], s["token_ids"][i], s["logprobs"][i]);
        ++seen;
      }
    }
  }
  EXPECT_EQ(seen, 5u);
  const Json r = h.request("generate", Json{{"model_id", "m"}, {"top_logprobs", 21}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
}

TEST_F(GenerateFields, EosRulesMinTokensAndIgnoreEos) {
  // Biased towards the end token, a stream stops at once...
  const Json eos_bias{{std::to_string(eos_id), 100}};
  auto tokens_of = [&](const std::string& sid, Json extra) {
    Json p{{"prompt_tokens", {1, 30}},
           {"max_tokens", 7},
           {"temperature", 0},
           {"logit_bias", eos_bias}};
    p.update(extra);
    const auto notes = run(sid, p);
    EXPECT_EQ(notes.back()["params"]["event"], "completed");
    return std::make_pair(chunk_tokens(notes).size(), notes.back()["params"]["finish_reason"]);
  };
  auto [plain, plain_reason] = tokens_of("e0", Json::object());
  EXPECT_EQ(plain, 0u);
  EXPECT_EQ(plain_reason, "stop");
  // ...not before min_tokens...
  auto [min3, min3_reason] = tokens_of("e1", Json{{"min_tokens", 3}});
  EXPECT_EQ(min3, 3u);
  EXPECT_EQ(min3_reason, "stop");
  // ...and never with ignore_eos.
  auto [all, all_reason] = tokens_of("e2", Json{{"ignore_eos", true}});
  EXPECT_EQ(all, 7u);
  EXPECT_EQ(all_reason, "length");
  const Json r =
      h.request("generate", Json{{"model_id", "m"}, {"min_tokens", 9}, {"max_tokens", 4}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
}

TEST_F(GenerateFields, PriorityClasses) {
  for (const char* priority : {"interactive", "batch"}) {
    const auto notes =
        run(std::string("p-") + priority,
            Json{{"prompt_tokens", {1, 40}}, {"max_tokens", 3}, {"priority", priority}});
    EXPECT_EQ(notes.back()["params"]["event"], "completed");
  }
  const Json r = h.request("generate", Json{{"model_id", "m"}, {"priority", "urgent"}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
}

TEST_F(GenerateFields, TimeoutEndsTheStreamWithATimeoutError) {
  const auto notes = run("to", Json{{"prompt_tokens", {1, 50}},
                                    {"max_tokens", 4096},
                                    {"ignore_eos", true},
                                    {"timeout_ms", 1}});
  const Json& last = notes.back()["params"];
  ASSERT_EQ(last["event"], "error") << last.dump();
  EXPECT_EQ(last["code"], "Timeout");
  for (const Json& n : notes) EXPECT_NE(n["method"], "stream.stats");
  const Json r = h.request("generate", Json{{"model_id", "m"}, {"timeout_ms", 0}});
  EXPECT_EQ(r["error"]["code"], -32602) << r.dump();
}

TEST_F(GenerateFields, UsageCountsPromptAndPrefixCacheHits) {
  // Long enough to fill whole KV blocks, so the second run finds them cached.
  Json prompt = Json::array();
  for (int i = 0; i < 70; ++i) prompt.push_back(3 + (i * 7) % (vocab - 3));
  const Json params{{"prompt_tokens", prompt}, {"max_tokens", 2}, {"temperature", 0}};
  const auto first = run("u1", params);
  const Json& stats1 = first[first.size() - 2]["params"];
  ASSERT_EQ(first[first.size() - 2]["method"], "stream.stats");
  EXPECT_EQ(stats1["prompt_tokens"], 70);
  EXPECT_EQ(stats1["cached_tokens"], 0);
  EXPECT_EQ(first.back()["params"]["prompt_tokens"], 70);
  const auto second = run("u2", params);
  const Json& stats2 = second[second.size() - 2]["params"];
  EXPECT_EQ(stats2["prompt_tokens"], 70);
  EXPECT_GT(stats2["cached_tokens"].get<int>(), 0);
  EXPECT_LT(stats2["cached_tokens"].get<int>(), 70);
  EXPECT_EQ(second.back()["params"]["cached_tokens"], stats2["cached_tokens"]);
}

// stream/cancel (ours; the original cancels only on its own side) stops the
// engine's work: the stream ends early as "cancelled", in both output modes.
TEST_F(GenerateFields, CancelStopsTheWorkInBothModes) {
  for (const bool steps : {false, true}) {
    if (steps) {
      ASSERT_TRUE(
          h.request("runtime/info", Json{{"extensions", {"stream.step"}}}).contains("result"));
    }
    const std::string sid = steps ? "cancel-step" : "cancel-chunk";
    const Json r = h.request("generate", Json{{"model_id", "m"},
                                              {"stream_id", sid},
                                              {"prompt_tokens", {1, 60}},
                                              {"max_tokens", 4096},
                                              {"ignore_eos", true}});
    ASSERT_TRUE(r.contains("result")) << r.dump();
    const Json c = h.request("stream/cancel", Json{{"stream_id", sid}});
    EXPECT_EQ(c["result"]["cancelled"], true) << c.dump();
    const auto notes = h.stream(sid);
    expect_valid(notes);
    ASSERT_GE(notes.size(), 2u);
    EXPECT_EQ(notes.back()["params"]["event"], "completed");
    EXPECT_EQ(notes.back()["params"]["finish_reason"], "cancelled");
    const Json& stats = notes[notes.size() - 2]["params"];
    EXPECT_LT(stats["tokens_generated"].get<int>(), 4096);
    // Once ended, the id is free and a second cancel finds nothing.
    EXPECT_EQ(h.request("stream/cancel", Json{{"stream_id", sid}})["result"]["cancelled"], false);
  }
}

}  // namespace
}  // namespace mlxs::runtime
