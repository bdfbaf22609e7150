#pragma once
// What a schema expression allows, type by type: null and the booleans as
// flags, strings and numbers as automata (json_string.h, json_number.h),
// objects and arrays as lists of alternatives whose members are still
// expressions, plus literal objects and arrays from enum/const. Intersection,
// union and (where it can be exact) complement work on shapes, which is how
// allOf, anyOf, oneOf, not and if/then/else compile.

#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "guidance/dfa.h"
#include "guidance/schema_expr.h"

namespace mlxs::guidance {

inline constexpr std::uint64_t kUnbounded = std::numeric_limits<std::uint64_t>::max();

// Strings (content automaton) or numbers (text automaton).
struct Domain {
  bool all = true;                 // every string / every JSON number
  std::shared_ptr<const Dfa> dfa;  // when !all: the accepted set (null or empty: none)
  static Domain none() { return Domain{false, nullptr}; }
  static Domain of(Dfa d) { return Domain{false, std::make_shared<const Dfa>(std::move(d))}; }
  bool is_none() const { return !all && (dfa == nullptr || dfa->empty()); }
};

struct ObjectAlt {
  struct Prop {
    std::string name;
    Expr value;
    bool required = false;
  };
  // The rule for keys that are not named properties, from one schema: the
  // value satisfies every pattern the key matches, or `additional` (absent:
  // anything) when it matches none.
  struct Side {
    std::vector<std::pair<std::shared_ptr<const Dfa>, schema::NodeId>> patterns;
    std::optional<schema::NodeId> additional;
  };
  std::vector<Prop> props;           // in generation order
  std::vector<Side> sides;           // an unnamed key satisfies all of them
  std::shared_ptr<const Dfa> names;  // propertyNames (key content); null: any
  std::uint64_t min = 0, max = kUnbounded;

  bool unconstrained() const;
  const Prop* find(const std::string& name) const;
};

struct ArrayAlt {
  std::vector<Expr> prefix;
  Expr items = Expr::any();
  std::uint64_t min = 0, max = kUnbounded;
  std::vector<Expr> contains;  // each matched by at least one element
  bool unique = false;

  bool unconstrained() const;
};

struct Shape {
  bool null_ok = true, true_ok = true, false_ok = true;
  Domain str, num;
  bool integers_only = false;  // every accepted number is an integer
  std::vector<ObjectAlt> objects{ObjectAlt{}};
  std::vector<ArrayAlt> arrays{ArrayAlt{}};
  std::vector<core::Json> literals;  // object and array values (enum/const)

  static Shape any() { return Shape{}; }
  static Shape nothing();
  bool is_nothing() const;
};

}  // namespace mlxs::guidance
