#pragma once
// A trie of token byte strings laid out in preorder: node i has a byte, a
// depth, the index just past its subtree, and the tokens that end at it. A
// walk is one forward pass that skips whole subtrees when a byte is refused,
// with no pointers to chase.

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace mlxs::guidance {

class TokenTrie {
 public:
  // `entries`: (bytes, token id); empty byte strings are left out.
  static TokenTrie build(std::vector<std::pair<std::string_view, std::int32_t>> entries);

  std::uint32_t size() const { return static_cast<std::uint32_t>(byte_.size()); }
  bool empty() const { return byte_.empty(); }
  std::uint8_t byte(std::uint32_t i) const { return byte_[i]; }
  std::uint32_t depth(std::uint32_t i) const { return depth_[i]; }  // 1 for the first byte
  std::uint32_t skip(std::uint32_t i) const { return skip_[i]; }
  bool has_children(std::uint32_t i) const { return skip_[i] != i + 1; }
  std::span<const std::int32_t> tokens(std::uint32_t i) const {
    return std::span<const std::int32_t>(ids_).subspan(id_begin_[i],
                                                       id_begin_[i + 1] - id_begin_[i]);
  }
  std::uint32_t max_depth() const { return max_depth_; }
  std::size_t memory_bytes() const;

 private:
  std::vector<std::uint8_t> byte_;
  std::vector<std::uint16_t> depth_;
  std::vector<std::uint32_t> skip_;
  std::vector<std::uint32_t> id_begin_;  // size() + 1 entries
  std::vector<std::int32_t> ids_;
  std::uint32_t max_depth_ = 0;
};

}  // namespace mlxs::guidance
