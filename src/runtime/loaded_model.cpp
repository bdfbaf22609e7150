#include "runtime/loaded_model.h"

#include <filesystem>

#include "core/log.h"
#include "core/progress.h"
#include "runtime/backend_choice.h"
#include "runtime/engine_setup.h"
#include "runtime/load_progress.h"
#include "runtime/tensor_parallel.h"
#include "runtime/vision_prompt.h"

namespace mlxs::runtime {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::Status;

LoadedModel::~LoadedModel() {
  if (host) host->stop(Status(ErrorCode::kCancelled, "the model was unloaded"), false);
  host.reset();
  engine.reset();
}

std::string device_name(const BackendChoice& backend) {
  return backend.kind == "cuda" ? "cuda:" + std::to_string(backend.device) : backend.kind;
}

std::size_t chunk_batch_for(std::size_t parameter_count, const RuntimeOptions& options) {
  if (!options.ipc_batching) return 1;
  if (parameter_count == 0)
    return static_cast<std::size_t>(std::max(1, options.max_tokens_per_batch));
  const double billions = static_cast<double>(parameter_count) / 1e9;
  if (billions < 4) return 32;
  if (billions < 15) return 16;
  if (billions < 50) return 8;
  return 4;
}

namespace {

// One real token through the engine before the model is published (issue 6:
// /ready means a model can serve). Runs on the loading thread before the
// engine thread starts, holding the shared device like any engine step.
core::Result<double> warm_up(engine::Engine& engine, engine::DeviceArbiter& arbiter, int index,
                             const core::Clock& clock) {
  engine::GenerateRequest r;
  r.prompt = {0};  // any id the embedding has: the weights' path is what runs
  r.sampling.temperature = 0;
  r.stop.max_tokens = 1;
  r.stop.ignore_eos = true;
  const core::Nanos start = clock.now_ns();
  MLXS_ASSIGN_OR_RETURN(auto stream, engine.submit(std::move(r)));
  int tokens = 0;
  // A 1-token request ends within a few steps; the bound only guards a bug.
  for (int i = 0; i < 1000 && !stream->done(); ++i) {
    arbiter.acquire(index, {});
    auto stepped = engine.step();
    arbiter.release(index);
    if (!stepped.is_ok()) return stepped.status();
    for (const auto& item : stream->take()) tokens += static_cast<int>(item.tokens.size());
  }
  if (auto error = stream->error()) return *error;
  if (!stream->done() || tokens != 1) {
    return core::make_error(ErrorCode::kModelLoadError,
                            "the warm-up generation produced {} tokens instead of 1", tokens);
  }
  return static_cast<double>(clock.now_ns() - start) / 1e9;
}

}  // namespace

core::Result<std::unique_ptr<LoadedModel>> load_model(const std::string& model_id,
                                                      const LoadKey& key, const LoadContext& ctx,
                                                      int arbiter_index) {
  const RuntimeOptions& opts = *ctx.options;
  // The flags and the configuration bound it; options built in code are
  // checked here, before a budget of any size sizes the model's scratch.
  MLXS_RETURN_IF_ERROR(check_max_batch_tokens(opts.max_batch_tokens));
  auto m = std::make_unique<LoadedModel>(*ctx.clock);
  m->model_id = model_id;
  m->key = key;
  if (opts.tensor_parallel <= 1) {
    MLXS_ASSIGN_OR_RETURN(m->backend, make_backend(opts.backend, ctx.pool));
  }

  std::error_code ec;
  if (fs::exists(fs::path(key.dir) / "tokenizer.json", ec)) {
    MLXS_ASSIGN_OR_RETURN(m->tokenizer, tokenizer::Tokenizer::load_dir(key.dir));
  }

  model::LoadOptions load = load_options_for(opts, key.context_length);
  load.quantization = key.quantization;
  // On a terminal, a line that shows the bytes and tensors bound; silent
  // otherwise. The client hears of it through ctx.on_load_progress, paced.
  core::Progress progress(true, "load", /*tty_only=*/true);
  LoadProgressThrottle throttle;
  load.progress = [&](const model::LoadProgress& p) {
    const model::LoadLine line = model::describe_load(p);
    progress.update(model_id + ": " + line.what, line.done, line.total);
    if (ctx.on_load_progress && throttle.admit(ctx.clock->now_ns(), p)) {
      ctx.on_load_progress(load_progress_notice(model_id, p));
    }
  };
  if (opts.tensor_parallel > 1) {
    // Every rank gets its own backend (and CPU threads): the shared pool
    // would serialise the ranks' steps.
    MLXS_ASSIGN_OR_RETURN(auto tp, load_tensor_parallel(key.dir, opts.backend, opts.tensor_parallel,
                                                        opts.threads, load));
    m->tp_group = std::move(tp.group);
    m->backend = std::move(tp.rank0.backend);
    m->model = std::move(tp.rank0.model);
  } else {
    MLXS_ASSIGN_OR_RETURN(m->model, model::Model::load(key.dir, *m->backend, load));
  }
  if (const auto last = throttle.flush(); last && ctx.on_load_progress) {
    ctx.on_load_progress(load_progress_notice(model_id, *last));
  }
  const model::Model& model = *m->model;
  MLXS_ASSIGN_OR_RETURN(m->processor, load_image_processor(key.dir, model));

  if (m->tokenizer) {
    auto chat = template_::load_chat_config(key.dir);
    if (chat.is_ok() && !chat->templates.empty()) {
      auto formatter = template_::ChatFormatter::create(std::move(chat).value());
      if (formatter.is_ok()) {
        m->chat = std::move(formatter).value();
      } else {
        core::log_warn("runtime_chat_template_unusable",
                       {{"model_id", model_id}, {"error", formatter.status().to_string()}});
      }
    } else if (!chat.is_ok()) {
      core::log_warn("runtime_chat_config_unusable",
                     {{"model_id", model_id}, {"error", chat.status().to_string()}});
    }
  }

  MLXS_ASSIGN_OR_RETURN(EngineSetup setup, engine_setup_for(model, opts, key.context_length));
  const std::int64_t context = setup.context;
  MLXS_ASSIGN_OR_RETURN(
      m->engine, engine::Engine::create(*m->model, m->tokenizer.get(), setup.config, *ctx.clock,
                                        m->tp_group.get()));

  const auto& cfg = model.config();
  m->dtype = std::string(tensor::dtype_torch_name(cfg.dtype));
  const auto& gen = model.generation_config();
  const auto& eos = gen.eos_token_ids.empty() ? cfg.eos_token_ids : gen.eos_token_ids;
  m->end_token_id = eos.empty() ? 0 : static_cast<std::int32_t>(eos.front());
  m->chunk_batch = chunk_batch_for(model.parameter_count(), opts);

  protocol::LoadModelResult& info = m->info;
  info.model_id = model_id;
  info.state = "ready";
  info.context_length = context;
  info.parameter_count = static_cast<std::int64_t>(model.parameter_count());
  info.dtype = m->dtype;
  info.is_vision_model = model.vision() != nullptr;
  info.cached_path = key.dir;
  info.architecture = cfg.model_type;
  info.vocab_size = cfg.vocab;
  info.has_tokenizer = m->tokenizer != nullptr;
  info.has_chat_template = m->chat.has_value();
  info.quantization = model.quantization_summary();
  protocol::ModelMemory memory;
  memory.weights_bytes = static_cast<std::int64_t>(model.weight_bytes());
  // The engine allocated every block of its cache at creation.
  memory.kv_blocks_total = setup.config.kv_blocks;
  memory.kv_block_bytes =
      static_cast<std::int64_t>(model.kv_shape(1, setup.config.block_size).bytes());
  memory.kv_cache_bytes = memory.kv_blocks_total * memory.kv_block_bytes;
  memory.device = device_name(opts.backend);
  // What the backend keeps, not what was asked: auto resolved, exact_f32 and
  // the MLXS_CUDA_KV_* overrides applied (rank 0's; every rank's is the same).
  memory.kv_cache_dtype = std::string(kv_cache_dtype_name(m->backend->kv_dtype()));
  info.memory = std::move(memory);
  auto warm = warm_up(*m->engine, *ctx.arbiter, arbiter_index, *ctx.clock);
  if (!warm.is_ok()) {
    return Status(ErrorCode::kModelLoadError,
                  "the model failed its one-token warm-up: " + warm.status().message());
  }
  info.warmup_seconds = *warm;

  m->host =
      std::make_unique<EngineHost>(model_id, *m->engine, m->tokenizer.get(), *ctx.arbiter,
                                   arbiter_index, *ctx.output, *ctx.streams, m->stats, *ctx.clock);
  if (m->tp_group && ctx.on_group_failed) {
    m->host->set_on_broken([cb = ctx.on_group_failed, id = model_id] { cb(id); });
  }
  m->host->start();
  return m;
}

}  // namespace mlxs::runtime
