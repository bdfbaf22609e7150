#pragma once
// A schema expression: the conjunction of compiled schema nodes, some of them
// negated. Property and item schemas stay expressions (not expanded) until the
// grammar needs them, which is what lets recursive schemas ($ref cycles
// through properties) compile: an expression becomes one nonterminal, once.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "schema/node.h"

namespace mlxs::guidance {

struct Expr {
  std::vector<schema::NodeId> pos, neg;  // sorted, unique
  bool never = false;                    // matches nothing

  static Expr any() { return {}; }
  static Expr nothing() {
    Expr e;
    e.never = true;
    return e;
  }
  static Expr node(schema::NodeId id) {
    Expr e;
    e.pos.push_back(id);
    return e;
  }
  static Expr negated(schema::NodeId id) {
    Expr e;
    e.neg.push_back(id);
    return e;
  }
  bool is_any() const { return !never && pos.empty() && neg.empty(); }

  Expr operator&(const Expr& o) const {
    if (never || o.never) return nothing();
    Expr e;
    std::set_union(pos.begin(), pos.end(), o.pos.begin(), o.pos.end(), std::back_inserter(e.pos));
    std::set_union(neg.begin(), neg.end(), o.neg.begin(), o.neg.end(), std::back_inserter(e.neg));
    // x and not x: nothing.
    for (const auto id : e.pos) {
      if (std::binary_search(e.neg.begin(), e.neg.end(), id)) return nothing();
    }
    return e;
  }

  // Negation as a disjunction of expressions.
  std::vector<Expr> negation() const {
    if (never) return {any()};
    std::vector<Expr> out;
    for (const auto id : pos) out.push_back(negated(id));
    for (const auto id : neg) out.push_back(node(id));
    return out;  // empty: not(any) = nothing
  }

  std::string key() const {
    if (never) return "!";
    std::string k;
    for (const auto id : pos) k += std::to_string(id) + ",";
    k += "~";
    for (const auto id : neg) k += std::to_string(id) + ",";
    return k;
  }
  friend bool operator==(const Expr&, const Expr&) = default;
};

}  // namespace mlxs::guidance
