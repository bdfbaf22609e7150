#pragma once
// The text being encoded, cut into pieces: each stage (added-token split,
// normalization, pre-tokenization) reads one PieceBuffer and writes another.
// A piece is either plain text for the next stage or an added token whose id
// is already known. One buffer holds all text, so a stage allocates nothing
// once the buffers have grown to the input's size.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mlxs::tokenizer {

struct Piece {
  std::uint32_t begin = 0, end = 0;  // bytes in PieceBuffer::text
  std::int32_t added_id = -1;        // >= 0: an added token, left alone by later stages
  bool at_start = false;             // starts at offset 0 of the original input
};

struct PieceBuffer {
  std::string text;
  std::vector<Piece> pieces;

  void clear() {
    text.clear();
    pieces.clear();
  }
  std::string_view view(const Piece& p) const {
    return std::string_view(text).substr(p.begin, p.end - p.begin);
  }
  // Empty pieces are dropped, as tokenizers' PreTokenizedString::split does.
  void add(std::string_view s, bool at_start, std::int32_t added_id = -1) {
    if (s.empty()) return;
    const auto begin = static_cast<std::uint32_t>(text.size());
    text.append(s);
    pieces.push_back({begin, static_cast<std::uint32_t>(text.size()), added_id, at_start});
  }
  // Starts a piece whose text the caller appends to `text`; close with end_piece.
  std::uint32_t begin_piece() const { return static_cast<std::uint32_t>(text.size()); }
  void end_piece(std::uint32_t begin, bool at_start) {
    if (text.size() == begin) return;
    pieces.push_back({begin, static_cast<std::uint32_t>(text.size()), -1, at_start});
  }
};

}  // namespace mlxs::tokenizer
