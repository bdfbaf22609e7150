// Bad frames of every kind get the right JSON-RPC error and the worker keeps
// answering; no model needed.
#include <gtest/gtest.h>

#include "harness.h"

namespace mlxs::runtime {
namespace {

using core::Json;
using testing::Harness;

void expect_alive(Harness& h) {
  const Json r = h.request("runtime/info");
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["protocol"], "json-rpc-2.0");
}

TEST(ServerFrames, BadFramesAreAnsweredAndTheWorkerLivesOn) {
  RuntimeOptions options = Harness::defaults();
  options.max_request_bytes = 4096;
  Harness h(options);
  struct Case {
    std::string line;
    Json id;
    int code;
    std::string data_code;
  };
  const std::vector<Case> cases = {
      {"this is not json", nullptr, -32700, "ParseError"},
      {R"({"jsonrpc":"2.0","method":"runtime/info","id":101)", nullptr, -32700, "ParseError"},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":},"id":102})", 102, -32700,
       "ParseError"},
      {"\xff\xfe\xfd", nullptr, -32700, "ParseError"},
      {R"({"jsonrpc":"2.0","method":"x","params":{"t":"\u00e9)"
       "\xc3"
       R"("},"id":103})",
       103, -32700, "ParseError"},
      {R"([{"jsonrpc":"2.0","method":"runtime/info","id":104}])", nullptr, -32600,
       "InvalidRequest"},
      {R"(17)", nullptr, -32600, "InvalidRequest"},
      {R"({"jsonrpc":"1.0","method":"runtime/info","id":105})", 105, -32600, "InvalidRequest"},
      {R"({"method":"runtime/info","id":106})", 106, -32600, "InvalidRequest"},
      {R"({"jsonrpc":"2.0","id":107})", 107, -32600, "InvalidRequest"},
      {R"({"jsonrpc":"2.0","method":["a"],"id":108})", 108, -32600, "InvalidRequest"},
      {R"({"jsonrpc":"2.0","method":"runtime/info","id":{"a":1}})", nullptr, -32600,
       "InvalidRequest"},
      {R"({"jsonrpc":"2.0","method":"no_such_method","id":109})", 109, -32602, "MethodNotFound"},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":[1,2],"id":110})", 110, -32602,
       "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":5},"id":111})", 111, -32602,
       "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{},"id":112})", 112, -32602,
       "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"generate","params":{"model_id":"m","max_tokens":"many"},"id":113})",
       113, -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"generate","params":{"model_id":"m","max_tokens":1e400},"id":114})",
       114, -32700, "ParseError"},
      {R"({"jsonrpc":"2.0","method":"batch_generate","params":{"requests":{"x":1}},"id":115})", 115,
       -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"batch_generate","params":{"requests":[{"model_id":"m"}]},"id":116})",
       116, -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"batch_generate","params":{"requests":[{"stream_id":"a","model_id":"m"},{"stream_id":"a","model_id":"m"}]},"id":117})",
       117, -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"batch_tokenize","params":{"requests":"all"},"id":118})", 118,
       -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"load_model","params":{"model_id":"a/../../etc"},"id":119})",
       119, -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"load_model","params":{"model_id":"m","local_path":"/x/../y"},"id":120})",
       120, -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"runtime/info","params":{"protocol_version":"2.0"},"id":121})",
       121, -32602, "Unsupported"},
      {R"({"jsonrpc":"2.0","method":"runtime/info","params":{"protocol_version":"v1"},"id":122})",
       122, -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"stream/cancel","params":{},"id":123})", 123, -32602,
       "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"load_vision_model","params":{"model_id":"v"},"id":124})", 124,
       -32001, "ModelLoadError"},
      {R"({"jsonrpc":"2.0","method":"generate_with_image","params":{"model_id":"v","prompt":"p","image":"aGk="},"id":125})",
       125, -32005, "ModelNotLoaded"},
      {R"({"jsonrpc":"2.0","method":"load_model","params":{"model_id":"m","quantization":"int3"},"id":126})",
       126, -32602, "InvalidParams"},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":"not-loaded","text":"x"},"id":127})",
       127, -32005, "ModelNotLoaded"},
      {R"({"jsonrpc":"2.0","method":"generate","params":{"model_id":"not-loaded","prompt":"x"},"id":128})",
       128, -32005, "ModelNotLoaded"},
      {R"({"jsonrpc":"2.0","method":"get_batcher_metrics","params":{"model_id":"not-loaded"},"id":129})",
       129, -32005, "ModelNotLoaded"},
      {R"({"jsonrpc":"2.0","method":"load_model","params":{"model_id":"nowhere/to-be-found"},"id":130})",
       130, -32001, "ModelLoadError"},
      {R"({"jsonrpc":"2.0","method":"check_draft","params":{"primary_id":"a","draft_id":"b"},"id":131})",
       131, -32005, "ModelNotLoaded"},
      {"{\"jsonrpc\":\"2.0\",\"method\":\"tokenize\",\"params\":{\"text\":\"" +
           std::string(5000, 'a') + "\"},\"id\":132}",
       132, -32600, "InvalidRequest"},
      {std::string(10000, '['), nullptr, -32600, "InvalidRequest"},
      {R"({"jsonrpc":"2.0","method":"runtime/info","params":{"x":)" + std::string(300, '[') +
           std::string(300, ']') + R"(},"id":133})",
       133, -32700, "ParseError"},
  };
  for (const Case& c : cases) {
    h.send_raw(c.line + "\n");
    // Answers come in order for the quick paths; find each by position.
    const Json r = h.request("runtime/state");
    ASSERT_TRUE(r.contains("result"))
        << "worker stopped answering after: " << c.line.substr(0, 200);
  }
  // Loads and tokenizes answer from their own threads, possibly after the
  // runtime/state probes above: wait for every answer that has an id.
  for (const Case& c : cases) {
    if (!c.id.is_null()) (void)h.response(c.id, 30);
  }
  const auto lines = h.lines();
  for (const Case& c : cases) {
    bool found = false;
    for (const Json& l : lines) {
      if (!l.contains("error")) continue;
      if (!c.id.is_null() && l["id"] != c.id) continue;
      if (c.id.is_null() && !l["id"].is_null()) continue;
      if (l["error"]["code"] != c.code || l["error"]["data"]["code"] != c.data_code) continue;
      found = true;
      EXPECT_TRUE(l["error"]["data"].is_object()) << l.dump();
      if (c.code == -32602) {
        EXPECT_EQ(l["error"]["data"]["type"], "ValidationError") << l.dump();
      }
      break;
    }
    EXPECT_TRUE(found) << "no " << c.code << "/" << c.data_code << " answer to "
                       << c.line.substr(0, 200);
  }
  for (const std::string& raw : h.raw_lines()) {
    EXPECT_EQ(raw.find("/work/"), std::string::npos) << "leaks a path: " << raw;
    EXPECT_LT(raw.size(), 30u * 1024);
  }
  expect_alive(h);
}

TEST(ServerFrames, NotificationsAreNotAnswered) {
  Harness h;
  h.send(Json{{"jsonrpc", "2.0"}, {"method", "runtime/state"}});
  h.send(Json{{"jsonrpc", "2.0"}, {"method", "no_such_method"}});
  h.send(Json{{"jsonrpc", "2.0"}, {"method", "tokenize"}, {"params", Json::array()}});
  expect_alive(h);
  EXPECT_EQ(h.lines().size(), 1u);
}

TEST(ServerFrames, IdsAreEchoedUnchanged) {
  Harness h;
  for (const Json& id :
       {Json("readiness-probe"), Json(0), Json(9007199254740993ull), Json(-4), Json(2.5)}) {
    h.send(Json{{"jsonrpc", "2.0"}, {"method", "runtime/info"}, {"id", id}});
    const Json r = h.response(id);
    EXPECT_EQ(r["id"], id);
    EXPECT_EQ(r["id"].dump(), id.dump());
  }
}

TEST(ServerFrames, RuntimeInfoAndVersionNegotiation) {
  Harness h;
  Json r = h.request("runtime/info");
  ASSERT_TRUE(r.contains("result"));
  const Json& info = r["result"];
  EXPECT_EQ(info["version"], "0.1.0");
  EXPECT_EQ(info["mlx_version"], "not installed");
  EXPECT_EQ(info["protocol"], "json-rpc-2.0");
  EXPECT_EQ(info["protocol_version"], "1.1");
  for (const char* cap :
       {"batch_generate", "batch_tokenize", "batch_check_draft", "stream/cancel", "stream.step"}) {
    EXPECT_NE(std::find(info["capabilities"].begin(), info["capabilities"].end(), cap),
              info["capabilities"].end())
        << cap;
  }
  EXPECT_GT(info["memory"]["rss"].get<std::int64_t>(), 0);
  EXPECT_TRUE((*protocol::SchemaSet::rpc())->validate("runtime.info.result", info).is_ok());
  r = h.request("runtime/info",
                Json{{"protocol_version", "1.0"}, {"extensions", {"stream.step", "warp"}}});
  ASSERT_TRUE(r.contains("result"));
  EXPECT_EQ(r["result"]["extensions"], Json::array({"stream.step"}));
  r = h.request("runtime/info");
  EXPECT_EQ(r["result"]["extensions"], Json::array({"stream.step"})) << "kept until changed";
  r = h.request("runtime/info", Json{{"protocol_version", "3.2"}});
  ASSERT_TRUE(r.contains("error"));
  EXPECT_NE(r["error"]["message"].get<std::string>().find("1.x"), std::string::npos);
}

TEST(ServerFrames, StateAndTelemetryWithoutModels) {
  Harness h;
  Json r = h.request("runtime/state");
  EXPECT_EQ(r["result"]["loaded_models"], Json::array());
  EXPECT_EQ(r["result"]["active_streams"], 0);
  EXPECT_EQ(r["result"]["restart_count"], 1);
  EXPECT_EQ(h.request("runtime/state")["result"]["restart_count"], 2)
      << "counts calls, as the original";
  r = h.request("runtime/telemetry");
  EXPECT_TRUE(
      (*protocol::SchemaSet::rpc())->validate("runtime.telemetry.result", r["result"]).is_ok())
      << r.dump();
  r = h.request("batch_generate", Json{{"requests", Json::array()}});
  EXPECT_EQ(r["result"], (Json{{"results", Json::array()}}));
  r = h.request("batch_generate",
                Json{{"requests",
                      {{{"stream_id", "x1"}, {"model_id", "gone"}},
                       {{"stream_id", "x2"}, {"model_id", "gone"}, {"max_tokens", 0}}}}});
  ASSERT_TRUE(r.contains("result")) << r.dump();
  EXPECT_EQ(r["result"]["results"][0]["success"], false);
  EXPECT_EQ(r["result"]["results"][0]["error"], "Model not loaded: gone");
  EXPECT_TRUE(r["result"]["results"][0]["result"].is_null());
  EXPECT_NE(r["result"]["results"][1]["error"].get<std::string>().find("max_tokens"),
            std::string::npos);
  r = h.request("stream/cancel", Json{{"stream_id", "nothing"}});
  EXPECT_EQ(r["result"]["cancelled"], false);
  r = h.request("unload_model", Json{{"model_id", "never-loaded"}});
  EXPECT_EQ(r["result"]["success"], true);
}

// Text that is hostile as Unicode: escaped lone surrogates, raw NUL, overlong
// and surrogate UTF-8, stray continuation bytes, and control characters or
// line separators inside names that are echoed back.
TEST(ServerFrames, HostileUnicodeIsAnsweredOnOneValidLine) {
  Harness h;
  struct Case {
    std::string line;
    Json id;
    int code;
  };
  const std::vector<Case> cases = {
      {R"({"jsonrpc":"2.0","method":"runtime/info","id":"\ud800"})", nullptr, -32700},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":"m","text":"\udc00x"},"id":140})",
       140, -32700},
      {std::string(R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":"m","text":"a)") +
           std::string(1, '\0') + R"(b"},"id":141})",
       141, -32700},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":"m","text":")"
       "\xc0\xaf"
       R"("},"id":142})",
       142, -32700},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":"m","text":")"
       "\xed\xa0\x80"
       R"("},"id":143})",
       143, -32700},
      {"{\"jsonrpc\":\"2.0\",\"method\":\"run\x80time/info\",\"id\":144}", 144, -32700},
      {R"({"jsonrpc":"2.0","method":"no\u0000such\u2028method\n\u202e","id":145})", 145, -32602},
      {R"({"jsonrpc":"2.0","method":"tokenize","params":{"model_id":"\u2028\ud83d\ude00"},"id":146})",
       146, -32602},
  };
  for (const Case& c : cases) h.send_raw(c.line + "\n");
  // A valid stream id made of every awkward character is not an error.
  const Json odd =
      h.request("stream/cancel", Json{{"stream_id", "\u2028\u202e\xf0\x9f\x98\x80\t\"\\"}});
  EXPECT_EQ(odd["result"]["cancelled"], false) << odd.dump();
  for (const Case& c : cases) {
    const Json r = h.response(c.id.is_null() ? Json(nullptr) : c.id, 10);
    ASSERT_TRUE(r.contains("error")) << "no error for " << c.line;
    EXPECT_EQ(r["error"]["code"], c.code) << c.line << " -> " << r.dump();
  }
  for (const std::string& raw : h.raw_lines()) {
    EXPECT_EQ(raw.find('\0'), std::string::npos);
    EXPECT_FALSE(Json::parse(raw, nullptr, false).is_discarded()) << "an unreadable line: " << raw;
  }
  expect_alive(h);
}

// Input that ends in the middle of a line: the partial line is answered as a
// parse error and the worker exits 0.
TEST(ServerFrames, TruncatedLineAtEndOfInput) {
  Harness h;
  h.send_raw(R"({"jsonrpc":"2.0","method":"runtime/state","id":8})"
             "\n"
             R"({"jsonrpc":"2.0","method":"runtime/info","id":9,"params":{"protocol_ver)");
  h.close_input();
  EXPECT_EQ(h.wait_exit(), 0);
  EXPECT_TRUE(h.response(8).contains("result"));
  const Json r = h.response(nullptr, 10);
  EXPECT_EQ(r["error"]["code"], -32700) << r.dump();
  EXPECT_EQ(h.lines().size(), 2u);
}

TEST(ServerFrames, OversizedLineAtEndOfInput) {
  RuntimeOptions options = Harness::defaults();
  options.max_request_bytes = 1024;
  Harness h(options);
  h.send_raw(R"({"jsonrpc":"2.0","method":"tokenize","params":{"text":")" + std::string(4000, 'x') +
             R"("},"id":77})");
  h.close_input();
  EXPECT_EQ(h.wait_exit(), 0);
  const Json r = h.response(77, 10);
  EXPECT_EQ(r["error"]["code"], -32600) << r.dump();
}

TEST(ServerFrames, ShutdownAnswersThenExitsZero) {
  Harness h;
  h.send(Json{{"jsonrpc", "2.0"}, {"method", "shutdown"}, {"id", "shutdown"}});
  h.send(Json{{"jsonrpc", "2.0"}, {"method", "runtime/info"}, {"id", 99}});
  EXPECT_EQ(h.wait_exit(), 0);
  const Json r = h.response("shutdown");
  EXPECT_EQ(r["result"]["success"], true);
}

TEST(ServerFrames, EndOfInputExitsZero) {
  Harness h;
  h.send_raw(R"({"jsonrpc":"2.0","method":"runtime/info","id":1})");  // no newline: read at EOF
  h.close_input();
  EXPECT_EQ(h.wait_exit(), 0);
  EXPECT_TRUE(h.response(1).contains("result"));
}

}  // namespace
}  // namespace mlxs::runtime
