#pragma once
// The one place where structured output (the generate `guidance` object)
// plugs into the runtime. src/guidance (being built) will turn a guidance
// request into a token-mask source for the engine; until then every guidance
// request is refused here, never ignored: -32602 with data.code
// "Unsupported" (or "GuidanceError" for a malformed guidance object).

#include "core/status.h"
#include "protocol/messages_generate.h"

namespace mlxs::runtime {

struct LoadedModel;

// What the engine will need to constrain decoding (empty for now).
struct GuidancePlan {};

core::Result<GuidancePlan> prepare_guidance(const protocol::GuidanceParams& guidance, const LoadedModel& model);

}  // namespace mlxs::runtime
