#pragma once
// Evaluates an instance against a compiled schema (validator.cpp).

#include "schema/compiled.h"

namespace mlxs::schema {

// Fills `out` with every failure when it is non-null; returns validity.
bool evaluate(const Schema::Compiled& schema, const core::Json& instance, ValidationResult* out);

}  // namespace mlxs::schema
