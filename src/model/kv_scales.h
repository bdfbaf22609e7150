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

// Calibration, for an e4m3 cache of a checkpoint without scales
// (Model::load; LoadOptions::kv_calibration_tokens): the largest |K| (after
// RoPE) and |V| one pass wrote map to 448 / kKvCalibrationHeadroom, so a
// prompt whose keys or values run that many times larger still fits e4m3's
// range before it saturates, and small values keep their 3 mantissa bits
// instead of falling into the subnormals under a scale of 1.
inline constexpr float kKvCalibrationHeadroom = 2.0f;

// The calibration pass's token ids: `count` ids spread over [0, vocab) by a
// golden-ratio stride, the same on every backend and rank.
std::vector<std::int32_t> calibration_token_ids(int count, std::int64_t vocab);

// Folds rows of [rows, heads * head_dim] activations into per-head maxima of
// |x|: absmax[h] = max(absmax[h], |x[r, h * head_dim + d]|). Non-finite
// values are skipped (they carry no magnitude a scale could hold).
void fold_head_absmax(std::span<const float> x, std::int64_t heads, std::int64_t head_dim,
                      std::span<float> absmax);

// KvCacheShape::scales from the calibration pass's maxima (the same layout):
// absmax * kKvCalibrationHeadroom / 448, or 1 for a head it saw only zeros
// (or values too small for a normal float scale).
std::vector<float> kv_scales_from_absmax(std::span<const float> absmax);

}  // namespace mlxs::model
