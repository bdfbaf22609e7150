#pragma once
// The one place where structured output (the generate `guidance` object)
// plugs into the runtime: it compiles the constraint with src/guidance (per
// tokenizer, cached by constraint) and hands the engine a Constraint that
// masks each sequence's tokens. Modes: "json_schema" (the original's; schema
// is an object or a boolean) and ours: "json_object" (any JSON value; schema
// absent), "regex" and "grammar" (GBNF; schema is the pattern or grammar
// text). Invalid or unsupported constraints fail at once with GuidanceError
// naming the keyword and its path; "xml" is refused as Unsupported.

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "engine/constraint.h"
#include "guidance/compiled_grammar.h"
#include "protocol/messages_generate.h"

namespace mlxs::tokenizer {
class Tokenizer;
}

namespace mlxs::runtime {

struct LoadedModel;

// What the engine needs to constrain decoding.
struct GuidancePlan {
  std::shared_ptr<const engine::Constraint> constraint;
};

// A compiled grammar as an engine constraint (each sequence runs its own
// guidance::Matcher).
std::shared_ptr<const engine::Constraint> make_constraint(
    std::shared_ptr<const guidance::CompiledGrammar> grammar);

core::Result<GuidancePlan> prepare_guidance(const protocol::GuidanceParams& guidance,
                                            const tokenizer::Tokenizer& tokenizer,
                                            const std::string& model_id);
core::Result<GuidancePlan> prepare_guidance(const protocol::GuidanceParams& guidance,
                                            const LoadedModel& model);

}  // namespace mlxs::runtime
