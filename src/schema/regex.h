#pragma once
// A linear-time matcher for ECMAScript regular expressions (u-mode syntax)
// over UTF-8 code points. The pattern compiles to a Thompson NFA that a Pike
// VM simulates: every (position, instruction) pair is visited at most once,
// so matching costs O(text x program) whatever the pattern — no backtracking,
// no ReDoS. Lookaround and backreferences have no such matcher and are
// refused at compile time (check_syntax() still accepts them as valid).
//
// The program is public and read-only so that guidance/ can turn the same
// automaton into grammars for structured output.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "schema/code_point_set.h"

namespace mlxs::schema {

struct RegexInst {
  enum class Op : std::uint8_t {
    kChar,             // consume one code point in sets[arg]; go to next
    kSplit,            // continue at `arg` and at `alt` (`arg` preferred)
    kJump,             // continue at `arg`
    kAssertStart,      // only at the start of the input
    kAssertEnd,        // only at the end of the input
    kWordBoundary,     // \b (ASCII word characters, as ECMAScript defines)
    kNotWordBoundary,  // \B
    kMatch,
  };
  Op op = Op::kMatch;
  std::uint32_t arg = 0;
  std::uint32_t alt = 0;
};

struct RegexOptions {
  // Counted repetition expands the program (a{1000} is 1000 instructions);
  // larger programs are refused so compile time and memory stay bounded.
  std::size_t max_program_size = 50000;
  int max_nesting = 200;
};

class Regex {
 public:
  // kInvalidParams for syntax errors, unsupported constructs and programs
  // past options.max_program_size; the message names the offset.
  static core::Result<Regex> compile(std::string_view pattern, const RegexOptions& options = {});
  // ECMAScript syntax only (what format "regex" asserts).
  static core::Status check_syntax(std::string_view pattern);

  // True when the pattern matches anywhere in `text` (JSON Schema "pattern").
  // A default-constructed Regex matches nothing.
  bool search(std::string_view text) const;
  // True when the pattern matches the whole of `text`.
  bool full_match(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }
  // Memory footprint in units: instructions plus character-class ranges.
  std::size_t size() const;
  // Empty for a default-constructed Regex.
  const std::vector<RegexInst>& program() const {
    return program_ ? program_->insts : kEmpty.insts;
  }
  const std::vector<CodePointSet>& sets() const { return program_ ? program_->sets : kEmpty.sets; }

 private:
  struct Program {
    std::vector<RegexInst> insts;  // entry at 0
    std::vector<CodePointSet> sets;
  };
  bool run(std::string_view text, bool anchored_search, bool full) const;
  static inline const Program kEmpty{};

  std::string pattern_;
  std::shared_ptr<const Program> program_;  // shared: copies of a Regex are cheap
};

}  // namespace mlxs::schema
