// Stream starts: generate, batch_generate, and the original's runtime-only
// batch_generate_parallel and continuous_generate. Stream ids are reserved on
// the request thread (so a stream/cancel right behind finds them); the rest
// runs on the task pool. The start response is queued before the stream is
// drained, so it precedes the stream's first notification.
#include <set>

#include "core/log.h"
#include "runtime/generation.h"
#include "runtime/guidance_hook.h"
#include "runtime/loaded_model.h"
#include "runtime/process_info.h"
#include "runtime/server.h"

namespace mlxs::runtime {

using core::ErrorCode;
using core::Status;
using protocol::Method;

core::Result<std::shared_ptr<StreamRecord>> Server::reserve(
    const std::optional<std::string>& stream_id, const std::string& model_id, StreamStyle style) {
  auto record = std::make_shared<StreamRecord>();
  record->stream_id = stream_id.value_or(uuid4());
  record->model_id = model_id;
  record->style = style;
  record->started_at = epoch_seconds();
  record->started_ns = clock_.now_ns();
  if (!streams_.reserve(record)) {
    return Status(ErrorCode::kInvalidParams,
                  "Stream ID already exists: " + record->stream_id.substr(0, 256) +
                      " (a running stream has it)");
  }
  return record;
}

core::Result<std::shared_ptr<LoadedModel>> Server::submit(
    const std::shared_ptr<StreamRecord>& record, const protocol::GenerateParams& p,
    core::Nanos timeout_ns) {
  auto model = registry_->find(p.model_id);
  if (!model) return Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + p.model_id);
  record->model = model;
  record->chunk_batch = model->chunk_batch;
  record->end_token_id = model->end_token_id;
  record->top_logprobs = static_cast<int>(p.top_logprobs.value_or(0));
  record->logprobs = p.logprobs.value_or(false) || record->top_logprobs > 0;
  record->request_id = p.request_id.value_or("");
  record->trace = begin_stream_trace(options_.tracer, p.traceparent);
  if (record->trace && p.priority) record->trace->priority = *p.priority;
  GuidancePlan guidance;
  if (p.guidance) {
    // Never ignored: compiled here, or the request fails with the reason.
    const core::Nanos began = clock_.now_ns();
    MLXS_ASSIGN_OR_RETURN(guidance, prepare_guidance(*p.guidance, *model));
    if (record->trace) {
      record->trace->guidance_begin = began;
      record->trace->guidance_end = clock_.now_ns();
    }
  }
  if (p.draft_model) {
    core::log_warn("runtime_draft_model_ignored", {{"model_id", p.model_id},
                                                   {"draft_model", *p.draft_model},
                                                   {"request_id", record->request_id}});
  }
  const core::Nanos tokenize_began = clock_.now_ns();
  MLXS_ASSIGN_OR_RETURN(engine::GenerateRequest request,
                        build_request(*model, p, options_.default_max_tokens, options_.images));
  if (record->trace) {
    record->trace->tokenize_begin = tokenize_began;
    record->trace->tokenize_end = clock_.now_ns();
  }
  if (timeout_ns != 0) request.timeout_ns = timeout_ns;
  request.constraint = guidance.constraint;
  if (p.required_dtype && normalize_dtype(*p.required_dtype) != model->dtype) {
    // The original fails such a stream after starting it.
    record->start_failure = Status(ErrorCode::kGenerationError,
                                   "required dtype " + p.required_dtype->substr(0, 32) +
                                       " does not match the model's dtype " + model->dtype);
    return model;
  }
  auto stream = model->engine->submit(std::move(request));
  if (!stream.is_ok()) {
    const Status& s = stream.status();
    if (s.code() == ErrorCode::kInvalidParams)
      return Status(s.code(), "Invalid params: " + s.message());
    return Status(s.code(), "Generation failed for " + p.model_id + ": " + s.message());
  }
  record->stream = std::move(stream).value();
  model->stats.on_started();
  streams_started_.fetch_add(1);
  return model;
}

void Server::activate(const std::shared_ptr<LoadedModel>& model,
                      const std::shared_ptr<StreamRecord>& record) {
  if (model && model->host && model->host->activate(record)) return;
  // Unloaded in between: the stream ends with an error event.
  if (record->stream) record->stream->abandon();
  StreamDelta delta;
  delta.record = record;
  StreamEnd end;
  end.error = Status(ErrorCode::kCancelled,
                     "Generation failed for " + record->model_id + ": the model was unloaded");
  delta.end = std::move(end);
  StepOutput out;
  out.model_id = record->model_id;
  out.deltas.push_back(std::move(delta));
  output_.send_step(std::move(out));
  // Only now may the id start another stream: its start response then
  // follows this stream's error event.
  streams_.release(*record);
}

void Server::activate_batch(
    const std::vector<std::pair<std::shared_ptr<LoadedModel>, std::shared_ptr<StreamRecord>>>&
        started) {
  // Per model, in the batch's order. Activated one by one, the engine thread
  // could drain between them: once the engine has run the batch (it starts
  // at submit), each stream would get a line of its own, though one step
  // made their output.
  std::vector<bool> done(started.size(), false);
  for (std::size_t i = 0; i < started.size(); ++i) {
    if (done[i]) continue;
    const std::shared_ptr<LoadedModel>& model = started[i].first;
    std::vector<std::shared_ptr<StreamRecord>> group;
    for (std::size_t j = i; j < started.size(); ++j) {
      if (!done[j] && started[j].first == model) {
        group.push_back(started[j].second);
        done[j] = true;
      }
    }
    if (model && model->host && model->host->activate(group)) continue;
    // Unloaded in between (or no model): each ends with its error event.
    for (const auto& record : group) activate(model, record);
  }
}

void Server::start_generate(const std::optional<Json>& id, const Json& params) {
  auto p = protocol::parse_params<protocol::GenerateParams>(Method::kGenerate, params);
  if (!p.is_ok()) {
    respond(id, Method::kGenerate, params, p.status());
    return;
  }
  start_stream(id, Method::kGenerate, params, std::move(p).value());
}

void Server::start_generate_with_image(const std::optional<Json>& id, const Json& params) {
  auto v =
      protocol::parse_params<protocol::GenerateWithImageParams>(Method::kGenerateWithImage, params);
  if (!v.is_ok()) {
    respond(id, Method::kGenerateWithImage, params, v.status());
    return;
  }
  // The vision set of the original: a text model is not loaded for it.
  const auto model = registry_->find(v->model_id);
  if (!model || model->model->vision() == nullptr) {
    respond(id, Method::kGenerateWithImage, params,
            Status(ErrorCode::kModelNotLoaded, "Vision model not loaded: " + v->model_id));
    return;
  }
  protocol::GenerateParams p;
  p.model_id = v->model_id;
  p.prompt = v->prompt;
  p.images.push_back(v->image);
  p.max_tokens = v->max_tokens.value_or(100);  // the TypeScript client's defaults
  p.temperature = v->temperature.value_or(0.0);
  p.top_p = v->top_p;
  p.stream_id = v->stream_id;
  start_stream(id, Method::kGenerateWithImage, params, std::move(p));
}

void Server::start_stream(const std::optional<Json>& id, Method method, const Json& params,
                          protocol::GenerateParams p) {
  auto record = reserve(p.stream_id, p.model_id, StreamStyle::kStandard);
  if (!record.is_ok()) {
    respond(id, method, params, record.status());
    return;
  }
  tasks_->post([this, id, method, params, p = std::move(p), record = *record] {
    auto model = submit(record, p);
    if (!model.is_ok()) {
      streams_.release(*record);
      respond(id, method, params, model.status());
      return;
    }
    protocol::GenerateResult r{record->stream_id, record->started_at};
    respond(id, method, params, protocol::to_json(r));
    activate(*model, record);
  });
}

void Server::start_batch_generate(const std::optional<Json>& id, const Json& params) {
  auto batch = protocol::parse_params<protocol::BatchParams>(Method::kBatchGenerate, params);
  if (!batch.is_ok()) {
    respond(id, Method::kBatchGenerate, params, batch.status());
    return;
  }
  // A missing or repeated stream_id fails the whole call (the schema
  // requires one on every entry).
  std::set<std::string> seen;
  for (const Json& entry : batch->requests) {
    const std::string sid = entry.value("stream_id", std::string());
    if (!seen.insert(sid).second) {
      respond(
          id, Method::kBatchGenerate, params,
          Status(ErrorCode::kInvalidParams, "Duplicate stream_id in batch: " + sid.substr(0, 256)));
      return;
    }
  }
  struct Entry {
    std::optional<protocol::GenerateParams> params;
    std::shared_ptr<StreamRecord> record;
    std::optional<Status> error;
  };
  auto entries = std::make_shared<std::vector<Entry>>();
  for (const Json& raw : batch->requests) {
    Entry e;
    auto p = protocol::parse_params<protocol::GenerateParams>(Method::kGenerate, raw);
    if (!p.is_ok()) {
      e.error = p.status();
    } else {
      auto record = reserve(p->stream_id, p->model_id, StreamStyle::kStandard);
      if (record.is_ok()) {
        e.record = *record;
        e.params = std::move(p).value();
      } else {
        e.error = record.status();
      }
    }
    entries->push_back(std::move(e));
  }
  tasks_->post([this, id, params, entries] {
    protocol::BatchGenerateResult out;
    std::vector<std::pair<std::shared_ptr<LoadedModel>, std::shared_ptr<StreamRecord>>> started;
    for (Entry& e : *entries) {
      protocol::BatchEntry<protocol::GenerateResult> r;
      if (!e.error) {
        auto model = submit(e.record, *e.params);
        if (model.is_ok()) {
          started.emplace_back(*model, e.record);
        } else {
          streams_.release(*e.record);
          e.error = model.status();
        }
      }
      if (e.error) {
        r.error = e.error->message();
      } else {
        r.success = true;
        r.result = protocol::GenerateResult{e.record->stream_id, e.record->started_at};
      }
      out.results.push_back(std::move(r));
    }
    respond(id, Method::kBatchGenerate, params, protocol::to_json(out));
    activate_batch(started);
  });
}

void Server::start_parallel(const std::optional<Json>& id, const Json& params) {
  auto p = protocol::parse_params<protocol::BatchGenerateParallelParams>(
      Method::kBatchGenerateParallel, params);
  if (!p.is_ok()) {
    respond(id, Method::kBatchGenerateParallel, params, p.status());
    return;
  }
  for (const auto& r : p->requests) {
    if (r.model_id != p->requests.front().model_id) {
      respond(id, Method::kBatchGenerateParallel, params,
              Status(ErrorCode::kInvalidParams, "All requests must use the same model_id"));
      return;
    }
  }
  if (!p->requests.empty() && !registry_->find(p->requests.front().model_id)) {
    respond(
        id, Method::kBatchGenerateParallel, params,
        Status(ErrorCode::kModelNotLoaded, "Model not loaded: " + p->requests.front().model_id));
    return;
  }
  std::vector<std::pair<std::shared_ptr<StreamRecord>, protocol::GenerateParams>> prepared;
  for (const auto& r : p->requests) {
    protocol::GenerateParams g;
    g.model_id = r.model_id;
    g.prompt = r.prompt;
    g.max_tokens = r.max_tokens;
    g.temperature = r.temperature;
    g.top_p = r.top_p;
    auto record =
        reserve(r.stream_id ? r.stream_id : r.request_id, r.model_id, StreamStyle::kBatcher);
    if (!record.is_ok()) {
      for (auto& [rec, gp] : prepared) streams_.release(*rec);
      respond(id, Method::kBatchGenerateParallel, params, record.status());
      return;
    }
    prepared.emplace_back(*record, std::move(g));
  }
  tasks_->post([this, id, params, prepared = std::move(prepared)] {
    std::vector<std::pair<std::shared_ptr<LoadedModel>, std::shared_ptr<StreamRecord>>> started;
    for (const auto& [record, g] : prepared) {
      auto model = submit(record, g);
      if (!model.is_ok()) {
        // Reported as the stream's error completion, as the original does.
        record->start_failure = model.status();
        record->stream.reset();
        started.emplace_back(registry_->find(g.model_id), record);
      } else {
        started.emplace_back(*model, record);
      }
    }
    respond(id, Method::kBatchGenerateParallel, params, Json(nullptr));
    activate_batch(started);
  });
}

void Server::start_continuous(const std::optional<Json>& id, const Json& params) {
  auto p = protocol::parse_params<protocol::ContinuousGenerateParams>(Method::kContinuousGenerate,
                                                                      params);
  if (!p.is_ok()) {
    respond(id, Method::kContinuousGenerate, params, p.status());
    return;
  }
  auto record =
      reserve(p->stream_id ? p->stream_id : p->request_id, p->model_id, StreamStyle::kBatcher);
  if (!record.is_ok()) {
    respond(id, Method::kContinuousGenerate, params, record.status());
    return;
  }
  tasks_->post([this, id, params, p = std::move(p).value(), record = *record] {
    protocol::GenerateParams g;
    g.model_id = p.model_id;
    g.prompt = p.prompt;
    g.max_tokens = p.max_tokens;
    g.temperature = p.temperature;
    g.top_p = p.top_p;
    const core::Nanos timeout = p.timeout_ms ? *p.timeout_ms * 1'000'000 : 0;
    auto model = submit(record, g, timeout);
    if (!model.is_ok()) {
      streams_.release(*record);
      respond(id, Method::kContinuousGenerate, params, model.status());
      return;
    }
    (*model)->batcher_started.store(true);
    respond(id, Method::kContinuousGenerate, params, Json(nullptr));
    activate(*model, record);
  });
}

}  // namespace mlxs::runtime
