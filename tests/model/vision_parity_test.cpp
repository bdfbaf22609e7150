// Vision-language models of hf-tiny-vision against their float64 references
// (../shared/fixtures/hf-tiny-vision/README.md): the tower and projector fed
// the fixture's pixel_values, the image rows placed in the prompt, logits at
// every position within 1e-3 from both config layouts, M-RoPE positions
// equal to transformers', the KV-cache path token by token, chunked
// prefill, and end to end from the PNG through our own preprocessing.
// Built twice: with MLXS_PARITY_CUDA the same checks run on the GPU (label
// gpu), every linear in f32 math as the references are.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <tuple>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#ifdef MLXS_PARITY_CUDA
#include "backend/cuda/cuda_backend.h"
#endif
#include "core/json_util.h"
#include "image/decode.h"
#include "image/preprocess.h"
#include "image/processor_config.h"
#include "model/model.h"
#include "model/runner.h"
#include "model_test_helpers.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;

constexpr double kLogitTolerance = 1e-3;
constexpr double kClearMargin = 1e-2;

struct VisionCase {
  std::string name, dir;
  std::vector<std::int32_t> input_ids, full_ids, continuation;
  std::vector<float> logits, full_logits, pixels;
  std::vector<double> margins;
  std::int64_t grid_t = 1, grid_h = 0, grid_w = 0;
  // The image token's rows (the placeholder without start/end tokens).
  std::int32_t span_begin = 0, span_end = 0;
  std::vector<std::int32_t> positions_3d;  // [3, L + 8] (Qwen)
};

VisionCase load_case(const std::string& name) {
  VisionCase c;
  c.name = name;
  c.dir = testing::fixture_path("hf-tiny-vision/" + name);
  const auto ref = testing::load_reference(c.dir);
  auto json = core::read_json_file(c.dir + "/reference.json", "reference.json",
                                   core::ErrorCode::kInvalidParams);
  EXPECT_TRUE(json.is_ok());
  c.input_ids = ref.ids("input_ids");
  c.full_ids = ref.ids("full_ids");
  c.logits = ref.floats("logits");
  c.full_logits = ref.floats("full_logits");
  c.pixels = ref.floats("pixel_values");
  if (ref.find("image_grid_thw") != nullptr) {
    const auto g = ref.ids("image_grid_thw");
    c.grid_t = g[0];
    c.grid_h = g[1];
    c.grid_w = g[2];
  }
  if (ref.find("full_position_ids_3d") != nullptr) c.positions_3d = ref.ids("full_position_ids_3d");
  const auto& j = *json;
  std::tie(c.span_begin, c.span_end) = testing::image_rows(ref, j);
  for (const auto& v : j["continuation_ids"]) c.continuation.push_back(v.get<std::int32_t>());
  for (const auto& v : j["greedy_top2_margins"]) c.margins.push_back(v.get<double>());
  return c;
}

struct Loaded {
  std::shared_ptr<backend::cpu::ThreadPool> pool;
  std::unique_ptr<tensor::Backend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Runner> runner;
};

Loaded load(const std::string& dir, const std::string& config_file, int max_batch_tokens) {
  Loaded l;
#ifdef MLXS_PARITY_CUDA
  backend::cuda::CudaOptions cuda;
  cuda.exact_f32 = true;
  auto made = backend::cuda::CudaBackend::create(cuda);
  EXPECT_TRUE(made.is_ok()) << made.status().to_string();
  if (!made) return l;
  l.backend = std::move(made).value();
#else
  l.pool = std::make_shared<backend::cpu::ThreadPool>(2);
  auto cpu = std::make_unique<backend::cpu::CpuBackend>(l.pool);
  cpu->set_int8_activations(false);
  l.backend = std::move(cpu);
#endif
  LoadOptions o;
  o.config_file = config_file;
  o.max_batch_tokens = max_batch_tokens;
  o.max_seqs = 4;
  o.max_logit_rows = 64;
  o.max_context = 128;
  load_model_and_runner(dir, *l.backend, o, l.model, l.runner);
  return l;
}

double max_abs_diff(const float* a, const float* b, std::size_t n) {
  double d = 0;
  for (std::size_t i = 0; i < n; ++i) d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  return d;
}

// The image's rows for `pixels`, placed at the case's span of `seq`.
std::vector<float> place(Loaded& l, const VisionCase& c, std::span<const float> pixels,
                         std::int64_t grid_h, std::int64_t grid_w, int seq) {
  ImageInput image{pixels, c.grid_t, grid_h, grid_w};
  auto tokens = l.model->image_tokens(image);
  EXPECT_TRUE(tokens.is_ok()) << tokens.status().to_string();
  if (!tokens) return {};
  EXPECT_EQ(*tokens, c.span_end - c.span_begin);
  std::vector<float> rows(static_cast<std::size_t>(*tokens * l.model->config().hidden));
  const auto st = l.model->encode_image(image, rows);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  const std::int64_t merge = l.model->vision()->merge;
  PlacedImage placed{c.span_begin, static_cast<std::int32_t>(*tokens),
                     static_cast<std::int32_t>(grid_h / merge),
                     static_cast<std::int32_t>(grid_w / merge), nullptr};
  placed.features = rows.data();
  EXPECT_TRUE(l.runner->place_image(seq, placed).is_ok());
  return rows;
}

std::vector<std::string> cases() {
  return testing::model_cases("hf-tiny-vision");
}

TEST(VisionParity, PromptLogitsMatchFromEveryConfigFile) {
  const auto names = cases();
  if (names.empty()) GTEST_SKIP() << "no hf-tiny-vision under " << testing::fixtures_dir();
  for (const auto& name : names) {
    const VisionCase c = load_case(name);
    for (const char* file : {"config.json", "config.transformers-v5.json"}) {
      if (!fs::exists(c.dir + "/" + file)) continue;
      SCOPED_TRACE(name + "/" + file);
      Loaded l = load(c.dir, file, 64);
      ASSERT_TRUE(l.runner);
      ASSERT_NE(l.model->vision(), nullptr);
      const int seq = l.runner->add_sequence();
      const auto rows = place(l, c, c.pixels, c.grid_h, c.grid_w, seq);
      const SeqFeed feed{seq, c.input_ids, true};
      auto got = l.runner->step(std::span<const SeqFeed>(&feed, 1));
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ(got->size(), c.logits.size());
      const double diff = max_abs_diff(got->data(), c.logits.data(), c.logits.size());
      std::printf("%s %s: max |logit - reference| %.2e\n", name.c_str(), file, diff);
      EXPECT_LE(diff, kLogitTolerance);
    }
  }
}

TEST(VisionParity, MropePositionsMatchTransformers) {
  int checked = 0;
  for (const auto& name : cases()) {
    const VisionCase c = load_case(name);
    if (c.positions_3d.empty()) continue;
    SCOPED_TRACE(name);
    const std::int32_t merge = 2;
    const PlacedImage img{c.span_begin, c.span_end - c.span_begin,
                          static_cast<std::int32_t>(c.grid_h) / merge,
                          static_cast<std::int32_t>(c.grid_w) / merge, nullptr};
    const std::size_t L = c.full_ids.size();
    for (int axis = 0; axis < 3; ++axis) {
      for (std::size_t i = 0; i < L; ++i) {
        ASSERT_EQ(mrope_position(std::span<const PlacedImage>(&img, 1),
                                 static_cast<std::int32_t>(i), axis),
                  c.positions_3d[static_cast<std::size_t>(axis) * L + i])
            << "axis " << axis << " index " << i;
      }
    }
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "no M-RoPE case in the fixtures";
}

// Prompt in chunks (an image attending both ways stays whole), then the
// continuation one token at a time through the KV cache.
TEST(VisionParity, ChunkedPrefillAndIncrementalDecodeMatchFullLogits) {
  for (const auto& name : cases()) {
    const VisionCase c = load_case(name);
    SCOPED_TRACE(name);
    const int chunk = std::max(c.span_end - c.span_begin, 4) + 1;
    Loaded l = load(c.dir, "config.json", chunk);
    ASSERT_TRUE(l.runner);
    const int seq = l.runner->add_sequence();
    const auto rows = place(l, c, c.pixels, c.grid_h, c.grid_w, seq);
    const auto vocab = static_cast<std::size_t>(l.model->config().vocab);
    const SeqFeed prompt{seq, c.input_ids, true};
    auto got = l.runner->step(std::span<const SeqFeed>(&prompt, 1));
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    double worst = max_abs_diff(got->data(), c.full_logits.data(), got->size());
    EXPECT_LE(worst, kLogitTolerance);
    for (std::size_t j = c.input_ids.size(); j < c.full_ids.size(); ++j) {
      const std::int32_t token = c.full_ids[j];
      const SeqFeed next{seq, std::span<const std::int32_t>(&token, 1), false};
      auto row = l.runner->step(std::span<const SeqFeed>(&next, 1));
      ASSERT_TRUE(row.is_ok()) << row.status().to_string();
      const double diff = max_abs_diff(row->data(), c.full_logits.data() + j * vocab, vocab);
      EXPECT_LE(diff, kLogitTolerance) << "position " << j;
      worst = std::max(worst, diff);
    }
    std::printf("%s chunked prefill + decode: max |logit - reference| %.2e\n", name.c_str(), worst);
  }
}

// From test_image.png through our decoder and the model's preprocessor: the
// pixels differ from the fixture's (PIL vs torchvision resampling), so the
// greedy tokens are compared where the reference margin is clear.
TEST(VisionParity, EndToEndFromThePngGivesTheGreedyTokens) {
  const std::string png = testing::fixture_path("hf-tiny-vision/test_image.png");
  std::ifstream in(png, std::ios::binary);
  if (!in) GTEST_SKIP() << "no test image under " << testing::fixtures_dir();
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  auto decoded = image::decode_image(bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  for (const auto& name : cases()) {
    const VisionCase c = load_case(name);
    SCOPED_TRACE(name);
    auto config = image::load_processor_config(c.dir);
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto model_config = core::read_json_file(c.dir + "/config.json", "config.json",
                                             core::ErrorCode::kModelLoadError);
    ASSERT_TRUE(model_config.is_ok());
    ASSERT_TRUE(image::apply_model_config(*config, *model_config).is_ok());
    auto pixels = image::preprocess(*config, *decoded);
    ASSERT_TRUE(pixels.is_ok()) << pixels.status().to_string();
    EXPECT_EQ(pixels->image_tokens, c.span_end - c.span_begin);

    Loaded l = load(c.dir, "config.json", 64);
    ASSERT_TRUE(l.runner);
    const int seq = l.runner->add_sequence();
    const auto rows = place(l, c, pixels->data, pixels->grid_thw[1], pixels->grid_thw[2], seq);
    std::vector<std::int32_t> fed = c.input_ids;
    for (std::size_t j = 0; j < c.continuation.size(); ++j) {
      const SeqFeed feed{seq,
                         j == 0 ? std::span<const std::int32_t>(fed)
                                : std::span<const std::int32_t>(&fed.back(), 1),
                         false};
      auto next = l.runner->step_greedy(std::span<const SeqFeed>(&feed, 1));
      ASSERT_TRUE(next.is_ok()) << next.status().to_string();
      if (c.margins[j] < kClearMargin) break;  // beyond here the reference is ambiguous
      ASSERT_EQ((*next)[0], c.continuation[j]) << "greedy step " << j;
      fed.push_back(c.continuation[j]);
    }
  }
}

}  // namespace
}  // namespace mlxs::model
