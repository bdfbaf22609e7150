// StreamTable: every stream notification shape becomes the right sink call,
// in order; the end comes once and removes the stream; a crash ends all.
#include "control/stream_table.h"

#include <gtest/gtest.h>

#include "protocol/protocol.h"
#include "recording_sink.h"

namespace mlxs::control {
namespace {

using core::Json;
using testing::RecordingSink;

protocol::Notification note(std::string method, Json params) {
  return protocol::Notification{std::move(method), std::move(params)};
}

TEST(StreamTable, ChunksStepsStatsAndEnd) {
  StreamTable table;
  auto a = std::make_shared<RecordingSink>();
  auto b = std::make_shared<RecordingSink>();
  ASSERT_TRUE(table.add("a", a));
  ASSERT_TRUE(table.add("b", b));
  EXPECT_FALSE(table.add("a", b)) << "ids are unique";

  ASSERT_TRUE(table
                  .deliver(note(
                      "stream.chunk",
                      {{"stream_id", "a"}, {"token", "He"}, {"token_id", 5}, {"is_final", false}}))
                  .is_ok());
  ASSERT_TRUE(table
                  .deliver(note("stream.chunk", {{"stream_id", "a"},
                                                 {"tokens",
                                                  {{{"stream_id", "a"},
                                                    {"token", "l"},
                                                    {"token_id", 6},
                                                    {"is_final", false},
                                                    {"logprob", -0.5}},
                                                   {{"stream_id", "a"},
                                                    {"token", "lo"},
                                                    {"token_id", 7},
                                                    {"is_final", false},
                                                    {"logprob", -1.5}}}},
                                                 {"batch_size", 2},
                                                 {"is_batch", true}}))
                  .is_ok());
  ASSERT_TRUE(table
                  .deliver(note("stream.step",
                                {{"model_id", "m"},
                                 {"step", 3},
                                 {"streams",
                                  {{{"stream_id", "a"}, {"token_ids", {8}}, {"text", "!"}},
                                   {{"stream_id", "b"}, {"token_ids", {1, 2}}, {"text", "xy"}},
                                   {{"stream_id", "gone"}, {"token_ids", {1}}, {"text", "z"}}}}}))
                  .is_ok());
  ASSERT_TRUE(table
                  .deliver(note("stream.stats", {{"stream_id", "a"},
                                                 {"tokens_generated", 4},
                                                 {"tokens_per_second", 10.0},
                                                 {"time_to_first_token", 0.1},
                                                 {"total_time", 0.4}}))
                  .is_ok());
  ASSERT_TRUE(table
                  .deliver(note("stream.event", {{"stream_id", "a"},
                                                 {"event", "completed"},
                                                 {"is_final", true},
                                                 {"finish_reason", "length"}}))
                  .is_ok());
  EXPECT_EQ(a->ids, (std::vector<std::int32_t>{5, 6, 7, 8}));
  EXPECT_EQ(a->text, "Hello!");
  ASSERT_TRUE(a->stats);
  EXPECT_EQ(a->stats->tokens_generated, 4);
  ASSERT_TRUE(a->end);
  EXPECT_EQ(a->end->event, "completed");
  EXPECT_EQ(a->ends, 1);
  EXPECT_FALSE(table.contains("a"));
  EXPECT_EQ(b->ids, (std::vector<std::int32_t>{1, 2}));

  // After its end a stream hears nothing more.
  ASSERT_TRUE(table
                  .deliver(note("stream.event",
                                {{"stream_id", "a"}, {"event", "completed"}, {"is_final", true}}))
                  .is_ok());
  EXPECT_EQ(a->ends, 1);

  table.end_all(core::ErrorCode::kWorkerCrashed, "worker-0: the worker exited");
  ASSERT_TRUE(b->end);
  EXPECT_EQ(b->end->event, "error");
  EXPECT_EQ(b->end->code, "WorkerCrashed");
  EXPECT_EQ(b->ends, 1);
  EXPECT_EQ(table.size(), 0u);
}

TEST(StreamTable, LogprobsOnlyWhenEveryTokenHasOne) {
  protocol::StreamChunk chunk;
  chunk.stream_id = "s";
  protocol::ChunkToken t;
  t.stream_id = "s";
  t.token = "a";
  t.token_id = 1;
  t.logprob = -0.1;
  chunk.tokens.push_back(t);
  t.token = "b";
  t.token_id = 2;
  t.logprob.reset();
  chunk.tokens.push_back(t);
  EXPECT_FALSE(step_of_chunk(chunk).logprobs.has_value());
  chunk.tokens[1].logprob = -0.2;
  const auto step = step_of_chunk(chunk);
  ASSERT_TRUE(step.logprobs);
  EXPECT_EQ(*step.logprobs, (std::vector<double>{-0.1, -0.2}));
  EXPECT_EQ(step.text, "ab");
}

// A stream.chunk becomes the same StepStream a stream.step would carry,
// top_logprobs included (one list per token) when the stream asked for them.
TEST(StreamTable, TopLogprobsCarriedLikeStreamStep) {
  protocol::StreamChunk chunk;
  chunk.stream_id = "s";
  for (int i = 0; i < 2; ++i) {
    protocol::ChunkToken t;
    t.stream_id = "s";
    t.token = i == 0 ? "a" : "b";
    t.token_id = i + 1;
    t.logprob = -0.5 * (i + 1);
    t.top_logprobs =
        std::vector<protocol::TopLogprob>{{i + 1, t.token, *t.logprob}, {7, "z", -3.0}};
    chunk.tokens.push_back(t);
  }
  const auto step = step_of_chunk(chunk);
  ASSERT_TRUE(step.top_logprobs.has_value());
  ASSERT_EQ(step.top_logprobs->size(), 2u);
  EXPECT_EQ((*step.top_logprobs)[1][0].token, "b");
  EXPECT_EQ((*step.top_logprobs)[1][1].token_id, 7);
  EXPECT_EQ((*step.top_logprobs)[0][0].logprob, -0.5);
  // Written as stream.step writes them, the step validates against its document.
  protocol::StreamStep wire;
  wire.model_id = "m";
  wire.streams.push_back(step);
  const auto& schemas = **protocol::SchemaSet::rpc();
  EXPECT_TRUE(schemas.validate("stream.step.params", protocol::to_json(wire)).is_ok());

  // The table hands a single-token stream.chunk's list to the sink.
  struct StepSink final : StreamSink {
    std::vector<protocol::StepStream> steps;
    void on_tokens(const protocol::StepStream& s) override { steps.push_back(s); }
    void on_stats(const protocol::StreamStats&) override {}
    void on_end(const protocol::StreamEvent&) override {}
  };
  StreamTable table;
  auto sink = std::make_shared<StepSink>();
  ASSERT_TRUE(table.add("s", sink));
  const Json top = Json::array({Json{{"token_id", 3}, {"token", "c"}, {"logprob", -0.1}}});
  ASSERT_TRUE(table
                  .deliver(note("stream.chunk", {{"stream_id", "s"},
                                                 {"token", "c"},
                                                 {"token_id", 3},
                                                 {"is_final", false},
                                                 {"logprob", -0.1},
                                                 {"top_logprobs", top}}))
                  .is_ok());
  ASSERT_EQ(sink->steps.size(), 1u);
  ASSERT_TRUE(sink->steps[0].top_logprobs.has_value());
  EXPECT_EQ((*sink->steps[0].top_logprobs)[0][0].token, "c");

  // A chunk whose tokens do not all carry them is not a stream that asked.
  chunk.tokens[0].top_logprobs.reset();
  EXPECT_FALSE(step_of_chunk(chunk).top_logprobs.has_value());
  // Without any top_logprobs nothing is invented.
  chunk.tokens[1].top_logprobs.reset();
  EXPECT_FALSE(step_of_chunk(chunk).top_logprobs.has_value());
}

TEST(StreamTable, MalformedNotificationsAreErrors) {
  StreamTable table;
  EXPECT_FALSE(table.deliver(note("stream.event", {{"stream_id", 5}})).is_ok());
  EXPECT_FALSE(table.deliver(note("stream.step", {{"streams", "x"}})).is_ok());
  EXPECT_FALSE(table.deliver(note("stream.chunk", Json::array())).is_ok());
  EXPECT_FALSE(table.deliver(note("stream.bogus", Json::object())).is_ok());
}

}  // namespace
}  // namespace mlxs::control
