// Preprocessing parity with the Hugging Face processors' PIL path: every case
// of hf-tiny-vision (found by walking the folder, the processor read from its
// preprocessor_config.json) must give the fixture's pixel_values_pil within
// 1e-5 from test_image.png, and its image_grid_thw and image token count.
#include "image/preprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/json_util.h"
#include "image/decode.h"
#include "testing/fixtures.h"

namespace mlxs::image {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> vision_cases() {
  std::vector<std::string> cases;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(mlxs::testing::fixture_path("hf-tiny-vision"), ec)) {
    if (e.is_directory() && fs::exists(e.path() / "preprocessor_config.json") &&
        fs::exists(e.path() / "reference.safetensors")) {
      cases.push_back(e.path().string());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

RgbImage load_test_image() {
  const std::string path = mlxs::testing::fixture_path("hf-tiny-vision/test_image.png");
  std::ifstream in(path, std::ios::binary);
  const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                        std::istreambuf_iterator<char>());
  auto image = decode_image(bytes);
  EXPECT_TRUE(image.is_ok()) << path << ": " << image.status().to_string();
  return image.is_ok() ? std::move(image).value() : RgbImage{};
}

TEST(ImagePreprocessParity, EveryFixtureCaseMatchesPil) {
  const auto cases = vision_cases();
  if (cases.empty())
    GTEST_SKIP() << "no hf-tiny-vision fixtures under " << mlxs::testing::fixtures_dir();
  const RgbImage image = load_test_image();
  ASSERT_GT(image.width, 0);
  for (const std::string& dir : cases) {
    SCOPED_TRACE(dir);
    auto config = load_processor_config(dir);
    ASSERT_TRUE(config.is_ok()) << config.status().to_string();
    auto model_config =
        core::read_json_file(dir + "/config.json", "config.json", core::ErrorCode::kModelLoadError);
    if (model_config.is_ok()) {
      ASSERT_TRUE(apply_model_config(*config, *model_config).is_ok());
    }

    auto got = preprocess(*config, image);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    const auto ref = mlxs::testing::load_reference(dir);
    const model::TensorEntry* want = ref.find("pixel_values_pil");
    ASSERT_NE(want, nullptr);
    EXPECT_EQ(got->shape, want->shape);
    const std::vector<float> expected = ref.floats("pixel_values_pil");
    ASSERT_EQ(got->data.size(), expected.size());
    double worst = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      worst = std::max(worst, std::fabs(static_cast<double>(got->data[i]) - expected[i]));
    }
    EXPECT_LE(worst, 1e-5) << "max abs difference vs pixel_values_pil";
    std::printf("%s: %s, max |ours - pixel_values_pil| = %.3g\n", fs::path(dir).filename().c_str(),
                config->type_name.c_str(), worst);

    if (ref.find("image_grid_thw") != nullptr) {
      const auto thw = ref.ids("image_grid_thw");
      ASSERT_EQ(thw.size(), 3u);
      EXPECT_EQ(got->grid_thw[0], thw[0]);
      EXPECT_EQ(got->grid_thw[1], thw[1]);
      EXPECT_EQ(got->grid_thw[2], thw[2]);
    }
    auto reference = core::read_json_file(dir + "/reference.json", "reference.json",
                                          core::ErrorCode::kInvalidParams);
    if (reference.is_ok() && reference->contains("num_image_tokens")) {
      EXPECT_EQ(got->image_tokens, (*reference)["num_image_tokens"].get<std::int64_t>());
      auto counted = image_token_count(*config, image.height, image.width);
      ASSERT_TRUE(counted.is_ok());
      EXPECT_EQ(*counted, got->image_tokens);
    }
  }
}

TEST(ImageSmartResize, MatchesTransformers) {
  // The fixtures' two cases and the rounding rules around them.
  EXPECT_EQ(*smart_resize(64, 64, 28, 3136, 1003520), (std::array<int, 2>{56, 56}));
  EXPECT_EQ(*smart_resize(64, 64, 28, 6400, 1003520), (std::array<int, 2>{84, 84}));
  // round() rounds halves to even: 42/28 = 1.5 -> 2, 70/28 = 2.5 -> 2.
  EXPECT_EQ(*smart_resize(42, 70, 28, 1, 1 << 30), (std::array<int, 2>{56, 56}));
  // Over max_pixels: floor of the scaled sides.
  EXPECT_EQ(*smart_resize(1024, 1024, 28, 3136, 200704), (std::array<int, 2>{448, 448}));
  auto extreme = smart_resize(10, 2500, 28, 3136, 1003520);
  ASSERT_FALSE(extreme.is_ok());
  EXPECT_EQ(extreme.status().code(), core::ErrorCode::kInvalidParams);
}

TEST(ImageProcessorConfig, Errors) {
  auto parse = [](const char* text) {
    return parse_processor_config(core::Json::parse(text), "preprocessor_config.json");
  };
  EXPECT_EQ(parse(R"({"image_processor_type": "Foo"})").status().code(),
            core::ErrorCode::kUnsupported);
  EXPECT_EQ(parse(R"({})").status().code(), core::ErrorCode::kModelLoadError);
  EXPECT_EQ(
      parse(R"({"image_processor_type": "CLIPImageProcessor", "resample": 0})").status().code(),
      core::ErrorCode::kModelLoadError);
  EXPECT_EQ(parse(R"({"image_processor_type": "CLIPImageProcessor", "image_mean": [1, 2]})")
                .status()
                .code(),
            core::ErrorCode::kModelLoadError);
  EXPECT_EQ(parse(R"({"image_processor_type": "CLIPImageProcessor", "do_pan_and_scan": true})")
                .status()
                .code(),
            core::ErrorCode::kUnsupported);
  EXPECT_EQ(parse(R"({"image_processor_type": "Gemma3ImageProcessor",
                      "pan_and_scan_min_ratio_to_activate": 0.5})")
                .status()
                .code(),
            core::ErrorCode::kModelLoadError);
  EXPECT_EQ(parse(R"({"image_processor_type": "Gemma3ImageProcessor",
                      "pan_and_scan_max_num_crops": 0})")
                .status()
                .code(),
            core::ErrorCode::kModelLoadError);
  // Published Gemma 3 folders write null for every pan-and-scan key: off.
  auto gemma = parse(R"({"image_processor_type": "Gemma3ImageProcessor", "do_pan_and_scan": null,
                         "pan_and_scan_max_num_crops": null})");
  ASSERT_TRUE(gemma.is_ok()) << gemma.status().to_string();
  EXPECT_FALSE(gemma->pan_and_scan);
  auto qwen = parse(R"({"image_processor_type": "Qwen2VLImageProcessorFast", "min_pixels": 100,
                        "max_pixels": 5000})");
  ASSERT_TRUE(qwen.is_ok());
  EXPECT_EQ(qwen->kind, ProcessorKind::kQwen2Vl);
  EXPECT_EQ(qwen->min_pixels, 100);
  EXPECT_EQ(qwen->max_pixels, 5000);
}

// The crops transformers' Gemma3ImageProcessor.pan_and_scan cuts, worked
// out from its arithmetic for each branch.
TEST(ImagePanAndScan, CropsAsGemma3Cuts) {
  auto config =
      parse_processor_config(core::Json::parse(R"({"image_processor_type": "Gemma3ImageProcessor",
                            "do_pan_and_scan": true})"),
                             "p");
  ASSERT_TRUE(config.is_ok()) << config.status().to_string();
  using Boxes = std::vector<std::array<int, 4>>;
  auto boxes = [&](int h, int w) {
    Boxes out;
    for (const CropBox& b : pan_and_scan_boxes(*config, h, w))
      out.push_back({b.x, b.y, b.width, b.height});
    return out;
  };
  // 1000 x 300: ratio 3.33 -> 3 crops of ceil(1000 / 3) = 334, the last clipped.
  EXPECT_EQ(boxes(300, 1000), (Boxes{{0, 0, 334, 300}, {334, 0, 334, 300}, {668, 0, 332, 300}}));
  // Portrait 300 x 700: ratio 2.33 -> 2 crops of 350 rows.
  EXPECT_EQ(boxes(700, 300), (Boxes{{0, 0, 300, 350}, {0, 350, 300, 350}}));
  // Ratio 1.25 rounds to 1, raised to the minimum of 2 crops of 320.
  EXPECT_EQ(boxes(512, 640), (Boxes{{0, 0, 320, 512}, {320, 0, 320, 512}}));
  // Ratio 6.4 -> 6, capped by 2560 / 256 = 10, then by max_num_crops 4: 640 each.
  EXPECT_EQ(boxes(400, 2560).size(), 4u);
  EXPECT_EQ(boxes(400, 2560)[3], (std::array<int, 4>{1920, 0, 640, 400}));
  EXPECT_TRUE(boxes(500, 590).empty()) << "ratio 1.18 is under 1.2";
  EXPECT_TRUE(boxes(200, 600).empty()) << "crops 200 high are under 256";
  EXPECT_TRUE(boxes(300, 420).empty()) << "2 crops 210 wide are under 256";
  config->pan_and_scan = false;
  EXPECT_TRUE(boxes(300, 1000).empty());

  RgbImage image{4, 2, {}};
  for (int i = 0; i < 4 * 2 * 3; ++i) image.pixels.push_back(static_cast<std::uint8_t>(i));
  const RgbImage right = crop(image, CropBox{2, 0, 2, 2});
  EXPECT_EQ(right.pixels, (std::vector<std::uint8_t>{6, 7, 8, 9, 10, 11, 18, 19, 20, 21, 22, 23}));
}

RgbImage flat(int w, int h, std::uint8_t v) {
  return RgbImage{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(w) * h * 3, v)};
}

// CLIP pads with zeros (before normalizing) when the crop is larger than the
// resized image, as transformers' center_crop does.
TEST(ImagePreprocess, ClipCropPadsSmallImages) {
  auto config = parse_processor_config(core::Json::parse(R"({"image_processor_type":
      "CLIPImageProcessor", "do_resize": false, "crop_size": {"height": 4, "width": 4},
      "do_normalize": false})"),
                                       "p");
  ASSERT_TRUE(config.is_ok());
  auto got = preprocess(*config, flat(2, 3, 255));
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ(got->shape, (std::vector<std::int64_t>{1, 3, 4, 4}));
  // Rows: pad top = ceil(1/2) = 1; columns: pad left = 1.
  EXPECT_FLOAT_EQ(got->data[0 * 4 + 1], 0.0F);
  EXPECT_FLOAT_EQ(got->data[1 * 4 + 1], 1.0F);
  EXPECT_FLOAT_EQ(got->data[3 * 4 + 1], 1.0F);
  EXPECT_FLOAT_EQ(got->data[1 * 4 + 0], 0.0F);
  EXPECT_FLOAT_EQ(got->data[1 * 4 + 3], 0.0F);
}

// A thin strip resized by its shortest edge would need gigabytes; refused.
TEST(ImagePreprocess, ExtremeAspectRatioRefused) {
  auto config = parse_processor_config(core::Json::parse(R"({"image_processor_type":
      "CLIPImageProcessor", "size": {"shortest_edge": 336}, "crop_size": 336})"),
                                       "p");
  ASSERT_TRUE(config.is_ok());
  auto got = preprocess(*config, flat(1, 16384, 9));
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.status().code(), core::ErrorCode::kInvalidParams);
  EXPECT_NE(got.status().message().find("aspect ratio too extreme"), std::string::npos);
  EXPECT_EQ(image_token_count(*config, 16384, 1).status().code(), core::ErrorCode::kInvalidParams);
  // Qwen2-VL refuses ratios over 200 itself, as transformers does.
  auto qwen = parse_processor_config(
      core::Json::parse(R"({"image_processor_type": "Qwen2VLImageProcessor"})"), "p");
  ASSERT_TRUE(qwen.is_ok());
  EXPECT_EQ(preprocess(*qwen, flat(1, 16384, 9)).status().code(), core::ErrorCode::kInvalidParams);
}

TEST(ImageResample, SameSizeAndFlat) {
  const RgbImage im = flat(7, 5, 77);
  for (Resample r : {Resample::kBilinear, Resample::kBicubic, Resample::kLanczos, Resample::kBox,
                     Resample::kHamming}) {
    auto up = resize(im, 19, 3, r);
    ASSERT_TRUE(up.is_ok());
    for (std::uint8_t v : up->pixels) EXPECT_EQ(v, 77);
  }
  EXPECT_EQ(resize(im, 0, 3, Resample::kBicubic).status().code(), core::ErrorCode::kInvalidParams);
  EXPECT_EQ(resize(im, 3, 3, Resample::kNearest).status().code(), core::ErrorCode::kUnsupported);
}

}  // namespace
}  // namespace mlxs::image
