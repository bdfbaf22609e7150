#pragma once
// Paged decode attention alone, for `bench kernels` on CUDA: one decode step
// of one-token sequences with 1,024 keys each over Llama-3.1-8B's heads (32
// query, 8 KV, 128 wide), the way a serving step of that many streams reads
// its cache, on a bf16 and an e4m3 cache. An A/B of the decode-attention
// kernels (their MLXS_CUDA_* switches) then needs no model.

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "tensor/backend.h"

namespace mlxs::bench {

inline constexpr int kAttentionKeys = 1024;
inline constexpr int kAttentionHeads = 32;
inline constexpr int kAttentionKvHeads = 8;
inline constexpr int kAttentionHeadDim = 128;

// Microseconds per RoPE + cache append + attention op (the folded path a
// pure decode step takes) and the cache bytes it reads per second, against
// `bound_gbps`: one row per cache type. The caches hold zeros (the time does
// not depend on the values). The backend's step capacity must cover `rows`
// tokens and sequences and the heads above.
core::Result<nlohmann::json> time_decode_attention(tensor::Backend& be, int rows, double bound_gbps,
                                                   int reps);

}  // namespace mlxs::bench
