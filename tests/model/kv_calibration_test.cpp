// KV-cache scales calibrated at load, for an e4m3 cache of a checkpoint
// without any (kv_scales.h): the arithmetic, and on the CPU the scales of
// hf-tiny/llama's first layer against a float64 recomputation of its keys
// and values from the checkpoint.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "core/half.h"
#include "core/json_util.h"
#include "model/kv_scales.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;
using tensor::DType;

TEST(KvCalibration, ScalesMapTheLargestValueBelowE4m3sRange) {
  const std::vector<float> absmax = {448.0f, 1.0f, 0.0f, 1e-45f, 0.02f};
  const auto s = kv_scales_from_absmax(absmax);
  ASSERT_EQ(s.size(), absmax.size());
  EXPECT_FLOAT_EQ(s[0], kKvCalibrationHeadroom);
  EXPECT_FLOAT_EQ(s[1], kKvCalibrationHeadroom / 448.0f);
  EXPECT_EQ(s[2], 1.0f) << "a head that saw only zeros keeps 1";
  EXPECT_EQ(s[3], 1.0f) << "a scale too small to divide by keeps 1";
  EXPECT_FLOAT_EQ(s[4], 0.02f * kKvCalibrationHeadroom / 448.0f);
  // The largest value lands at 448 / headroom.
  EXPECT_FLOAT_EQ(absmax[4] / s[4], 448.0f / kKvCalibrationHeadroom);
}

TEST(KvCalibration, AbsmaxFoldsPerHeadOverRowsAndSkipsNonFinite) {
  // Two rows of two heads of width 3.
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> x = {1,  -5, 2,   0.5f, nan,   -0.25f,  //
                                -3, 4,  inf, 0,    0.75f, -1};
  std::vector<float> absmax = {0, 6};
  fold_head_absmax(x, 2, 3, absmax);
  EXPECT_EQ(absmax[0], 5.0f);
  EXPECT_EQ(absmax[1], 6.0f) << "a larger maximum already held stays";
  std::vector<float> again = {0, 0};
  fold_head_absmax(x, 2, 3, again);
  EXPECT_EQ(again[1], 1.0f);
}

TEST(KvCalibration, TokenIdsSpreadOverTheVocabulary) {
  const auto ids = calibration_token_ids(256, 1000);
  ASSERT_EQ(ids.size(), 256u);
  std::vector<bool> seen(1000, false);
  int distinct = 0;
  for (auto id : ids) {
    ASSERT_GE(id, 0);
    ASSERT_LT(id, 1000);
    distinct += seen[static_cast<std::size_t>(id)] ? 0 : 1;
    seen[static_cast<std::size_t>(id)] = true;
  }
  EXPECT_GT(distinct, 200);
  EXPECT_EQ(*std::max_element(ids.begin(), ids.end()) >= 900, true) << "reaches the top";
  EXPECT_EQ(calibration_token_ids(256, 1000), ids) << "deterministic";
  EXPECT_TRUE(calibration_token_ids(0, 10).empty());
}

// A checkpoint tensor as doubles (f32, bf16 or f16).
std::vector<double> tensor_values(const WeightStore& store, const std::string& name) {
  const TensorEntry* t = store.find(name);
  EXPECT_NE(t, nullptr) << name;
  std::vector<double> out;
  if (t == nullptr) return out;
  const std::size_t n = t->nbytes / tensor::dtype_size(t->dtype);
  out.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (t->dtype == DType::kF32) {
      float f = 0;
      std::memcpy(&f, t->data + 4 * i, 4);
      out[i] = f;
    } else {
      std::uint16_t h = 0;
      std::memcpy(&h, t->data + 2 * i, 2);
      out[i] = t->dtype == DType::kBF16 ? core::bf16_to_f32(h) : core::f16_to_f32(h);
    }
  }
  return out;
}

// Layer 0's keys (before RoPE) and values of the calibration tokens, in
// float64 from the checkpoint: RMSNorm of the embeddings, then k_proj and
// v_proj ([tokens][kv heads * head_dim] each).
struct LayerZero {
  std::vector<std::vector<double>> k, v;
};
LayerZero layer_zero(const std::string& dir, const ModelConfig& c, int tokens) {
  auto store = WeightStore::open_dir(dir);
  EXPECT_TRUE(store.is_ok()) << store.status().to_string();
  LayerZero out;
  if (!store.is_ok()) return out;
  const auto embed = tensor_values(**store, "model.embed_tokens.weight");
  const auto norm = tensor_values(**store, "model.layers.0.input_layernorm.weight");
  const auto wk = tensor_values(**store, "model.layers.0.self_attn.k_proj.weight");
  const auto wv = tensor_values(**store, "model.layers.0.self_attn.v_proj.weight");
  const std::int64_t H = c.hidden, KD = c.kv_heads * c.head_dim;
  for (auto id : calibration_token_ids(tokens, c.vocab)) {
    const double* x = embed.data() + static_cast<std::size_t>(id * H);
    double ss = 0;
    for (std::int64_t i = 0; i < H; ++i) ss += x[i] * x[i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(H) + c.rms_eps);
    std::vector<double> h(static_cast<std::size_t>(H));
    for (std::int64_t i = 0; i < H; ++i) h[static_cast<std::size_t>(i)] = x[i] * inv * norm[i];
    std::vector<double> k(static_cast<std::size_t>(KD)), v(k.size());
    for (std::int64_t o = 0; o < KD; ++o) {
      for (std::int64_t i = 0; i < H; ++i) {
        k[static_cast<std::size_t>(o)] += wk[static_cast<std::size_t>(o * H + i)] * h[i];
        v[static_cast<std::size_t>(o)] += wv[static_cast<std::size_t>(o * H + i)] * h[i];
      }
    }
    out.k.push_back(std::move(k));
    out.v.push_back(std::move(v));
  }
  return out;
}

// The CPU backend's cache is f32 (no calibration at load), so the test calls
// it: layer 0's V scales are the recomputed maxima's exactly (up to f32
// rounding); its K scales lie between the unrotated key at position 0 and
// √2 times the largest pre-RoPE key (a rotation keeps each pair's norm).
TEST(KvCalibration, FirstLayerScalesMatchAFloat64Recomputation) {
  const std::string dir = testing::fixture_path("hf-tiny/llama");
  auto pool = std::make_shared<backend::cpu::ThreadPool>(2);
  backend::cpu::CpuBackend cpu(pool);
  LoadOptions o;
  o.max_batch_tokens = 48;
  o.max_context = 128;
  auto model = Model::load(dir, cpu, o);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  Model& m = **model;
  EXPECT_TRUE(m.kv_scales().empty()) << "an f32 cache is not calibrated at load";
  EXPECT_FALSE(m.kv_scales_calibrated());
  ASSERT_TRUE(m.calibrate_kv_scales(1000).is_ok());  // clipped to max_batch_tokens
  const ModelConfig& c = m.config();
  const auto& scales = m.kv_scales();
  ASSERT_EQ(scales.size(), static_cast<std::size_t>(c.layers * 2 * c.kv_heads));
  EXPECT_TRUE(m.kv_scales_calibrated());
  EXPECT_EQ(m.kv_shape(4, 16).scales, scales);
  for (float s : scales) EXPECT_TRUE(std::isnormal(s) && s > 0) << s;

  const LayerZero ref = layer_zero(dir, c, o.max_batch_tokens);
  ASSERT_EQ(ref.k.size(), static_cast<std::size_t>(o.max_batch_tokens));
  const double to_scale = kKvCalibrationHeadroom / 448.0;
  for (std::int64_t h = 0; h < c.kv_heads; ++h) {
    double v_max = 0, k_max = 0, k_first = 0;
    for (std::size_t t = 0; t < ref.k.size(); ++t) {
      for (std::int64_t d = 0; d < c.head_dim; ++d) {
        const auto i = static_cast<std::size_t>(h * c.head_dim + d);
        v_max = std::max(v_max, std::fabs(ref.v[t][i]));
        k_max = std::max(k_max, std::fabs(ref.k[t][i]));
        if (t == 0) k_first = std::max(k_first, std::fabs(ref.k[t][i]));
      }
    }
    const double k_scale = m.kv_shape(1, 16).scale(0, 0, static_cast<int>(h));
    const double v_scale = m.kv_shape(1, 16).scale(0, 1, static_cast<int>(h));
    EXPECT_NEAR(v_scale, v_max * to_scale, 1e-4 * v_max * to_scale) << "head " << h;
    EXPECT_GE(k_scale, k_first * to_scale * (1 - 1e-4)) << "head " << h;
    EXPECT_LE(k_scale, std::sqrt(2.0) * k_max * to_scale * (1 + 1e-4)) << "head " << h;
  }

  // A second calibration (its own fresh cache) gives the same scales.
  const std::vector<float> first = scales;
  ASSERT_TRUE(m.calibrate_kv_scales(1000).is_ok());
  EXPECT_EQ(m.kv_scales(), first);
  EXPECT_FALSE(m.calibrate_kv_scales(0).is_ok());
}

}  // namespace
}  // namespace mlxs::model
