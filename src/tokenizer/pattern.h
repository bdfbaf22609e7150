#pragma once
// What normalizers, pre-tokenizers and decoders share: {"String"|"Regex"}
// patterns and the SplitDelimiterBehavior of tokenizers' NormalizedString::split.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/regex.h"

namespace mlxs::tokenizer {

// A "String" pattern gives (literal, nullptr) except the empty literal, which
// behaves as the empty regex; a "Regex" pattern gives (source, compiled).
core::Result<std::pair<std::string, std::unique_ptr<Regex>>> parse_pattern(const Json& json,
                                                                           std::string_view path);

enum class SplitBehavior : std::uint8_t {
  kRemoved,
  kIsolated,
  kMergedWithPrevious,
  kMergedWithNext,
  kContiguous
};
core::Result<SplitBehavior> parse_split_behavior(const Json& json, std::string_view path);

using Span = std::pair<std::size_t, std::size_t>;
using Matches = std::vector<std::pair<Span, bool>>;  // (offsets, is_match), covering the text

// Literal occurrences of `needle` as matches (non-overlapping, leftmost first).
void literal_matches(std::string_view text, std::string_view needle, Matches& out);

// Turns matches into the spans to keep under `behavior` (empty spans included;
// callers drop them).
void apply_behavior(const Matches& matches, SplitBehavior behavior, std::vector<Span>& out);

}  // namespace mlxs::tokenizer
