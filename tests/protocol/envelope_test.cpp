// Every malformed frame becomes a FrameError with the right code and, where
// it can be read, the request's id.
#include <gtest/gtest.h>

#include "test_util.h"

namespace mlxs::protocol {
namespace {

FrameError frame_error(std::string_view line) {
  auto r = parse_request(line);
  EXPECT_TRUE(std::holds_alternative<FrameError>(r)) << line;
  return std::holds_alternative<FrameError>(r) ? std::get<FrameError>(r) : FrameError{};
}

Request request(std::string_view line) {
  auto r = parse_request(line);
  EXPECT_TRUE(std::holds_alternative<Request>(r)) << line;
  return std::holds_alternative<Request>(r) ? std::get<Request>(r) : Request{};
}

TEST(Envelope, ReadsRequestsAndNotifications) {
  Request r = request(R"({"jsonrpc":"2.0","method":"runtime/info","id":"readiness-probe"})");
  EXPECT_EQ(r.method, "runtime/info");
  ASSERT_TRUE(r.id.has_value());
  EXPECT_EQ(*r.id, "readiness-probe");
  EXPECT_TRUE(r.params.is_object());
  EXPECT_TRUE(r.params.empty());

  r = request(R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":"m"},"id":7})");
  EXPECT_EQ(*r.id, 7);
  EXPECT_EQ(r.params["model_id"], "m");

  r = request(R"({"jsonrpc":"2.0","method":"shutdown"})");
  EXPECT_FALSE(r.id.has_value()) << "a notification has no id";
  r = request(R"({"jsonrpc":"2.0","method":"shutdown","id":null,"params":null})");
  ASSERT_TRUE(r.id.has_value());
  EXPECT_TRUE(r.id->is_null());
  r = request(R"({"jsonrpc":"2.0","method":"x","id":1.5})");
  EXPECT_EQ(*r.id, 1.5);
}

TEST(Envelope, ParseErrors) {
  for (std::string_view bad : {"{", "not json", "{\"jsonrpc\":\"2.0\",}", "\xff\xfe",
                               "{\"a\":\"\xc3\"}", "[1,2", "{\"a\":1e999}"}) {
    const FrameError e = frame_error(bad);
    EXPECT_EQ(e.error.code, kParseErrorCode) << bad;
    EXPECT_EQ(e.error.data["code"], "ParseError");
  }
}

TEST(Envelope, InvalidRequests) {
  struct Case {
    std::string_view line;
    int code;
    bool has_id;
  };
  const Case cases[] = {
      {R"([{"jsonrpc":"2.0","method":"a","id":1}])", kInvalidRequestCode, false},
      {R"("just a string")", kInvalidRequestCode, false},
      {R"(42)", kInvalidRequestCode, false},
      {R"({"method":"a","id":1})", kInvalidRequestCode, true},
      {R"({"jsonrpc":"1.0","method":"a","id":1})", kInvalidRequestCode, true},
      {R"({"jsonrpc":2.0,"method":"a","id":1})", kInvalidRequestCode, true},
      {R"({"jsonrpc":"2.0","id":1})", kInvalidRequestCode, true},
      {R"({"jsonrpc":"2.0","method":5,"id":1})", kInvalidRequestCode, true},
      {R"({"jsonrpc":"2.0","method":"a","id":{"x":1}})", kInvalidRequestCode, false},
      {R"({"jsonrpc":"2.0","method":"a","id":[1]})", kInvalidRequestCode, false},
      {R"({"jsonrpc":"2.0","method":"a","id":true})", kInvalidRequestCode, false},
      {R"({"jsonrpc":"2.0","result":1,"method":"a","id":1})", kInvalidRequestCode, true},
      {R"({"jsonrpc":"2.0","method":"a","params":[1,2],"id":1})", kInvalidParamsCode, true},
      {R"({"jsonrpc":"2.0","method":"a","params":"x","id":1})", kInvalidParamsCode, true},
  };
  for (const Case& c : cases) {
    const FrameError e = frame_error(c.line);
    EXPECT_EQ(e.error.code, c.code) << c.line;
    EXPECT_EQ(!e.id.is_null(), c.has_id) << c.line;
    EXPECT_TRUE(e.error.data.contains("code")) << c.line;
  }
  // A notification with bad params is not answered.
  EXPECT_TRUE(frame_error(R"({"jsonrpc":"2.0","method":"a","params":[1]})").is_notification);
}

TEST(Envelope, DeepAndHugeInputIsRefusedNotCrashed) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  EXPECT_EQ(frame_error(deep).error.code, kParseErrorCode);
  std::string deep_params = R"({"jsonrpc":"2.0","method":"a","params":{"x":)" +
                            std::string(500, '[') + std::string(500, ']') + R"(},"id":3})";
  const FrameError e = frame_error(deep_params);
  EXPECT_EQ(e.error.code, kParseErrorCode);
  EXPECT_EQ(e.id, 3) << "the id is recovered from the line's end";
  const std::string big = R"({"jsonrpc":"2.0","method":"tokenize","params":{"text":")" +
                          std::string(200000, 'a') + R"("},"id":9})";
  EXPECT_EQ(*request(big).id, 9);
}

TEST(Envelope, RecoversIdsFromUnreadableLines) {
  EXPECT_EQ(recover_id(R"({"jsonrpc":"2.0","method":"x","params":{"a":},"id":12})"), 12);
  EXPECT_EQ(recover_id(R"({"broken": ,"id":"abc"} )"), "abc");
  EXPECT_TRUE(recover_id(R"({"id":{"a":1}})").is_null());
  EXPECT_TRUE(recover_id("no id here").is_null());
  EXPECT_TRUE(recover_id(R"({"id":1)").is_null());
  EXPECT_TRUE(recover_id("").is_null());
}

TEST(Envelope, WritesCompactLinesThatReadBack) {
  const std::string ok = write_result(1, core::Json{{"success", true}});
  EXPECT_EQ(ok, R"({"id":1,"jsonrpc":"2.0","result":{"success":true}})");
  EXPECT_TRUE(testing::valid("response", core::Json::parse(ok)));
  ErrorObject e =
      make_error_object(core::Status(core::ErrorCode::kModelNotLoaded, "Model not loaded: m"), "m");
  const std::string err = write_error("abc", e);
  EXPECT_TRUE(testing::valid("response", core::Json::parse(err)));
  auto parsed = parse_message(err);
  ASSERT_TRUE(parsed.is_ok());
  const auto& resp = std::get<Response>(*parsed);
  EXPECT_EQ(resp.id, "abc");
  ASSERT_TRUE(resp.error.has_value());
  EXPECT_EQ(resp.error->code, kModelNotLoadedCode);
  EXPECT_EQ(resp.error->data["model_id"], "m");
  EXPECT_EQ(error_code_of(*resp.error), core::ErrorCode::kModelNotLoaded);

  const std::string note = write_notification("stream.event", core::Json{{"stream_id", "s"}});
  EXPECT_TRUE(testing::valid("notification", core::Json::parse(note)));
  auto n = parse_message(note);
  ASSERT_TRUE(n.is_ok());
  EXPECT_EQ(std::get<Notification>(*n).method, "stream.event");
  EXPECT_TRUE(testing::valid(
      "request", core::Json::parse(write_request(5, "tokenize", core::Json::object()))));
  EXPECT_FALSE(parse_message("[]").is_ok());
  EXPECT_FALSE(parse_message(R"({"jsonrpc":"2.0","id":1})").is_ok());
}

TEST(Envelope, DumpReplacesInvalidUtf8) {
  const std::string s = dump(core::Json(std::string("a\xff") + "b"));
  EXPECT_EQ(s,
            "\"a\xef\xbf\xbd"
            "b\"");
  EXPECT_EQ(dump(core::Json("é")), "\"é\"") << "raw UTF-8, as the original (orjson) writes";
}

}  // namespace
}  // namespace mlxs::protocol
