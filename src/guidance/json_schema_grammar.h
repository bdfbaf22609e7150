#pragma once
// JSON Schema to grammar: compiles the schema with the schema module (the
// same code that validates API input), lowers its node graph to shapes and
// emits rules. Properties are generated in the order the schema document
// defines them (the text is read a second time, order-preserving, for that).

#include <memory>
#include <string_view>

#include "core/json_util.h"
#include "core/status.h"
#include "guidance/grammar.h"
#include "guidance/json_whitespace.h"
#include "guidance/schema_lowering.h"
#include "schema/node.h"

namespace mlxs::guidance {

struct JsonSchemaOptions {
  Whitespace whitespace = Whitespace::kCompact;
  // Used when the schema has no "$schema".
  schema::Draft default_draft = schema::Draft::kDraft2020_12;
  LoweringOptions lowering;
};

// GuidanceError naming the keyword and its location for what cannot be
// enforced; schema errors (bad keyword values) are GuidanceError too.
core::Result<std::shared_ptr<const Grammar>> json_schema_grammar(std::string_view schema_text,
                                                                 const JsonSchemaOptions& options,
                                                                 TerminalTable& terminals);
// From a parsed document (properties then come in name order).
core::Result<std::shared_ptr<const Grammar>> json_schema_grammar(const core::Json& schema,
                                                                 const JsonSchemaOptions& options,
                                                                 TerminalTable& terminals);

}  // namespace mlxs::guidance
