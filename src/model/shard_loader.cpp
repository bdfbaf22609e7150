#include "model/shard_loader.h"

#include <fmt/format.h>

#include <cstring>

#include "model/load_error.h"

namespace mlxs::model {

using core::Status;

namespace {

Status wrong_extent(const std::string& name, const TensorEntry& e, std::int64_t full) {
  return load_error(fmt::format("tensor '{}' has shape {}; the config implies {} along the split",
                                name, shape_text(e.shape), full));
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
        if (e.shape.empty() || e.shape[0] != s.full) return wrong_extent(name, e, s.full);
        const std::size_t row_bytes = e.nbytes / static_cast<std::size_t>(s.full);
        std::vector<std::int64_t> shape = e.shape;
        shape[0] = s.extent();
        const std::size_t bytes = static_cast<std::size_t>(s.extent()) * row_bytes;
        if (s.ranges.size() == 1) {
          // Contiguous: a view into the mapping.
          const auto* data = e.data + static_cast<std::size_t>(s.ranges[0].begin) * row_bytes;
          store.replace(name, std::move(shape), data, bytes);
          break;
        }
        std::uint8_t* out = store.own(bytes);
        std::uint8_t* at = out;
        for (const ShardRange& r : s.ranges) {
          const std::size_t n = static_cast<std::size_t>(r.size()) * row_bytes;
          std::memcpy(at, e.data + static_cast<std::size_t>(r.begin) * row_bytes, n);
          at += n;
        }
        store.replace(name, std::move(shape), out, bytes);
        break;
      }
      case ShardKind::kColumns: {
        if (e.shape.size() != 2 || e.shape[1] != s.full) return wrong_extent(name, e, s.full);
        const ShardRange c = s.ranges.at(0);
        const auto rows = static_cast<std::size_t>(e.shape[0]);
        const std::size_t src_pitch = static_cast<std::size_t>(s.full) * elem;
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
