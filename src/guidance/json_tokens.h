#pragma once
// The fixed pieces of JSON text as terminals, for one whitespace policy:
// punctuation, literals, separators, object-member headers (separator, key
// and colon in one terminal, so a key costs one automaton), and whole JSON
// values written out (enum members that are objects or arrays).

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/json_util.h"
#include "core/status.h"
#include "guidance/dfa.h"
#include "guidance/json_string.h"
#include "guidance/json_whitespace.h"

namespace mlxs::guidance {

// A run of literal bytes; `ws` lets JSON whitespace come before it.
using Piece = StringAffix;

// The automaton of pieces in order.
core::Result<Dfa> pieces_dfa(const std::vector<Piece>& pieces);

class JsonTokens {
 public:
  explicit JsonTokens(Whitespace ws) : ws_(ws) {}
  Whitespace whitespace() const { return ws_; }

  // "{", "}", "[", "]", "null", ...: whitespace may precede them (flexible).
  core::Result<Dfa> token(std::string_view text) const;
  // The separator between items: ",", ", " or ws* ",".
  core::Result<Dfa> item_separator() const;
  // [separator] "name" ':' for a named member.
  core::Result<Dfa> member_header(std::string_view name, bool separator) const;
  // [separator] <key> ':' for keys whose content `key_content` accepts.
  core::Result<Dfa> pattern_header(const Dfa& key_content, bool separator) const;
  // A JSON value written out as this policy writes it.
  core::Result<Dfa> value_literal(const core::Json& value) const;
  // The pieces of a value (exposed for tests).
  void value_pieces(const core::Json& value, std::vector<Piece>& out) const;

 private:
  Whitespace ws_;
};

}  // namespace mlxs::guidance
