#include "tokenizer/pattern.h"

#include <algorithm>

namespace mlxs::tokenizer {

core::Result<std::pair<std::string, std::unique_ptr<Regex>>> parse_pattern(const Json& json,
                                                                           std::string_view path) {
  if (!json.is_object()) return field_error(path, "expected {\"String\": ...} or {\"Regex\": ...}");
  if (json.contains("String")) {
    MLXS_ASSIGN_OR_RETURN(std::string s, req_string(json, "String", path));
    std::unique_ptr<Regex> re;
    if (s.empty()) {
      MLXS_ASSIGN_OR_RETURN(re, Regex::literal(s, child_path(path, "String")));
    }
    return std::pair<std::string, std::unique_ptr<Regex>>(std::move(s), std::move(re));
  }
  if (json.contains("Regex")) {
    MLXS_ASSIGN_OR_RETURN(std::string s, req_string(json, "Regex", path));
    MLXS_ASSIGN_OR_RETURN(auto re, Regex::compile(s, child_path(path, "Regex")));
    return std::pair<std::string, std::unique_ptr<Regex>>(std::move(s), std::move(re));
  }
  return field_error(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

core::Result<SplitBehavior> parse_split_behavior(const Json& json, std::string_view path) {
  if (!json.is_string()) return field_error(path, "expected a split behavior name");
  const auto name = json.get_ref<const std::string&>();
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return field_error(path, "unknown split behavior \"" + name + "\"");
}

void literal_matches(std::string_view text, std::string_view needle, Matches& out) {
  out.clear();
  if (text.empty()) {
    out.push_back({{0, 0}, false});
    return;
  }
  std::size_t prev = 0;
  std::size_t pos = 0;
  while (!needle.empty()) {
    const std::size_t hit = text.find(needle, pos);
    if (hit == std::string_view::npos) break;
    if (hit != prev) out.push_back({{prev, hit}, false});
    out.push_back({{hit, hit + needle.size()}, true});
    prev = pos = hit + needle.size();
  }
  if (prev != text.size()) out.push_back({{prev, text.size()}, false});
}

void apply_behavior(const Matches& matches, SplitBehavior behavior, std::vector<Span>& out) {
  out.clear();
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const auto& [span, is_match] : matches) out.push_back(span);
      return;
    case SplitBehavior::kRemoved:
      for (const auto& [span, is_match] : matches) {
        if (!is_match) out.push_back(span);
      }
      return;
    case SplitBehavior::kContiguous: {
      bool previous = false;
      for (const auto& [span, is_match] : matches) {
        if (is_match == previous && !out.empty()) {
          out.back().second = span.second;
        } else {
          out.push_back(span);
        }
        previous = is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithPrevious: {
      bool previous = false;
      for (const auto& [span, is_match] : matches) {
        if (is_match && !previous && !out.empty()) {
          out.back().second = span.second;
        } else {
          out.push_back(span);
        }
        previous = is_match;
      }
      return;
    }
    case SplitBehavior::kMergedWithNext: {
      bool previous = false;
      for (auto it = matches.rbegin(); it != matches.rend(); ++it) {
        const auto& [span, is_match] = *it;
        if (is_match && !previous && !out.empty()) {
          out.back().first = span.first;
        } else {
          out.push_back(span);
        }
        previous = is_match;
      }
      std::reverse(out.begin(), out.end());
      return;
    }
  }
}

}  // namespace mlxs::tokenizer
