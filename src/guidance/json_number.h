#pragma once
// Automata over the text of JSON numbers. Constrained numbers (bounds,
// multipleOf, enum values, integer type) use a restricted syntax with no
// exponent and few enough digits that the text's decimal value is exactly
// what a JSON parser will compare (integers up to 18 digits, at most 15
// digits when there is a fraction). Within that syntax every automaton here
// accepts a set of VALUES: a value's every spelling (1, 1.0, 1.00) is in or
// out together, so complements (for "not") stay exact. Unconstrained numbers
// use the full JSON syntax.

#include <string>

#include "core/json_util.h"
#include "core/status.h"
#include "guidance/dfa.h"

namespace mlxs::guidance {

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
const Dfa& number_full_syntax();
// The restricted syntax (see above).
const Dfa& number_value_syntax();
// Integer values in the restricted syntax (1 and 1.0).
const Dfa& integer_values();
// Integer spellings without a fraction (what integer types generate).
const Dfa& integer_plain();

enum class Compare : std::uint8_t { kGreaterEqual, kGreater, kLessEqual, kLess };
// Numbers x with `x cmp bound` in the restricted syntax.
core::Result<Dfa> number_bound(const core::Json& bound, Compare cmp);
// Multiples of `divisor` (> 0) in the restricted syntax; GuidanceError when
// its decimal mantissa is too large for a small residue automaton.
core::Result<Dfa> number_multiple_of(const core::Json& divisor);
// Every spelling of `value` in the restricted syntax.
core::Result<Dfa> number_value(const core::Json& value);

// The shortest exact decimal of a JSON number: sign, integer digits (no
// leading zeros; "" for 0) and fraction digits (no trailing zeros).
struct DecimalText {
  bool negative = false;
  std::string int_digits, frac_digits;
  bool is_zero() const { return int_digits.empty() && frac_digits.empty(); }
};
DecimalText decimal_of(const core::Json& number);

}  // namespace mlxs::guidance
