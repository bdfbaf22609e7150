#pragma once
// The method catalogue: every JSON-RPC method the runtime answers, where it
// comes from, and the schema documents of its params and result
// (schemas/rpc/<name>.params.json, <name>.result.json; "/" becomes ".").

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace mlxs::protocol {

enum class Method : std::uint8_t {
  kRuntimeInfo,
  kRuntimeState,
  kRuntimeTelemetry,
  kShutdown,
  kLoadModel,
  kUnloadModel,
  kGenerate,
  kBatchGenerate,
  kBatchGenerateParallel,
  kContinuousGenerate,
  kGetBatcherMetrics,
  kGetBatcherHealth,
  kGetWeek4Metrics,
  kTokenize,
  kBatchTokenize,
  kCheckDraft,
  kBatchCheckDraft,
  kLoadVisionModel,
  kGenerateWithImage,
  kStreamCancel,
  kDetokenize,
};
inline constexpr int kMethodCount = static_cast<int>(Method::kDetokenize) + 1;

enum class Origin : std::uint8_t {
  kOriginal,             // called by the original client
  kOriginalRuntimeOnly,  // implemented by the original runtime, never called by its client
  kExtension,            // ours, negotiated through runtime/info capabilities
};

struct MethodInfo {
  Method method;
  std::string_view name;           // on the wire
  std::string_view params_schema;  // schema document name
  std::string_view result_schema;
  Origin origin;
};

const MethodInfo& method_info(Method method);
std::span<const MethodInfo> method_table();
std::optional<Method> method_from_name(std::string_view name);

struct NotificationInfo {
  std::string_view name;
  std::string_view params_schema;
  Origin origin;
};
std::span<const NotificationInfo> notification_table();

}  // namespace mlxs::protocol
