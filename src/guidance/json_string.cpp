#include "guidance/json_string.h"

#include <optional>

#include "guidance/dfa_builder.h"
#include "guidance/dfa_ops.h"
#include "guidance/nfa.h"

namespace mlxs::guidance {
namespace {

// Control characters with a short escape, and the letter after '\'.
constexpr std::pair<char, std::uint8_t> kShortEscapes[] = {
    {'"', 0x22}, {'\\', 0x5C}, {'b', 0x08}, {'f', 0x0C}, {'n', 0x0A}, {'r', 0x0D}, {'t', 0x09}};

bool needs_escape(std::uint8_t b) {
  return b < 0x20 || b == '"' || b == '\\';
}

bool has_short_escape(std::uint8_t b) {
  for (const auto& [letter, value] : kShortEscapes) {
    if (value == b) return true;
  }
  return false;
}

char hex_digit(int v) {
  return static_cast<char>(v < 10 ? '0' + v : 'a' + v - 10);
}

}  // namespace

bool parse_whitespace(std::string_view name, Whitespace& out) {
  if (name == "compact") {
    out = Whitespace::kCompact;
  } else if (name == "python") {
    out = Whitespace::kPython;
  } else if (name == "flexible") {
    out = Whitespace::kFlexible;
  } else {
    return false;
  }
  return true;
}

std::string_view whitespace_name(Whitespace ws) {
  switch (ws) {
    case Whitespace::kCompact:
      return "compact";
    case Whitespace::kPython:
      return "python";
    case Whitespace::kFlexible:
      return "flexible";
  }
  return "compact";
}

const Dfa& utf8_any() {
  static const Dfa dfa = [] {
    Nfa nfa;
    const Nfa::Frag any = nfa.star(nfa.any_code_point());
    return std::move(nfa_to_dfa(nfa, any)).value();
  }();
  return dfa;
}

core::Result<Dfa> utf8_length(std::uint64_t min, std::optional<std::uint64_t> max) {
  if (max && *max < min) return Dfa();
  // Counts code points by their lead bytes; utf8_any() checks the rest.
  const std::uint64_t cap = max ? *max : min;
  MLXS_ASSIGN_OR_RETURN(Dfa counter,
                        build_dfa(
                            0,
                            [&](std::uint64_t n, std::uint8_t b) -> std::optional<std::uint64_t> {
                              if ((b & 0xC0) == 0x80) return n;  // continuation byte
                              if (n + 1 > cap)
                                return max ? std::nullopt : std::optional<std::uint64_t>(cap);
                              return n + 1;
                            },
                            [&](std::uint64_t n) { return n >= min; }, (1u << 15)));
  return intersect(counter, utf8_any());
}

core::Result<Dfa> string_values(const std::vector<std::string>& values) {
  return literals_dfa(values);
}

core::Result<Dfa> json_string_terminal(const Dfa& content, Whitespace ws) {
  return json_string_token(content, ws, {}, {});
}

core::Result<Dfa> json_string_token(const Dfa& content, Whitespace ws,
                                    const std::vector<StringAffix>& before,
                                    const std::vector<StringAffix>& after) {
  if (content.empty()) return Dfa();
  std::array<bool, 256> affix{};
  for (const auto* list : {&before, &after}) {
    for (const StringAffix& a : *list) {
      for (const char c : a.text) affix[static_cast<std::uint8_t>(c)] = true;
    }
  }
  // \u00XX escapes (control characters without a short escape) only for
  // finite contents (enum and const values): in open-ended strings they would
  // quadruple the automaton for characters a model should not write.
  const bool unicode_escapes = longest_match(content) >= 0;
  // Bytes with a role in the encoding or the affixes get classes of their own.
  const auto special = [&](std::uint8_t b) -> std::int32_t {
    const bool hex = unicode_escapes && ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'f'));
    const bool letter = b == 'b' || b == 'f' || b == 'n' || b == 'r' || b == 't' || b == 'u';
    if (b < 0x20 && !has_short_escape(b) && !unicode_escapes) return 256;  // all refused alike
    return b <= 0x20 || b == '"' || b == '\\' || hex || letter || affix[b]
               ? static_cast<std::int32_t>(b)
               : -1;
  };
  TableDfa t = refine_classes(content.to_table(), special);
  const auto cls = [&](std::uint8_t b) { return t.class_of[b]; };
  std::vector<std::uint8_t> repr(t.classes, 0);
  for (int b = 255; b >= 0; --b) repr[t.class_of[b]] = static_cast<std::uint8_t>(b);
  const std::uint32_t n = t.size();
  const std::uint32_t open = t.add_state();
  const std::uint32_t close = t.add_state(after.empty());
  std::vector<std::uint32_t> orig(t.classes);
  for (std::uint32_t q = 1; q < n; ++q) {
    for (std::uint32_t c = 0; c < t.classes; ++c) orig[c] = t.at(q, c);
    const auto via = [&](std::uint8_t b) { return orig[cls(b)]; };
    bool any_escape = false;
    bool any_unicode = false;
    for (std::uint32_t c = 0; c < t.classes; ++c) {
      if (!needs_escape(repr[c])) continue;
      if (orig[c] != kDead) {
        any_escape = true;
        any_unicode = any_unicode || !has_short_escape(repr[c]);
      }
      t.at(q, c) = kDead;
    }
    const bool was_accepting = t.accept[q] != 0;
    t.accept[q] = 0;
    if (was_accepting) t.at(q, cls('"')) = close;
    if (!any_escape) continue;
    const std::uint32_t esc = t.add_state();
    t.at(q, cls('\\')) = esc;
    for (const auto& [letter, value] : kShortEscapes) {
      if (via(value) != kDead) t.at(esc, cls(static_cast<std::uint8_t>(letter))) = via(value);
    }
    if (!any_unicode || !unicode_escapes) continue;
    // \u00XX for the other control characters.
    const std::uint32_t u1 = t.add_state();
    const std::uint32_t u2 = t.add_state();
    const std::uint32_t u3 = t.add_state();
    t.at(esc, cls('u')) = u1;
    t.at(u1, cls('0')) = u2;
    t.at(u2, cls('0')) = u3;
    for (int hi = 0; hi < 2; ++hi) {
      std::uint32_t u4 = kDead;
      for (int lo = 0; lo < 16; ++lo) {
        const auto c = static_cast<std::uint8_t>(hi * 16 + lo);
        if (has_short_escape(c) || via(c) == kDead) continue;
        if (u4 == kDead) {
          u4 = t.add_state();
          t.at(u3, cls(static_cast<std::uint8_t>('0' + hi))) = u4;
        }
        t.at(u4, cls(static_cast<std::uint8_t>(hex_digit(lo)))) = via(c);
      }
    }
  }
  t.at(open, cls('"')) = content.start();
  const auto ws_loop = [&](std::uint32_t s) {
    for (const char c : kJsonWhitespace) t.at(s, cls(static_cast<std::uint8_t>(c))) = s;
  };
  if (ws == Whitespace::kFlexible) ws_loop(open);
  // The affixes: chains of literal bytes into `open`, and out of `close`.
  std::uint32_t start = open;
  if (!before.empty()) {
    start = t.add_state();
    std::uint32_t at = start;
    for (std::size_t i = 0; i < before.size(); ++i) {
      if (before[i].ws) ws_loop(at);
      const std::string& text = before[i].text;
      for (std::size_t j = 0; j < text.size(); ++j) {
        const bool last = i + 1 == before.size() && j + 1 == text.size();
        const std::uint32_t to = last ? open : t.add_state();
        t.at(at, cls(static_cast<std::uint8_t>(text[j]))) = to;
        at = to;
      }
    }
  }
  std::uint32_t at = close;
  for (const StringAffix& a : after) {
    if (a.ws) ws_loop(at);
    for (const char ch : a.text) {
      const std::uint32_t to = t.add_state();
      t.at(at, cls(static_cast<std::uint8_t>(ch))) = to;
      at = to;
    }
  }
  t.accept[at] = 1;
  t.start = start;
  return finalize(t);
}

std::string json_quote(std::string_view content) {
  std::string out = "\"";
  for (const char ch : content) {
    const auto b = static_cast<std::uint8_t>(ch);
    if (!needs_escape(b)) {
      out.push_back(ch);
      continue;
    }
    bool done = false;
    for (const auto& [letter, value] : kShortEscapes) {
      if (value == b) {
        out.push_back('\\');
        out.push_back(letter);
        done = true;
        break;
      }
    }
    if (!done) {
      out += "\\u00";
      out.push_back(hex_digit(b >> 4));
      out.push_back(hex_digit(b & 15));
    }
  }
  out.push_back('"');
  return out;
}

}  // namespace mlxs::guidance
