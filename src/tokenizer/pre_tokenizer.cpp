#include "tokenizer/pre_tokenizer.h"

#include <vector>

#include "tokenizer/byte_level.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"
#include "tokenizer/unicode.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {
namespace {

using core::Result;
using core::Status;

// GPT-2's pattern, which ByteLevel applies when use_regex is true.
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

void emit_spans(std::string_view text, bool at_start, const std::vector<Span>& spans,
                PieceBuffer& out) {
  for (const auto& [b, e] : spans) out.add(text.substr(b, e - b), at_start && b == 0);
}

// Matches of a character predicate: each matching character is its own match.
template <typename Pred>
void char_matches(std::string_view text, Pred pred, Matches& out) {
  out.clear();
  if (text.empty()) {
    out.push_back({{0, 0}, false});
    return;
  }
  std::size_t last = 0, i = 0;
  while (i < text.size()) {
    std::size_t len = 0;
    const char32_t c = utf8::decode_valid(text, i, &len);
    if (pred(c)) {
      if (last < i) out.push_back({{last, i}, false});
      out.push_back({{i, i + len}, true});
      last = i + len;
    }
    i += len;
  }
  if (last < text.size()) out.push_back({{last, text.size()}, false});
}

template <typename Pred>
void split_by_char(std::string_view text, bool at_start, Pred pred, SplitBehavior behavior,
                   PieceBuffer& out) {
  thread_local Matches matches;
  thread_local std::vector<Span> spans;
  char_matches(text, pred, matches);
  apply_behavior(matches, behavior, spans);
  emit_spans(text, at_start, spans, out);
}

class SequencePre final : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    PieceBuffer a, b;
    a.add(text, at_start);
    for (const auto& step : steps_) {
      b.clear();
      MLXS_RETURN_IF_ERROR(step->run(a, b));
      std::swap(a, b);
    }
    for (const auto& p : a.pieces) out.add(a.view(p), p.at_start);
    return Status::ok();
  }
  const std::vector<std::unique_ptr<PreTokenizer>>& steps() const { return steps_; }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

class SplitPre final : public PreTokenizer {
 public:
  SplitPre(std::string literal, std::unique_ptr<Regex> regex, SplitBehavior behavior, bool invert)
      : literal_(std::move(literal)),
        regex_(std::move(regex)),
        behavior_(behavior),
        invert_(invert) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    thread_local Matches matches;
    thread_local std::vector<Span> spans;
    if (regex_ != nullptr) {
      if (behavior_ == SplitBehavior::kIsolated) {
        // Isolated keeps every span, matched or not: skip building the list.
        std::size_t prev = 0;
        MLXS_RETURN_IF_ERROR(regex_->for_each_match(text, [&](std::size_t s, std::size_t e) {
          if (prev != s) out.add(text.substr(prev, s - prev), at_start && prev == 0);
          out.add(text.substr(s, e - s), at_start && s == 0);
          prev = e;
        }));
        if (prev != text.size()) out.add(text.substr(prev), at_start && prev == 0);
        return Status::ok();
      }
      MLXS_RETURN_IF_ERROR(regex_->find_matches(text, matches));
    } else {
      literal_matches(text, literal_, matches);
    }
    if (invert_) {
      for (auto& m : matches) m.second = !m.second;
    }
    apply_behavior(matches, behavior_, spans);
    emit_spans(text, at_start, spans, out);
    return Status::ok();
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

class ByteLevelPre final : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, std::unique_ptr<Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    thread_local std::string prefixed;
    if (add_prefix_space_ && !text.empty() && text.front() != ' ') {
      prefixed.assign(" ");
      prefixed.append(text);
      text = prefixed;
    }
    auto emit = [&](std::size_t b, std::size_t e) {
      const std::uint32_t begin = out.begin_piece();
      byte_level::encode_bytes(text.substr(b, e - b), out.text);
      out.end_piece(begin, at_start && b == 0);
    };
    if (regex_ == nullptr) {
      emit(0, text.size());
      return Status::ok();
    }
    std::size_t prev = 0;
    MLXS_RETURN_IF_ERROR(regex_->for_each_match(text, [&](std::size_t s, std::size_t e) {
      if (prev != s) emit(prev, s);
      emit(s, e);
      prev = e;
    }));
    if (prev != text.size()) emit(prev, text.size());
    return Status::ok();
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

enum class PrependScheme : std::uint8_t { kAlways, kFirst, kNever };

class MetaspacePre final : public PreTokenizer {
 public:
  MetaspacePre(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    thread_local std::string s;
    s.clear();
    const bool starts_with_rep = text.substr(0, replacement_.size()) == replacement_ ||
                                 (!text.empty() && text.front() == ' ');
    const bool prepend =
        !text.empty() && !starts_with_rep &&
        (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && at_start));
    if (prepend) s.append(replacement_);
    for (const char c : text) {
      if (c == ' ') {
        s.append(replacement_);
      } else {
        s.push_back(c);
      }
    }
    if (!split_) {
      out.add(s, at_start);
      return Status::ok();
    }
    thread_local Matches matches;
    thread_local std::vector<Span> spans;
    literal_matches(s, replacement_, matches);
    apply_behavior(matches, SplitBehavior::kMergedWithNext, spans);
    emit_spans(s, at_start, spans, out);
    return Status::ok();
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

class DigitsPre final : public PreTokenizer {
 public:
  explicit DigitsPre(bool individual) : individual_(individual) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    split_by_char(
        text, at_start, [](char32_t c) { return unicode::is_number(c); },
        individual_ ? SplitBehavior::kIsolated : SplitBehavior::kContiguous, out);
    return Status::ok();
  }

 private:
  bool individual_;
};

class WhitespaceSplitPre final : public PreTokenizer {
 public:
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    split_by_char(
        text, at_start, [](char32_t c) { return unicode::is_whitespace(c); },
        SplitBehavior::kRemoved, out);
    return Status::ok();
  }
};

// \w+|[^\w\s]+ with Rust's Unicode \w; whitespace is dropped.
class WhitespacePre final : public PreTokenizer {
 public:
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    std::size_t i = 0;
    int run_kind = -1;  // 0: word, 1: other; -1: none
    std::size_t run_start = 0;
    auto close = [&](std::size_t end) {
      if (run_kind >= 0)
        out.add(text.substr(run_start, end - run_start), at_start && run_start == 0);
      run_kind = -1;
    };
    while (i < text.size()) {
      std::size_t len = 0;
      const char32_t c = utf8::decode_valid(text, i, &len);
      const int kind = unicode::is_word_char(c) ? 0 : unicode::is_whitespace(c) ? 2 : 1;
      if (kind != run_kind) {
        close(i);
        if (kind != 2) {
          run_kind = kind;
          run_start = i;
        }
      }
      i += len;
    }
    close(text.size());
    return Status::ok();
  }
};

bool is_bert_punctuation(char32_t c) {
  return (c < 0x80 && ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
                       (c >= 123 && c <= 126))) ||
         unicode::is_punctuation(c);
}

class PunctuationPre final : public PreTokenizer {
 public:
  explicit PunctuationPre(SplitBehavior behavior) : behavior_(behavior) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    split_by_char(text, at_start, is_bert_punctuation, behavior_, out);
    return Status::ok();
  }

 private:
  SplitBehavior behavior_;
};

class BertPre final : public PreTokenizer {
 public:
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    PieceBuffer words;
    split_by_char(
        text, at_start, [](char32_t c) { return unicode::is_whitespace(c); },
        SplitBehavior::kRemoved, words);
    for (const auto& p : words.pieces) {
      split_by_char(words.view(p), p.at_start, is_bert_punctuation, SplitBehavior::kIsolated, out);
    }
    return Status::ok();
  }
};

class CharDelimiterPre final : public PreTokenizer {
 public:
  explicit CharDelimiterPre(char32_t delimiter) : delimiter_(delimiter) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    const char32_t d = delimiter_;
    split_by_char(
        text, at_start, [d](char32_t c) { return c == d; }, SplitBehavior::kRemoved, out);
    return Status::ok();
  }

 private:
  char32_t delimiter_;
};

class FixedLengthPre final : public PreTokenizer {
 public:
  explicit FixedLengthPre(std::size_t length) : length_(length) {}
  Status split(std::string_view text, bool at_start, PieceBuffer& out) const override {
    std::size_t i = 0, start = 0, count = 0;
    while (i < text.size()) {
      i += utf8::sequence_length_of_lead(static_cast<unsigned char>(text[i]));
      if (++count == length_) {
        out.add(text.substr(start, i - start), at_start && start == 0);
        start = i;
        count = 0;
      }
    }
    out.add(text.substr(start), at_start && start == 0);
    return Status::ok();
  }

 private:
  std::size_t length_;
};

Result<std::string> single_char(const Json& json, std::string_view key, std::string_view path,
                                const char* fallback) {
  MLXS_ASSIGN_OR_RETURN(std::string s, opt_string(json, key, path, fallback));
  if (!utf8::is_valid(s) || utf8::count_chars(s) != 1)
    return field_error(child_path(path, key), "expected one character");
  return s;
}

}  // namespace

Status PreTokenizer::run(const PieceBuffer& in, PieceBuffer& out) const {
  for (const auto& p : in.pieces) {
    if (p.added_id >= 0) {
      out.add(in.view(p), p.at_start, p.added_id);
      continue;
    }
    MLXS_RETURN_IF_ERROR(split(in.view(p), p.at_start, out));
  }
  return Status::ok();
}

Result<std::unique_ptr<PreTokenizer>> parse_pre_tokenizer(const Json& json, std::string_view path) {
  if (json.is_null()) return std::unique_ptr<PreTokenizer>();
  MLXS_ASSIGN_OR_RETURN(const std::string type, component_type(json, path));
  using Ptr = std::unique_ptr<PreTokenizer>;
  if (type == "Sequence") {
    MLXS_ASSIGN_OR_RETURN(const Json* list, req_field(json, "pretokenizers", path));
    const std::string list_path = child_path(path, "pretokenizers");
    if (!list->is_array()) return field_error(list_path, "expected an array");
    std::vector<Ptr> steps;
    for (std::size_t i = 0; i < list->size(); ++i) {
      MLXS_ASSIGN_OR_RETURN(auto step, parse_pre_tokenizer((*list)[i], index_path(list_path, i)));
      if (step) steps.push_back(std::move(step));
    }
    return Ptr(new SequencePre(std::move(steps)));
  }
  if (type == "Split") {
    MLXS_ASSIGN_OR_RETURN(const Json* pattern, req_field(json, "pattern", path));
    MLXS_ASSIGN_OR_RETURN(auto parsed, parse_pattern(*pattern, child_path(path, "pattern")));
    MLXS_ASSIGN_OR_RETURN(const Json* behavior_json, req_field(json, "behavior", path));
    MLXS_ASSIGN_OR_RETURN(const SplitBehavior behavior,
                          parse_split_behavior(*behavior_json, child_path(path, "behavior")));
    MLXS_ASSIGN_OR_RETURN(const bool invert, opt_bool(json, "invert", path, false));
    return Ptr(new SplitPre(std::move(parsed.first), std::move(parsed.second), behavior, invert));
  }
  if (type == "ByteLevel") {
    MLXS_ASSIGN_OR_RETURN(const bool prefix, opt_bool(json, "add_prefix_space", path, true));
    MLXS_ASSIGN_OR_RETURN(const bool use_regex, opt_bool(json, "use_regex", path, true));
    std::unique_ptr<Regex> re;
    if (use_regex) {
      MLXS_ASSIGN_OR_RETURN(re, Regex::compile(kGpt2Pattern, path));
    }
    return Ptr(new ByteLevelPre(prefix, std::move(re)));
  }
  if (type == "Metaspace") {
    MLXS_ASSIGN_OR_RETURN(std::string rep, single_char(json, "replacement", path, "\xE2\x96\x81"));
    MLXS_ASSIGN_OR_RETURN(const bool split, opt_bool(json, "split", path, true));
    PrependScheme scheme = PrependScheme::kAlways;
    if (json.contains("prepend_scheme") && !json["prepend_scheme"].is_null()) {
      MLXS_ASSIGN_OR_RETURN(const std::string name, opt_string(json, "prepend_scheme", path));
      if (name == "always") {
        scheme = PrependScheme::kAlways;
      } else if (name == "first") {
        scheme = PrependScheme::kFirst;
      } else if (name == "never") {
        scheme = PrependScheme::kNever;
      } else {
        return field_error(child_path(path, "prepend_scheme"), "expected always, first or never");
      }
    } else {
      MLXS_ASSIGN_OR_RETURN(const bool prefix, opt_bool(json, "add_prefix_space", path, true));
      scheme = prefix ? PrependScheme::kAlways : PrependScheme::kNever;
    }
    return Ptr(new MetaspacePre(std::move(rep), scheme, split));
  }
  if (type == "Digits") {
    MLXS_ASSIGN_OR_RETURN(const bool individual, opt_bool(json, "individual_digits", path, false));
    return Ptr(new DigitsPre(individual));
  }
  if (type == "Whitespace") return Ptr(new WhitespacePre());
  if (type == "WhitespaceSplit") return Ptr(new WhitespaceSplitPre());
  if (type == "BertPreTokenizer") return Ptr(new BertPre());
  if (type == "Punctuation") {
    SplitBehavior behavior = SplitBehavior::kIsolated;
    if (json.contains("behavior") && !json["behavior"].is_null()) {
      MLXS_ASSIGN_OR_RETURN(behavior,
                            parse_split_behavior(json["behavior"], child_path(path, "behavior")));
    }
    return Ptr(new PunctuationPre(behavior));
  }
  if (type == "CharDelimiterSplit") {
    MLXS_ASSIGN_OR_RETURN(const std::string d, single_char(json, "delimiter", path, ""));
    std::size_t len = 0;
    return Ptr(new CharDelimiterPre(utf8::decode_valid(d, 0, &len)));
  }
  if (type == "FixedLength") {
    MLXS_ASSIGN_OR_RETURN(const std::int64_t length, opt_int(json, "length", path, 5));
    if (length <= 0) return field_error(child_path(path, "length"), "expected a positive length");
    return Ptr(new FixedLengthPre(static_cast<std::size_t>(length)));
  }
  return field_error(child_path(path, "type"),
                     "unknown or unsupported pre_tokenizer type \"" + type + "\"");
}

}  // namespace mlxs::tokenizer
