// KV-cache scales (k_scale / v_scale / kv_scale) read from a checkpoint into
// KvCacheShape::scales: the accepted forms, the layers without any, this
// rank's slice under tensor parallelism, and a ModelLoadError naming the
// tensor for every malformed one.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "core/half.h"
#include "core/json_util.h"
#include "core/log.h"
#include "model/kv_scales.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "model/safetensors_writer.h"
#include "tensor/in_process_group.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Json;
using tensor::DType;

// The llama fixture's layers and kv heads, from its config (the tests take
// any folder of the same layout).
struct Dims {
  int layers = 0, kv_heads = 0, heads = 0;
};
Dims fixture_dims() {
  const auto config = core::read_json_file(
      (fs::path(testing::fixture_path("hf-tiny/llama")) / "config.json").string(), "config.json",
      ErrorCode::kModelLoadError);
  EXPECT_TRUE(config.is_ok()) << config.status().to_string();
  if (!config.is_ok()) return {};
  const int heads = config->value("num_attention_heads", 0);
  return {config->value("num_hidden_layers", 0), config->value("num_key_value_heads", heads),
          heads};
}

struct ScaleTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
  DType dtype = DType::kF32;
};

ScaleTensor f32(const std::string& name, std::vector<std::int64_t> shape,
                std::vector<float> values) {
  return {name, std::move(shape), std::move(values), DType::kF32};
}

std::string attn(int layer, const std::string& what) {
  return "model.layers." + std::to_string(layer) + ".self_attn." + what;
}

// The stored bytes of `t` in its dtype (I32 for the refused integer case).
std::string encode(const ScaleTensor& t) {
  std::string out;
  for (float v : t.values) {
    if (t.dtype == DType::kF32 || t.dtype == DType::kI32) {
      const std::int32_t i = static_cast<std::int32_t>(v);
      char b[4];
      std::memcpy(b, t.dtype == DType::kF32 ? static_cast<const void*>(&v) : &i, 4);
      out.append(b, 4);
    } else {
      const std::uint16_t h = core::f32_to_bf16(v);
      char b[2];
      std::memcpy(b, &h, 2);
      out.append(b, 2);
    }
  }
  return out;
}

// A copy of the llama fixture with `scales` in a second safetensors file,
// joined to model.safetensors by an index (the way a sharded checkpoint
// lists its tensors).
fs::path with_scales(const std::string& tag, const std::vector<ScaleTensor>& scales) {
  const fs::path dst = fs::path(testing::temp_dir()) / ("kv-scales-" + tag);
  fs::remove_all(dst);
  fs::copy(testing::fixture_path("hf-tiny/llama"), dst);
  for (const auto& e : fs::directory_iterator(dst)) {
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write);
  }
  if (scales.empty()) return dst;
  Json map = Json::object();
  auto weights = SafetensorsFile::open((dst / "model.safetensors").string(), "model.safetensors");
  EXPECT_TRUE(weights.is_ok()) << weights.status().to_string();
  for (const auto& e : weights->tensors()) map[e.name] = "model.safetensors";
  std::vector<TensorHeader> headers;
  std::string data;
  for (const auto& s : scales) {
    const std::string bytes = encode(s);
    headers.push_back({s.name, s.dtype, s.shape, bytes.size()});
    data += bytes;
    map[s.name] = "kv_scales.safetensors";
  }
  auto writer = SafetensorsWriter::create((dst / "kv_scales.safetensors").string(), headers, {});
  EXPECT_TRUE(writer.is_ok()) << writer.status().to_string();
  EXPECT_TRUE(writer->write(data.data(), data.size()).is_ok());
  EXPECT_TRUE(writer->finish().is_ok());
  EXPECT_TRUE(write_json_file((dst / "model.safetensors.index.json").string(),
                              Json{{"metadata", Json::object()}, {"weight_map", map}})
                  .is_ok());
  return dst;
}

core::Result<std::unique_ptr<Model>> load(const fs::path& dir, backend::cpu::CpuBackend& backend,
                                          tensor::Communicator* comm = nullptr) {
  LoadOptions o;
  o.max_context = 64;
  o.communicator = comm;
  return Model::load(dir.string(), backend, o);
}

// The scales kv_shape() carries for a model loaded whole from `dir`.
std::vector<float> loaded_scales(const fs::path& dir) {
  auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
  backend::cpu::CpuBackend backend(pool);
  auto model = load(dir, backend);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  if (!model.is_ok()) return {};
  const auto shape = (*model)->kv_shape(4, 16);
  EXPECT_EQ(shape.scales, (*model)->kv_scales());
  return shape.scales;
}

void expect_refused(const std::string& tag, const std::vector<ScaleTensor>& scales,
                    const std::string& fragment) {
  auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
  backend::cpu::CpuBackend backend(pool);
  auto r = load(with_scales(tag, scales), backend);
  ASSERT_FALSE(r.is_ok()) << "loaded; expected: " << fragment;
  EXPECT_EQ(r.status().code(), ErrorCode::kModelLoadError) << r.status().to_string();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

// One distinct value per (layer, K/V, kv head).
float value_of(int layer, int which, int head) {
  return 0.25f + 0.5f * static_cast<float>(head) + 2.0f * static_cast<float>(which) +
         4.0f * static_cast<float>(layer);
}
std::vector<float> per_head(int layer, int which, int heads) {
  std::vector<float> v;
  for (int h = 0; h < heads; ++h) v.push_back(value_of(layer, which, h));
  return v;
}
// [layers][K, V][kv heads], laid out as KvCacheShape::scale reads it, from
// what each (layer, K/V) holds.
template <typename F>
std::vector<float> layout(const Dims& d, F&& side) {
  std::vector<float> out;
  for (int l = 0; l < d.layers; ++l) {
    for (int w = 0; w < 2; ++w) {
      const std::vector<float> v = side(l, w);
      out.insert(out.end(), v.begin(), v.end());
    }
  }
  return out;
}

TEST(KvScales, NoneLeavesTheShapeEmpty) {
  EXPECT_TRUE(loaded_scales(with_scales("none", {})).empty());
}

TEST(KvScales, ScalarsAndOneElementVectorsBroadcastToEveryKvHead) {
  const Dims d = fixture_dims();
  std::vector<ScaleTensor> scales;
  for (int l = 0; l < d.layers; ++l) {
    // A scalar and a one-element vector, alternating.
    const bool scalar = l % 2 == 0;
    scales.push_back(f32(attn(l, "k_scale"),
                         scalar ? std::vector<std::int64_t>{} : std::vector<std::int64_t>{1},
                         {value_of(l, 0, 0)}));
    scales.push_back(f32(attn(l, "v_scale"),
                         scalar ? std::vector<std::int64_t>{1} : std::vector<std::int64_t>{},
                         {value_of(l, 1, 0)}));
  }
  const auto got = loaded_scales(with_scales("scalar", scales));
  EXPECT_EQ(got, layout(d, [&](int l, int w) {
              return std::vector<float>(static_cast<std::size_t>(d.kv_heads), value_of(l, w, 0));
            }));
}

TEST(KvScales, PerHeadVectorsAndBf16) {
  const Dims d = fixture_dims();
  std::vector<ScaleTensor> scales;
  for (int l = 0; l < d.layers; ++l) {
    for (int w = 0; w < 2; ++w) {
      scales.push_back(
          f32(attn(l, w == 0 ? "k_scale" : "v_scale"), {d.kv_heads}, per_head(l, w, d.kv_heads)));
    }
  }
  scales[1].dtype = DType::kBF16;  // any float dtype, read as f32 (the values are exact in bf16)
  const auto got = loaded_scales(with_scales("per-head", scales));
  EXPECT_EQ(got, layout(d, [&](int l, int w) { return per_head(l, w, d.kv_heads); }));
}

TEST(KvScales, LegacyKvScaleServesBothKAndV) {
  const Dims d = fixture_dims();
  std::vector<ScaleTensor> scales;
  for (int l = 0; l < d.layers; ++l)
    scales.push_back(f32(attn(l, "kv_scale"), {}, {value_of(l, 0, 0)}));
  const auto got = loaded_scales(with_scales("legacy", scales));
  EXPECT_EQ(got, layout(d, [&](int l, int) {
              return std::vector<float>(static_cast<std::size_t>(d.kv_heads), value_of(l, 0, 0));
            }));
}

TEST(KvScales, ALayerWithoutScalesIsOne) {
  const Dims d = fixture_dims();
  const int last = d.layers - 1;
  const auto got = loaded_scales(
      with_scales("one-layer", {f32(attn(last, "k_scale"), {}, {value_of(last, 0, 0)}),
                                f32(attn(last, "v_scale"), {}, {value_of(last, 1, 0)})}));
  ASSERT_EQ(got.size(), static_cast<std::size_t>(d.layers * 2 * d.kv_heads));
  EXPECT_EQ(got, layout(d, [&](int l, int w) {
              return std::vector<float>(static_cast<std::size_t>(d.kv_heads),
                                        l == last ? value_of(l, w, 0) : 1.0f);
            }));
}

// Whether loading `dir` logs model_unused_tensors.
bool warns_unused(const fs::path& dir) {
  bool warned = false;
  core::set_log_sink([&warned](std::string_view line) {
    warned |= line.find("model_unused_tensors") != std::string_view::npos;
  });
  auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
  backend::cpu::CpuBackend backend(pool);
  auto model = load(dir, backend);
  core::set_log_sink(nullptr);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  return warned;
}

TEST(KvScales, ScaleTensorsAreNotReportedUnused) {
  EXPECT_FALSE(warns_unused(with_scales(
      "used", {f32(attn(0, "kv_scale"), {}, {0.5f}), f32(attn(0, "k_scale"), {}, {1.0f}),
               f32(attn(fixture_dims().layers - 1, "v_scale"), {}, {1.0f})})));
  // The capture does see the warning for a tensor nothing reads.
  EXPECT_TRUE(warns_unused(with_scales("unused", {f32(attn(0, "q_scale"), {}, {0.5f})})));
}

TEST(KvScales, MalformedScalesNameTheTensor) {
  const Dims d = fixture_dims();
  const std::string k0 = attn(0, "k_scale");
  expect_refused("negative", {f32(k0, {}, {-1.0f})}, "'" + k0 + "' holds -1");
  std::vector<float> zero_last(static_cast<std::size_t>(d.kv_heads), 1.0f);
  zero_last.back() = 0.0f;
  const std::string v_last = attn(d.layers - 1, "v_scale");
  expect_refused("zero", {f32(v_last, {d.kv_heads}, zero_last)},
                 fmt::format("'{}' holds 0 at index {}", v_last, d.kv_heads - 1));
  expect_refused("nan", {f32(attn(0, "kv_scale"), {}, {std::nanf("")})},
                 "'" + attn(0, "kv_scale") + "' holds nan");
  expect_refused("inf", {f32(k0, {}, {std::numeric_limits<float>::infinity()})},
                 "'" + k0 + "' holds inf");
  expect_refused("length",
                 {f32(k0, {d.kv_heads + 1},
                      std::vector<float>(static_cast<std::size_t>(d.kv_heads + 1), 1.0f))},
                 fmt::format("'{}' holds {} values; a KV-cache scale is one value or one per kv "
                             "head ({})",
                             k0, d.kv_heads + 1, d.kv_heads));
  expect_refused("empty", {f32(k0, {0}, {})}, "'" + k0 + "' holds 0 values");
  expect_refused("rank", {f32(k0, {2, 2}, {1.0f, 1.0f, 1.0f, 1.0f})},
                 "'" + k0 + "' has shape [2, 2]");
  ScaleTensor integer = f32(k0, {}, {1.0f});
  integer.dtype = DType::kI32;
  expect_refused("int", {integer}, "'" + k0 + "' has dtype I32");
}

// Under tensor parallelism each rank keeps its kv heads' scales; a scalar
// is whole on every rank.
TEST(KvScales, EachRankTakesItsKvHeads) {
  const Dims d = fixture_dims();
  constexpr int kWorld = 2;
  if (d.kv_heads % kWorld != 0 || d.heads % kWorld != 0) {
    GTEST_SKIP() << "the fixture's heads do not split over " << kWorld << " ranks";
  }
  // Layer 0: per-head K, a scalar V; the others: a per-head legacy kv_scale.
  std::vector<ScaleTensor> scales = {
      f32(attn(0, "k_scale"), {d.kv_heads}, per_head(0, 0, d.kv_heads)),
      f32(attn(0, "v_scale"), {}, {value_of(0, 1, 0)})};
  for (int l = 1; l < d.layers; ++l) {
    scales.push_back(f32(attn(l, "kv_scale"), {d.kv_heads}, per_head(l, 0, d.kv_heads)));
  }
  const fs::path dir = with_scales("tp", scales);
  const int local = d.kv_heads / kWorld;
  tensor::InProcessGroup group(kWorld);
  for (int r = 0; r < kWorld; ++r) {
    auto pool = std::make_shared<backend::cpu::ThreadPool>(1);
    backend::cpu::CpuBackend backend(pool);
    auto model = load(dir, backend, &group.rank(r));
    ASSERT_TRUE(model.is_ok()) << model.status().to_string();
    const auto shape = (*model)->kv_shape(4, 16);
    ASSERT_EQ(shape.kv_heads, local);
    std::vector<float> want;
    for (int l = 0; l < d.layers; ++l) {
      for (int w = 0; w < 2; ++w) {
        for (int h = 0; h < local; ++h) {
          const bool scalar = l == 0 && w == 1;
          want.push_back(scalar ? value_of(0, 1, 0) : value_of(l, 0, r * local + h));
        }
      }
    }
    EXPECT_EQ(shape.scales, want) << "rank " << r;
  }
}

// The slicing alone, on counts the fixture does not have.
TEST(KvScales, RankSliceOfPerHeadValues) {
  const std::vector<float> full = {1, 2, 3, 4, 5, 6, 7, 8};
  auto r2 = kv_scales_for_rank("s", full, 2, 2, 4);
  ASSERT_TRUE(r2.is_ok());
  EXPECT_EQ(*r2, (std::vector<float>{5, 6}));
  auto whole = kv_scales_for_rank("s", full, 8, 0, 1);
  ASSERT_TRUE(whole.is_ok());
  EXPECT_EQ(*whole, full);
  auto broadcast = kv_scales_for_rank("s", std::vector<float>{0.5f}, 3, 1, 2);
  ASSERT_TRUE(broadcast.is_ok());
  EXPECT_EQ(*broadcast, (std::vector<float>{0.5f, 0.5f, 0.5f}));
  // The local count under TP says nothing of which heads: refused.
  auto local = kv_scales_for_rank("s", std::vector<float>{1, 2}, 2, 0, 4);
  ASSERT_FALSE(local.is_ok());
  EXPECT_EQ(local.status().code(), ErrorCode::kModelLoadError);
  EXPECT_NE(local.status().message().find("one per kv head (8)"), std::string::npos)
      << local.status().message();
}

}  // namespace
}  // namespace mlxs::model
