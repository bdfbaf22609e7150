#include "attention_bench.h"

#include <chrono>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/rng.h"

namespace mlxs::bench {

core::Result<nlohmann::json> time_decode_attention(tensor::Backend& be, int rows, double bound_gbps,
                                                   int reps) {
  using tensor::DType;
  using tensor::Tensor;
  constexpr int kBlock = 16;
  constexpr int kBlocksPerSeq = kAttentionKeys / kBlock;
  constexpr int kQWidth = kAttentionHeads * kAttentionHeadDim;
  constexpr int kKvWidth = kAttentionKvHeads * kAttentionHeadDim;
  const int R = rows;
  tensor::RopeSpec rope;
  rope.rot_dim = kAttentionHeadDim;
  for (int i = 0; i < kAttentionHeadDim / 2; ++i) {
    rope.inv_freq.push_back(std::pow(500000.0, -2.0 * i / kAttentionHeadDim));
  }
  const int rope_id = be.register_rope(rope);
  core::Xoshiro256 rng(7);
  auto random_rows = [&](int n, int width) -> core::Result<Tensor> {
    std::vector<float> h(static_cast<std::size_t>(n) * width);
    for (auto& v : h) v = rng.uniform() - 0.5f;
    return be.import_tensor(Tensor(h.data(), DType::kF32, {n, width}), true);
  };
  MLXS_ASSIGN_OR_RETURN(Tensor q, random_rows(R, kQWidth));
  MLXS_ASSIGN_OR_RETURN(Tensor k, random_rows(R, kKvWidth));
  MLXS_ASSIGN_OR_RETURN(Tensor v, random_rows(R, kKvWidth));
  MLXS_ASSIGN_OR_RETURN(auto out_buf, be.allocate(static_cast<std::size_t>(R) * kQWidth * 4));
  const Tensor out(out_buf->data(), DType::kF32, {R, kQWidth}, be.device());
  // Every row the last token of its own sequence, block tables disjoint.
  std::vector<std::int32_t> tokens(R, 0), positions(R, kAttentionKeys - 1);
  std::vector<std::int32_t> tables(static_cast<std::size_t>(R) * kBlocksPerSeq);
  std::iota(tables.begin(), tables.end(), 0);
  std::vector<tensor::SeqSlice> seqs(R);
  for (int r = 0; r < R; ++r) {
    seqs[static_cast<std::size_t>(r)] = {
        r, 1, kAttentionKeys, tables.data() + static_cast<std::ptrdiff_t>(r) * kBlocksPerSeq,
        kBlocksPerSeq};
  }
  tensor::AttentionSpec spec;
  spec.n_heads = kAttentionHeads;
  spec.n_kv_heads = kAttentionKvHeads;
  spec.head_dim = kAttentionHeadDim;
  spec.scale = 1.0f / std::sqrt(static_cast<float>(kAttentionHeadDim));
  nlohmann::json table = nlohmann::json::array();
  for (const DType cache : {DType::kBF16, DType::kF8E4M3}) {
    tensor::KvCacheShape shape;
    shape.layers = 1;
    shape.blocks = R * kBlocksPerSeq;
    shape.block_size = kBlock;
    shape.kv_heads = kAttentionKvHeads;
    shape.head_dim = kAttentionHeadDim;
    shape.dtype = cache;
    MLXS_ASSIGN_OR_RETURN(auto kv, be.create_kv_storage(shape));
    tensor::StepBatch batch{tokens, positions, seqs, {}};
    batch.kv = kv.get();
    be.begin_step(batch);
    auto run = [&] {
      be.rope_cache_attention(q, k, v, kAttentionHeadDim, rope_id, *kv, 0, spec, out);
    };
    for (int i = 0; i < 3; ++i) run();
    MLXS_RETURN_IF_ERROR(be.synchronize());
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) run();
    MLXS_RETURN_IF_ERROR(be.synchronize());
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
        reps;
    be.end_step();
    const double bytes = static_cast<double>(shape.bytes());  // every key read once
    const double gbps = bytes / (us * 1e-6) / 1e9;
    table.push_back({{"cache", cache == DType::kBF16 ? "bf16" : "e4m3"},
                     {"rows", R},
                     {"keys", kAttentionKeys},
                     {"us", us},
                     {"gbps", gbps},
                     {"fraction_of_bound", bound_gbps > 0 ? gbps / bound_gbps : 0.0}});
  }
  return table;
}

}  // namespace mlxs::bench
