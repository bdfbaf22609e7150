#pragma once
// Megatron-style tensor parallelism: which part of each checkpoint tensor one
// rank of N holds. q/k/v and gate/up are split by output rows (whole
// attention heads, whole kv heads, equal slices of the MLP width: column-
// parallel in Megatron's words), o_proj and down_proj by input columns (row-
// parallel: each rank's product is a partial sum that an all-reduce
// completes), lm_head by vocabulary rows (each rank computes its block of
// logits, gathered side by side). The embedding, norms and the MoE router are
// replicated: the embedding reads one row per token, so splitting it would
// save memory but no bandwidth and cost one more all-reduce per step. The KV
// cache follows the kv heads. A config whose counts N does not divide is a
// ModelLoadError naming the count.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "model/config.h"

namespace mlxs::model {

// How one tensor is cut for a rank.
enum class ShardKind : std::uint8_t {
  kReplicated,  // held whole
  kRows,        // the concatenation of `ranges` of its first dimension
  kColumns,     // columns [ranges[0]) of every row (strided: copied at load)
  kFirstRank,   // a row-parallel bias: rank 0 holds it, the others zeros
};

struct ShardRange {
  std::int64_t begin = 0, end = 0;
  std::int64_t size() const { return end - begin; }
};

struct TensorShard {
  ShardKind kind = ShardKind::kReplicated;
  std::vector<ShardRange> ranges;  // kRows: one or more; kColumns: exactly one
  std::int64_t full = 0;           // the sliced dimension's extent in the checkpoint
  // Extent of the sliced dimension on this rank (rows or columns).
  std::int64_t extent() const;
};

class ShardPlan {
 public:
  // The plan of rank `rank` of `world`: ModelLoadError when a head count, the
  // kv heads, the MLP width, the experts' width or the vocabulary does not
  // divide by `world`, or when the checkpoint is one the split cannot take yet
  // (vision towers). Pre-quantized weights split with their scales; a split
  // that cuts a quantization group or an FP8 block is the loader's
  // ModelLoadError (shard_weights).
  static core::Result<ShardPlan> make(const ModelConfig& full, int rank, int world,
                                      bool has_vision = false);

  int rank() const { return rank_; }
  int world() const { return world_; }
  bool sharded() const { return world_ > 1; }

  // The config this rank runs: its heads, kv heads and MLP widths (the
  // vocabulary stays whole: token ids and the gathered logits span it).
  const ModelConfig& local() const { return local_; }
  std::int64_t vocab_rows() const { return vocab_local_; }  // lm_head rows held
  ShardRange vocab_range() const;

  // How the checkpoint tensor `name` is cut (fused matrices are recognised by
  // name and split part by part).
  TensorShard shard(std::string_view name) const;
  // The checkpoint's quantization (FP8 block sizes: the units its scales
  // are cut in).
  const QuantConfig& quant() const { return full_.quant; }

 private:
  int rank_ = 0, world_ = 1;
  ModelConfig full_, local_;
  std::int64_t vocab_local_ = 0;
  // Rank's part of a dimension of `total` elements in whole units of `unit`.
  ShardRange part(std::int64_t total) const;
};

}  // namespace mlxs::model
