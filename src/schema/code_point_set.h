#pragma once
// A set of Unicode code points as sorted, disjoint, non-adjacent closed
// ranges: the alphabet of one regex character class, also what guidance/
// walks to build byte automata.

#include <cstdint>
#include <utility>
#include <vector>

namespace mlxs::schema {

inline constexpr char32_t kMaxCodePoint = 0x10FFFF;

class CodePointSet {
 public:
  using Range = std::pair<char32_t, char32_t>;  // first, last (inclusive)

  CodePointSet() = default;
  static CodePointSet of(char32_t cp) { return range(cp, cp); }
  static CodePointSet range(char32_t first, char32_t last);
  static CodePointSet all() { return range(0, kMaxCodePoint); }
  // Any ranges, in any order (sorted and merged here, in O(n log n)).
  static CodePointSet from_ranges(std::vector<Range> ranges);

  void add(char32_t first, char32_t last);
  void add(char32_t cp) { add(cp, cp); }
  void add(const CodePointSet& other);
  CodePointSet complement() const;

  bool contains(char32_t cp) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<Range>& ranges() const { return ranges_; }
  friend bool operator==(const CodePointSet&, const CodePointSet&) = default;

 private:
  std::vector<Range> ranges_;  // kept normalised by add()
};

}  // namespace mlxs::schema
