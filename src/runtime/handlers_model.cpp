// load_model, unload_model, check_draft, batch_check_draft, the vision
// methods (refused until vision models land) and the batcher reports.
#include <fmt/format.h>

#include "model/model.h"
#include "runtime/model_source.h"
#include "runtime/process_info.h"
#include "runtime/server.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;
using protocol::Method;

Server::Reply Server::load_model(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto p, protocol::parse_params<protocol::LoadModelParams>(Method::kLoadModel, params));
  // int4 / int8 / fp8 quantize a float checkpoint while loading; on a
  // quantized folder they must agree with how it is stored (the original's
  // clients send "int4" for 4-bit folders), which the model loader checks.
  // Values outside the list are refused before any file is touched.
  if (p.quantization) MLXS_RETURN_IF_ERROR(model::check_quantization_name(*p.quantization));
  SourceQuery query{p.model_id, p.local_path, p.revision};
  SourcePolicy policy{options_.trusted_dirs, options_.model_dirs};
  auto dir = resolve_model_dir(query, policy);
  if (!dir.is_ok()) {
    return Status(dir.status().code(),
                  "Failed to load model " + p.model_id + ": " + dir.status().message());
  }
  LoadKey key{*dir, p.context_length, p.quantization.value_or("")};
  MLXS_ASSIGN_OR_RETURN(auto info, registry_->load(p.model_id, key));
  return protocol::to_json(info);
}

Server::Reply Server::unload_model(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto p, protocol::parse_params<protocol::UnloadModelParams>(Method::kUnloadModel, params));
  registry_->unload(p.model_id);
  return protocol::to_json(protocol::SuccessResult{});
}

core::Result<protocol::CheckDraftResult> Server::check_pair(
    const protocol::CheckDraftParams& p) const {
  const auto primary = registry_->find(p.primary_id);
  if (!primary) return Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + p.primary_id);
  const auto draft = registry_->find(p.draft_id);
  if (!draft) return Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + p.draft_id);
  auto describe = [](const LoadedModel& m) {
    protocol::DraftModelInfo d;
    d.id = m.model_id;
    d.vocab_size = static_cast<std::int64_t>(m.model->config().vocab);
    d.parameter_count = static_cast<std::int64_t>(m.model->parameter_count());
    d.architecture = m.model->config().model_type;
    return d;
  };
  protocol::CheckDraftResult r;
  auto& d = r.details;
  d.primary_model = describe(*primary);
  d.draft_model = describe(*draft);
  const auto& pc = primary->model->config();
  const auto& dc = draft->model->config();
  r.compatible = pc.vocab == dc.vocab;
  if (!r.compatible) {
    r.errors.push_back(
        fmt::format("Vocabulary size mismatch: primary has {}, draft has {}", pc.vocab, dc.vocab));
  }
  if (pc.model_type != dc.model_type) {
    r.warnings.push_back(fmt::format("Architecture mismatch: primary is {}, draft is {}",
                                     pc.model_type, dc.model_type));
  }
  const double pp = static_cast<double>(d.primary_model.parameter_count);
  const double dp = static_cast<double>(d.draft_model.parameter_count);
  if (dp >= pp) r.warnings.push_back("Draft model is not smaller than the primary model");
  if (pc.bos_token_id != dc.bos_token_id) r.warnings.push_back("BOS token ids differ");
  if (pc.eos_token_ids != dc.eos_token_ids) r.warnings.push_back("EOS token ids differ");
  const double ratio = pp > 0 ? dp / pp : 1.0;
  auto& est = d.performance_estimate;
  est.expected_speedup = fmt::format("{:.2f}x", 1.0 + (1.0 - std::min(1.0, ratio)) * 0.3);
  est.size_ratio = pp > 0 ? fmt::format("{:.1f}%", ratio * 100.0) : "N/A";
  est.recommendation = r.compatible && pp > 0 && ratio < 0.5
                           ? "Good pairing"
                           : "May not provide significant speedup";
  return r;
}

Server::Reply Server::check_draft(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto p, protocol::parse_params<protocol::CheckDraftParams>(Method::kCheckDraft, params));
  MLXS_ASSIGN_OR_RETURN(auto r, check_pair(p));
  return protocol::to_json(r);
}

Server::Reply Server::batch_check_draft(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(
      auto batch, protocol::parse_params<protocol::BatchParams>(Method::kBatchCheckDraft, params));
  protocol::BatchResult<protocol::CheckDraftResult> out;
  for (const Json& entry : batch.requests) {
    protocol::BatchEntry<protocol::CheckDraftResult> e;
    auto p = protocol::parse_params<protocol::CheckDraftParams>(Method::kCheckDraft, entry);
    auto r = p.is_ok() ? check_pair(*p) : core::Result<protocol::CheckDraftResult>(p.status());
    if (r.is_ok()) {
      e.success = true;
      e.result = std::move(r).value();
    } else {
      e.error = r.status().message();
    }
    out.results.push_back(std::move(e));
  }
  return protocol::to_json(out);
}

Server::Reply Server::load_vision_model(const Json& params) {
  MLXS_ASSIGN_OR_RETURN(auto p, protocol::parse_params<protocol::LoadVisionModelParams>(
                                    Method::kLoadVisionModel, params));
  auto failed = [&p](const Status& s) {
    return Status(s.code(), "Failed to load model " + p.model_id + ": " + s.message());
  };
  // The original's list; int4 / int8 quantize a float checkpoint at load.
  if (p.quantization && *p.quantization != "int4" && *p.quantization != "int8" &&
      *p.quantization != "fp16" && *p.quantization != "bf16") {
    return Status(ErrorCode::kInvalidParams, "quantization must be null, int4, int8, fp16 or bf16");
  }
  SourceQuery query{p.model_id, p.local_path, p.revision};
  SourcePolicy policy{options_.trusted_dirs, options_.model_dirs};
  auto dir = resolve_model_dir(query, policy);
  if (!dir.is_ok()) return failed(dir.status());
  LoadKey key{*dir, std::nullopt, p.quantization.value_or("")};
  MLXS_ASSIGN_OR_RETURN(auto info, registry_->load(p.model_id, key));
  const auto model = registry_->find(p.model_id);
  if (!model || model->model->vision() == nullptr || !model->processor) {
    registry_->unload(p.model_id);
    return failed(Status(ErrorCode::kInvalidParams, "it is not a vision-language model"));
  }
  protocol::LoadVisionModelResult r;
  r.model_id = p.model_id;
  r.context_length = info.context_length;
  r.processor_type = model->processor->type_name;
  const model::VisionConfig& v = *model->model->vision();
  if (v.image_size > 0) r.image_size = v.image_size;
  r.revision = p.revision.value_or("main");
  if (p.quantization) r.quantization = *p.quantization;
  return protocol::to_json(r);
}

Server::Reply Server::batcher_query(Method method, const Json& params) {
  MLXS_ASSIGN_OR_RETURN(auto p,
                        protocol::parse_params<protocol::BatcherQueryParams>(method, params));
  const auto model = registry_->find(p.model_id);
  if (!model) return Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + p.model_id);
  if (!model->batcher_started.load()) {
    return Status(ErrorCode::kInvalidParams, "No continuous batcher for model " + p.model_id +
                                                 ": use continuous_generate first");
  }
  const engine::EngineMetrics e = model->engine->metrics();
  const int max_batch = options_.max_running_streams;
  switch (method) {
    case Method::kGetBatcherMetrics:
      return protocol::to_json(model->stats.metrics(e, epoch_seconds()));
    case Method::kGetBatcherHealth:
      return protocol::to_json(model->stats.health(e, max_batch));
    case Method::kGetWeek4Metrics:
      return protocol::to_json(model->stats.week4(e, max_batch));
    case Method::kRuntimeInfo:
    case Method::kRuntimeState:
    case Method::kRuntimeTelemetry:
    case Method::kShutdown:
    case Method::kLoadModel:
    case Method::kUnloadModel:
    case Method::kGenerate:
    case Method::kBatchGenerate:
    case Method::kBatchGenerateParallel:
    case Method::kContinuousGenerate:
    case Method::kTokenize:
    case Method::kBatchTokenize:
    case Method::kCheckDraft:
    case Method::kBatchCheckDraft:
    case Method::kLoadVisionModel:
    case Method::kGenerateWithImage:
    case Method::kStreamCancel:
    case Method::kDetokenize:
      break;
  }
  return Status(ErrorCode::kInternalError, "not a batcher report");
}

}  // namespace mlxs::runtime
