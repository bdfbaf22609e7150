#pragma once
// YAML documents as JSON values, for configuration. Plain scalars take the
// YAML 1.2 core schema's types (null, true/false, integers, floats, else
// strings); quoted scalars stay strings. Errors name the line and column.

#include <string>
#include <string_view>

#include "core/json_util.h"
#include "core/status.h"

namespace mlxs::control {

// The document (an empty document is an empty object). ConfigError on bad
// YAML, on nesting past 64 levels and past a million values (aliases).
core::Result<core::Json> yaml_to_json(std::string_view text, const std::string& display_name);

// One plain scalar's value, typed as in a YAML file ("5" -> 5, "true" ->
// true, "[a, b]" -> ["a","b"], "x" -> "x"); for environment and flag values.
core::Json scalar_value(std::string_view text);

}  // namespace mlxs::control
