// The server's pure parts: request documents and planning (every failing
// path reported, choices fanned out with derived seeds), error shapes and
// statuses, model-root confinement (path traversal), API keys, metrics text.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "server/api_error.h"
#include "server/http_schemas.h"
#include "server/metrics.h"
#include "server/model_paths.h"
#include "server/openai_request.h"
#include "server/routes.h"
#include "testing/fixtures.h"

namespace mlxs::server {
namespace {

using core::ErrorCode;
using core::Json;
namespace fs = std::filesystem;

const HttpSchemas& schemas() {
  auto s = HttpSchemas::embedded();
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  return **s;
}

CompletionPlan plan_ok(Endpoint endpoint, const Json& body, RequestLimits limits = {}) {
  CompletionPlan plan;
  const auto error = plan_completion(endpoint, schemas(), body, limits, &plan);
  EXPECT_FALSE(error.has_value()) << (error ? error->to_json().dump() : "");
  return plan;
}

ApiError plan_error(Endpoint endpoint, const Json& body, RequestLimits limits = {}) {
  CompletionPlan plan;
  const auto error = plan_completion(endpoint, schemas(), body, limits, &plan);
  EXPECT_TRUE(error.has_value()) << body.dump();
  return error.value_or(ApiError{});
}

TEST(HttpSchemas, EveryDocumentCompilesAndIsServed) {
  const auto names = schemas().names();
  for (const char* n : {"chat.completions", "completions", "models.load", "models.unload",
                        "tokenize", "detokenize", "common"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
    ASSERT_NE(schemas().document(n), nullptr);
    EXPECT_EQ((*schemas().document(n))["$id"], std::string(kHttpSchemaBaseUri) + n + ".json");
  }
}

TEST(PlanChat, MessagesSamplingAndFanOut) {
  const Json body = {
      {"model", "m"},
      {"messages",
       {{{"role", "system"}, {"content", "be brief"}},
        {{"role", "user"},
         {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}},
      {"n", 3},
      {"seed", 7},
      {"stop", "END"},
      {"max_tokens", 9},
      {"max_completion_tokens", 5},
      {"temperature", 0.5},
      {"top_k", 4},
      {"min_p", 0.1},
      {"logit_bias", {{"42", -100}}},
      {"logprobs", true},
      {"top_logprobs", 2},
      {"priority", "batch"},
      {"stream", true},
      {"stream_options", {{"include_usage", true}}},
      {"response_format",
       {{"type", "json_schema"},
        {"json_schema", {{"name", "x"}, {"schema", {{"type", "integer"}}}}}}}};
  const CompletionPlan plan = plan_ok(Endpoint::kChat, body);
  ASSERT_EQ(plan.choices.size(), 3u);
  EXPECT_TRUE(plan.stream);
  EXPECT_TRUE(plan.include_usage);
  EXPECT_EQ(plan.top_logprobs, 2);
  for (std::size_t i = 0; i < 3; ++i) {
    const auto& p = plan.choices[i];
    EXPECT_EQ(p.model_id, "m");
    EXPECT_EQ(p.seed.value(), 7 + i);
    EXPECT_EQ(p.max_tokens.value(), 5) << "max_completion_tokens wins";
    EXPECT_EQ(p.stop_sequences, std::vector<std::string>{"END"});
    EXPECT_EQ(p.top_k.value(), 4);
    EXPECT_EQ(p.logit_bias->at("42"), -100);
    EXPECT_EQ(p.top_logprobs.value(), 2);
    EXPECT_TRUE(p.logprobs.value());
    EXPECT_EQ(p.priority.value(), "batch");
    ASSERT_TRUE(p.guidance.has_value());
    EXPECT_EQ(p.guidance->schema, Json({{"type", "integer"}}));
    ASSERT_TRUE(p.messages.has_value());
    EXPECT_EQ((*p.messages)[1]["content"], "a\nb");
    EXPECT_EQ((*p.messages)[0]["role"], "system");
  }
}

TEST(PlanChat, JsonObjectFormatAsksForAnObject) {
  const auto plan = plan_ok(Endpoint::kChat, {{"model", "m"},
                                              {"messages", {{{"role", "user"}, {"content", "x"}}}},
                                              {"response_format", {{"type", "json_object"}}}});
  ASSERT_TRUE(plan.choices.at(0).guidance.has_value());
  EXPECT_EQ(plan.choices[0].guidance->schema, Json({{"type", "object"}}));
  EXPECT_FALSE(plan.choices[0].seed.has_value());
}

TEST(PlanChat, ReportsEveryFailingPath) {
  const ApiError e = plan_error(Endpoint::kChat, {{"model", 5},
                                                  {"messages", Json::array()},
                                                  {"temperature", "hot"},
                                                  {"n", 0},
                                                  {"stop", {1, 2}}});
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "InvalidParams");
  EXPECT_EQ(e.type, "invalid_request_error");
  std::set<std::string> paths;
  for (const auto& d : e.details) paths.insert(d["path"].get<std::string>());
  for (const char* p : {"/model", "/messages", "/temperature", "/n"}) {
    EXPECT_TRUE(paths.count(p)) << p << " missing from " << e.details.dump();
  }
  EXPECT_TRUE(paths.count("/stop") || paths.count("/stop/0")) << e.details.dump();
  EXPECT_NE(e.message.find("errors"), std::string::npos) << e.message;
  const Json wire = e.to_json();
  for (const char* k : {"message", "type", "param", "code"}) {
    EXPECT_TRUE(wire["error"].contains(k)) << k;
  }
}

TEST(PlanChat, RefusesWhatItCannotHonour) {
  const Json msgs = {{{"role", "user"}, {"content", "x"}}};
  auto e = plan_error(Endpoint::kChat, {{"model", "m"}, {"messages", msgs}, {"top_logprobs", 2}});
  EXPECT_EQ(e.param.value_or(""), "top_logprobs");
  e = plan_error(Endpoint::kChat, {{"model", "m"}, {"messages", msgs}, {"max_tokens", 5000}});
  EXPECT_EQ(e.param.value_or(""), "max_tokens");
  e = plan_error(
      Endpoint::kChat,
      {{"model", "m"},
       {"messages",
        {{{"role", "user"},
          {"content", {{{"type", "input_audio"}, {"input_audio", {{"data", "x"}}}}}}}}}});
  EXPECT_EQ(e.code, "Unsupported");
  // An image part needs its url.
  e = plan_error(
      Endpoint::kChat,
      {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", {{{"type", "image_url"}}}}}}}});
  EXPECT_EQ(e.code, "InvalidParams");
  e = plan_error(
      Endpoint::kChat,
      {{"model", "m"}, {"messages", msgs}, {"stream_options", {{"include_usage", true}}}});
  EXPECT_EQ(e.param.value_or(""), "stream_options");
  e = plan_error(Endpoint::kChat, {{"model", "m"}, {"messages", msgs}, {"n", 10}},
                 RequestLimits{4096, 4});
  EXPECT_EQ(e.param.value_or(""), "n");
}

// The original TypeScript API's forms, accepted as extras: "image" and
// "images", strings or {source}. Completions hand them to the worker with
// the text prompt; chat puts them first in the last user message.
TEST(PlanChat, TheOriginalImageFormsAreAcceptedAsExtras) {
  const auto completion =
      plan_ok(Endpoint::kCompletions, {{"model", "m"},
                                       {"prompt", "<image> what is it?"},
                                       {"image", {{"source", "data:image/png;base64,AAAA"}}},
                                       {"images", {"aGk=", {{"source", "/img/a.png"}}}}});
  const auto& p = completion.choices.at(0);
  EXPECT_EQ(p.images,
            (std::vector<std::string>{"data:image/png;base64,AAAA", "aGk=", "/img/a.png"}));
  EXPECT_EQ(p.prompt, "<image> what is it?");
  const auto chat = plan_ok(Endpoint::kChat, {{"model", "m"},
                                              {"messages",
                                               {{{"role", "user"}, {"content", "first"}},
                                                {{"role", "assistant"}, {"content", "ok"}},
                                                {{"role", "user"}, {"content", "describe"}}}},
                                              {"images", {"aGk="}}});
  const Json& msgs = *chat.choices.at(0).messages;
  EXPECT_EQ(msgs[0].at("content"), "first");
  ASSERT_TRUE(msgs[2].at("content").is_array());
  EXPECT_EQ(msgs[2].at("content")[0].at("image_url").at("url"), "aGk=");
  EXPECT_EQ(msgs[2].at("content")[1].at("text"), "describe");
  // Bad shapes and token-id prompts are coded 400s.
  EXPECT_EQ(plan_error(Endpoint::kCompletions,
                       {{"model", "m"}, {"prompt", "x"}, {"image", {{"format", "png"}}}})
                .code,
            "InvalidParams");
  EXPECT_EQ(
      plan_error(Endpoint::kCompletions, {{"model", "m"}, {"prompt", "x"}, {"image", 5}}).code,
      "InvalidParams");
  EXPECT_EQ(
      plan_error(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {1, 2}}, {"image", "aGk="}})
          .param.value_or(""),
      "prompt");
  EXPECT_EQ(plan_error(Endpoint::kChat, {{"model", "m"},
                                         {"messages", {{{"role", "system"}, {"content", "s"}}}},
                                         {"image", "aGk="}})
                .param.value_or(""),
            "messages");
}

TEST(PlanChat, ImagePartsTravelToTheWorkerInOrder) {
  const auto plan =
      plan_ok(Endpoint::kChat,
              {{"model", "m"},
               {"messages",
                {{{"role", "user"},
                  {"content",
                   {{{"type", "text"}, {"text", "what is"}},
                    {{"type", "image_url"}, {"image_url", {{"url", "data:image/png;base64,AAAA"}}}},
                    {{"type", "image_url"}, {"image_url", "aGk="}},
                    {{"type", "text"}, {"text", "here?"}}}}}}}});
  const Json& content = plan.choices.at(0).messages->at(0).at("content");
  ASSERT_TRUE(content.is_array());
  ASSERT_EQ(content.size(), 4u);
  EXPECT_EQ(content[1].at("image_url").at("url"), "data:image/png;base64,AAAA");
  EXPECT_EQ(content[2].at("image_url").at("url"), "aGk=");
  EXPECT_EQ(content[3].at("text"), "here?");
  // Text alone stays one string.
  const auto text = plan_ok(
      Endpoint::kChat,
      {{"model", "m"},
       {"messages",
        {{{"role", "user"},
          {"content", {{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}}}}}});
  EXPECT_EQ(text.choices.at(0).messages->at(0).at("content"), "a\nb");
}

TEST(PlanChat, UnknownFieldsAreNamedNotFatal) {
  const auto plan = plan_ok(Endpoint::kChat, {{"model", "m"},
                                              {"messages", {{{"role", "user"}, {"content", "x"}}}},
                                              {"frobnicate", 1},
                                              {"repetition_penalty", 1.1}});
  EXPECT_EQ(plan.unknown_fields, std::vector<std::string>{"frobnicate"});
  EXPECT_DOUBLE_EQ(plan.choices.at(0).repetition_penalty.value(), 1.1);
}

TEST(PlanCompletions, EveryPromptShape) {
  auto plan = plan_ok(Endpoint::kCompletions, {{"model", "m"}, {"prompt", "hi"}, {"n", 2}});
  ASSERT_EQ(plan.choices.size(), 2u);
  EXPECT_EQ(plan.choices[1].prompt, "hi");
  plan = plan_ok(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {"a", "b"}}, {"logprobs", 3}});
  ASSERT_EQ(plan.choices.size(), 2u);
  EXPECT_EQ(plan.choices[1].prompt, "b");
  EXPECT_EQ(plan.choices[1].top_logprobs.value(), 3);
  plan = plan_ok(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {1, 2, 3}}});
  ASSERT_EQ(plan.choices.size(), 1u);
  EXPECT_EQ(plan.choices[0].prompt_tokens, (std::vector<std::int64_t>{1, 2, 3}));
  plan = plan_ok(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {{1}, {2, 3}}}, {"n", 2}});
  ASSERT_EQ(plan.choices.size(), 4u);
  EXPECT_EQ(plan.choices[3].prompt_tokens, (std::vector<std::int64_t>{2, 3}));
  plan_error(Endpoint::kCompletions, {{"model", "m"}, {"prompt", "x"}, {"echo", true}});
  plan_error(Endpoint::kCompletions, {{"model", "m"}, {"prompt", Json::array()}});
  plan_error(Endpoint::kCompletions, {{"model", "m"}, {"prompt", {-1}}});
}

TEST(ApiErrors, StatusesAndRetry) {
  auto e = ApiError::from_status(core::Status(ErrorCode::kQueueFull, "full"));
  EXPECT_EQ(e.status, 429);
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(e.type, "rate_limit_error");
  EXPECT_EQ(ApiError::from_status(core::Status(ErrorCode::kModelNotLoaded, "x")).status, 404);
  EXPECT_EQ(ApiError::from_status(core::Status(ErrorCode::kWorkerCrashed, "x")).status, 503);
  EXPECT_EQ(ApiError::from_status(core::Status(ErrorCode::kGuidanceError, "x")).status, 400);
  EXPECT_EQ(ApiError::from_status(core::Status(ErrorCode::kTimeout, "x")).status, 504);
  for (int c = 0; c < core::kErrorCodeCount; ++c) {
    const int s = http_status_of(static_cast<ErrorCode>(c));
    EXPECT_TRUE(s == 200 || (s >= 400 && s < 600)) << c;
  }
}

class ModelRoots : public ::testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::path(testing::temp_dir()) / "model-roots";
    fs::remove_all(base_);
    fs::create_directories(base_ / "root" / "m1");
    fs::create_directories(base_ / "secret" / "m2");
    fs::create_symlink(base_ / "secret" / "m2", base_ / "root" / "escape");
    std::ofstream(base_ / "root" / "file.txt") << "x";
  }
  std::vector<std::string> roots() const { return {(base_ / "root").string()}; }
  fs::path base_;
};

TEST_F(ModelRoots, ResolvesInsideOnly) {
  auto r = resolve_model_dir("m1", roots());
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(*r, fs::canonical(base_ / "root" / "m1").string());
  EXPECT_TRUE(resolve_model_dir((base_ / "root" / "m1").string(), roots()).is_ok());
  for (const std::string& bad :
       {std::string("../secret/m2"), std::string("m1/../../secret/m2"), std::string("escape"),
        (base_ / "secret" / "m2").string(), std::string("/etc"), std::string("..")}) {
    auto e = resolve_model_dir(bad, roots());
    ASSERT_FALSE(e.is_ok()) << bad;
    EXPECT_EQ(e.status().code(), ErrorCode::kInvalidParams) << bad;
    EXPECT_EQ(e.status().message().find(base_.string()), std::string::npos);
  }
  EXPECT_EQ(resolve_model_dir("nope", roots()).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(resolve_model_dir("file.txt", roots()).status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(resolve_model_dir("m1", {}).status().code(), ErrorCode::kInvalidParams);
}

TEST(ApiKeys, BearerOnly) {
  const std::vector<std::string> keys = {"k1", "second-key"};
  EXPECT_TRUE(authorized("Bearer k1", keys));
  EXPECT_TRUE(authorized("Bearer second-key", keys));
  EXPECT_FALSE(authorized("Bearer k", keys));
  EXPECT_FALSE(authorized("Bearer k12", keys));
  EXPECT_FALSE(authorized("k1", keys));
  EXPECT_FALSE(authorized("Basic k1", keys));
  EXPECT_FALSE(authorized("", keys));
  EXPECT_FALSE(authorized("Bearer ", keys));
}

TEST(MetricsText, PrometheusShape) {
  Metrics m;
  m.request_done("/v1/chat/completions", 200, "ok", "m\"1");
  m.request_done("/v1/chat/completions", 429, "QueueFull", "");
  m.observe(Latency::kTtft, "m", 0.003);
  m.observe(Latency::kTtft, "m", 7);
  m.add_tokens("m", 10, 20, 4);
  control::Readiness ready;
  ready.ready = true;
  const std::string text = m.render(ready, {});
  EXPECT_NE(text.find("mlxs_http_requests_total{route=\"/v1/chat/completions\",status=\"429\","
                      "code=\"QueueFull\",model=\"\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("model=\"m\\\"1\""), std::string::npos);
  EXPECT_NE(text.find("mlxs_time_to_first_token_seconds_bucket{model=\"m\",le=\"0.005\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("mlxs_time_to_first_token_seconds_bucket{model=\"m\",le=\"+Inf\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("mlxs_time_to_first_token_seconds_count{model=\"m\"} 2"), std::string::npos);
  EXPECT_NE(text.find("mlxs_generation_tokens_total{model=\"m\"} 20"), std::string::npos);
  EXPECT_NE(text.find("mlxs_ready 1"), std::string::npos);
  const std::string engines = render_engine_telemetry(Json::parse(
      R"({"engines": [{"model_id": "m", "kv_blocks_used": 3, "prefix_queries": 4,
                        "prefix_hits": 1, "device_busy_us": 950, "device_idle_us": 50}]})"));
  EXPECT_NE(engines.find("mlxs_kv_blocks_used{model=\"m\"} 3"), std::string::npos) << engines;
  EXPECT_NE(engines.find("mlxs_engine_device_busy_microseconds_total{model=\"m\"} 950"),
            std::string::npos);
  EXPECT_NE(engines.find("mlxs_engine_device_idle_microseconds_total{model=\"m\"} 50"),
            std::string::npos);
  EXPECT_NE(engines.find("mlxs_prefix_cache_hit_rate{model=\"m\"} 0.25"), std::string::npos);
}

}  // namespace
}  // namespace mlxs::server
