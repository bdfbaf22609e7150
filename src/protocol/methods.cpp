#include "protocol/methods.h"

#include <array>

#include "protocol/notifications.h"

namespace mlxs::protocol {

namespace {

constexpr std::array<MethodInfo, kMethodCount> kMethods = {{
    {Method::kRuntimeInfo, "runtime/info", "runtime.info.params", "runtime.info.result",
     Origin::kOriginal},
    {Method::kRuntimeState, "runtime/state", "runtime.state.params", "runtime.state.result",
     Origin::kOriginal},
    {Method::kRuntimeTelemetry, "runtime/telemetry", "runtime.telemetry.params",
     "runtime.telemetry.result", Origin::kOriginalRuntimeOnly},
    {Method::kShutdown, "shutdown", "shutdown.params", "shutdown.result", Origin::kOriginal},
    {Method::kLoadModel, "load_model", "load_model.params", "load_model.result", Origin::kOriginal},
    {Method::kUnloadModel, "unload_model", "unload_model.params", "unload_model.result",
     Origin::kOriginal},
    {Method::kGenerate, "generate", "generate.params", "generate.result", Origin::kOriginal},
    {Method::kBatchGenerate, "batch_generate", "batch_generate.params", "batch_generate.result",
     Origin::kOriginal},
    {Method::kBatchGenerateParallel, "batch_generate_parallel", "batch_generate_parallel.params",
     "batch_generate_parallel.result", Origin::kOriginalRuntimeOnly},
    {Method::kContinuousGenerate, "continuous_generate", "continuous_generate.params",
     "continuous_generate.result", Origin::kOriginalRuntimeOnly},
    {Method::kGetBatcherMetrics, "get_batcher_metrics", "get_batcher_metrics.params",
     "get_batcher_metrics.result", Origin::kOriginalRuntimeOnly},
    {Method::kGetBatcherHealth, "get_batcher_health", "get_batcher_health.params",
     "get_batcher_health.result", Origin::kOriginalRuntimeOnly},
    {Method::kGetWeek4Metrics, "get_week4_metrics", "get_week4_metrics.params",
     "get_week4_metrics.result", Origin::kOriginalRuntimeOnly},
    {Method::kTokenize, "tokenize", "tokenize.params", "tokenize.result", Origin::kOriginal},
    {Method::kBatchTokenize, "batch_tokenize", "batch_tokenize.params", "batch_tokenize.result",
     Origin::kOriginal},
    {Method::kCheckDraft, "check_draft", "check_draft.params", "check_draft.result",
     Origin::kOriginal},
    {Method::kBatchCheckDraft, "batch_check_draft", "batch_check_draft.params",
     "batch_check_draft.result", Origin::kOriginal},
    {Method::kLoadVisionModel, "load_vision_model", "load_vision_model.params",
     "load_vision_model.result", Origin::kOriginal},
    {Method::kGenerateWithImage, "generate_with_image", "generate_with_image.params",
     "generate.result", Origin::kOriginal},
    {Method::kStreamCancel, "stream/cancel", "stream.cancel.params", "stream.cancel.result",
     Origin::kExtension},
    {Method::kDetokenize, "detokenize", "detokenize.params", "detokenize.result",
     Origin::kExtension},
}};

constexpr std::array<NotificationInfo, 5> kNotifications = {{
    {kStreamChunk, "stream.chunk.params", Origin::kOriginal},
    {kStreamStats, "stream.stats.params", Origin::kOriginal},
    {kStreamEvent, "stream.event.params", Origin::kOriginal},
    {kStreamStep, "stream.step.params", Origin::kExtension},
    {kModelLoadProgress, "model.load_progress.params", Origin::kExtension},
}};

}  // namespace

const MethodInfo& method_info(Method method) {
  return kMethods[static_cast<std::size_t>(method)];
}

std::span<const MethodInfo> method_table() {
  return kMethods;
}

std::optional<Method> method_from_name(std::string_view name) {
  for (const MethodInfo& m : kMethods) {
    if (m.name == name) return m.method;
  }
  return std::nullopt;
}

std::span<const NotificationInfo> notification_table() {
  return kNotifications;
}

}  // namespace mlxs::protocol
