#pragma once
// Shapes (schema_shape.h) to grammar rules. Each schema expression becomes
// one nonterminal; objects become a chain of rules over their properties in
// order (each optional one skippable, counted when min/maxProperties apply),
// then the keys no property names; arrays a chain over positions. Unbounded
// tails are left-recursive, which Earley parses in constant space per item.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "guidance/grammar.h"
#include "guidance/json_tokens.h"
#include "guidance/schema_lowering.h"

namespace mlxs::guidance {

class SchemaEmitter {
 public:
  SchemaEmitter(SchemaLowering& lowering, TerminalTable& terminals, Whitespace ws,
                GrammarBuilder& builder);

  // The nonterminal of the JSON values `root` allows, with every rule it
  // needs.
  core::Result<std::uint32_t> emit(const Expr& root);

 private:
  static constexpr std::uint32_t kNone = ~0u;

  std::uint32_t value(const Expr& e);
  core::Status emit_value(const Expr& e, std::uint32_t nt);
  core::Status emit_value_rules(const Expr& e, std::uint32_t nt);
  core::Result<std::uint32_t> object_rules(const ObjectAlt& alt);
  core::Result<std::uint32_t> array_rules(const ArrayAlt& alt);
  core::Result<std::uint32_t> unique_array_rules(const ArrayAlt& alt);
  core::Result<std::uint32_t> sym(core::Result<Dfa> dfa);
  core::Result<std::uint32_t> token(const std::string& text);
  core::Result<std::uint32_t> separator();
  core::Result<std::uint32_t> member_header(const std::string& name, bool sep);
  core::Result<std::uint32_t> string_terminal(const Domain& d);
  core::Result<std::uint32_t> number_terminal(const Domain& d, bool integers_only);
  core::Result<bool> is_empty(const Expr& e);

  SchemaLowering& lowering_;
  TerminalTable& terminals_;
  JsonTokens tokens_;
  GrammarBuilder& b_;
  std::unordered_map<std::string, std::uint32_t> values_;
  std::deque<std::pair<Expr, std::uint32_t>> pending_;
  std::unordered_map<std::string, std::uint32_t> token_syms_;
  std::map<std::pair<std::string, bool>, std::uint32_t> headers_;
  std::unordered_map<const Dfa*, std::uint32_t> string_syms_, number_syms_;
  std::vector<std::shared_ptr<const Dfa>> keep_;  // domains whose addresses key the caches
};

}  // namespace mlxs::guidance
