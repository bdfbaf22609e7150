#include "runtime/guidance_hook.h"

#include "protocol/envelope.h"
#include "runtime/loaded_model.h"

namespace mlxs::runtime {

namespace {
// outlines.max_schema_size_bytes of the original's config.
constexpr std::size_t kMaxSchemaBytes = 32768;
}  // namespace

core::Result<GuidancePlan> prepare_guidance(const protocol::GuidanceParams& guidance, const LoadedModel& model) {
  const std::string prefix = "Guidance error for " + model.model_id + ": ";
  if (guidance.mode != "json_schema" && guidance.mode != "xml") {
    return core::Status(core::ErrorCode::kGuidanceError, prefix + "Unsupported guidance mode: " + guidance.mode);
  }
  if (guidance.schema.is_null()) return core::Status(core::ErrorCode::kGuidanceError, prefix + "schema is required");
  if (guidance.mode == "json_schema" && !guidance.schema.is_object() && !guidance.schema.is_boolean()) {
    return core::Status(core::ErrorCode::kGuidanceError, prefix + "json_schema mode needs a schema object");
  }
  if (guidance.mode == "xml" && !guidance.schema.is_string()) {
    return core::Status(core::ErrorCode::kGuidanceError, prefix + "xml mode needs a schema string");
  }
  if (protocol::dump(guidance.schema).size() > kMaxSchemaBytes) {
    return core::Status(core::ErrorCode::kGuidanceError, prefix + "schema is larger than 32768 bytes");
  }
  return core::Status(core::ErrorCode::kUnsupported,
                      prefix + "structured output (" + guidance.mode + ") is not supported by this runtime yet");
}

}  // namespace mlxs::runtime
