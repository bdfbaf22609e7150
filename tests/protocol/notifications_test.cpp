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
  EXPECT_FALSE(stream_chunk_from_json(core::Json::parse(R"({"stream_id":"s","tokens":[]})")).is_ok());
  EXPECT_FALSE(valid("stream.chunk.params", core::Json::parse(R"({"stream_id":"s","token":"x","token_id":-1,"is_final":false})")));
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

TEST(Notifications, StatsEventsAndSteps) {
  StreamStats st{"s", 10, 50.0, 0.02, 0.2};
  EXPECT_TRUE(valid("stream.stats.params", to_json(st)));
  StreamEvent done;
  done.stream_id = "s";
  done.event = "completed";
  done.finish_reason = "stop";
  EXPECT_TRUE(valid("stream.event.params", to_json(done)));
  StreamEvent err;
  err.stream_id = "s";
  err.event = "error";
  err.error = "Generation failed for m: boom";
  err.code = "GenerationError";
  EXPECT_TRUE(valid("stream.event.params", to_json(err)));
  err.error.reset();
  EXPECT_FALSE(valid("stream.event.params", to_json(err))) << "an error event carries its message";
  StreamStep step{"m", 4, {StepStream{"a", {1, 2}, "hi", std::nullopt}, StepStream{"b", {}, "!", std::nullopt}}};
  EXPECT_TRUE(valid("stream.step.params", to_json(step)));
  auto back = from_json<StreamStep>(to_json(step));
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(to_json(*back), to_json(step));
}

}  // namespace
}  // namespace mlxs::protocol
