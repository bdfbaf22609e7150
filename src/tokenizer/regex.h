#pragma once
// A compiled PCRE2 pattern (UTF + UCP, JIT) with the iteration semantics of
// Oniguruma, the engine Hugging Face tokenizers use: \s/\S mean the Unicode
// White_Space property, ^/$ are line anchors, and an empty match right after
// the previous match is skipped.

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace mlxs::tokenizer {

class Regex {
 public:
  // `context` names the field in errors ("pre_tokenizer.pretokenizers[0].pattern").
  static core::Result<std::unique_ptr<Regex>> compile(std::string_view pattern,
                                                      std::string_view context);
  // A pattern matching `literal` exactly.
  static core::Result<std::unique_ptr<Regex>> literal(std::string_view literal,
                                                      std::string_view context);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Calls on_match(start, end) for each match in `text` (valid UTF-8), left to
  // right. Returns an error only when the engine fails (never for no match).
  template <typename F>
  core::Status for_each_match(std::string_view text, F&& on_match) const {
    std::size_t pos = 0;
    std::size_t last_match_end = SIZE_MAX;
    while (pos <= text.size()) {
      std::size_t s = 0, e = 0;
      const int rc = find(text, pos, &s, &e);
      if (rc < 0) return engine_error(rc);
      if (rc == 0) break;
      if (s == e && e == last_match_end) {
        // Onig skips an empty match glued to the previous one, one char on.
        if (pos >= text.size()) break;
        pos += char_len_at(text, pos);
        continue;
      }
      on_match(s, e);
      last_match_end = e;
      pos = e;
      if (s == e) {
        if (pos >= text.size()) break;
        pos += char_len_at(text, pos);
        // the next search starts after the empty match; nothing is skipped
      }
    }
    return core::Status::ok();
  }

  // (offsets, is_match) covering all of `text`, as tokenizers' Pattern::find_matches.
  core::Status find_matches(
      std::string_view text,
      std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>>& out) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex() = default;
  // 1: match in [*s, *e); 0: none; <0: engine error.
  int find(std::string_view text, std::size_t start, std::size_t* s, std::size_t* e) const;
  static std::size_t char_len_at(std::string_view text, std::size_t pos);
  core::Status engine_error(int rc) const;

  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
  bool jit_ = false;
};

// Rewrites an Oniguruma (Ruby syntax) pattern into the equivalent PCRE2 one.
std::string onig_to_pcre2(std::string_view pattern);

}  // namespace mlxs::tokenizer
