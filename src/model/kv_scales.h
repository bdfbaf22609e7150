#pragma once
// The dequantization scales of a quantized (e4m3) KV cache, read from the
// checkpoint the way vLLM reads them: per layer `self_attn.k_scale` and
// `self_attn.v_scale` (compressed-tensors FP8), or the legacy single
// `self_attn.kv_scale` for both; each a scalar, [1] or one per kv head of the
// whole model. A cache code is x / scale and reads back as code * scale, so a
// checkpoint calibrated with scales must be served with the same ones.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace mlxs::model {

class Binder;

// One rank's scales of one tensor, one per local kv head: a single value
// broadcast, or the rank's slice [rank * local, (rank + 1) * local) of one
// value per kv head of the whole model (local * world of them; a vector of
// the local count is refused under tensor parallelism, as it cannot say
// which heads it covers). ModelLoadError naming `name` for another length.
core::Result<std::vector<float>> kv_scales_for_rank(const std::string& name,
                                                    std::span<const float> values,
                                                    std::int64_t local_heads, int rank, int world);

// [layers][2: K, V][local_heads] from the tensors under `prefix` +
// "layers.{l}.self_attn."; a layer without any is 1; empty when no layer
// has any (the cache then needs no scales). The tensors read count as used.
core::Result<std::vector<float>> read_kv_scales(Binder& bind, const std::string& prefix,
                                                std::int64_t layers, std::int64_t local_heads,
                                                int rank, int world);

}  // namespace mlxs::model
