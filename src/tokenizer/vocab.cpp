#include "tokenizer/vocab.h"

#include <xxhash.h>

namespace mlxs::tokenizer {

std::uint64_t hash_bytes(std::string_view s) {
  return XXH3_64bits(s.data(), s.size());
}

core::Result<Vocab> Vocab::from_json(const Json& json, std::string_view path) {
  if (!json.is_object()) return field_error(path, "expected an object of token -> id");
  std::vector<std::pair<std::string, std::int32_t>> pairs;
  pairs.reserve(json.size());
  for (auto it = json.begin(); it != json.end(); ++it) {
    const Json& v = it.value();
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 ||
        v.get<std::int64_t>() > INT32_MAX - 1) {
      return field_error(child_path(path, it.key()), "expected a non-negative integer id");
    }
    pairs.emplace_back(it.key(), static_cast<std::int32_t>(v.get<std::int64_t>()));
  }
  return from_pairs(std::move(pairs), path);
}

core::Result<Vocab> Vocab::from_pairs(std::vector<std::pair<std::string, std::int32_t>> pairs,
                                      std::string_view path) {
  Vocab v;
  std::int32_t max_id = -1;
  for (const auto& [tok, id] : pairs) max_id = std::max(max_id, id);
  if (max_id >= 0 && static_cast<std::size_t>(max_id) > pairs.size() * 4 + 1024) {
    return field_error(path, "ids are too sparse (largest id " + std::to_string(max_id) + ")");
  }
  v.tokens_.resize(static_cast<std::size_t>(max_id + 1));
  v.present_.assign(static_cast<std::size_t>(max_id + 1), false);
  for (auto& [tok, id] : pairs) {
    const auto i = static_cast<std::size_t>(id);
    if (v.present_[i]) {
      return field_error(path, "id " + std::to_string(id) + " is given to two tokens");
    }
    v.present_[i] = true;
    v.tokens_[i] = std::move(tok);
  }
  v.count_ = pairs.size();
  MLXS_RETURN_IF_ERROR(v.build_index(path));
  return v;
}

core::Status Vocab::build_index(std::string_view path) {
  std::size_t cap = 16;
  while (cap < count_ * 2) cap <<= 1;
  slots_.assign(cap, 0);
  mask_ = cap - 1;
  for (std::size_t id = 0; id < tokens_.size(); ++id) {
    if (!present_[id]) continue;
    std::uint64_t h = hash_bytes(tokens_[id]) & mask_;
    while (slots_[h] != 0) {
      if (tokens_[slots_[h] - 1] == tokens_[id]) {
        return field_error(path, "token \"" + tokens_[id] + "\" appears twice");
      }
      h = (h + 1) & mask_;
    }
    slots_[h] = static_cast<std::uint32_t>(id + 1);
  }
  return core::Status::ok();
}

std::int32_t Vocab::find(std::string_view token) const {
  if (slots_.empty()) return -1;
  std::uint64_t h = hash_bytes(token) & mask_;
  while (true) {
    const std::uint32_t s = slots_[h];
    if (s == 0) return -1;
    if (tokens_[s - 1] == token) return static_cast<std::int32_t>(s - 1);
    h = (h + 1) & mask_;
  }
}

}  // namespace mlxs::tokenizer
