#pragma once
// JSON values as JSON Schema compares them: numbers by mathematical value
// (1 == 1.0, exact across int64/uint64/double), objects without order, and
// decimal-exact multipleOf.

#include <string_view>

#include "core/json_util.h"

namespace mlxs::schema {

// Equality per JSON Schema (enum, const, uniqueItems).
bool json_equal(const core::Json& a, const core::Json& b);
// A total order consistent with json_equal (uniqueItems sorts with it).
int json_compare(const core::Json& a, const core::Json& b);

// Exact comparison of two numbers: <0, 0, >0.
int compare_numbers(const core::Json& a, const core::Json& b);

// An integer, or a finite float with no fractional part (1.0 is an integer).
bool is_integer_value(const core::Json& value);

// value = k * divisor for an integer k, computed on the shortest decimal
// forms of both numbers (so 0.0075 is a multiple of 0.0001 and 1e308 of 0.5).
// `divisor` must be > 0.
bool is_multiple_of(const core::Json& value, const core::Json& divisor);

// "null", "boolean", "object", "array", "integer", "number" or "string".
std::string_view json_type_name(const core::Json& value);

}  // namespace mlxs::schema
