#include "model/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/json_util.h"
#include "core/rng.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;

std::vector<std::uint8_t> file_image(const std::string& header, std::size_t data_bytes,
                                     std::int64_t declared_len = -1) {
  std::vector<std::uint8_t> out(8);
  const std::uint64_t len =
      declared_len >= 0 ? static_cast<std::uint64_t>(declared_len) : header.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(len >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.resize(out.size() + data_bytes, 0);
  return out;
}

core::Status parse_status(const std::vector<std::uint8_t>& bytes) {
  auto r = SafetensorsFile::parse(bytes.data(), bytes.size(), "w.safetensors");
  return r.is_ok() ? core::Status::ok() : r.status();
}

void expect_error(const std::vector<std::uint8_t>& bytes, const std::string& fragment) {
  const auto s = parse_status(bytes);
  ASSERT_FALSE(s.is_ok()) << "expected failure containing: " << fragment;
  EXPECT_EQ(s.code(), ErrorCode::kModelLoadError);
  EXPECT_NE(s.message().find("w.safetensors"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(fragment), std::string::npos) << s.message();
}

TEST(Safetensors, ParsesAValidImage) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b":{"dtype":"F32","shape":[],"data_offsets":[12,16]}})";
  const auto bytes = file_image(header, 16);
  auto r = SafetensorsFile::parse(bytes.data(), bytes.size(), "w.safetensors");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].name, "a");
  EXPECT_EQ((*r)[0].dtype, tensor::DType::kBF16);
  EXPECT_EQ((*r)[0].shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ((*r)[0].nbytes, 12u);
  EXPECT_EQ((*r)[1].view().numel(), 1);
}

TEST(Safetensors, RejectsMalformedFiles) {
  expect_error({1, 2, 3}, "truncated");
  expect_error(file_image("{}", 0, 1000), "truncated: header length 1000");
  expect_error(file_image("{}", 0, std::int64_t{1} << 40), "exceeds");
  expect_error(file_image("{\"a\": ", 0), "invalid JSON");
  expect_error(file_image("[1, 2]", 0), "not a JSON object");
  expect_error(file_image(R"({"a": 5})", 0), "entry is not an object");
  expect_error(file_image(R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", 4), "missing dtype");
  expect_error(file_image(R"({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 4]}})", 4),
               "unknown dtype");
  expect_error(file_image(R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})", 4),
               "negative");
  expect_error(
      file_image(R"({"a": {"dtype": "F32", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 4]}})",
                 4),
      "dimensions");
  expect_error(file_image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}})", 8),
               "data_offsets span 4");
  expect_error(file_image(R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8),
               "outside");
  expect_error(file_image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", 8),
               "outside");
  expect_error(file_image(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0.5, 4]}})", 8),
               "data_offsets");
  expect_error(file_image(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
                          R"("b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
                          12),
               "overlap");
  expect_error(
      file_image(
          R"({"a": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 4]}})",
          4),
      "too large");
  expect_error(file_image(std::string(4000, '['), 0), "nested deeper");
}

TEST(Safetensors, ConvolutionKernelsOfFiveDimensionsAreSeenAsMatrices) {
  // Qwen2-VL's patch embedding: [out, channels, time, height, width].
  const auto bytes =
      file_image(R"({"w": {"dtype": "F32", "shape": [2,3,2,1,1], "data_offsets": [0, 48]}})", 48);
  auto r = SafetensorsFile::parse(bytes.data(), bytes.size(), "w.safetensors");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].shape, (std::vector<std::int64_t>{2, 3, 2, 1, 1}));
  const tensor::Tensor view = (*r)[0].view();
  EXPECT_EQ(view.ndim, 2);
  EXPECT_EQ(view.rows(), 2);
  EXPECT_EQ(view.cols(), 6);
}

TEST(Safetensors, RandomBytesNeverCrash) {
  core::Xoshiro256 rng(99);
  for (int i = 0; i < 2000; ++i) {
    const std::string header =
        R"({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}})";
    auto bytes = file_image(header, 16);
    // Flip a few random bytes anywhere, or cut the file short.
    for (int f = 0; f < 3; ++f)
      bytes[rng.below(bytes.size())] = static_cast<std::uint8_t>(rng.next());
    if (rng.below(4) == 0) bytes.resize(rng.below(bytes.size()));
    (void)SafetensorsFile::parse(bytes.data(), bytes.size(), "w.safetensors");
  }
}

TEST(WeightStore, OpensShardedFixtureThroughItsIndex) {
  const std::string dir = testing::fixture_path("hf-tiny/qwen3");
  auto store = WeightStore::open_dir(dir);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  EXPECT_GT((*store)->file_names().size(), 1u);
  EXPECT_NE((*store)->find("model.embed_tokens.weight"), nullptr);
  EXPECT_NE((*store)->find("lm_head.weight"), nullptr);
  EXPECT_FALSE((*store)->require("nope").is_ok());
}

TEST(WeightStore, IndexErrorsAreReported) {
  const fs::path dir = fs::path(testing::temp_dir()) / "bad-index";
  fs::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  };
  write("model.safetensors.index.json", R"({"weight_map": {"a": "../../etc/passwd"}})");
  auto r = WeightStore::open_dir(dir.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("does not name a file"), std::string::npos);

  write("model.safetensors.index.json", R"({"weight_map": {"a": "shard.safetensors"}})");
  r = WeightStore::open_dir(dir.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("shard.safetensors: file not found"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(r.status().message().find(dir.string()), std::string::npos) << "leaks the path";

  const auto img =
      file_image(R"({"b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", 4);
  std::ofstream(dir / "shard.safetensors", std::ios::binary)
      .write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
  r = WeightStore::open_dir(dir.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("listed in the index is not in this file"),
            std::string::npos);

  write("model.safetensors.index.json", R"({"weight_map": {}})");
  EXPECT_FALSE(WeightStore::open_dir(dir.string()).is_ok());
  write("model.safetensors.index.json", R"({"nothing": 1})");
  EXPECT_FALSE(WeightStore::open_dir(dir.string()).is_ok());
}

TEST(WeightStore, MissingWeightsAreAnError) {
  const fs::path dir = fs::path(testing::temp_dir()) / "empty-model";
  fs::create_directories(dir);
  auto r = WeightStore::open_dir(dir.string());
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), ErrorCode::kModelLoadError);
  EXPECT_NE(r.status().message().find("no weights"), std::string::npos);
}

}  // namespace
}  // namespace mlxs::model
