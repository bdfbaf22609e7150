// The embedded documents: all compile, every method and notification has its
// documents, and params documents enforce the original's limits.
#include <gtest/gtest.h>

#include "test_util.h"

namespace mlxs::protocol {
namespace {

using testing::schemas;
using testing::valid;

core::Json J(std::string_view text) {
  return core::Json::parse(text);
}

TEST(Schemas, EveryMethodAndNotificationHasItsDocuments) {
  for (const MethodInfo& m : method_table()) {
    EXPECT_NE(schemas().find(m.params_schema), nullptr) << m.name;
    EXPECT_NE(schemas().find(m.result_schema), nullptr) << m.name;
    EXPECT_EQ(method_from_name(m.name), m.method);
  }
  for (const NotificationInfo& n : notification_table())
    EXPECT_NE(schemas().find(n.params_schema), nullptr) << n.name;
  for (const char* env : {"request", "response", "notification", "common"})
    EXPECT_NE(schemas().find(env), nullptr);
  EXPECT_FALSE(method_from_name("no_such_method").has_value());
  EXPECT_FALSE(method_from_name("").has_value());
}

TEST(Schemas, EveryDocumentDeclaresDraft2020AndItsId) {
  for (const std::string& name : schemas().names()) {
    const core::Json* doc = schemas().document(name);
    ASSERT_NE(doc, nullptr);
    EXPECT_EQ((*doc)["$schema"], "https://json-schema.org/draft/2020-12/schema") << name;
    EXPECT_EQ((*doc)["$id"], std::string(kSchemaBaseUri) + name + ".json");
  }
}

TEST(Schemas, ModelIdRules) {
  EXPECT_TRUE(valid("tokenize.params", J(R"({"model_id":"mlx-community/Llama-3.2-1B@main:v1"})")));
  EXPECT_FALSE(valid("tokenize.params", J(R"({"model_id":""})")));
  EXPECT_FALSE(valid("tokenize.params", J(R"({"model_id":"a/../b"})")));
  EXPECT_FALSE(valid("tokenize.params", J(R"({"model_id":"a b"})")));
  EXPECT_FALSE(valid("tokenize.params", J(R"({"model_id":7})")));
  EXPECT_FALSE(valid("tokenize.params", J(R"({"text":"x"})")));
  EXPECT_FALSE(valid("tokenize.params", core::Json{{"model_id", std::string(513, 'a')}}));
  EXPECT_FALSE(valid("tokenize.params", J(R"({"model_id":"m","add_special_tokens":1})")));
}

TEST(Schemas, GenerateLimitsAreTheOriginals) {
  auto gen = [](std::string_view extra) {
    return core::Json::parse(std::string(R"({"model_id":"m")") + (extra.empty() ? "" : ",") +
                             std::string(extra) + "}");
  };
  EXPECT_TRUE(valid("generate.params", gen("")));
  EXPECT_TRUE(valid("generate.params",
                    gen(R"("max_tokens":4096,"temperature":2,"top_p":1,"seed":4294967295)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("max_tokens":4097)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("max_tokens":0)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("temperature":2.01)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("temperature":-0.1)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("top_p":0)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("presence_penalty":2.5)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("seed":4294967296)")));
  EXPECT_FALSE(valid("generate.params",
                     gen(R"("stop_sequences":["1","2","3","4","5","6","7","8","9","10","11"])")));
  EXPECT_FALSE(valid("generate.params",
                     core::Json{{"model_id", "m"}, {"stop_sequences", {std::string(101, 'x')}}}));
  EXPECT_FALSE(valid("generate.params", gen(R"("stop_token_ids":[1000001])")));
  EXPECT_TRUE(
      valid("generate.params", gen(R"("stop_sequences":null,"seed":null,"guidance":null)")));
  EXPECT_FALSE(valid("generate.params", gen(R"("messages":[])")));
  EXPECT_FALSE(valid("generate.params", gen(R"("messages":[{"content":"x"}])")));
  EXPECT_TRUE(valid("generate.params", gen(R"("unknown_key":1,"streaming":true)")))
      << "extra keys pass, as in the original";
}

TEST(Schemas, BatchShapes) {
  EXPECT_TRUE(valid("batch_generate.params", J(R"({"requests":[]})")));
  EXPECT_TRUE(
      valid("batch_generate.params", J(R"({"requests":[{"stream_id":"a","model_id":"m"}]})")));
  EXPECT_FALSE(valid("batch_generate.params", J(R"({"requests":[{"model_id":"m"}]})")))
      << "stream_id required";
  EXPECT_FALSE(valid("batch_generate.params", J(R"({"requests":{"a":1}})")));
  EXPECT_FALSE(valid("batch_generate.params", J(R"({})")));
  EXPECT_FALSE(valid("batch_generate.params", J(R"({"requests":[1]})")));
  core::Json many = {{"requests", core::Json::array()}};
  for (int i = 0; i < 65; ++i) many["requests"].push_back({{"stream_id", std::to_string(i)}});
  EXPECT_FALSE(valid("batch_generate.params", many)) << "a batch's answer must fit one line";
  EXPECT_TRUE(valid("batch_tokenize.params", J(R"({"requests":[{"anything":1}]})")))
      << "entries fail one by one";
  EXPECT_FALSE(valid("batch_tokenize.params", J(R"({"requests":"x"})")));
}

TEST(Schemas, LoadModelRules) {
  EXPECT_TRUE(valid("load_model.params",
                    J(R"({"model_id":"m","local_path":"/models/m","context_length":8192})")));
  EXPECT_TRUE(
      valid("load_model.params", J(R"({"model_id":"m","local_path":null,"quantization":null})")));
  EXPECT_FALSE(valid("load_model.params", J(R"({"model_id":"m","local_path":"/models/../etc"})")));
  EXPECT_FALSE(valid("load_model.params", J(R"({"model_id":"m","local_path":"~/m"})")));
  EXPECT_FALSE(valid("load_model.params", J(R"({"model_id":"m","context_length":0})")));
  EXPECT_FALSE(valid("load_model.params", J(R"({"model_id":"m","context_length":1000001})")));
  EXPECT_FALSE(valid("load_vision_model.params", J(R"({"model_id":"m","quantization":"int3"})")));
  EXPECT_TRUE(valid("load_vision_model.params", J(R"({"model_id":"m","quantization":null})")));
}

TEST(Schemas, ParseParamsReportsEveryFailingPath) {
  auto r = parse_params<GenerateParams>(Method::kGenerate,
                                        J(R"({"model_id":"m","max_tokens":0,"top_p":5})"));
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), core::ErrorCode::kInvalidParams);
  const std::string& msg = r.status().message();
  EXPECT_EQ(msg.rfind("Invalid params for generate:", 0), 0u) << msg;
  EXPECT_NE(msg.find("/max_tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("/top_p"), std::string::npos) << msg;
  const core::Json failures =
      params_failures(Method::kGenerate, J(R"({"model_id":"m","max_tokens":0,"top_p":5})"));
  ASSERT_EQ(failures.size(), 2u) << failures.dump();
  EXPECT_TRUE(failures[0].contains("keyword"));
}

TEST(Schemas, ABrokenDocumentIsReported) {
  const EmbeddedDocument docs[] = {
      {"x", R"({"$id":"https://mlx-serving.dev/schemas/rpc/x.json","type":7})"}};
  EXPECT_FALSE(SchemaSet::compile(docs).is_ok());
  const EmbeddedDocument wrong_id[] = {{"x", R"({"$id":"https://elsewhere/x.json"})"}};
  EXPECT_FALSE(SchemaSet::compile(wrong_id).is_ok());
  const EmbeddedDocument not_json[] = {{"x", "{"}};
  EXPECT_FALSE(SchemaSet::compile(not_json).is_ok());
}

}  // namespace
}  // namespace mlxs::protocol
