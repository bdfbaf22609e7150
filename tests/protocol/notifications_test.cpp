// Notification shapes: single and batched stream.chunk, stats, events, step.
#include <gtest/gtest.h>

#include "test_util.h"

namespace mlxs::protocol {
namespace {

using testing::valid;

ChunkToken token(std::string text, std::int32_t id) {
  ChunkToken t;
  t.stream_id = "s";
  t.token = std::move(text);
  t.token_id = id;
  return t;
}

TEST(Notifications, ChunkFormsValidateAndReadBack) {
  StreamChunk one{"s", {token("Hi", 5)}};
  const core::Json single = to_json(one);
  EXPECT_FALSE(single.contains("tokens"));
  EXPECT_EQ(single["is_final"], false);
  EXPECT_TRUE(valid("stream.chunk.params", single));

  StreamChunk many{"s", {token("a", 1), token("b", 2), token("c", 3)}};
  const core::Json batched = to_json(many);
  EXPECT_EQ(batched["batch_size"], 3);
  EXPECT_EQ(batched["is_batch"], true);
  EXPECT_TRUE(valid("stream.chunk.params", batched));
  for (const core::Json* j : {&single, &batched}) {
    auto back = stream_chunk_from_json(*j);
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    EXPECT_EQ(to_json(*back), *j);
  }
  EXPECT_FALSE(
      stream_chunk_from_json(core::Json::parse(R"({"stream_id":"s","tokens":[]})")).is_ok());
  EXPECT_FALSE(
      valid("stream.chunk.params",
            core::Json::parse(R"({"stream_id":"s","token":"x","token_id":-1,"is_final":false})")));
}

TEST(Notifications, LineBuilderWritesTheSameJson) {
  ChunkLineBuilder b("s\"q");
  ChunkToken t = token("x\n", 7);
  t.stream_id = "s\"q";
  b.add(t);
  auto line = core::Json::parse(b.take_line());
  EXPECT_EQ(line["method"], "stream.chunk");
  EXPECT_EQ(line["params"], to_json(t));
  EXPECT_TRUE(b.empty());
  for (int i = 0; i < 4; ++i) {
    ChunkToken u = token(std::string(1, static_cast<char>('a' + i)), i);
    u.stream_id = "s\"q";
    const std::size_t predicted = b.size_with(ChunkLineBuilder::token_json(u).size());
    b.add(u);
    if (i > 0) {
      const std::string l = [&] {
        ChunkLineBuilder copy = b;
        return copy.take_line();
      }();
      EXPECT_GE(predicted, l.size()) << "size_with never underestimates";
    }
  }
  line = core::Json::parse(b.take_line());
  EXPECT_EQ(line["params"]["batch_size"], 4);
  EXPECT_EQ(line["params"]["stream_id"], "s\"q");
  EXPECT_TRUE(valid("stream.chunk.params", line["params"]));
  EXPECT_TRUE(valid("notification", line));
}

TEST(Notifications, ChunkTokensCarryTopAlternatives) {
  ChunkToken t;
  t.stream_id = "s";
  t.token = "x";
  t.token_id = 5;
  t.logprob = -0.5;
  t.top_logprobs = std::vector<TopLogprob>{{5, "x", -0.5}, {6, "\u00e9", -1.5}};
  const core::Json j = to_json(t);
  EXPECT_TRUE(valid("stream.chunk.params", j));
  EXPECT_EQ(j["top_logprobs"][1]["token_id"], 6);
  auto back = from_json<ChunkToken>(j);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(to_json(*back), j);
  (*t.top_logprobs)[0].logprob = 0.5;  // a log-probability is never positive
  EXPECT_FALSE(valid("stream.chunk.params", to_json(t)));
}

TEST(Notifications, StatsEventsAndSteps) {
  StreamStats st{"s", 10, 50.0, 0.02, 0.2, std::nullopt, std::nullopt};
  EXPECT_TRUE(valid("stream.stats.params", to_json(st)));
  st.prompt_tokens = 70;
  st.cached_tokens = 64;
  EXPECT_TRUE(valid("stream.stats.params", to_json(st)));
  EXPECT_EQ(to_json(st)["cached_tokens"], 64);
  st.cached_tokens = -1;
  EXPECT_FALSE(valid("stream.stats.params", to_json(st)));
  StreamEvent done;
  done.stream_id = "s";
  done.event = "completed";
  done.finish_reason = "stop";
  EXPECT_TRUE(valid("stream.event.params", to_json(done)));
  done.prompt_tokens = 3;
  done.cached_tokens = 0;
  EXPECT_TRUE(valid("stream.event.params", to_json(done)));
  EXPECT_EQ(from_json<StreamEvent>(to_json(done))->prompt_tokens, 3);
  StreamEvent err;
  err.stream_id = "s";
  err.event = "error";
  err.error = "Generation failed for m: boom";
  err.code = "GenerationError";
  EXPECT_TRUE(valid("stream.event.params", to_json(err)));
  err.error.reset();
  EXPECT_FALSE(valid("stream.event.params", to_json(err))) << "an error event carries its message";
  const std::vector<TopLogprob> alts = {{1, "a", -0.1}, {9, " b", -2.5}};
  StreamStep step{"m",
                  4,
                  {StepStream{"a",
                              {1, 2},
                              "hi",
                              std::vector<double>{-0.1, -0.2},
                              std::vector<std::vector<TopLogprob>>{alts, alts}},
                   StepStream{"b", {}, "!", std::nullopt, std::nullopt}}};
  EXPECT_TRUE(valid("stream.step.params", to_json(step)));
  EXPECT_EQ(to_json(step)["streams"][0]["top_logprobs"][1][1]["token"], " b");
  auto back = from_json<StreamStep>(to_json(step));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(to_json(*back), to_json(step));
}

// Ours: model.load_progress (negotiated) and load_model's memory report.
TEST(Notifications, LoadProgressAndMemoryReadBack) {
  LoadProgressNotice n;
  n.model_id = "m";
  n.done_bytes = 4096;
  n.total_bytes = 8192;
  n.tensors_done = 3;
  n.tensors_total = 7;
  const core::Json j = to_json(n);
  EXPECT_TRUE(valid("model.load_progress.params", j));
  EXPECT_TRUE(valid("notification",
                    core::Json{{"jsonrpc", "2.0"}, {"method", kModelLoadProgress}, {"params", j}}));
  auto back = from_json<LoadProgressNotice>(j);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(to_json(*back), j);
  for (const char* key :
       {"model_id", "done_bytes", "total_bytes", "tensors_done", "tensors_total"}) {
    core::Json missing = j;
    missing.erase(key);
    EXPECT_FALSE(valid("model.load_progress.params", missing)) << key;
  }
  core::Json negative = j;
  negative["done_bytes"] = -1;
  EXPECT_FALSE(valid("model.load_progress.params", negative));
  EXPECT_FALSE(
      from_json<LoadProgressNotice>(core::Json{{"model_id", "m"}, {"done_bytes", "x"}}).is_ok());

  LoadModelResult r;
  r.model_id = "m";
  r.context_length = 64;
  r.cached_path = std::string("/m");
  EXPECT_FALSE(to_json(r).contains("memory")) << "absent unless set: the original sends none";
  r.memory = ModelMemory{1000, 2048, 4, 512, "cuda:1", "bf16"};
  const core::Json rj = to_json(r);
  EXPECT_TRUE(valid("load_model.result", rj));
  EXPECT_EQ(rj["memory"]["kv_block_bytes"], 512);
  EXPECT_EQ(rj["memory"]["device"], "cuda:1");
  EXPECT_EQ(rj["memory"]["kv_cache_dtype"], "bf16");
  // A worker without the field still reports its memory; a type that is no
  // cache's is refused.
  core::Json older = rj;
  older["memory"].erase("kv_cache_dtype");
  EXPECT_TRUE(valid("load_model.result", older));
  EXPECT_TRUE(from_json<LoadModelResult>(older).is_ok());
  core::Json odd = rj;
  odd["memory"]["kv_cache_dtype"] = "fp16";
  EXPECT_FALSE(valid("load_model.result", odd));
  auto rback = from_json<LoadModelResult>(rj);
  ASSERT_TRUE(rback.is_ok());
  EXPECT_EQ(to_json(*rback), rj);
  core::Json bad = rj;
  bad["memory"].erase("weights_bytes");
  EXPECT_FALSE(valid("load_model.result", bad));
}

}  // namespace
}  // namespace mlxs::protocol
