// The stream count a worker host keeps for a child worker from the protocol
// lines: accepted generates open streams, completed and error events end
// them; refused generates, other methods, chunks, malformed and hostile
// lines change nothing, and the count never goes below zero.
#include "cluster/stream_counter.h"

#include <gtest/gtest.h>

#include <string>

namespace mlxs::cluster {
namespace {

std::string generate(int id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) +
         R"(,"method":"generate","params":{"model_id":"m","prompt":"hi"}})";
}
std::string accepted(int id) {
  return R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":{"stream_id":"s)" +
         std::to_string(id) + R"("}})";
}
std::string event(const std::string& kind) {
  return R"({"jsonrpc":"2.0","method":"stream.event","params":{"stream_id":"s","event":")" + kind +
         R"("}})";
}

TEST(StreamCounter, AcceptedGeneratesOpenAndEventsEndStreams) {
  StreamCounter c;
  c.on_request(generate(1));
  EXPECT_EQ(c.active(), 0) << "not before the worker accepts it";
  c.on_reply(accepted(1));
  c.on_request(generate(2));
  c.on_reply(accepted(2));
  EXPECT_EQ(c.active(), 2);
  c.on_reply(
      R"({"jsonrpc":"2.0","method":"stream.chunk","params":{"stream_id":"s1","token":"\"result\""}})");
  c.on_reply(accepted(1));  // a second response to the same id: no second stream
  EXPECT_EQ(c.active(), 2);
  c.on_reply(event("completed"));
  EXPECT_EQ(c.active(), 1);
  c.on_reply(event("error"));
  c.on_reply(event("completed"));  // an end whose start was not seen
  EXPECT_EQ(c.active(), 0);
}

TEST(StreamCounter, RefusedGeneratesAndOtherLinesCountNothing) {
  StreamCounter c;
  c.on_request(generate(7));
  c.on_reply(R"({"jsonrpc":"2.0","id":7,"error":{"code":-32602,"message":"no such model"}})");
  c.on_reply(accepted(7));  // no longer pending
  c.on_request(
      R"({"jsonrpc":"2.0","id":8,"method":"load_model","params":{"model_id":"generate"}})");
  c.on_reply(accepted(8));
  c.on_request("{not json \"generate\"");
  c.on_reply("[\"stream.event\"]");
  c.on_reply(R"({"method":"stream.event","params":{"event":"started"}})");
  c.on_request(R"({"jsonrpc":"2.0","method":"generate","params":{}})");  // no id: a notification
  EXPECT_EQ(c.active(), 0);
}

TEST(StreamCounter, PendingRequestsAreBounded) {
  StreamCounter c;
  for (int i = 0; i < static_cast<int>(StreamCounter::kMaxPending) + 100; ++i) {
    c.on_request(generate(i));
  }
  for (int i = 0; i < static_cast<int>(StreamCounter::kMaxPending) + 100; ++i) {
    c.on_reply(accepted(i));
  }
  EXPECT_EQ(c.active(), static_cast<std::int64_t>(StreamCounter::kMaxPending));
}

}  // namespace
}  // namespace mlxs::cluster
