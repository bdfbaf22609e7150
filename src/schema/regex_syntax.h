#pragma once
// The ECMAScript (u-mode) regular-expression parser: pattern text -> syntax
// tree. It accepts the whole syntax (lookaround, backreferences, named groups)
// so that format "regex" can be checked; the matcher (regex.h) refuses the
// constructs it cannot run in linear time.

#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "schema/code_point_set.h"

namespace mlxs::schema {

struct RegexAst {
  enum class Kind : std::uint8_t {
    kEmpty,            // matches the empty string
    kSet,              // one code point from sets[set]
    kConcat,           // children in order
    kAlternation,      // one of the children
    kRepeat,           // children[0] repeated min..max times
    kGroup,            // children[0], capturing or not (the matcher ignores captures)
    kInputStart,       // ^ (no multiline flag: start of input only)
    kInputEnd,         // $ (end of input only; no trailing-newline allowance)
    kWordBoundary,     // \b
    kNotWordBoundary,  // \B
    kLookaround,       // (?=…) (?!…) (?<=…) (?<!…): parsed, never matched
    kBackreference,    // \1, \k<name>: parsed, never matched
  };
  static constexpr std::uint32_t kUnbounded = std::numeric_limits<std::uint32_t>::max();

  struct Node {
    Kind kind = Kind::kEmpty;
    std::uint32_t set = 0;
    std::uint32_t min = 0;
    std::uint32_t max = 0;
    bool greedy = true;
    std::vector<std::uint32_t> children;
  };

  std::vector<Node> nodes;
  std::vector<CodePointSet> sets;
  std::uint32_t root = 0;
  bool has_lookaround = false;
  bool has_backreference = false;
};

// Errors are kInvalidParams naming the code-point offset. Nesting of groups
// deeper than `max_nesting` is refused (the parser recurses per group).
core::Result<RegexAst> parse_regex(std::string_view pattern, int max_nesting = 200);

// The set a \p{name} / \P{name} escape denotes; nullopt-like empty result with
// ok=false for names we do not know.
bool unicode_property_set(std::string_view name, CodePointSet& out);

}  // namespace mlxs::schema
