#include "guidance/json_tokens.h"

#include "guidance/dfa_ops.h"
#include "guidance/json_string.h"

namespace mlxs::guidance {

core::Result<Dfa> pieces_dfa(const std::vector<Piece>& pieces) {
  // Classes: each byte the pieces use (whitespace included) alone, the rest together.
  std::array<bool, 256> used{};
  bool ws = false;
  for (const Piece& p : pieces) {
    for (const char c : p.text) used[static_cast<std::uint8_t>(c)] = true;
    ws = ws || p.ws;
  }
  if (ws) {
    for (const char c : kJsonWhitespace) used[static_cast<std::uint8_t>(c)] = true;
  }
  std::array<std::uint8_t, 256> class_of{};
  std::uint32_t classes = 1;
  for (int b = 0; b < 256; ++b) {
    if (used[b]) class_of[b] = static_cast<std::uint8_t>(classes++);
  }
  TableDfa t(classes);
  t.class_of = class_of;
  std::uint32_t at = t.add_state();
  t.start = at;
  for (const Piece& p : pieces) {
    if (p.ws) {
      for (const char c : kJsonWhitespace) t.at(at, class_of[static_cast<std::uint8_t>(c)]) = at;
    }
    for (const char ch : p.text) {
      const std::uint32_t to = t.add_state();
      t.at(at, class_of[static_cast<std::uint8_t>(ch)]) = to;
      at = to;
    }
  }
  t.accept[at] = 1;
  return finalize(t);
}

core::Result<Dfa> JsonTokens::token(std::string_view text) const {
  return pieces_dfa({Piece{std::string(text), ws_ == Whitespace::kFlexible}});
}

core::Result<Dfa> JsonTokens::item_separator() const {
  switch (ws_) {
    case Whitespace::kCompact:
      return pieces_dfa({Piece{",", false}});
    case Whitespace::kPython:
      return pieces_dfa({Piece{", ", false}});
    case Whitespace::kFlexible:
      return pieces_dfa({Piece{",", true}});
  }
  return pieces_dfa({Piece{",", false}});
}

core::Result<Dfa> JsonTokens::member_header(std::string_view name, bool separator) const {
  const bool flex = ws_ == Whitespace::kFlexible;
  std::vector<Piece> pieces;
  if (separator) pieces.push_back({ws_ == Whitespace::kPython ? ", " : ",", flex});
  pieces.push_back({json_quote(name), flex});
  pieces.push_back({ws_ == Whitespace::kPython ? ": " : ":", flex});
  return pieces_dfa(pieces);
}

core::Result<Dfa> JsonTokens::pattern_header(const Dfa& key_content, bool separator) const {
  const bool flex = ws_ == Whitespace::kFlexible;
  const bool py = ws_ == Whitespace::kPython;
  std::vector<Piece> before;
  if (separator) before.push_back({py ? ", " : ",", flex});
  return json_string_token(key_content, ws_, before, {Piece{py ? ": " : ":", flex}});
}

void JsonTokens::value_pieces(const core::Json& v, std::vector<Piece>& out) const {
  const bool flex = ws_ == Whitespace::kFlexible;
  const bool py = ws_ == Whitespace::kPython;
  if (v.is_object()) {
    out.push_back({"{", flex});
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!first) out.push_back({py ? ", " : ",", flex});
      first = false;
      out.push_back({json_quote(it.key()), flex});
      out.push_back({py ? ": " : ":", flex});
      value_pieces(it.value(), out);
    }
    out.push_back({"}", flex});
  } else if (v.is_array()) {
    out.push_back({"[", flex});
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i > 0) out.push_back({py ? ", " : ",", flex});
      value_pieces(v[i], out);
    }
    out.push_back({"]", flex});
  } else if (v.is_string()) {
    out.push_back({json_quote(v.get<std::string>()), flex});
  } else {
    out.push_back({v.dump(), flex});
  }
}

core::Result<Dfa> JsonTokens::value_literal(const core::Json& value) const {
  std::vector<Piece> pieces;
  value_pieces(value, pieces);
  return pieces_dfa(pieces);
}

}  // namespace mlxs::guidance
