#pragma once
// Token string <-> id maps shared by the models: an open-addressing table over
// the token strings themselves, so a lookup by string_view allocates nothing.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/json_fields.h"

namespace mlxs::tokenizer {

std::uint64_t hash_bytes(std::string_view s);

class Vocab {
 public:
  // {"token": id, ...}; ids must be distinct non-negative integers.
  static core::Result<Vocab> from_json(const Json& json, std::string_view path);
  // From (token, id) pairs (Unigram's list form).
  static core::Result<Vocab> from_pairs(std::vector<std::pair<std::string, std::int32_t>> pairs,
                                        std::string_view path);

  // -1 when absent.
  std::int32_t find(std::string_view token) const;
  // nullptr when the id has no token.
  const std::string* token(std::int32_t id) const {
    return id >= 0 && static_cast<std::size_t>(id) < tokens_.size() &&
                   present_[static_cast<std::size_t>(id)]
               ? &tokens_[static_cast<std::size_t>(id)]
               : nullptr;
  }
  std::size_t size() const { return count_; }
  // One past the largest id.
  std::size_t id_limit() const { return tokens_.size(); }

 private:
  core::Status build_index(std::string_view path);
  std::vector<std::string> tokens_;
  std::vector<bool> present_;
  std::vector<std::uint32_t> slots_;  // id + 1; 0 = empty
  std::uint64_t mask_ = 0;
  std::size_t count_ = 0;
};

}  // namespace mlxs::tokenizer
