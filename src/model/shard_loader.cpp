#include "model/shard_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "model/load_error.h"

namespace mlxs::model {

using core::Result;
using core::Status;

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

Status wrong_extent(const std::string& name, const TensorEntry& e, std::int64_t full) {
  return load_error(fmt::format("tensor '{}' has shape {}; the config implies {} along the split",
                                name, shape_text(e.shape), full));
}

Status cuts_a_block(const std::string& name, const char* what, std::int64_t unit,
                    const ShardRange& r) {
  return load_error(fmt::format(
      "tensor '{}' cannot be split over these ranks: its {} of {} straddle the rank's part "
      "[{}, {}) (fewer ranks, or a checkpoint quantized in smaller blocks, would split)",
      name, what, unit, r.begin, r.end));
}

// One rank's part of a tensor along the split dimension, in the tensor's own
// units: `extent` is the tensor's size there and `full` the config's (the
// weight's columns or rows). A float or FP8 weight, a bias and a per-channel
// scale hold one unit per element; an MLX packed weight holds 32 / bits
// values per uint32 column; MLX scales and biases one per group; FP8
// block scales one per block (a part inside a single block takes that
// block's scale); a per-tensor scale, or a per-row one cut by columns, is
// whole on every rank (nullopt).
Result<std::optional<std::vector<ShardRange>>> tensor_ranges(const std::string& name,
                                                             const TensorEntry& e, int dim,
                                                             const TensorShard& s,
                                                             const QuantConfig& quant) {
  const std::int64_t full = s.full;
  const std::int64_t extent =
      static_cast<int>(e.shape.size()) > dim ? e.shape[static_cast<std::size_t>(dim)] : 1;
  if (ends_with(name, ".weight_scale") || ends_with(name, ".input_scale")) {
    if (extent == full) return std::optional(s.ranges);
    if (extent == 1) return std::optional<std::vector<ShardRange>>();
    return wrong_extent(name, e, full);
  }
  if (extent == full) return std::optional(s.ranges);
  std::vector<ShardRange> out;
  if (ends_with(name, ".weight_scale_inv")) {
    const std::int64_t block = dim == 0 ? quant.block_rows : quant.block_cols;
    if (block <= 0 || extent != (full + block - 1) / block) return wrong_extent(name, e, full);
    for (const ShardRange& r : s.ranges) {
      const bool aligned = r.begin % block == 0;
      const bool inside = r.begin / block == (r.end - 1) / block;
      if (!aligned && !inside) return cuts_a_block(name, "FP8 blocks", block, r);
      out.push_back({r.begin / block, (r.end + block - 1) / block});
    }
    return std::optional(std::move(out));
  }
  // MLX: packed columns (extent = full * bits / 32) or one per group.
  const bool packed = ends_with(name, ".weight") && e.dtype == tensor::DType::kU32;
  const bool grouped = ends_with(name, ".scales") || ends_with(name, ".biases");
  if (dim != 1 || (!packed && !grouped)) return wrong_extent(name, e, full);
  // A part [b, e) maps to [b * extent / full, e * extent / full) exactly,
  // or the part cuts a group (or a packed word).
  for (const ShardRange& r : s.ranges) {
    if ((r.begin * extent) % full != 0 || (r.end * extent) % full != 0) {
      const std::int64_t unit = grouped ? full / std::max<std::int64_t>(extent, 1) : 32;
      return cuts_a_block(name, grouped ? "quantization groups" : "packed words", unit, r);
    }
    out.push_back({r.begin * extent / full, r.end * extent / full});
  }
  return std::optional(std::move(out));
}

}  // namespace

Status shard_weights(WeightStore& store, const ShardPlan& plan) {
  if (!plan.sharded()) return Status::ok();
  for (const auto& [name, e] : store.tensors()) {
    const TensorShard s = plan.shard(name);
    const std::size_t elem = tensor::dtype_size(e.dtype);
    switch (s.kind) {
      case ShardKind::kReplicated:
        break;
      case ShardKind::kFirstRank: {
        if (plan.rank() != 0) store.replace(name, e.shape, store.own(e.nbytes), e.nbytes);
        break;
      }
      case ShardKind::kRows: {
        if (e.shape.empty()) return wrong_extent(name, e, s.full);
        MLXS_ASSIGN_OR_RETURN(auto ranges, tensor_ranges(name, e, 0, s, plan.quant()));
        if (!ranges) break;  // a per-tensor scale: whole on every rank
        const std::size_t row_bytes = e.nbytes / static_cast<std::size_t>(e.shape[0]);
        std::int64_t rows = 0;
        for (const ShardRange& r : *ranges) rows += r.size();
        std::vector<std::int64_t> shape = e.shape;
        shape[0] = rows;
        const std::size_t bytes = static_cast<std::size_t>(rows) * row_bytes;
        if (ranges->size() == 1) {
          // Contiguous: a view into the mapping.
          const auto* data = e.data + static_cast<std::size_t>((*ranges)[0].begin) * row_bytes;
          store.replace(name, std::move(shape), data, bytes);
          break;
        }
        std::uint8_t* out = store.own(bytes);
        std::uint8_t* at = out;
        for (const ShardRange& r : *ranges) {
          const std::size_t n = static_cast<std::size_t>(r.size()) * row_bytes;
          std::memcpy(at, e.data + static_cast<std::size_t>(r.begin) * row_bytes, n);
          at += n;
        }
        store.replace(name, std::move(shape), out, bytes);
        break;
      }
      case ShardKind::kColumns: {
        if (e.shape.size() > 2) return wrong_extent(name, e, s.full);
        MLXS_ASSIGN_OR_RETURN(auto ranges, tensor_ranges(name, e, 1, s, plan.quant()));
        if (!ranges || e.shape.size() < 2) break;  // per-row or per-tensor scales stay whole
        const ShardRange c = ranges->at(0);
        const auto rows = static_cast<std::size_t>(e.shape[0]);
        const std::size_t src_pitch = static_cast<std::size_t>(e.shape[1]) * elem;
        const std::size_t dst_pitch = static_cast<std::size_t>(c.size()) * elem;
        std::uint8_t* out = store.own(rows * dst_pitch);
        const std::uint8_t* src = e.data + static_cast<std::size_t>(c.begin) * elem;
        for (std::size_t r = 0; r < rows; ++r) {
          std::memcpy(out + r * dst_pitch, src + r * src_pitch, dst_pitch);
        }
        store.replace(name, {e.shape[0], c.size()}, out, rows * dst_pitch);
        break;
      }
    }
  }
  return Status::ok();
}

}  // namespace mlxs::model
