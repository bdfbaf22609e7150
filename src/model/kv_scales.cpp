#include "model/kv_scales.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>

#include "model/binder.h"
#include "model/load_error.h"

namespace mlxs::model {

using core::Result;

Result<std::vector<float>> kv_scales_for_rank(const std::string& name,
                                              std::span<const float> values,
                                              std::int64_t local_heads, int rank, int world) {
  const auto local = static_cast<std::size_t>(local_heads);
  if (values.size() == 1) return std::vector<float>(local, values[0]);
  const std::size_t full = local * static_cast<std::size_t>(world);
  if (values.size() != full) {
    return load_error(fmt::format(
        "tensor '{}' holds {} values; a KV-cache scale is one value or one per kv head ({})", name,
        values.size(), full));
  }
  const auto first =
      values.begin() + static_cast<std::ptrdiff_t>(local * static_cast<std::size_t>(rank));
  return std::vector<float>(first, first + static_cast<std::ptrdiff_t>(local));
}

namespace {

// A layer's K or V scales: its own tensor, else the shared kv_scale, else
// none (nullopt).
Result<std::optional<std::vector<float>>> side_scales(
    const std::string& name, const std::optional<std::vector<float>>& own,
    const std::string& shared_name, const std::optional<std::vector<float>>& shared,
    std::int64_t local_heads, int rank, int world) {
  const auto& values = own ? own : shared;
  if (!values) return std::optional<std::vector<float>>();
  MLXS_ASSIGN_OR_RETURN(
      auto out, kv_scales_for_rank(own ? name : shared_name, *values, local_heads, rank, world));
  return std::optional<std::vector<float>>(std::move(out));
}

}  // namespace

Result<std::vector<float>> read_kv_scales(Binder& bind, const std::string& prefix,
                                          std::int64_t layers, std::int64_t local_heads, int rank,
                                          int world) {
  const auto heads = static_cast<std::size_t>(local_heads);
  std::vector<float> out(static_cast<std::size_t>(layers) * 2 * heads, 1.0f);
  bool any = false;
  for (std::int64_t l = 0; l < layers; ++l) {
    const std::string p = prefix + fmt::format("layers.{}.self_attn.", l);
    // Every tensor is read (and so marked used) even when k_ and v_scale
    // make the legacy kv_scale redundant.
    MLXS_ASSIGN_OR_RETURN(auto k, bind.optional_scale(p + "k_scale"));
    MLXS_ASSIGN_OR_RETURN(auto v, bind.optional_scale(p + "v_scale"));
    MLXS_ASSIGN_OR_RETURN(auto kv, bind.optional_scale(p + "kv_scale"));
    const std::pair<const char*, const std::optional<std::vector<float>>*> sides[2] = {
        {"k_scale", &k}, {"v_scale", &v}};
    for (std::size_t which = 0; which < 2; ++which) {
      MLXS_ASSIGN_OR_RETURN(auto s, side_scales(p + sides[which].first, *sides[which].second,
                                                p + "kv_scale", kv, local_heads, rank, world));
      if (!s) continue;
      any = true;
      std::copy(s->begin(), s->end(),
                out.begin() +
                    static_cast<std::ptrdiff_t>((static_cast<std::size_t>(l) * 2 + which) * heads));
    }
  }
  if (!any) out.clear();
  return out;
}

std::vector<std::int32_t> calibration_token_ids(int count, std::int64_t vocab) {
  std::vector<std::int32_t> ids(static_cast<std::size_t>(std::max(count, 0)));
  for (std::size_t i = 0; i < ids.size(); ++i) {
    // frac(i · φ) in 32 bits, scaled to the vocabulary: a low-discrepancy
    // sequence, so the ids stay apart.
    const std::uint64_t frac = (static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ull) >> 32;
    ids[i] = static_cast<std::int32_t>((frac * static_cast<std::uint64_t>(vocab)) >> 32);
  }
  return ids;
}

void fold_head_absmax(std::span<const float> x, std::int64_t heads, std::int64_t head_dim,
                      std::span<float> absmax) {
  const auto width = static_cast<std::size_t>(heads * head_dim);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float a = std::fabs(x[i]);
    if (!std::isfinite(a)) continue;
    float& m = absmax[(i % width) / static_cast<std::size_t>(head_dim)];
    m = std::max(m, a);
  }
}

std::vector<float> kv_scales_from_absmax(std::span<const float> absmax) {
  constexpr float kE4m3Max = 448.0f;
  std::vector<float> out(absmax.size());
  for (std::size_t i = 0; i < absmax.size(); ++i) {
    const float scale = absmax[i] * kKvCalibrationHeadroom / kE4m3Max;
    out[i] = std::isnormal(scale) ? scale : 1.0f;  // zeros, or too small to divide by
  }
  return out;
}

}  // namespace mlxs::model
