#include "tokenizer/normalizer.h"

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

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps)
      : steps_(std::move(steps)) {}
  Status normalize(std::string_view in, std::string& out) const override {
    std::string a(in), b;
    for (const auto& step : steps_) {
      b.clear();
      MLXS_RETURN_IF_ERROR(step->normalize(a, b));
      a.swap(b);
    }
    out.append(a);
    return Status::ok();
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::Form form) : form_(form) {}
  Status normalize(std::string_view in, std::string& out) const override {
    unicode::normalize(in, form_, out);
    return Status::ok();
  }

 private:
  unicode::Form form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  Status normalize(std::string_view in, std::string& out) const override {
    unicode::lowercase(in, out);
    return Status::ok();
  }
};

// Keeps the characters that are not combining marks (M*); tokenizers'
// StripAccents does no decomposition of its own.
void drop_marks(std::string_view in, std::string& out) {
  std::size_t i = 0;
  while (i < in.size()) {
    std::size_t len = 0;
    const char32_t cp = utf8::decode_valid(in, i, &len);
    if (!unicode::is_mark(cp)) out.append(in.substr(i, len));
    i += len;
  }
}

class StripAccentsNormalizer final : public Normalizer {
 public:
  Status normalize(std::string_view in, std::string& out) const override {
    drop_marks(in, out);
    return Status::ok();
  }
};

std::size_t leading_ws(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t len = 0;
    if (!unicode::is_whitespace(utf8::decode_valid(s, i, &len))) break;
    i += len;
  }
  return i;
}

std::size_t trailing_ws_start(std::string_view s) {
  std::size_t end = s.size();
  while (end > 0) {
    std::size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    std::size_t len = 0;
    if (!unicode::is_whitespace(utf8::decode_valid(s, start, &len))) break;
    end = start;
  }
  return end;
}

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  Status normalize(std::string_view in, std::string& out) const override {
    std::size_t b = left_ ? leading_ws(in) : 0;
    std::size_t e = right_ ? trailing_ws_start(in) : in.size();
    if (e < b) e = b;
    out.append(in.substr(b, e - b));
    return Status::ok();
  }

 private:
  bool left_, right_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  Status normalize(std::string_view in, std::string& out) const override {
    if (!in.empty()) out.append(prefix_);
    out.append(in);
    return Status::ok();
  }

 private:
  std::string prefix_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(std::string literal, std::unique_ptr<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  Status normalize(std::string_view in, std::string& out) const override {
    if (regex_ == nullptr) {
      // A literal: leftmost non-overlapping occurrences, as the escaped regex finds them.
      std::size_t pos = 0;
      while (true) {
        const std::size_t hit = in.find(literal_, pos);
        if (hit == std::string_view::npos) break;
        out.append(in.substr(pos, hit - pos)).append(content_);
        pos = hit + literal_.size();
      }
      out.append(in.substr(pos));
      return Status::ok();
    }
    std::size_t prev = 0;
    MLXS_RETURN_IF_ERROR(regex_->for_each_match(in, [&](std::size_t s, std::size_t e) {
      out.append(in.substr(prev, s - prev)).append(content_);
      prev = e;
    }));
    out.append(in.substr(prev));
    return Status::ok();
  }

 private:
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool chinese, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        chinese_(chinese),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}
  Status normalize(std::string_view in, std::string& out) const override {
    std::string a, b;
    a.reserve(in.size());
    std::size_t i = 0;
    while (i < in.size()) {
      std::size_t len = 0;
      const char32_t c = utf8::decode_valid(in, i, &len);
      i += len;
      if (clean_text_) {
        if (c == 0 || c == 0xFFFD) continue;
        const bool control =
            c != '\t' && c != '\n' && c != '\r' &&
            (unicode::is_control(c) || unicode::category(c) == unicode::Category::kCs);
        if (control) continue;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || unicode::is_whitespace(c)) {
          a.push_back(' ');
          continue;
        }
      }
      if (chinese_ && is_chinese_char(c)) {
        a.push_back(' ');
        utf8::append(a, c);
        a.push_back(' ');
        continue;
      }
      utf8::append(a, c);
    }
    if (strip_accents_) {
      unicode::normalize(a, unicode::Form::kNfd, b);
      a.clear();
      drop_marks(b, a);
    }
    if (lowercase_) {
      b.clear();
      unicode::lowercase(a, b);
      a.swap(b);
    }
    out.append(a);
    return Status::ok();
  }

 private:
  bool clean_text_, chinese_, strip_accents_, lowercase_;
};

// Maps every byte to its byte-level character (GPT-2's alphabet).
class ByteLevelNormalizer final : public Normalizer {
 public:
  Status normalize(std::string_view in, std::string& out) const override {
    byte_level::encode_bytes(in, out);
    return Status::ok();
  }
};

}  // namespace

core::Result<std::unique_ptr<Normalizer>> parse_normalizer(const Json& json,
                                                           std::string_view path) {
  if (json.is_null()) return std::unique_ptr<Normalizer>();
  MLXS_ASSIGN_OR_RETURN(const std::string type, component_type(json, path));
  if (type == "Sequence") {
    MLXS_ASSIGN_OR_RETURN(const Json* list, req_field(json, "normalizers", path));
    const std::string list_path = child_path(path, "normalizers");
    if (!list->is_array()) return field_error(list_path, "expected an array");
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (std::size_t i = 0; i < list->size(); ++i) {
      MLXS_ASSIGN_OR_RETURN(auto step, parse_normalizer((*list)[i], index_path(list_path, i)));
      if (step) steps.push_back(std::move(step));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(steps)));
  }
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(unicode::Form::kNfc));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(unicode::Form::kNfd));
  if (type == "NFKC")
    return std::unique_ptr<Normalizer>(new UnicodeNormalizer(unicode::Form::kNfkc));
  if (type == "NFKD")
    return std::unique_ptr<Normalizer>(new UnicodeNormalizer(unicode::Form::kNfkd));
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new LowercaseNormalizer());
  if (type == "StripAccents") return std::unique_ptr<Normalizer>(new StripAccentsNormalizer());
  if (type == "ByteLevel") return std::unique_ptr<Normalizer>(new ByteLevelNormalizer());
  if (type == "Strip") {
    MLXS_ASSIGN_OR_RETURN(const bool left, opt_bool(json, "strip_left", path, false));
    MLXS_ASSIGN_OR_RETURN(const bool right, opt_bool(json, "strip_right", path, false));
    return std::unique_ptr<Normalizer>(new StripNormalizer(left, right));
  }
  if (type == "Prepend") {
    MLXS_ASSIGN_OR_RETURN(std::string prefix, req_string(json, "prepend", path));
    return std::unique_ptr<Normalizer>(new PrependNormalizer(std::move(prefix)));
  }
  if (type == "Replace") {
    MLXS_ASSIGN_OR_RETURN(const Json* pattern, req_field(json, "pattern", path));
    MLXS_ASSIGN_OR_RETURN(auto parsed, parse_pattern(*pattern, child_path(path, "pattern")));
    MLXS_ASSIGN_OR_RETURN(std::string content, req_string(json, "content", path));
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(
        std::move(parsed.first), std::move(parsed.second), std::move(content)));
  }
  if (type == "BertNormalizer") {
    MLXS_ASSIGN_OR_RETURN(const bool clean, opt_bool(json, "clean_text", path, true));
    MLXS_ASSIGN_OR_RETURN(const bool chinese, opt_bool(json, "handle_chinese_chars", path, true));
    MLXS_ASSIGN_OR_RETURN(const bool lower, opt_bool(json, "lowercase", path, true));
    // strip_accents null follows lowercase, as in BERT.
    MLXS_ASSIGN_OR_RETURN(const bool strip, opt_bool(json, "strip_accents", path, lower));
    return std::unique_ptr<Normalizer>(new BertNormalizer(clean, chinese, strip, lower));
  }
  if (type == "Precompiled") {
    MLXS_ASSIGN_OR_RETURN(const std::string map, opt_string(json, "precompiled_charsmap", path));
    if (map.empty()) return std::unique_ptr<Normalizer>();
    return field_error(child_path(path, "type"),
                       "normalizer Precompiled (a SentencePiece charsmap) is not supported");
  }
  return field_error(child_path(path, "type"), "unknown normalizer type \"" + type + "\"");
}

}  // namespace mlxs::tokenizer
