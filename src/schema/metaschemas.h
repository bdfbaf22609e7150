#pragma once
// The meta-schemas of draft 7 and draft 2020-12 (with its vocabulary
// meta-schemas), so that "$ref": "https://json-schema.org/draft/2020-12/schema"
// resolves without a network and schemas can be checked against them.

#include <string_view>

#include "core/json_util.h"

namespace mlxs::schema {

// The document with that URI (fragment ignored), or nullptr.
const core::Json* builtin_metaschema(std::string_view uri);

}  // namespace mlxs::schema
