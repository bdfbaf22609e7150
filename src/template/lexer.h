#pragma once
// Splits template source into tokens the way jinja2's lexer does with the
// settings transformers uses (trim_blocks, lstrip_blocks): newlines are
// normalised to \n, one trailing newline is dropped, `{%-`/`-%}` strip
// whitespace, `{%+`/`+%}` keep it, and {% raw %} / comments are resolved here.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxs::template_ {

enum class TokenKind : std::uint8_t {
  kData,        // template text
  kVarBegin,    // {{
  kVarEnd,      // }}
  kBlockBegin,  // {%
  kBlockEnd,    // %}
  kName,
  kString,  // text holds the unescaped value
  kInteger,
  kFloat,
  kOperator,  // text holds the operator
  kEof,
};

struct Token {
  TokenKind kind = TokenKind::kEof;
  std::string text;
  std::int64_t int_value = 0;
  double float_value = 0;
  int line = 1;
  int column = 1;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Errors are TemplateError "line L, column C: ...".
core::Result<std::vector<Token>> tokenize(std::string_view source, const LexOptions& options = {});

// Shared by the lexer and the parser: "line 3, column 14: <message>".
core::Status template_error(int line, int column, std::string_view message);

}  // namespace mlxs::template_
