#pragma once
// The configuration's JSON Schema (schemas/config.schema.json), embedded at
// build time and compiled once.

#include <string_view>

#include "core/json_util.h"
#include "core/status.h"
#include "schema/schema.h"

namespace mlxs::control {

// The document as shipped (generated from schemas/config.schema.json).
std::string_view config_schema_text();

struct ConfigSchema {
  core::Json document;
  schema::Schema schema;
};
// Parsed and compiled on first use (thread-safe). An error is a bug in the
// shipped document.
core::Result<const ConfigSchema*> config_schema();

}  // namespace mlxs::control
