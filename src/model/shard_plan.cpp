#include "model/shard_plan.h"

#include <fmt/format.h>

#include "model/load_error.h"

namespace mlxs::model {

using core::ErrorCode;
using core::Result;
using core::Status;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "<anything>.self_attn.q_proj" for "<anything>.self_attn.q_proj.weight",
// ".bias" or a quantized weight's companions (MLX's ".scales" and
// ".biases", FP8's ".weight_scale_inv" and ".weight_scale"); "" for other
// names. The companions are cut along the same dimension as their weight,
// in their own units (shard_loader.cpp).
std::string_view module_of(std::string_view name, bool* is_bias) {
  *is_bias = ends_with(name, ".bias");
  for (std::string_view suffix :
       {".bias", ".weight", ".scales", ".biases", ".weight_scale_inv", ".weight_scale"}) {
    if (ends_with(name, suffix)) return name.substr(0, name.size() - suffix.size());
  }
  return {};
}

}  // namespace

std::int64_t TensorShard::extent() const {
  std::int64_t n = 0;
  for (const auto& r : ranges) n += r.size();
  return n;
}

Result<ShardPlan> ShardPlan::make(const ModelConfig& full, int rank, int world, bool has_vision) {
  if (world < 1 || rank < 0 || rank >= world) {
    return Status(ErrorCode::kInvalidParams,
                  fmt::format("tensor-parallel rank {} of {} does not exist", rank, world));
  }
  ShardPlan plan;
  plan.rank_ = rank;
  plan.world_ = world;
  plan.full_ = full;
  plan.local_ = full;
  plan.vocab_local_ = full.vocab;
  if (world == 1) return plan;

  auto refuse = [world](const char* what, std::int64_t count) {
    return load_error(
        fmt::format("tensor parallelism over {} ranks needs {} ({}) to be a multiple of {}", world,
                    what, count, world));
  };
  if (has_vision) return load_error("tensor parallelism does not split vision models yet");
  if (full.heads % world != 0) return refuse("the attention heads", full.heads);
  if (full.kv_heads % world != 0) return refuse("the kv heads", full.kv_heads);
  bool dense_layer = false;
  for (std::int64_t l = 0; l < full.layers; ++l) dense_layer |= !full.is_moe_layer(l);
  if (dense_layer && full.intermediate % world != 0) {
    return refuse("intermediate_size", full.intermediate);
  }
  if (full.num_experts > 0 && full.moe_intermediate % world != 0) {
    return refuse("moe_intermediate_size", full.moe_intermediate);
  }
  if (full.vocab % world != 0) return refuse("the vocabulary", full.vocab);

  plan.local_.heads = full.heads / world;
  plan.local_.kv_heads = full.kv_heads / world;
  plan.local_.intermediate = full.intermediate / world;
  plan.local_.moe_intermediate = full.moe_intermediate / world;
  plan.vocab_local_ = full.vocab / world;
  return plan;
}

ShardRange ShardPlan::part(std::int64_t total) const {
  return {total * rank_ / world_, total * (rank_ + 1) / world_};
}

ShardRange ShardPlan::vocab_range() const {
  return part(full_.vocab);
}

TensorShard ShardPlan::shard(std::string_view name) const {
  TensorShard s;
  if (world_ == 1) return s;
  bool bias = false;
  const std::string_view m = module_of(name, &bias);
  if (m.empty()) return s;
  const std::int64_t q = full_.heads * full_.head_dim;
  const std::int64_t kv = full_.kv_heads * full_.head_dim;
  const bool expert = m.find(".mlp.experts.") != std::string_view::npos;
  const std::int64_t f = expert ? full_.moe_intermediate : full_.intermediate;
  auto rows = [&s](std::int64_t full, std::vector<ShardRange> ranges) {
    s.kind = ShardKind::kRows;
    s.full = full;
    s.ranges = std::move(ranges);
    return s;
  };
  // Row-parallel: columns of the weight; the bias is added once (rank 0).
  auto columns = [&s, bias, this](std::int64_t total) {
    if (bias) {
      s.kind = ShardKind::kFirstRank;
      return s;
    }
    s.kind = ShardKind::kColumns;
    s.full = total;
    s.ranges = {part(total)};
    return s;
  };
  auto shift = [](ShardRange r, std::int64_t by) { return ShardRange{r.begin + by, r.end + by}; };

  if (ends_with(m, ".self_attn.q_proj")) return rows(q, {part(q)});
  if (ends_with(m, ".self_attn.k_proj") || ends_with(m, ".self_attn.v_proj")) {
    return rows(kv, {part(kv)});
  }
  if (ends_with(m, ".self_attn.qkv_proj")) {
    return rows(q + 2 * kv, {part(q), shift(part(kv), q), shift(part(kv), q + kv)});
  }
  if (ends_with(m, ".self_attn.o_proj")) return columns(q);
  if (ends_with(m, ".gate_proj") || ends_with(m, ".up_proj")) return rows(f, {part(f)});
  if (ends_with(m, ".mlp.gate_up_proj")) return rows(2 * f, {part(f), shift(part(f), f)});
  if (ends_with(m, ".down_proj")) return columns(f);
  // Vocab-parallel: the output layer by its rows, and the input embedding
  // likewise (a token's row lives on one rank; the others embed zeros and
  // the all-reduce after the embedding adds it: Model::forward).
  if ((m == "lm_head" || ends_with(m, ".lm_head") || m == "embed_tokens" ||
       ends_with(m, ".embed_tokens")) &&
      !bias) {
    return rows(full_.vocab, {part(full_.vocab)});
  }
  return s;
}

}  // namespace mlxs::model
