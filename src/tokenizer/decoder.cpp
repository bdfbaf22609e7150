#include "tokenizer/decoder.h"

#include "tokenizer/byte_level.h"
#include "tokenizer/pattern.h"
#include "tokenizer/regex.h"

namespace mlxs::tokenizer {
namespace {

using core::Result;
using core::Status;

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps)
      : steps_(std::move(steps)) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& s : steps_) MLXS_RETURN_IF_ERROR(s->decode_chain(tokens));
    return Status::ok();
  }
  const std::vector<std::unique_ptr<Decoder>>& steps() const { return steps_; }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

class ByteLevelDecoder final : public Decoder {
 public:
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) byte_level::decode_token(t, bytes);
    tokens.assign(1, utf8::to_valid(bytes));
    return Status::ok();
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string literal, std::unique_ptr<Regex> regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      if (regex_ != nullptr) {
        MLXS_RETURN_IF_ERROR(regex_replace(t));
      } else {
        apply_token(t, false);
      }
    }
    return Status::ok();
  }
  bool per_token() const override { return regex_ == nullptr; }
  void apply_token(std::string& t, bool /*first*/) const override {
    if (t.find(literal_) == std::string::npos) return;
    std::string out;
    std::size_t pos = 0;
    while (true) {
      const std::size_t hit = t.find(literal_, pos);
      if (hit == std::string::npos) break;
      out.append(t, pos, hit - pos).append(content_);
      pos = hit + literal_.size();
    }
    out.append(t, pos);
    t.swap(out);
  }

 private:
  Status regex_replace(std::string& t) const {
    std::string out;
    std::size_t prev = 0;
    const std::string_view v(t);
    MLXS_RETURN_IF_ERROR(regex_->for_each_match(v, [&](std::size_t s, std::size_t e) {
      out.append(v.substr(prev, s - prev)).append(content_);
      prev = e;
    }));
    out.append(v.substr(prev));
    t.swap(out);
    return Status::ok();
  }
  std::string literal_;
  std::unique_ptr<Regex> regex_;
  std::string content_;
};

class ByteFallbackDecoder final : public Decoder {
 public:
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string group;
    auto flush = [&] {
      if (group.empty()) return;
      if (utf8::is_valid(group)) {
        out.push_back(group);
      } else {
        for (std::size_t i = 0; i < group.size(); ++i) out.emplace_back(utf8::kReplacementUtf8);
      }
      group.clear();
    };
    for (auto& t : tokens) {
      const int b = byte_fallback_value(t);
      if (b >= 0) {
        group.push_back(static_cast<char>(b));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
    return Status::ok();
  }
};

class FuseDecoder final : public Decoder {
 public:
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all.append(t);
    tokens.assign(1, std::move(all));
    return Status::ok();
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(char32_t content, std::size_t start, std::size_t stop)
      : content_(content), start_(start), stop_(stop) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) apply_token(t, false);
    return Status::ok();
  }
  bool per_token() const override { return true; }
  void apply_token(std::string& t, bool /*first*/) const override {
    std::vector<std::pair<std::size_t, char32_t>> chars;  // (byte offset, code point)
    std::size_t i = 0;
    while (i < t.size()) {
      std::size_t len = 0;
      chars.emplace_back(i, utf8::decode_valid(t, i, &len));
      i += len;
    }
    std::size_t start_cut = 0;
    for (std::size_t k = 0; k < std::min(start_, chars.size()); ++k) {
      if (chars[k].second != content_) break;
      start_cut = k + 1;
    }
    std::size_t stop_cut = chars.size();
    for (std::size_t k = 0; k < std::min(stop_, chars.size()); ++k) {
      const std::size_t index = chars.size() - k - 1;
      if (chars[index].second != content_) break;
      stop_cut = index;
    }
    if (stop_cut < start_cut) stop_cut = start_cut;
    const std::size_t b = start_cut < chars.size() ? chars[start_cut].first : t.size();
    const std::size_t e = stop_cut < chars.size() ? chars[stop_cut].first : t.size();
    t = t.substr(b, e - b);
  }
  char32_t content() const { return content_; }
  std::size_t start() const { return start_; }
  std::size_t stop() const { return stop_; }

 private:
  char32_t content_;
  std::size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : rep_(std::move(replacement)), strip_first_(strip_first) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) apply_token(tokens[i], i == 0);
    return Status::ok();
  }
  bool per_token() const override { return true; }
  void apply_token(std::string& t, bool first) const override {
    if (t.find(rep_) == std::string::npos) return;
    std::string out;
    std::size_t pos = 0;
    while (true) {
      const std::size_t hit = t.find(rep_, pos);
      if (hit == std::string::npos) break;
      out.append(t, pos, hit - pos);
      if (!(first && strip_first_)) out.push_back(' ');
      pos = hit + rep_.size();
    }
    out.append(t, pos);
    t.swap(out);
  }

 private:
  std::string rep_;
  bool strip_first_;
};

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  std::size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
  return s;
}

std::string cleanup(std::string s) {
  s = replace_all(std::move(s), " .", ".");
  s = replace_all(std::move(s), " ?", "?");
  s = replace_all(std::move(s), " !", "!");
  s = replace_all(std::move(s), " ,", ",");
  s = replace_all(std::move(s), " ' ", "'");
  s = replace_all(std::move(s), " n't", "n't");
  s = replace_all(std::move(s), " 'm", "'m");
  s = replace_all(std::move(s), " do not", " don't");
  s = replace_all(std::move(s), " 's", "'s");
  s = replace_all(std::move(s), " 've", "'ve");
  s = replace_all(std::move(s), " 're", "'re");
  return s;
}

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup)
      : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) apply_token(tokens[i], i == 0);
    return Status::ok();
  }
  bool per_token() const override { return true; }
  void apply_token(std::string& t, bool first) const override {
    if (!first) {
      if (t.rfind(prefix_, 0) == 0) {
        t.erase(0, prefix_.size());
      } else {
        t.insert(0, " ");
      }
    }
    if (cleanup_) t = cleanup(std::move(t));
  }

 private:
  std::string prefix_;
  bool cleanup_;
};

class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = replace_all(std::move(tokens[i]), suffix_, i + 1 == tokens.size() ? "" : " ");
    }
    return Status::ok();
  }

 private:
  std::string suffix_;
};

class CtcDecoder final : public Decoder {
 public:
  CtcDecoder(std::string pad, std::string delimiter, bool cleanup)
      : pad_(std::move(pad)), delimiter_(std::move(delimiter)), cleanup_(cleanup) {}
  Status decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0 && tokens[i] == tokens[i - 1]) continue;
      std::string t = replace_all(tokens[i], pad_, "");
      if (cleanup_) t = replace_all(cleanup(std::move(t)), delimiter_, " ");
      if (!t.empty()) out.push_back(std::move(t));
    }
    tokens.swap(out);
    return Status::ok();
  }

 private:
  std::string pad_, delimiter_;
  bool cleanup_;
};

Result<char32_t> one_char(const Json& json, std::string_view key, std::string_view path,
                          const char* fallback) {
  MLXS_ASSIGN_OR_RETURN(const std::string s, opt_string(json, key, path, fallback));
  if (!utf8::is_valid(s) || utf8::count_chars(s) != 1)
    return field_error(child_path(path, key), "expected one character");
  std::size_t len = 0;
  return utf8::decode_valid(s, 0, &len);
}

void flatten(const Decoder* d, std::vector<const Decoder*>& out) {
  if (const auto* seq = dynamic_cast<const SequenceDecoder*>(d)) {
    for (const auto& s : seq->steps()) flatten(s.get(), out);
  } else {
    out.push_back(d);
  }
}

}  // namespace

int byte_fallback_value(std::string_view t) {
  if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (t[3] == '+') return hex(t[4]);
  const int hi = hex(t[3]), lo = hex(t[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

Result<std::unique_ptr<Decoder>> parse_decoder(const Json& json, std::string_view path) {
  using Ptr = std::unique_ptr<Decoder>;
  if (json.is_null()) return Ptr();
  MLXS_ASSIGN_OR_RETURN(const std::string type, component_type(json, path));
  if (type == "Sequence") {
    MLXS_ASSIGN_OR_RETURN(const Json* list, req_field(json, "decoders", path));
    const std::string list_path = child_path(path, "decoders");
    if (!list->is_array()) return field_error(list_path, "expected an array");
    std::vector<Ptr> steps;
    for (std::size_t i = 0; i < list->size(); ++i) {
      MLXS_ASSIGN_OR_RETURN(auto step, parse_decoder((*list)[i], index_path(list_path, i)));
      if (step) steps.push_back(std::move(step));
    }
    return Ptr(new SequenceDecoder(std::move(steps)));
  }
  if (type == "ByteLevel") return Ptr(new ByteLevelDecoder());
  if (type == "ByteFallback") return Ptr(new ByteFallbackDecoder());
  if (type == "Fuse") return Ptr(new FuseDecoder());
  if (type == "Replace") {
    MLXS_ASSIGN_OR_RETURN(const Json* pattern, req_field(json, "pattern", path));
    MLXS_ASSIGN_OR_RETURN(auto parsed, parse_pattern(*pattern, child_path(path, "pattern")));
    MLXS_ASSIGN_OR_RETURN(std::string content, req_string(json, "content", path));
    return Ptr(
        new ReplaceDecoder(std::move(parsed.first), std::move(parsed.second), std::move(content)));
  }
  if (type == "Strip") {
    MLXS_ASSIGN_OR_RETURN(const char32_t content, one_char(json, "content", path, " "));
    MLXS_ASSIGN_OR_RETURN(const std::int64_t start, opt_int(json, "start", path, 0));
    MLXS_ASSIGN_OR_RETURN(const std::int64_t stop, opt_int(json, "stop", path, 0));
    if (start < 0 || stop < 0) return field_error(path, "start and stop must be non-negative");
    return Ptr(
        new StripDecoder(content, static_cast<std::size_t>(start), static_cast<std::size_t>(stop)));
  }
  if (type == "Metaspace") {
    MLXS_ASSIGN_OR_RETURN(const char32_t rep, one_char(json, "replacement", path, "\xE2\x96\x81"));
    bool strip_first = true;
    if (json.contains("prepend_scheme") && !json["prepend_scheme"].is_null()) {
      MLXS_ASSIGN_OR_RETURN(const std::string scheme, opt_string(json, "prepend_scheme", path));
      if (scheme != "always" && scheme != "first" && scheme != "never") {
        return field_error(child_path(path, "prepend_scheme"), "expected always, first or never");
      }
      strip_first = scheme != "never";
    } else {
      MLXS_ASSIGN_OR_RETURN(strip_first, opt_bool(json, "add_prefix_space", path, true));
    }
    return Ptr(new MetaspaceDecoder(utf8::encode(rep), strip_first));
  }
  if (type == "WordPiece") {
    MLXS_ASSIGN_OR_RETURN(std::string prefix, opt_string(json, "prefix", path, "##"));
    MLXS_ASSIGN_OR_RETURN(const bool clean, opt_bool(json, "cleanup", path, true));
    return Ptr(new WordPieceDecoder(std::move(prefix), clean));
  }
  if (type == "BPEDecoder") {
    MLXS_ASSIGN_OR_RETURN(std::string suffix, opt_string(json, "suffix", path, "</w>"));
    return Ptr(new BpeDecoder(std::move(suffix)));
  }
  if (type == "CTC") {
    MLXS_ASSIGN_OR_RETURN(std::string pad, opt_string(json, "pad_token", path, "<pad>"));
    MLXS_ASSIGN_OR_RETURN(std::string delim, opt_string(json, "word_delimiter_token", path, "|"));
    MLXS_ASSIGN_OR_RETURN(const bool clean, opt_bool(json, "cleanup", path, true));
    return Ptr(new CtcDecoder(std::move(pad), std::move(delim), clean));
  }
  return field_error(child_path(path, "type"), "unknown decoder type \"" + type + "\"");
}

Result<std::string> run_decoder(const Decoder* decoder, std::vector<std::string> tokens) {
  std::string out;
  if (decoder == nullptr) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out.append(tokens[i]);
    }
    return out;
  }
  MLXS_RETURN_IF_ERROR(decoder->decode_chain(tokens));
  for (const auto& t : tokens) out.append(t);
  return out;
}

// ---------------------------------------------------------------- DecodePlan

std::unique_ptr<DecodePlan> DecodePlan::compile(const Decoder* decoder) {
  if (decoder == nullptr) return nullptr;
  std::vector<const Decoder*> steps;
  flatten(decoder, steps);
  std::unique_ptr<DecodePlan> plan(new DecodePlan());
  std::size_t i = 0;
  while (i < steps.size() && steps[i]->per_token()) plan->per_token_.push_back(steps[i++]);
  bool fused = false;
  if (i < steps.size() && dynamic_cast<const ByteLevelDecoder*>(steps[i]) != nullptr) {
    plan->tail_ = Tail::kByteLevel;
    fused = true;
    ++i;
  } else if (i < steps.size() && dynamic_cast<const ByteFallbackDecoder*>(steps[i]) != nullptr) {
    plan->tail_ = Tail::kByteFallback;
    ++i;
  }
  if (i < steps.size() && dynamic_cast<const FuseDecoder*>(steps[i]) != nullptr) {
    fused = true;
    ++i;
  }
  if (fused && i < steps.size()) {
    if (const auto* strip = dynamic_cast<const StripDecoder*>(steps[i])) {
      plan->has_strip_ = true;
      plan->strip_content_ = strip->content();
      plan->strip_content_utf8_ = utf8::encode(strip->content());
      plan->strip_start_ = strip->start();
      plan->strip_stop_ = strip->stop();
      ++i;
    }
  }
  if (i != steps.size()) return nullptr;
  // Without a fuse point, a ByteFallback must be last (its outputs are joined).
  return plan;
}

void DecodePlan::reset(State& s) const {
  s.index = 0;
  s.bytes.reset();
  s.group.clear();
  s.group_broken = false;
  s.group_emitted = 0;
  s.group_checked = 0;
  s.strip_left = strip_start_;
  s.strip_started = false;
  s.held_strip_chars = 0;
}

void DecodePlan::emit_text(State& s, std::string_view text, std::string& out) const {
  if (!has_strip_) {
    out.append(text);
    return;
  }
  // Strip after the fuse point, streamed: drop up to `start` leading content
  // chars; hold back a trailing run of content chars (up to `stop` of it is
  // dropped at the end).
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t len = 0;
    const char32_t c = utf8::decode_valid(text, i, &len);
    if (!s.strip_started) {
      if (s.strip_left > 0 && c == strip_content_) {
        --s.strip_left;
        i += len;
        continue;
      }
      s.strip_started = true;
    }
    if (strip_stop_ > 0 && c == strip_content_) {
      ++s.held_strip_chars;
    } else {
      for (; s.held_strip_chars > 0; --s.held_strip_chars) out.append(strip_content_utf8_);
      out.append(text.substr(i, len));
    }
    i += len;
  }
}

void DecodePlan::close_group(State& s, std::string& out) const {
  if (s.group.empty()) return;
  if (!s.group_broken && utf8::is_valid(s.group)) {
    emit_text(s, s.group, out);
  } else {
    for (std::size_t k = s.group_emitted; k < s.group.size(); ++k)
      emit_text(s, utf8::kReplacementUtf8, out);
  }
  s.group.clear();
  s.group_broken = false;
  s.group_emitted = 0;
  s.group_checked = 0;
}

namespace {
// Advances *checked over whole valid characters of `bytes`; true when the
// rest is empty or a truncated sequence that more bytes could complete.
bool valid_prefix(std::string_view bytes, std::size_t* checked) {
  std::size_t i = *checked;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    const std::size_t n = utf8::valid_sequence_length(bytes, i);
    if (n == 0) break;
    i += n;
  }
  *checked = i;
  return i == bytes.size() || utf8::is_truncated_sequence(bytes.substr(i));
}
}  // namespace

void DecodePlan::push(State& s, std::string_view token, std::string& out) const {
  std::string& t = s.scratch;
  t.assign(token);
  const bool first = s.index == 0;
  ++s.index;
  for (const Decoder* d : per_token_) d->apply_token(t, first);
  switch (tail_) {
    case Tail::kNone:
      emit_text(s, t, out);
      return;
    case Tail::kByteLevel: {
      std::string decoded;
      byte_level::decode_token(t, decoded);
      std::string text;
      s.bytes.push(decoded, text);
      emit_text(s, text, out);
      return;
    }
    case Tail::kByteFallback: {
      const int b = byte_fallback_value(t);
      if (b < 0) {
        close_group(s, out);
        emit_text(s, t, out);
        return;
      }
      s.group.push_back(static_cast<char>(b));
      if (!s.group_broken && !valid_prefix(s.group, &s.group_checked)) s.group_broken = true;
      if (s.group_broken) {
        // The run will decode to one U+FFFD per byte whatever follows.
        for (; s.group_emitted < s.group.size(); ++s.group_emitted)
          emit_text(s, utf8::kReplacementUtf8, out);
      }
      return;
    }
  }
}

void DecodePlan::finish(State& s, std::string& out) const {
  if (tail_ == Tail::kByteLevel) {
    std::string text;
    s.bytes.finish(text);
    emit_text(s, text, out);
  } else if (tail_ == Tail::kByteFallback) {
    close_group(s, out);
  }
  if (has_strip_) {
    const std::size_t keep =
        s.held_strip_chars > strip_stop_ ? s.held_strip_chars - strip_stop_ : 0;
    for (std::size_t k = 0; k < keep; ++k) out.append(strip_content_utf8_);
    s.held_strip_chars = 0;
  }
}

}  // namespace mlxs::tokenizer
