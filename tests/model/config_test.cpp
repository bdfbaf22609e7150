#include "model/config.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

using core::ErrorCode;
using core::Json;

void expect_same_rope(const RopeParams& a, const RopeParams& b, const std::string& what) {
  EXPECT_EQ(a.type, b.type) << what;
  EXPECT_DOUBLE_EQ(a.theta, b.theta) << what;
  EXPECT_DOUBLE_EQ(a.factor, b.factor) << what;
  EXPECT_DOUBLE_EQ(a.partial_rotary_factor, b.partial_rotary_factor) << what;
  EXPECT_DOUBLE_EQ(a.low_freq_factor, b.low_freq_factor) << what;
  EXPECT_DOUBLE_EQ(a.high_freq_factor, b.high_freq_factor) << what;
  EXPECT_EQ(a.original_max_position_embeddings, b.original_max_position_embeddings) << what;
}

TEST(ModelConfig, BothLayoutsOfEveryFixtureResolveToTheSameModel) {
  const auto cases = testing::hf_tiny_cases();
  ASSERT_FALSE(cases.empty()) << "no fixtures under " << testing::fixtures_dir();
  for (const auto& name : cases) {
    const std::string dir = testing::fixture_path("hf-tiny/" + name);
    auto v4 = load_model_config(dir + "/config.json", "config.json");
    auto v5 =
        load_model_config(dir + "/config.transformers-v5.json", "config.transformers-v5.json");
    ASSERT_TRUE(v4.is_ok()) << name << ": " << v4.status().to_string();
    ASSERT_TRUE(v5.is_ok()) << name << ": " << v5.status().to_string();
    EXPECT_EQ(v4->arch, v5->arch) << name;
    EXPECT_EQ(v4->hidden, v5->hidden) << name;
    EXPECT_EQ(v4->head_dim, v5->head_dim) << name;
    EXPECT_EQ(v4->layer_types, v5->layer_types) << name;
    EXPECT_EQ(v4->sliding_window, v5->sliding_window) << name;
    EXPECT_EQ(v4->tie_embeddings, v5->tie_embeddings) << name;
    EXPECT_EQ(v4->num_experts, v5->num_experts) << name;
    EXPECT_EQ(v4->dtype, v5->dtype) << name;
    EXPECT_EQ(v4->eos_token_ids, v5->eos_token_ids) << name;
    expect_same_rope(v4->rope_full, v5->rope_full, name + " full");
    expect_same_rope(v4->rope_sliding, v5->rope_sliding, name + " sliding");
    EXPECT_FLOAT_EQ(v4->attention_scale(), v5->attention_scale()) << name;
  }
}

TEST(ModelConfig, ArchitectureSpecificsAreResolved) {
  auto load = [](const std::string& c) {
    auto r =
        load_model_config(testing::fixture_path("hf-tiny/" + c + "/config.json"), "config.json");
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    return r.is_ok() ? *r : ModelConfig{};
  };
  const auto gemma3 = load("gemma3_text");
  EXPECT_EQ(gemma3.arch, ArchKind::kGemma3Text);
  EXPECT_EQ(gemma3.rope_full.type, RopeType::kLinear);
  EXPECT_EQ(gemma3.rope_sliding.type, RopeType::kDefault);
  EXPECT_GT(gemma3.rope_full.theta, gemma3.rope_sliding.theta);
  EXPECT_TRUE(gemma3.tie_embeddings);
  const auto llama31 = load("llama31_rope_scaled_tied");
  EXPECT_EQ(llama31.rope_full.type, RopeType::kLlama3);
  EXPECT_GT(llama31.rope_full.original_max_position_embeddings, 0);
  const auto moe = load("qwen3_moe");
  EXPECT_GT(moe.num_experts, 0);
  EXPECT_GT(moe.experts_per_token, 0);
  EXPECT_TRUE(moe.is_moe_layer(0));
  const auto qwen2 = load("qwen2");
  EXPECT_TRUE(qwen2.attention_bias);
  const auto mistral = load("mistral");
  for (auto k : mistral.layer_types) EXPECT_EQ(k, LayerKind::kSliding);
}

Json base_config() {
  return Json::parse(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128,
    "vocab_size": 100, "rope_theta": 10000.0})");
}

void expect_config_error(const Json& doc, const std::string& fragment) {
  auto r = parse_model_config(doc, "config.json");
  ASSERT_FALSE(r.is_ok()) << "accepted; expected: " << fragment;
  EXPECT_EQ(r.status().code(), ErrorCode::kModelLoadError);
  EXPECT_NE(r.status().message().find("config.json"), std::string::npos);
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

TEST(ModelConfig, BadConfigsGiveCodedErrors) {
  ASSERT_TRUE(parse_model_config(base_config(), "config.json").is_ok());
  auto with = [](const std::string& key, Json value) {
    Json d = base_config();
    d[key] = std::move(value);
    return d;
  };
  auto without = [](const std::string& key) {
    Json d = base_config();
    d.erase(key);
    return d;
  };
  expect_config_error(Json::array(), "not a JSON object");
  expect_config_error(with("model_type", "bert"), "unsupported architecture 'bert'");
  expect_config_error(without("model_type"), "model_type");
  expect_config_error(without("hidden_size"), "missing required key 'hidden_size'");
  expect_config_error(with("hidden_size", "64"), "expected an integer");
  expect_config_error(with("hidden_size", -64), "positive integer");
  expect_config_error(with("num_key_value_heads", 3), "multiple of");
  expect_config_error(with("head_dim", 7), "head_dim");
  expect_config_error(with("rope_scaling", Json{{"rope_type", "dynamic"}, {"factor", 2.0}}),
                      "unsupported rope type 'dynamic'");
  expect_config_error(with("rope_parameters", Json{{"rope_type", "longrope"}}),
                      "unsupported rope type");
  expect_config_error(with("rope_scaling", Json{{"rope_type", "llama3"}, {"factor", 8.0}}),
                      "original_max_position_embeddings");
  expect_config_error(with("rope_theta", -1.0), "rope_theta");
  expect_config_error(with("layer_types", Json::array({"full_attention"})), "one type per layer");
  expect_config_error(with("layer_types", Json::array({"full_attention", "sliding_attention"})),
                      "sliding_window");
  expect_config_error(with("layer_types", Json::array({"full_attention", "chunked"})),
                      "unsupported layer type");
  expect_config_error(with("hidden_act", "relu7"), "unsupported activation");
  expect_config_error(with("torch_dtype", "int8"), "unsupported dtype");
  expect_config_error(with("eos_token_id", Json::array({1, "two"})), "eos_token_id");
  expect_config_error(with("partial_rotary_factor", 0.0), "partial_rotary_factor");
  Json moe = base_config();
  moe["model_type"] = "qwen3_moe";
  expect_config_error(moe, "num_experts");
}

TEST(GenerationConfig, ReadsIdsAndSampling) {
  auto gen = parse_generation_config(
      Json::parse(
          R"({"bos_token_id": 1, "eos_token_id": [2, 3], "temperature": 0.6, "top_k": 20})"),
      "generation_config.json");
  ASSERT_TRUE(gen.is_ok());
  EXPECT_EQ(gen->eos_token_ids, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(*gen->top_k, 20);
  EXPECT_FALSE(parse_generation_config(Json::parse(R"({"top_k": "many"})"), "g").is_ok());
  // A missing file means defaults.
  EXPECT_TRUE(load_generation_config(testing::temp_dir()).is_ok());
}

}  // namespace
}  // namespace mlxs::model
