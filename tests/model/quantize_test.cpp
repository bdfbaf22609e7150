// `dev quantize` and quantization at load: a quantized copy written to disk
// loads back and computes what the same quantization applied at load
// computes; the quantization option checks a pre-quantized folder instead of
// quantizing it twice.
#include <cmath>
#include <filesystem>
#include <memory>

#include <gtest/gtest.h>

#include "backend/cpu/cpu_backend.h"
#include "core/json_util.h"
#include "model/model.h"
#include "model/quantize.h"
#include "model/runner.h"
#include "testing/fixtures.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;

struct Loaded {
  std::shared_ptr<backend::cpu::ThreadPool> pool = std::make_shared<backend::cpu::ThreadPool>(2);
  std::unique_ptr<backend::cpu::CpuBackend> backend;
  std::unique_ptr<Model> model;
  std::unique_ptr<Runner> runner;
};

core::Result<Loaded> load(const std::string& dir, const std::string& quantization) {
  Loaded l;
  l.backend = std::make_unique<backend::cpu::CpuBackend>(l.pool);
  l.backend->set_int8_activations(false);  // exact f32 products
  LoadOptions o;
  o.max_batch_tokens = 64;
  o.max_seqs = 2;
  o.max_logit_rows = 64;
  o.max_context = 64;
  o.quantization = quantization;
  MLXS_ASSIGN_OR_RETURN(l.model, Model::load(dir, *l.backend, o));
  MLXS_ASSIGN_OR_RETURN(l.runner, Runner::create(*l.model, 2, 64));
  return l;
}

std::vector<float> logits(Loaded& l, const std::vector<std::int32_t>& ids) {
  const int seq = l.runner->add_sequence();
  const SeqFeed feed{seq, ids, true};
  auto out = l.runner->step(std::span<const SeqFeed>(&feed, 1));
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  l.runner->remove_sequence(seq);
  return out.is_ok() ? *out : std::vector<float>();
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0.0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    d = std::max(d, std::fabs(static_cast<double>(a[i]) - b[i]));
  }
  return d;
}

const std::vector<std::int32_t> kPrompt{5, 17, 42, 99, 7, 300, 12, 64};

TEST(Quantize, LoadReportsEveryTensorItBinds) {
  // The progress a terminal shows while a model loads: counts that only
  // grow and end at the tensors the model uses (quantized ones included).
  for (const std::string q : {"", "int4"}) {
    const std::string dir = testing::fixture_path("hf-tiny/llama");
    backend::cpu::CpuBackend backend(std::make_shared<backend::cpu::ThreadPool>(1));
    std::vector<LoadProgress> calls;
    LoadOptions o;
    o.max_context = 64;
    o.quantization = q;
    o.progress = [&calls](const LoadProgress& p) { calls.push_back(p); };
    auto m = Model::load(dir, backend, o);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    ASSERT_FALSE(calls.empty()) << q;
    for (std::size_t i = 1; i < calls.size(); ++i) {
      EXPECT_GE(calls[i].tensors, calls[i - 1].tensors);
      EXPECT_GE(calls[i].bytes, calls[i - 1].bytes);
      EXPECT_EQ(calls[i].tensors_total, calls[0].tensors_total);
      EXPECT_EQ(calls[i].bytes_total, calls[0].bytes_total);
    }
    const LoadProgress& last = calls.back();
    EXPECT_GT(last.tensors, 0u);
    EXPECT_LE(last.tensors, last.tensors_total);
    EXPECT_GT(last.bytes, 0u);
    EXPECT_LE(last.bytes, last.bytes_total);
    // hf-tiny's checkpoint holds only what the model binds: all of it.
    EXPECT_EQ(last.bytes, last.bytes_total) << q;
    const LoadLine line = describe_load(last);
    EXPECT_NE(line.what.find(std::to_string(last.tensors) + "/"), std::string::npos) << line.what;
    EXPECT_EQ(line.done, line.total);
  }
}

TEST(Quantize, WrittenCopyMatchesQuantizationAtLoad) {
  const std::string src = testing::fixture_path("hf-tiny/llama");
  for (int bits : {4, 8}) {
    SCOPED_TRACE(std::to_string(bits) + " bits");
    const std::string out = testing::temp_dir() + "/llama-q" + std::to_string(bits);
    QuantizeOptions o;
    o.model_dir = src;
    o.out_dir = out;
    o.bits = bits;
    o.group_size = 64;
    auto written = quantize_model_dir(o);
    ASSERT_TRUE(written.is_ok()) << written.status().to_string();
    EXPECT_GT(written->quantized, 0);
    EXPECT_LT(written->bytes_out, written->bytes_in);

    auto config =
        core::read_json_file(out + "/config.json", "config.json", core::ErrorCode::kInvalidParams);
    ASSERT_TRUE(config.is_ok());
    EXPECT_EQ((*config)["quantization"]["bits"], bits);
    EXPECT_EQ((*config)["quantization"]["group_size"], 64);

    auto from_disk = load(out, "");
    ASSERT_TRUE(from_disk.is_ok()) << from_disk.status().to_string();
    auto at_load = load(src, bits == 4 ? "int4" : "int8");
    ASSERT_TRUE(at_load.is_ok()) << at_load.status().to_string();
    auto plain = load(src, "");
    ASSERT_TRUE(plain.is_ok());
    const auto a = logits(*from_disk, kPrompt);
    const auto b = logits(*at_load, kPrompt);
    EXPECT_LE(max_abs_diff(a, b), 1e-4);
    // And the weights really are quantized: the float model differs.
    EXPECT_GT(max_abs_diff(a, logits(*plain, kPrompt)), 1e-3);
    // The bytes a decode token reads shrink accordingly.
    EXPECT_LT(from_disk->model->weight_bytes_per_token(), plain->model->weight_bytes_per_token());
    EXPECT_EQ(from_disk->model->weight_bytes_per_token(), at_load->model->weight_bytes_per_token());
  }
}

TEST(Quantize, Fp8CopyMatchesFp8AtLoad) {
  const std::string src = testing::fixture_path("hf-tiny/llama");
  const std::string out = testing::temp_dir() + "/llama-fp8";
  QuantizeOptions o;
  o.model_dir = src;
  o.out_dir = out;
  o.format = "fp8";
  auto written = quantize_model_dir(o);
  ASSERT_TRUE(written.is_ok()) << written.status().to_string();
  EXPECT_EQ(written->quantized, 14);  // q/k/v/o/gate/up/down of two layers
  auto config =
      core::read_json_file(out + "/config.json", "config.json", core::ErrorCode::kInvalidParams);
  ASSERT_TRUE(config.is_ok());
  EXPECT_EQ((*config)["quantization_config"]["quant_method"], "compressed-tensors");
  auto from_disk = load(out, "");
  ASSERT_TRUE(from_disk.is_ok()) << from_disk.status().to_string();
  EXPECT_EQ(from_disk->model->config().quant.method, QuantMethod::kFp8Channel);
  auto at_load = load(src, "fp8");
  ASSERT_TRUE(at_load.is_ok());
  EXPECT_LE(max_abs_diff(logits(*from_disk, kPrompt), logits(*at_load, kPrompt)), 1e-4);
}

TEST(Quantize, Fp8AtLoadStaysCloseToTheFloatModel) {
  const std::string src = testing::fixture_path("hf-tiny/llama");
  auto fp8 = load(src, "fp8");
  ASSERT_TRUE(fp8.is_ok()) << fp8.status().to_string();
  auto plain = load(src, "");
  ASSERT_TRUE(plain.is_ok());
  const auto a = logits(*fp8, kPrompt);
  const auto b = logits(*plain, kPrompt);
  double max_logit = 0.0;
  for (float v : b) max_logit = std::max(max_logit, std::fabs(static_cast<double>(v)));
  // e4m3 keeps 3 mantissa bits per weight: a few percent of the logit range.
  const double d = max_abs_diff(a, b);
  EXPECT_GT(d, 0.0);
  EXPECT_LT(d, 0.2 * max_logit);
}

TEST(Quantize, OptionChecksPrequantizedFolders) {
  const std::string q4 = testing::fixture_path("hf-tiny-quant/llama_mlx_q4");
  auto same = load(q4, "int4");
  EXPECT_TRUE(same.is_ok()) << same.status().to_string();
  auto other = load(q4, "int8");
  ASSERT_FALSE(other.is_ok());
  EXPECT_EQ(other.status().code(), core::ErrorCode::kModelLoadError);
  EXPECT_NE(other.status().message().find("already quantized"), std::string::npos);
  auto fp8_on_mlx = load(q4, "fp8");
  EXPECT_FALSE(fp8_on_mlx.is_ok());
  auto fp8_folder = load(testing::fixture_path("hf-tiny-quant/llama_fp8_block"), "fp8");
  EXPECT_TRUE(fp8_folder.is_ok()) << fp8_folder.status().to_string();
  auto unknown = load(q4, "int3");
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.status().code(), core::ErrorCode::kInvalidParams);
}

TEST(Quantize, RefusesBadRequests) {
  const std::string src = testing::fixture_path("hf-tiny/llama");
  QuantizeOptions o;
  o.model_dir = src;
  o.out_dir = testing::temp_dir() + "/bad";
  o.bits = 7;
  EXPECT_EQ(quantize_model_dir(o).status().code(), core::ErrorCode::kInvalidParams);
  o.bits = 4;
  o.group_size = 48;
  EXPECT_EQ(quantize_model_dir(o).status().code(), core::ErrorCode::kInvalidParams);
  o.group_size = 64;
  o.model_dir = testing::fixture_path("hf-tiny-quant/llama_mlx_q4");
  auto twice = quantize_model_dir(o);
  ASSERT_FALSE(twice.is_ok());
  EXPECT_NE(twice.status().message().find("already quantized"), std::string::npos);
  o.model_dir = src;
  o.out_dir = src;
  EXPECT_EQ(quantize_model_dir(o).status().code(), core::ErrorCode::kInvalidParams);
}

}  // namespace
}  // namespace mlxs::model
