#pragma once
// Byte-pair encoding with the exact merge order of tokenizers' BPE: a heap of
// candidate pairs (lowest rank, then leftmost) over a linked list of symbols,
// so a word of n symbols costs O(n log n) however long it is.

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/model.h"

namespace mlxs::tokenizer {

struct BpeOptions {
  std::string unk_token;  // empty: none
  bool has_unk = false;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;
};

class BpeModel final : public Model {
 public:
  static core::Result<std::unique_ptr<BpeModel>> from_json(const Json& json, std::string_view path);
  ~BpeModel() override;

  core::Status tokenize(std::string_view word, std::vector<std::int32_t>& ids) const override;
  const Vocab& vocab() const override { return vocab_; }
  void clear_cache() const override { cache_epoch_.fetch_add(1, std::memory_order_relaxed); }

  // Tokenizes without the cache (tests compare both).
  void merge_word(std::string_view word, std::vector<std::int32_t>& ids) const;

 private:
  BpeModel() = default;
  struct MergeSlot {
    std::uint64_t key = 0;  // (left id + 1) << 32 | (right id + 1); 0 = empty
    std::uint32_t rank = 0;
    std::int32_t new_id = -1;
  };
  const MergeSlot* find_merge(std::int32_t a, std::int32_t b) const {
    const std::uint64_t key =
        (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a) + 1) << 32) |
        (static_cast<std::uint32_t>(b) + 1);
    std::uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> shift_;
    while (true) {
      const MergeSlot& s = merges_[h];
      if (s.key == key) return &s;
      if (s.key == 0) return nullptr;
      h = (h + 1) & mask_;
    }
  }
  void insert_merge(std::int32_t a, std::int32_t b, std::uint32_t rank, std::int32_t new_id);
  void tokenize_word(std::string_view word, std::vector<std::int32_t>& ids) const;
  void build_pair_filter();
  // May characters a then b be adjacent inside one vocabulary token? (false
  // positives only: a false answer is exact)
  bool may_join(char32_t a, char32_t b) const {
    const std::uint64_t h =
        ((static_cast<std::uint64_t>(a) << 32 | b) * 0x9E3779B97F4A7C15ull) >> 40;
    return (pair_filter_[h >> 6] >> (h & 63)) & 1;
  }
  std::int32_t char_id(std::string_view ch) const;

  Vocab vocab_;
  BpeOptions opt_;
  std::int32_t unk_id_ = -1;
  std::vector<MergeSlot> merges_;
  std::uint64_t mask_ = 0;
  int shift_ = 64;
  std::int32_t byte_ids_[256];  // <0xXX> tokens for byte fallback, -1 if absent
  std::vector<std::int32_t>
      small_char_ids_;                      // code point < 2048 -> id (-1 absent), no prefix/suffix
  std::vector<std::uint64_t> pair_filter_;  // 2^24 bits over adjacent character pairs of tokens
  std::uint64_t cache_owner_ = 0;           // identifies this model in the thread-local caches
  mutable std::atomic<std::uint64_t> cache_epoch_{0};  // bumped by clear_cache()
};

}  // namespace mlxs::tokenizer
