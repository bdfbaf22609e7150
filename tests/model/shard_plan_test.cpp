// The sharding arithmetic over the configs of real models (the synth presets,
// which copy published configs) and every hf-tiny case, for 1, 2, 4 and 8
// ranks: local head counts and widths, every split tensor's ranks tiling it
// exactly, the refusals naming the count that does not divide, and the
// loader cutting a checkpoint's tensors as the plan says.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "model/config.h"
#include "model/safetensors_writer.h"
#include "model/shard_loader.h"
#include "model/shard_plan.h"
#include "model/synth.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

ModelConfig from_preset(const SynthPreset& p) {
  ModelConfig c;
  c.hidden = p.hidden;
  c.layers = p.layers;
  c.heads = p.heads;
  c.kv_heads = p.kv_heads;
  c.head_dim = p.head_dim;
  c.intermediate = p.intermediate;
  c.vocab = p.vocab;
  c.tie_embeddings = p.tied;
  c.layer_types.assign(static_cast<std::size_t>(p.layers), LayerKind::kFull);
  return c;
}

// What a split of `world` ranks needs, computed apart from the plan.
bool divides(const ModelConfig& c, int world) {
  bool ok = c.heads % world == 0 && c.kv_heads % world == 0 && c.vocab % world == 0;
  bool dense = false;
  for (std::int64_t l = 0; l < c.layers; ++l) dense |= !c.is_moe_layer(l);
  if (dense) ok &= c.intermediate % world == 0;
  if (c.num_experts > 0) ok &= c.moe_intermediate % world == 0;
  return ok;
}

// Every rank's ranges of `name`, together, cover [0, full) once, and each
// rank holds full / world of it.
void expect_tiles(const std::vector<ShardPlan>& plans, const std::string& name, ShardKind kind,
                  std::int64_t full) {
  std::vector<ShardRange> all;
  for (const ShardPlan& p : plans) {
    const TensorShard s = p.shard(name);
    ASSERT_EQ(s.kind, kind) << name;
    ASSERT_EQ(s.full, full) << name;
    EXPECT_EQ(s.extent() * p.world(), full) << name;
    all.insert(all.end(), s.ranges.begin(), s.ranges.end());
  }
  std::sort(all.begin(), all.end(), [](auto a, auto b) { return a.begin < b.begin; });
  std::int64_t at = 0;
  for (const auto& r : all) {
    EXPECT_EQ(r.begin, at) << name;
    at = r.end;
  }
  EXPECT_EQ(at, full) << name;
}

void check_config(const std::string& what, const ModelConfig& c) {
  for (int world : {1, 2, 4, 8}) {
    SCOPED_TRACE(what + " over " + std::to_string(world));
    std::vector<ShardPlan> plans;
    for (int r = 0; r < world; ++r) {
      auto plan = ShardPlan::make(c, r, world);
      if (!divides(c, world)) {
        ASSERT_FALSE(plan.is_ok());
        EXPECT_EQ(plan.status().code(), core::ErrorCode::kModelLoadError);
        EXPECT_NE(plan.status().message().find("multiple of " + std::to_string(world)),
                  std::string::npos)
            << plan.status().message();
        break;
      }
      ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
      plans.push_back(*plan);
    }
    if (plans.empty()) continue;
    const ModelConfig& local = plans[0].local();
    EXPECT_EQ(local.heads * world, c.heads);
    EXPECT_EQ(local.kv_heads * world, c.kv_heads);
    EXPECT_EQ(local.head_dim, c.head_dim);
    EXPECT_EQ(local.hidden, c.hidden);
    EXPECT_EQ(local.vocab, c.vocab);
    EXPECT_EQ(plans[0].vocab_rows() * world, c.vocab);
    if (world == 1) {
      EXPECT_EQ(plans[0].shard("model.layers.0.self_attn.q_proj.weight").kind,
                ShardKind::kReplicated);
      continue;
    }
    const std::int64_t q = c.heads * c.head_dim, kv = c.kv_heads * c.head_dim;
    const std::string p = "model.layers.0.";
    expect_tiles(plans, p + "self_attn.q_proj.weight", ShardKind::kRows, q);
    expect_tiles(plans, p + "self_attn.q_proj.bias", ShardKind::kRows, q);
    expect_tiles(plans, p + "self_attn.k_proj.weight", ShardKind::kRows, kv);
    expect_tiles(plans, p + "self_attn.v_proj.weight", ShardKind::kRows, kv);
    expect_tiles(plans, p + "self_attn.qkv_proj.weight", ShardKind::kRows, q + 2 * kv);
    expect_tiles(plans, p + "self_attn.o_proj.weight", ShardKind::kColumns, q);
    expect_tiles(plans, "lm_head.weight", ShardKind::kRows, c.vocab);
    expect_tiles(plans, "model.embed_tokens.weight", ShardKind::kRows, c.vocab);
    expect_tiles(plans, "model.embed_tokens.scales", ShardKind::kRows, c.vocab);
    if (c.num_experts == 0) {
      const std::int64_t f = c.intermediate;
      expect_tiles(plans, p + "mlp.gate_proj.weight", ShardKind::kRows, f);
      expect_tiles(plans, p + "mlp.up_proj.weight", ShardKind::kRows, f);
      expect_tiles(plans, p + "mlp.gate_up_proj.weight", ShardKind::kRows, 2 * f);
      expect_tiles(plans, p + "mlp.down_proj.weight", ShardKind::kColumns, f);
    } else {
      const std::int64_t f = c.moe_intermediate;
      expect_tiles(plans, p + "mlp.experts.3.gate_proj.weight", ShardKind::kRows, f);
      expect_tiles(plans, p + "mlp.experts.3.down_proj.weight", ShardKind::kColumns, f);
    }
    // Each rank's q rows are whole heads and its k/v rows whole kv heads,
    // in the same order (rank r holds query heads r*h..(r+1)*h-1 and the kv
    // heads they attend to under GQA).
    for (const ShardPlan& plan : plans) {
      const auto qs = plan.shard(p + "self_attn.q_proj.weight").ranges.at(0);
      const auto ks = plan.shard(p + "self_attn.k_proj.weight").ranges.at(0);
      EXPECT_EQ(qs.begin % c.head_dim, 0);
      EXPECT_EQ(qs.begin / (local.heads * c.head_dim), ks.begin / (local.kv_heads * c.head_dim));
    }
    for (const char* replicated :
         {"model.norm.weight", "model.layers.0.input_layernorm.weight",
          "model.layers.0.self_attn.q_norm.weight", "model.layers.0.mlp.gate.weight"}) {
      EXPECT_EQ(plans[1].shard(replicated).kind, ShardKind::kReplicated) << replicated;
    }
    EXPECT_EQ(plans[0].shard(p + "self_attn.o_proj.bias").kind, ShardKind::kFirstRank);
    EXPECT_EQ(plans[1].shard(p + "mlp.down_proj.bias").kind, ShardKind::kFirstRank);
  }
}

TEST(ShardPlan, SynthPresetsOverOneToEightRanks) {
  ASSERT_FALSE(synth_presets().empty());
  for (const auto& preset : synth_presets()) check_config(preset.name, from_preset(preset));
  // The published models' presets split over 8 ranks; tiny's 4/2 heads do not.
  auto preset = [](const std::string& name) {
    for (const auto& p : synth_presets()) {
      if (p.name == name) return from_preset(p);
    }
    ADD_FAILURE() << "no preset " << name;
    return ModelConfig{};
  };
  for (const char* name : {"qwen3-0.6b", "llama-3.2-1b", "llama-3.1-8b", "qwen3-8b"}) {
    EXPECT_TRUE(ShardPlan::make(preset(name), 7, 8).is_ok()) << name;
  }
  EXPECT_FALSE(ShardPlan::make(preset("tiny"), 0, 8).is_ok());
}

TEST(ShardPlan, HfTinyConfigsOverOneToEightRanks) {
  const auto cases = testing::hf_tiny_cases();
  ASSERT_FALSE(cases.empty());
  for (const auto& name : cases) {
    auto c =
        load_model_config(testing::fixture_path("hf-tiny/" + name) + "/config.json", "config.json");
    ASSERT_TRUE(c.is_ok()) << name << ": " << c.status().to_string();
    check_config(name, *c);
  }
}

TEST(ShardPlan, RefusalsNameTheCountThatDoesNotDivide) {
  ModelConfig c = from_preset(synth_presets().front());
  c.heads = 6;
  c.kv_heads = 3;
  c.intermediate = 96;
  c.vocab = 600;
  auto kv = ShardPlan::make(c, 0, 2);
  ASSERT_FALSE(kv.is_ok());
  EXPECT_EQ(kv.status().code(), core::ErrorCode::kModelLoadError);
  EXPECT_NE(kv.status().message().find("kv heads (3)"), std::string::npos) << kv.status().message();
  EXPECT_TRUE(ShardPlan::make(c, 2, 3).is_ok());  // 3 ranks do divide it
  EXPECT_NE(ShardPlan::make(c, 0, 4).status().message().find("attention heads (6)"),
            std::string::npos);
  c.kv_heads = 6;
  c.vocab = 601;
  EXPECT_NE(ShardPlan::make(c, 0, 2).status().message().find("vocabulary (601)"),
            std::string::npos);
  c.vocab = 600;
  c.intermediate = 97;
  EXPECT_NE(ShardPlan::make(c, 1, 2).status().message().find("intermediate_size (97)"),
            std::string::npos);
  c.intermediate = 96;
  c.quant.method = QuantMethod::kMlxAffine;
  EXPECT_TRUE(ShardPlan::make(c, 0, 2).is_ok());  // split with its scales (ShardLoader below)
  c.quant = QuantConfig{};
  EXPECT_EQ(ShardPlan::make(c, 0, 2, /*has_vision=*/true).status().code(),
            core::ErrorCode::kModelLoadError);
  EXPECT_EQ(ShardPlan::make(c, 2, 2).status().code(), core::ErrorCode::kInvalidParams);
}

// A checkpoint of three tensors cut for rank 1 of 2: q_proj rows stay a view
// into the mapping, o_proj's columns are copied, its bias becomes zeros.
TEST(ShardLoader, CutsRowsInPlaceAndCopiesColumns) {
  ModelConfig c = from_preset(synth_presets().front());
  c.heads = 2;
  c.kv_heads = 2;
  c.head_dim = 2;
  c.hidden = 3;
  const std::string dir = testing::temp_dir() + "/shard_loader";
  std::filesystem::create_directories(dir);
  std::vector<float> q(4 * 3), o(3 * 4), ob(3);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>(i);
  for (std::size_t i = 0; i < o.size(); ++i) o[i] = 100.0f + static_cast<float>(i);
  for (std::size_t i = 0; i < ob.size(); ++i) ob[i] = 7.0f;
  const std::string p = "model.layers.0.self_attn.";
  {
    auto w =
        SafetensorsWriter::create(dir + "/model.safetensors",
                                  {{p + "q_proj.weight", tensor::DType::kF32, {4, 3}, q.size() * 4},
                                   {p + "o_proj.weight", tensor::DType::kF32, {3, 4}, o.size() * 4},
                                   {p + "o_proj.bias", tensor::DType::kF32, {3}, ob.size() * 4}},
                                  {});
    ASSERT_TRUE(w.is_ok()) << w.status().to_string();
    ASSERT_TRUE(w->write(q.data(), q.size() * 4).is_ok());
    ASSERT_TRUE(w->write(o.data(), o.size() * 4).is_ok());
    ASSERT_TRUE(w->write(ob.data(), ob.size() * 4).is_ok());
    ASSERT_TRUE(w->finish().is_ok());
  }
  auto store = WeightStore::open_dir(dir);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  const std::uint8_t* mapped_q = (*store)->find(p + "q_proj.weight")->data;
  auto plan = ShardPlan::make(c, 1, 2);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_TRUE(shard_weights(**store, *plan).is_ok());

  const TensorEntry* qs = (*store)->find(p + "q_proj.weight");
  EXPECT_EQ(qs->shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(qs->data, mapped_q + 2 * 3 * sizeof(float));  // rows 2..3, in place
  const TensorEntry* os = (*store)->find(p + "o_proj.weight");
  EXPECT_EQ(os->shape, (std::vector<std::int64_t>{3, 2}));
  std::vector<float> got(6);
  std::memcpy(got.data(), os->data, got.size() * sizeof(float));
  EXPECT_EQ(got, (std::vector<float>{102, 103, 106, 107, 110, 111}));  // columns 2..3
  const TensorEntry* bs = (*store)->find(p + "o_proj.bias");
  std::vector<float> bias(3, -1.0f);
  std::memcpy(bias.data(), bs->data, bias.size() * sizeof(float));
  EXPECT_EQ(bias, (std::vector<float>{0, 0, 0}));

  // A checkpoint whose o_proj is narrower than the config says is refused.
  c.heads = 4;
  c.kv_heads = 2;
  auto other = WeightStore::open_dir(dir);
  ASSERT_TRUE(other.is_ok());
  auto wide = ShardPlan::make(c, 0, 2);
  ASSERT_TRUE(wide.is_ok());
  EXPECT_EQ(shard_weights(**other, *wide).code(), core::ErrorCode::kModelLoadError);
}

// Writes `tensors` (4-byte elements: f32 or packed u32 words) to a fresh
// folder and opens it.
struct RawTensor {
  std::string name;
  tensor::DType dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::uint32_t> words;  // f32 bits or packed codes
};

std::unique_ptr<WeightStore> write_store(const std::string& dir,
                                         const std::vector<RawTensor>& tensors) {
  std::filesystem::create_directories(dir);
  std::vector<TensorHeader> specs;
  for (const auto& t : tensors) specs.push_back({t.name, t.dtype, t.shape, t.words.size() * 4});
  auto w = SafetensorsWriter::create(dir + "/model.safetensors", specs, {});
  EXPECT_TRUE(w.is_ok()) << w.status().to_string();
  for (const auto& t : tensors) EXPECT_TRUE(w->write(t.words.data(), t.words.size() * 4).is_ok());
  EXPECT_TRUE(w->finish().is_ok());
  auto store = WeightStore::open_dir(dir);
  EXPECT_TRUE(store.is_ok()) << store.status().to_string();
  return std::move(store).value();
}

std::vector<std::uint32_t> words_of(const TensorEntry* e) {
  std::vector<std::uint32_t> out(e->nbytes / 4);
  std::memcpy(out.data(), e->data, e->nbytes);
  return out;
}

// Pre-quantized weights split with their companions, each in its own units:
// an MLX packed o_proj (4 bits: 8 values a word) by words, its scales and
// biases by groups, FP8 block scales by blocks; a part that cuts a group is
// refused, naming the tensor.
TEST(ShardLoader, QuantizedCompanionsSplitInTheirUnits) {
  ModelConfig c = from_preset(synth_presets().front());
  c.heads = 2;
  c.kv_heads = 2;
  c.head_dim = 32;  // q width 64: rank 1 holds columns 32..63 of o_proj
  c.hidden = 2;
  c.quant.method = QuantMethod::kMlxAffine;
  c.quant.block_rows = 32;  // read for FP8 block scales only
  c.quant.block_cols = 32;
  const std::string p = "model.layers.0.self_attn.";
  std::vector<std::uint32_t> packed(2 * 8), scales(2 * 2), q_blocks(2 * 1);
  for (std::size_t i = 0; i < packed.size(); ++i) packed[i] = static_cast<std::uint32_t>(i);
  for (std::size_t i = 0; i < scales.size(); ++i) scales[i] = 100 + static_cast<std::uint32_t>(i);
  q_blocks = {7, 8};
  auto store =
      write_store(testing::temp_dir() + "/shard_quant",
                  {{p + "o_proj.weight", tensor::DType::kU32, {2, 8}, packed},
                   {p + "o_proj.scales", tensor::DType::kF32, {2, 2}, scales},
                   {p + "o_proj.biases", tensor::DType::kF32, {2, 2}, scales},
                   {p + "q_proj.weight_scale_inv", tensor::DType::kF32, {2, 1}, q_blocks}});
  auto plan = ShardPlan::make(c, 1, 2);
  ASSERT_TRUE(plan.is_ok()) << plan.status().to_string();
  ASSERT_TRUE(shard_weights(*store, *plan).is_ok());
  const TensorEntry* w = store->find(p + "o_proj.weight");
  EXPECT_EQ(w->shape, (std::vector<std::int64_t>{2, 4}));
  EXPECT_EQ(words_of(w), (std::vector<std::uint32_t>{4, 5, 6, 7, 12, 13, 14, 15}));
  EXPECT_EQ(words_of(store->find(p + "o_proj.scales")), (std::vector<std::uint32_t>{101, 103}));
  EXPECT_EQ(words_of(store->find(p + "o_proj.biases")), (std::vector<std::uint32_t>{101, 103}));
  const TensorEntry* qb = store->find(p + "q_proj.weight_scale_inv");
  EXPECT_EQ(qb->shape, (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(words_of(qb), (std::vector<std::uint32_t>{8}));

  // One group of 64 per row: each rank's 32 columns would cut it.
  auto wide = write_store(testing::temp_dir() + "/shard_quant_wide",
                          {{p + "o_proj.scales", tensor::DType::kF32, {2, 1}, {1, 2}}});
  const core::Status cut = shard_weights(*wide, *plan);
  EXPECT_EQ(cut.code(), core::ErrorCode::kModelLoadError);
  EXPECT_NE(cut.message().find("o_proj.scales"), std::string::npos) << cut.message();
  EXPECT_NE(cut.message().find("quantization groups"), std::string::npos) << cut.message();
}

}  // namespace
}  // namespace mlxs::model
