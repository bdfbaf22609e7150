#include "model/quantize.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "core/half.h"
#include "core/json_util.h"
#include "model/config.h"
#include "model/safetensors.h"
#include "model/safetensors_writer.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;
using tensor::DType;
using tensor::QuantFormat;
using tensor::Tensor;

// Row r of a float matrix widened to f32.
void row_f32(const Tensor& w, std::int64_t r, float* out) {
  const std::int64_t in = w.cols();
  for (std::int64_t c = 0; c < in; ++c) {
    const std::int64_t i = r * in + c;
    if (w.dtype == DType::kBF16) {
      out[c] = core::bf16_to_f32(w.as<const std::uint16_t>()[i]);
    } else if (w.dtype == DType::kF16) {
      out[c] = core::f16_to_f32(w.as<const std::uint16_t>()[i]);
    } else {
      out[c] = w.as<const float>()[i];
    }
  }
}

template <typename F>
void for_rows(std::int64_t rows, int threads, F&& fn) {
  const int n =
      std::max(1, std::min<int>(threads, static_cast<int>(std::max<std::int64_t>(rows, 1))));
  std::vector<std::thread> pool;
  auto work = [&](int t) {
    for (std::int64_t r = t; r < rows; r += n) fn(r);
  };
  for (int t = 1; t < n; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
}

int resolve_threads(int threads) {
  return threads > 0 ? threads
                     : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace

QuantizedMatrix quantize_affine_matrix(const Tensor& w, int bits, std::int64_t group, int threads) {
  const std::int64_t out = w.rows();
  const std::int64_t in = w.cols();
  const std::int64_t row_bytes = tensor::packed_row_bytes(QuantFormat::kAffine, bits, in);
  const std::int64_t groups = in / group;
  QuantizedMatrix q;
  q.codes.resize(static_cast<std::size_t>(out * row_bytes));
  q.scales.resize(static_cast<std::size_t>(out * groups));
  q.biases.resize(q.scales.size());
  for_rows(out, resolve_threads(threads), [&](std::int64_t r) {
    thread_local std::vector<float> row;
    row.resize(static_cast<std::size_t>(in));
    row_f32(w, r, row.data());
    tensor::quantize_affine_row(row.data(), in, bits, group, q.codes.data() + r * row_bytes,
                                q.scales.data() + r * groups, q.biases.data() + r * groups);
  });
  q.weight.w = Tensor(q.codes.data(), DType::kU32, {out, in * bits / 32});
  q.weight.quant.format = QuantFormat::kAffine;
  q.weight.quant.bits = bits;
  q.weight.quant.group_size = group;
  q.weight.quant.in_features = in;
  q.weight.quant.scales = Tensor(q.scales.data(), DType::kBF16, {out, groups});
  q.weight.quant.biases = Tensor(q.biases.data(), DType::kBF16, {out, groups});
  return q;
}

QuantizedMatrix quantize_fp8_matrix(const Tensor& w, int threads) {
  const std::int64_t out = w.rows();
  const std::int64_t in = w.cols();
  QuantizedMatrix q;
  q.codes.resize(static_cast<std::size_t>(out * in));
  q.scales.resize(static_cast<std::size_t>(out));
  for_rows(out, resolve_threads(threads), [&](std::int64_t r) {
    thread_local std::vector<float> row;
    row.resize(static_cast<std::size_t>(in));
    row_f32(w, r, row.data());
    float amax = 0.0f;
    for (float v : row) amax = std::max(amax, std::fabs(v));
    // The scale as stored (bf16) is the one the codes are computed against.
    const std::uint16_t s16 = core::f32_to_bf16(amax > 0.0f ? amax / 448.0f : 1.0f);
    const float s = core::bf16_to_f32(s16);
    q.scales[static_cast<std::size_t>(r)] = s16;
    for (std::int64_t c = 0; c < in; ++c) {
      q.codes[static_cast<std::size_t>(r * in + c)] =
          tensor::f32_to_e4m3(row[static_cast<std::size_t>(c)] / s);
    }
  });
  q.weight.w = Tensor(q.codes.data(), DType::kF8E4M3, {out, in});
  q.weight.quant.format = QuantFormat::kFp8;
  q.weight.quant.bits = 8;
  q.weight.quant.group_size = in;
  q.weight.quant.block_rows = 1;
  q.weight.quant.in_features = in;
  q.weight.quant.scales = Tensor(q.scales.data(), DType::kBF16, {out, 1});
  return q;
}

namespace {

// compressed-tensors' FP8_DYNAMIC preset as it serializes it.
Json fp8_channel_config() {
  const Json weights = {{"num_bits", 8},
                        {"type", "float"},
                        {"strategy", "channel"},
                        {"symmetric", true},
                        {"dynamic", false},
                        {"group_size", nullptr},
                        {"block_structure", nullptr},
                        {"actorder", nullptr},
                        {"observer", "memoryless_minmax"},
                        {"observer_kwargs", Json::object()}};
  const Json inputs = {{"num_bits", 8},
                       {"type", "float"},
                       {"strategy", "token"},
                       {"symmetric", true},
                       {"dynamic", true},
                       {"group_size", nullptr},
                       {"block_structure", nullptr},
                       {"actorder", nullptr},
                       {"observer", nullptr},
                       {"observer_kwargs", Json::object()}};
  return {{"config_groups",
           {{"group_0",
             {{"targets", {"Linear"}},
              {"weights", weights},
              {"input_activations", inputs},
              {"output_activations", nullptr},
              {"format", "float-quantized"}}}}},
          {"format", "float-quantized"},
          {"ignore", {"lm_head"}},
          {"quant_method", "compressed-tensors"},
          {"quantization_status", "compressed"},
          {"kv_cache_scheme", nullptr},
          {"sparsity_config", Json::object()}};
}

}  // namespace

Status check_quantize_options(const QuantizeOptions& o) {
  if (o.format != "fp8" && o.format != "mlx") {
    return Status(ErrorCode::kInvalidParams, "--format must be mlx or fp8");
  }
  if (o.bits != 2 && o.bits != 3 && o.bits != 4 && o.bits != 5 && o.bits != 6 && o.bits != 8) {
    return Status(ErrorCode::kInvalidParams, "--bits must be 2, 3, 4, 5, 6 or 8");
  }
  if (o.group_size != 32 && o.group_size != 64 && o.group_size != 128) {
    return Status(ErrorCode::kInvalidParams, "--group-size must be 32, 64 or 128");
  }
  return Status::ok();
}

bool quantizes(const QuantizeOptions& o, const std::string& name,
               const std::vector<std::int64_t>& shape, DType dtype) {
  if (shape.size() != 2 || !name.ends_with(".weight")) return false;
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) return false;
  if (o.format == "fp8") return name != "lm_head.weight" && name != "model.embed_tokens.weight";
  return shape[1] % o.group_size == 0;
}

std::vector<QuantizedTensor> quantized_layout(const QuantizeOptions& o, const std::string& name,
                                              const std::vector<std::int64_t>& shape) {
  const std::string module = name.substr(0, name.size() - std::string(".weight").size());
  const std::int64_t rows = shape[0], cols = shape[1];
  const auto n = [](std::int64_t a, std::int64_t b) { return static_cast<std::uint64_t>(a * b); };
  if (o.format == "fp8") {
    return {{name, DType::kF8E4M3, shape, n(rows, cols)},
            {module + ".weight_scale", DType::kBF16, {rows, 1}, n(rows, 2)}};
  }
  const std::int64_t groups = cols / o.group_size;
  return {{module + ".biases", DType::kBF16, {rows, groups}, n(rows, groups) * 2},
          {module + ".scales", DType::kBF16, {rows, groups}, n(rows, groups) * 2},
          {name, DType::kU32, {rows, cols * o.bits / 32}, n(rows, cols * o.bits / 32) * 4}};
}

QuantizedMatrix quantize_for(const QuantizeOptions& o, const Tensor& w) {
  return o.format == "fp8" ? quantize_fp8_matrix(w, o.threads)
                           : quantize_affine_matrix(w, o.bits, o.group_size, o.threads);
}

std::vector<const void*> quantized_data(const QuantizeOptions& o, const QuantizedMatrix& q) {
  if (o.format == "fp8") return {q.codes.data(), q.scales.data()};
  return {q.biases.data(), q.scales.data(), q.codes.data()};
}

void declare_quantization(const QuantizeOptions& o, Json& config) {
  if (o.format == "fp8") {
    config["quantization_config"] = fp8_channel_config();
    return;
  }
  const Json q = {{"group_size", o.group_size}, {"bits", o.bits}, {"mode", "affine"}};
  config["quantization"] = q;
  config["quantization_config"] = q;
}

Result<QuantizeResult> quantize_model_dir(const QuantizeOptions& o) {
  const bool fp8 = o.format == "fp8";
  MLXS_RETURN_IF_ERROR(check_quantize_options(o));
  if (o.out_dir.empty()) return Status(ErrorCode::kInvalidParams, "no output directory");
  std::error_code ec;
  if (fs::equivalent(o.model_dir, o.out_dir, ec)) {
    return Status(ErrorCode::kInvalidParams, "the output directory must differ from the model's");
  }
  const fs::path src(o.model_dir);
  MLXS_ASSIGN_OR_RETURN(Json config,
                        core::read_json_file((src / "config.json").string(), "config.json",
                                             ErrorCode::kModelLoadError));
  MLXS_ASSIGN_OR_RETURN(ModelConfig parsed, parse_model_config(config, "config.json"));
  if (parsed.quant.quantized()) {
    return core::make_error(ErrorCode::kInvalidParams, "the model is already quantized ({})",
                            quant_method_name(parsed.quant.method));
  }
  MLXS_ASSIGN_OR_RETURN(auto store, WeightStore::open_dir(o.model_dir));
  const fs::path out(o.out_dir);
  fs::create_directories(out, ec);
  if (ec) {
    return core::make_error(ErrorCode::kIoError, "cannot create the output directory: {}",
                            ec.message());
  }

  // Quantize every matrix first (in memory), then write one file in order.
  QuantizeResult result;
  std::vector<TensorHeader> headers;
  std::vector<std::pair<const void*, std::size_t>> blobs;
  std::vector<std::unique_ptr<QuantizedMatrix>> owned;
  const auto add = [&](const std::string& name, DType dtype, std::vector<std::int64_t> shape,
                       const void* data, std::size_t bytes) {
    headers.push_back({name, dtype, std::move(shape), bytes});
    blobs.emplace_back(data, bytes);
  };
  for (const auto& [name, e] : store->tensors()) {
    result.bytes_in += e.nbytes;
    if (!quantizes(o, name, e.shape, e.dtype)) {
      add(name, e.dtype, e.shape, e.data, e.nbytes);
      ++result.copied;
      continue;
    }
    auto q = std::make_unique<QuantizedMatrix>(quantize_for(o, e.view()));
    const auto layout = quantized_layout(o, name, e.shape);
    const auto data = quantized_data(o, *q);
    for (std::size_t i = 0; i < layout.size(); ++i) {
      add(layout[i].name, layout[i].dtype, layout[i].shape, data[i], layout[i].nbytes);
    }
    owned.push_back(std::move(q));
    ++result.quantized;
  }
  MLXS_ASSIGN_OR_RETURN(auto writer,
                        SafetensorsWriter::create((out / "model.safetensors").string(), headers,
                                                  {{"format", fp8 ? "pt" : "mlx"}}));
  Json weight_map = Json::object();
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    MLXS_RETURN_IF_ERROR(writer.write(blobs[i].first, blobs[i].second));
    weight_map[headers[i].name] = "model.safetensors";
    total += blobs[i].second;
  }
  MLXS_ASSIGN_OR_RETURN(result.bytes_out, writer.finish());
  MLXS_RETURN_IF_ERROR(
      write_json_file((out / "model.safetensors.index.json").string(),
                      {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}, 4));

  declare_quantization(o, config);
  MLXS_RETURN_IF_ERROR(write_json_file((out / "config.json").string(), config, 4));
  // Tokenizer, chat template, generation config: everything else at the top.
  for (const auto& entry : fs::directory_iterator(src, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name == "config.json" || name.ends_with(".safetensors") ||
        name == "model.safetensors.index.json") {
      continue;
    }
    fs::copy_file(entry.path(), out / name, fs::copy_options::overwrite_existing, ec);
    if (ec) return core::make_error(ErrorCode::kIoError, "cannot copy {}: {}", name, ec.message());
  }
  return result;
}

}  // namespace mlxs::model
