// Every message struct survives write -> schema -> read unchanged, and the
// reader reports wrong types by path instead of throwing.
#include <gtest/gtest.h>

#include "test_util.h"

namespace mlxs::protocol {
namespace {

using testing::valid;

template <class T>
T round_trip(const T& in) {
  auto out = from_json<T>(to_json(in));
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  return out.is_ok() ? *out : T{};
}

TEST(Codec, GenerateParamsRoundTripAndValidate) {
  GenerateParams p;
  p.model_id = "org/model-1.5B";
  p.prompt = "Hello";
  p.stream_id = "5d3c1f0e-0000-4000-8000-000000000001";
  p.streaming = true;
  p.max_tokens = 64;
  p.temperature = 0.5;
  p.top_p = 0.9;
  p.presence_penalty = 0.1;
  p.frequency_penalty = -0.2;
  p.repetition_penalty = 1.1;
  p.stop_sequences = {"###", "\n\n"};
  p.stop_token_ids = {2, 3};
  p.seed = 4294967295u;
  p.prompt_tokens = {1, 2, 3};
  p.messages = core::Json::array({core::Json{{"role", "user"}, {"content", "hi"}}});
  p.logprobs = true;
  const core::Json j = to_json(p);
  EXPECT_TRUE(valid("generate.params", j));
  const GenerateParams back = round_trip(p);
  EXPECT_EQ(to_json(back), j);
  EXPECT_EQ(back.seed, std::optional<std::uint64_t>(4294967295u));
  EXPECT_EQ(back.stop_sequences, p.stop_sequences);
}

TEST(Codec, ServerExtensionFieldsRoundTripAndValidate) {
  GenerateParams p;
  p.model_id = "m";
  p.logit_bias = std::map<std::string, double>{{"17", -100.0}, {"3", 2.5}};
  p.top_logprobs = 20;
  p.priority = "batch";
  p.ignore_eos = true;
  p.min_tokens = 4;
  p.timeout_ms = 1500;
  const core::Json j = to_json(p);
  EXPECT_EQ(j["logit_bias"]["17"], -100.0);
  EXPECT_TRUE(valid("generate.params", j));
  EXPECT_EQ(to_json(round_trip(p)), j);
  auto bad = [&](const char* key, core::Json value) {
    core::Json k = j;
    k[key] = std::move(value);
    return !valid("generate.params", k);
  };
  EXPECT_TRUE(bad("logit_bias", core::Json{{"x1", 1}}));
  EXPECT_TRUE(bad("logit_bias", core::Json{{"01", 1}}));
  EXPECT_TRUE(bad("logit_bias", core::Json{{"5", 100.5}}));
  EXPECT_TRUE(bad("logit_bias", core::Json::array({1})));
  EXPECT_TRUE(bad("top_logprobs", 21));
  EXPECT_TRUE(bad("priority", "urgent"));
  EXPECT_TRUE(bad("ignore_eos", "yes"));
  EXPECT_TRUE(bad("min_tokens", -1));
  EXPECT_TRUE(bad("timeout_ms", 0));
  // The reader names the failing key of a map.
  auto wrong = from_json<GenerateParams>(
      core::Json::parse(R"({"model_id":"m","logit_bias":{"a/b":"high"}})"));
  ASSERT_FALSE(wrong.is_ok());
  EXPECT_NE(wrong.status().message().find("/logit_bias/a~1b: expected a number"), std::string::npos)
      << wrong.status().message();
}

TEST(Codec, OptionalFieldsAreOmittedAndNullableAreNull) {
  LoadModelResult r;
  r.model_id = "m";
  r.context_length = 128;
  const core::Json j = to_json(r);
  EXPECT_TRUE(j.contains("cached_path"));
  EXPECT_TRUE(j["cached_path"].is_null());
  EXPECT_FALSE(j.contains("architecture"));
  EXPECT_TRUE(valid("load_model.result", j));
  r.cached_path = std::string("/models/m");
  EXPECT_EQ(to_json(r)["cached_path"], "/models/m");
  EXPECT_EQ(round_trip(r).cached_path, r.cached_path);
}

TEST(Codec, NullLeavesDefaultsAndEmptiesOptionals) {
  auto p = from_json<GenerateParams>(core::Json::parse(
      R"({"model_id":"m","prompt":null,"seed":null,"stop_sequences":null,"max_tokens":null})"));
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->prompt, "");
  EXPECT_FALSE(p->seed.has_value());
  EXPECT_TRUE(p->stop_sequences.empty());
  EXPECT_FALSE(p->max_tokens.has_value());
}

TEST(Codec, WrongTypesNameThePath) {
  auto p =
      from_json<GenerateParams>(core::Json::parse(R"({"model_id":"m","stop_sequences":["a",7]})"));
  ASSERT_FALSE(p.is_ok());
  EXPECT_EQ(p.status().code(), core::ErrorCode::kInvalidParams);
  EXPECT_NE(p.status().message().find("/stop_sequences/1: expected a string"), std::string::npos)
      << p.status().message();
  auto q = from_json<TokenizeParams>(
      core::Json::parse(R"({"model_id":"m","add_special_tokens":"yes"})"));
  ASSERT_FALSE(q.is_ok());
  EXPECT_NE(q.status().message().find("/add_special_tokens"), std::string::npos);
  auto r = from_json<TokenizeParams>(core::Json::array());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("(root): expected an object"), std::string::npos)
      << r.status().message();
}

TEST(Codec, IntegersAreExactAndInRange) {
  auto ok = from_json<GenerateParams>(core::Json::parse(R"({"model_id":"m","max_tokens":2.0})"));
  ASSERT_TRUE(ok.is_ok());
  EXPECT_EQ(*ok->max_tokens, 2);
  EXPECT_FALSE(
      from_json<GenerateParams>(core::Json::parse(R"({"model_id":"m","max_tokens":2.5})")).is_ok());
  EXPECT_FALSE(from_json<ChunkToken>(core::Json::parse(R"({"token_id":4294967296})")).is_ok());
  EXPECT_FALSE(
      from_json<GenerateParams>(core::Json::parse(R"({"model_id":"m","seed":-1})")).is_ok());
  EXPECT_FALSE(
      from_json<GenerateParams>(core::Json::parse(R"({"model_id":"m","max_tokens":1e300})"))
          .is_ok());
}

TEST(Codec, EveryResultRoundTripsAndValidates) {
  RuntimeInfoResult info;
  info.capabilities = {"batch_generate", "batch_tokenize"};
  info.protocol_version = "1.1";
  info.extensions = std::vector<std::string>{"stream.step"};
  EXPECT_TRUE(valid("runtime.info.result", to_json(info)));
  EXPECT_EQ(to_json(round_trip(info)), to_json(info));

  RuntimeStateResult state;
  state.loaded_models.push_back({"a", "ready", "text"});
  state.active_streams = 2;
  state.restart_count = 3;
  EXPECT_TRUE(valid("runtime.state.result", to_json(state)));
  EXPECT_EQ(to_json(round_trip(state)), to_json(state));

  RuntimeTelemetryResult tele;
  tele.sampling_rate = 1.0;
  tele.errors = ErrorTelemetry{1, 0, 0.5};
  tele.engines = std::vector<EngineTelemetry>{EngineTelemetry{}};
  tele.engines->front().model_id = "a";
  EXPECT_TRUE(valid("runtime.telemetry.result", to_json(tele)));
  EXPECT_EQ(to_json(round_trip(tele)), to_json(tele));

  EXPECT_TRUE(valid("shutdown.result", to_json(SuccessResult{})));
  EXPECT_TRUE(valid("unload_model.result", to_json(SuccessResult{})));

  GenerateResult g{"s1", 1732000000.25};
  EXPECT_TRUE(valid("generate.result", to_json(g)));
  BatchGenerateResult bg;
  bg.results.push_back({true, g, std::nullopt});
  bg.results.push_back({false, std::nullopt, std::string("Model not loaded: x")});
  EXPECT_TRUE(valid("batch_generate.result", to_json(bg)));
  EXPECT_EQ(to_json(round_trip(bg)), to_json(bg));
  EXPECT_TRUE(to_json(bg)["results"][0]["error"].is_null());
  EXPECT_TRUE(to_json(bg)["results"][1]["result"].is_null());

  TokenizeResult t;
  t.tokens = {1, 2};
  t.token_strings = std::vector<std::string>{"<s>", "hi"};
  EXPECT_TRUE(valid("tokenize.result", to_json(t)));
  BatchResult<TokenizeResult> bt;
  bt.results.push_back({true, t, std::nullopt});
  EXPECT_TRUE(valid("batch_tokenize.result", to_json(bt)));

  CheckDraftResult cd;
  cd.compatible = true;
  cd.details.primary_model.id = "p";
  cd.details.draft_model.id = "d";
  cd.details.performance_estimate = {"1.15x", "50.0%", "May not provide significant speedup"};
  EXPECT_TRUE(valid("check_draft.result", to_json(cd)));
  BatchResult<CheckDraftResult> bcd;
  bcd.results.push_back({true, cd, std::nullopt});
  EXPECT_TRUE(valid("batch_check_draft.result", to_json(bcd)));
  EXPECT_EQ(to_json(round_trip(cd)), to_json(cd));

  LoadVisionModelResult lv;
  lv.model_id = "v";
  lv.context_length = 4096;
  EXPECT_TRUE(valid("load_vision_model.result", to_json(lv)));

  BatcherMetricsResult bm;
  bm.batch.distribution["2"] = 3;
  EXPECT_TRUE(valid("get_batcher_metrics.result", to_json(bm)));
  EXPECT_EQ(to_json(bm)["throughput"]["tokens_per_second"].contains("5s"), true);
  EXPECT_TRUE(valid("get_batcher_health.result", to_json(BatcherHealthResult{})));
  EXPECT_TRUE(valid("get_week4_metrics.result", to_json(Week4MetricsResult{})));
  EXPECT_TRUE(valid("stream.cancel.result", to_json(StreamCancelResult{true})));
  EXPECT_TRUE(valid("continuous_generate.result", core::Json(nullptr)));
}

TEST(Codec, EveryParamsStructReadsItsExample) {
  EXPECT_TRUE(parse_params<RuntimeInfoParams>(Method::kRuntimeInfo, core::Json::object()).is_ok());
  EXPECT_TRUE(parse_params<NoParams>(Method::kRuntimeState, core::Json::object()).is_ok());
  EXPECT_TRUE(parse_params<LoadModelParams>(
                  Method::kLoadModel,
                  core::Json::parse(
                      R"({"model_id":"a/b","draft":false,"revision":"main","local_path":"/m"})"))
                  .is_ok());
  EXPECT_TRUE(parse_params<UnloadModelParams>(Method::kUnloadModel,
                                              core::Json::parse(R"({"model_id":"a"})"))
                  .is_ok());
  EXPECT_TRUE(parse_params<TokenizeParams>(Method::kTokenize,
                                           core::Json::parse(R"({"model_id":"a","text":""})"))
                  .is_ok());
  EXPECT_TRUE(parse_params<CheckDraftParams>(
                  Method::kCheckDraft, core::Json::parse(R"({"primary_id":"a","draft_id":"b"})"))
                  .is_ok());
  EXPECT_TRUE(
      parse_params<LoadVisionModelParams>(
          Method::kLoadVisionModel, core::Json::parse(R"({"model_id":"v","quantization":"int4"})"))
          .is_ok());
  EXPECT_TRUE(parse_params<GenerateWithImageParams>(
                  Method::kGenerateWithImage,
                  core::Json::parse(R"({"model_id":"v","prompt":"p","image":"aGk="})"))
                  .is_ok());
  EXPECT_TRUE(parse_params<StreamCancelParams>(Method::kStreamCancel,
                                               core::Json::parse(R"({"stream_id":"s"})"))
                  .is_ok());
  auto par = parse_params<BatchGenerateParallelParams>(
      Method::kBatchGenerateParallel,
      core::Json::parse(R"({"requests":[{"model_id":"a","prompt":"x"}]})"));
  ASSERT_TRUE(par.is_ok());
  EXPECT_EQ(par->requests[0].max_tokens, 512);
  EXPECT_EQ(par->batch_size, 4);
  auto cont = parse_params<ContinuousGenerateParams>(
      Method::kContinuousGenerate, core::Json::parse(R"({"model_id":"a","timeout_ms":5})"));
  ASSERT_TRUE(cont.is_ok());
  EXPECT_EQ(cont->temperature, 1.0);
  EXPECT_TRUE(parse_params<BatcherQueryParams>(Method::kGetBatcherHealth,
                                               core::Json::parse(R"({"model_id":"a"})"))
                  .is_ok());
}

// Our detokenize: token ids are int32 and non-negative, checked by its
// document before the reader; the result is {text}.
TEST(Codec, DetokenizeParamsAndResult) {
  auto p = parse_params<DetokenizeParams>(
      Method::kDetokenize, core::Json::parse(R"({"model_id":"m","tokens":[0,5,2147483647]})"));
  ASSERT_TRUE(p.is_ok()) << p.status().to_string();
  EXPECT_EQ(p->tokens, (std::vector<std::int32_t>{0, 5, 2147483647}));
  EXPECT_FALSE(p->skip_special_tokens);
  for (const char* bad :
       {R"({"model_id":"m"})", R"({"tokens":[1]})", R"({"model_id":"m","tokens":[-1]})",
        R"({"model_id":"m","tokens":[2147483648]})", R"({"model_id":"m","tokens":[1.5]})",
        R"({"model_id":"m","tokens":"1"})",
        R"({"model_id":"m","tokens":[1],"skip_special_tokens":"yes"})"}) {
    const auto r = parse_params<DetokenizeParams>(Method::kDetokenize, core::Json::parse(bad));
    ASSERT_FALSE(r.is_ok()) << bad;
    EXPECT_EQ(r.status().code(), core::ErrorCode::kInvalidParams) << bad;
  }
  DetokenizeResult d;
  d.text = "héllo";
  EXPECT_TRUE(valid("detokenize.result", to_json(d)));
  EXPECT_EQ(method_info(Method::kDetokenize).origin, Origin::kExtension);
  EXPECT_EQ(method_from_name("detokenize"), Method::kDetokenize);
}

}  // namespace
}  // namespace mlxs::protocol
