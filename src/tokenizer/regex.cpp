#include "tokenizer/regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdint>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace mlxs::tokenizer {
namespace {

constexpr std::string_view kSpaceClass =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}"
    "\\x{205F}\\x{3000}";

// Per-thread engine state: match data, a match context without the default
// match limit (long inputs backtrack legitimately) and a JIT stack.
struct ThreadState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadState() {
    data = pcre2_match_data_create(32, nullptr);
    context = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(context, UINT32_MAX);
    pcre2_set_depth_limit(context, UINT32_MAX);
    stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
  ThreadState(const ThreadState&) = delete;
  ThreadState& operator=(const ThreadState&) = delete;
};

ThreadState& thread_state() {
  thread_local ThreadState state;
  return state;
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buf[256];
  const int n = pcre2_get_error_message(code, buf, sizeof(buf));
  return n < 0 ? "unknown PCRE2 error"
               : std::string(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

}  // namespace

std::string onig_to_pcre2(std::string_view p) {
  std::string out;
  out.reserve(p.size() + 64);
  int class_depth = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      ++i;
      if (n == 's') {
        if (class_depth > 0) {
          out.append(kSpaceClass);
        } else {
          out.append("[").append(kSpaceClass).append("]");
        }
        continue;
      }
      if (n == 'S' && class_depth == 0) {
        out.append("[^").append(kSpaceClass).append("]");
        continue;
      }
      if (n == 'h') {  // Onig: a hexadecimal digit (PCRE2: horizontal space)
        out.append(class_depth > 0 ? "0-9a-fA-F" : "[0-9a-fA-F]");
        continue;
      }
      if (n == 'H' && class_depth == 0) {
        out.append("[^0-9a-fA-F]");
        continue;
      }
      out.push_back('\\');
      out.push_back(n);
      continue;
    }
    if (c == '[') {
      // POSIX classes like [:alpha:] inside a class do not open a new class.
      if (class_depth > 0 && i + 1 < p.size() && p[i + 1] == ':') {
        const auto close = p.find(":]", i + 2);
        if (close != std::string_view::npos) {
          out.append(p.substr(i, close + 2 - i));
          i = close + 1;
          continue;
        }
      }
      ++class_depth;
      out.push_back(c);
      // A ']' right after '[' or '[^' is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out.push_back('^');
        ++i;
      }
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out.append("\\]");
        ++i;
      }
      continue;
    }
    if (c == ']' && class_depth > 0) {
      --class_depth;
    }
    out.push_back(c);
  }
  return out;
}

core::Result<std::unique_ptr<Regex>> Regex::compile(std::string_view pattern,
                                                    std::string_view context) {
  const std::string translated = onig_to_pcre2(pattern);
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
      PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NO_UTF_CHECK, &err, &offset, nullptr);
  if (code == nullptr) {
    return core::make_error(core::ErrorCode::kTokenizerError, "{}: invalid regex at offset {}: {}",
                            context, offset, pcre2_message(err));
  }
  std::unique_ptr<Regex> re(new Regex());
  re->pattern_ = std::string(pattern);
  re->code_ = code;
  re->jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
  return re;
}

core::Result<std::unique_ptr<Regex>> Regex::literal(std::string_view literal,
                                                    std::string_view context) {
  std::string quoted;
  for (const char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u >= 0x80) {
      quoted.push_back(c);
    } else {
      // Everything else is written as a hex escape: safe inside and outside classes.
      quoted.append(fmt::format("\\x{{{:X}}}", u));
    }
  }
  return compile(quoted, context);
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
}

int Regex::find(std::string_view text, std::size_t start, std::size_t* s, std::size_t* e) const {
  ThreadState& ts = thread_state();
  auto* code = static_cast<pcre2_code*>(code_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const int rc = jit_ ? pcre2_jit_match(code, subject, text.size(), start, 0, ts.data, ts.context)
                      : pcre2_match(code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, ts.data,
                                    ts.context);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) return rc;
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(ts.data);
  *s = ov[0];
  *e = ov[1];
  return 1;
}

std::size_t Regex::char_len_at(std::string_view text, std::size_t pos) {
  return utf8::sequence_length_of_lead(static_cast<unsigned char>(text[pos]));
}

core::Status Regex::engine_error(int rc) const {
  return core::make_error(core::ErrorCode::kTokenizerError, "regex engine failed: {}",
                          pcre2_message(rc));
}

core::Status Regex::find_matches(
    std::string_view text,
    std::vector<std::pair<std::pair<std::size_t, std::size_t>, bool>>& out) const {
  out.clear();
  if (text.empty()) {
    out.push_back({{0, 0}, false});
    return core::Status::ok();
  }
  std::size_t prev = 0;
  MLXS_RETURN_IF_ERROR(for_each_match(text, [&](std::size_t s, std::size_t e) {
    if (prev != s) out.push_back({{prev, s}, false});
    out.push_back({{s, e}, true});
    prev = e;
  }));
  if (prev != text.size()) out.push_back({{prev, text.size()}, false});
  return core::Status::ok();
}

}  // namespace mlxs::tokenizer
