// `mlx-serving generate`: one request through the serving engine on the CPU,
// streamed to stdout (text when the model has a tokenizer, else token ids),
// with time to first token and decode tokens/s on stderr.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "backend/cpu/thread_pool.h"
#include "cli/commands.h"
#include "core/progress.h"
#include "engine/engine.h"
#include "model/model.h"
#include "runtime/engine_setup.h"
#include "runtime/tensor_parallel.h"
#include "template/chat_config.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::cli {
namespace {

struct GenerateArgs {
  std::string model_dir;
  std::string prompt;
  std::string prompt_ids;
  std::string system;
  bool chat = false;
  int max_tokens = 64;
  int threads = 0;
  bool ignore_eos = false;
  float temperature = 0.0f;
  float top_p = 1.0f;
  int top_k = 0;
  float min_p = 0.0f;
  float repetition_penalty = 1.0f;
  std::int64_t seed = -1;
  std::vector<std::string> stop;
  bool print_ids = false;
  std::string quantization;
  runtime::BackendChoice backend;
  int tensor_parallel = 1;
  int max_batch_tokens = 0;  // 0: the backend's default
};

core::Result<std::vector<std::int32_t>> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(static_cast<std::int32_t>(v));
    } catch (const std::exception&) {
      return core::make_error(core::ErrorCode::kInvalidParams,
                              "--prompt-ids must be comma-separated non-negative integers");
    }
  }
  if (ids.empty()) return core::Status(core::ErrorCode::kInvalidParams, "--prompt-ids is empty");
  return ids;
}

int fail(const core::Status& s) {
  return report_error(std::string(s.code_name()), s.message());
}

// The prompt as token ids: given ids, or text (optionally through the chat template).
core::Result<std::vector<std::int32_t>> build_prompt(const GenerateArgs& a,
                                                     const model::Model& model,
                                                     const tokenizer::Tokenizer* tok) {
  if (!a.prompt_ids.empty()) return parse_ids(a.prompt_ids);
  if (a.prompt.empty()) {
    const auto& gen = model.generation_config();
    const auto bos = gen.bos_token_id ? gen.bos_token_id : model.config().bos_token_id;
    return std::vector<std::int32_t>{static_cast<std::int32_t>(bos.value_or(1))};
  }
  if (tok == nullptr) {
    return core::Status(core::ErrorCode::kInvalidParams,
                        "this model has no tokenizer.json: give --prompt-ids instead of --prompt");
  }
  if (!a.chat) return tok->encode(a.prompt, true);
  MLXS_ASSIGN_OR_RETURN(auto config, template_::load_chat_config(a.model_dir));
  template_::OrderedJson messages = template_::OrderedJson::array();
  if (!a.system.empty()) messages.push_back({{"role", "system"}, {"content", a.system}});
  messages.push_back({{"role", "user"}, {"content", a.prompt}});
  MLXS_ASSIGN_OR_RETURN(auto text,
                        template_::render_chat(config, messages, template_::OrderedJson(), true,
                                               template_::OrderedJson::object()));
  // The template writes the special tokens itself.
  return tok->encode(text, false);
}

int run_generate(const GenerateArgs& a) {
  using Clock = std::chrono::steady_clock;
  if (const int refused = refuse_tensor_parallel(a.backend, a.tensor_parallel); refused != 0) {
    return refused;
  }
  // Tensor parallelism: the other ranks (declared first: they go last).
  std::unique_ptr<engine::TensorParallelGroup> group;
  std::unique_ptr<tensor::Backend> backend_owner;
  if (a.tensor_parallel == 1) {
    auto made =
        runtime::make_backend(a.backend, std::make_shared<backend::cpu::ThreadPool>(a.threads));
    if (!made) return fail(made.status());
    backend_owner = std::move(made).value();
  }
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(a.model_dir) / "tokenizer.json", ec)) {
    auto t = tokenizer::Tokenizer::load_dir(a.model_dir);
    if (!t) return fail(t.status());
    tok = std::move(t).value();
  }
  // The worker's rule (one stream here): a prompt runs in chunks of this.
  const int batch_tokens = runtime::resolve_max_batch_tokens(a.max_batch_tokens, a.backend.kind, 1);
  model::LoadOptions load;
  load.max_batch_tokens = batch_tokens;
  load.max_seqs = 1;
  load.max_logit_rows = 1;
  load.quantization = a.quantization;
  core::Progress progress(true, "load", /*tty_only=*/true);  // silent off a terminal
  load.progress = [&progress](const model::LoadProgress& p) {
    const model::LoadLine line = model::describe_load(p);
    progress.update(line.what, line.done, line.total);
  };
  core::Result<std::unique_ptr<model::Model>> model(
      core::Status(core::ErrorCode::kInternalError, "no model"));
  if (a.tensor_parallel == 1) {
    model = model::Model::load(a.model_dir, *backend_owner, load);
  } else {
    auto tp =
        runtime::load_tensor_parallel(a.model_dir, a.backend, a.tensor_parallel, a.threads, load);
    if (!tp) return fail(tp.status());
    group = std::move(tp->group);
    backend_owner = std::move(tp->rank0.backend);
    model = std::move(tp->rank0.model);
  }
  if (!model) return fail(model.status());
  tensor::Backend& backend = *backend_owner;
  auto prompt = build_prompt(a, **model, tok.get());
  if (!prompt) return fail(prompt.status());
  const auto vocab = (*model)->config().vocab;
  for (auto id : *prompt) {
    if (id >= vocab) {
      return report_error(
          "InvalidParams",
          fmt::format("prompt id {} is not below the vocabulary size {}", id, vocab));
    }
  }
  const int context = static_cast<int>(prompt->size()) + a.max_tokens + 1;
  if (context > (*model)->max_context()) {
    return report_error("InvalidParams",
                        fmt::format("prompt + max tokens ({}) exceed the model's context ({})",
                                    context, (*model)->max_context()));
  }
  engine::EngineConfig config;
  config.scheduler.max_batch_tokens = batch_tokens;
  config.scheduler.max_seqs = 1;
  config.scheduler.prefill_chunk = batch_tokens;
  config.scheduler.max_context = context;
  config.kv_blocks = (context + config.block_size - 1) / config.block_size;
  core::SteadyClock clock;
  auto eng = engine::Engine::create(**model, tok.get(), config, clock, group.get());
  if (!eng) return fail(eng.status());

  engine::GenerateRequest req;
  req.prompt = *prompt;
  req.sampling.temperature = a.temperature;
  req.sampling.top_p = a.top_p;
  req.sampling.top_k = a.top_k;
  req.sampling.min_p = a.min_p;
  req.sampling.repetition_penalty = a.repetition_penalty;
  if (a.seed >= 0) req.sampling.seed = static_cast<std::uint64_t>(a.seed);
  req.stop.max_tokens = a.max_tokens;
  req.stop.ignore_eos = a.ignore_eos;
  req.stop.stop = a.stop;
  const auto t0 = Clock::now();
  auto stream = (*eng)->submit(req);
  if (!stream) return fail(stream.status());
  const bool text_mode = tok != nullptr && !a.print_ids;
  double ttft = 0;
  int tokens = 0;
  engine::FinishReason finish = engine::FinishReason::kNone;
  while (!(*stream)->done()) {
    auto worked = (*eng)->step();
    if (!worked) return fail(worked.status());
    for (const auto& item : (*stream)->take()) {
      if (item.final) finish = item.finish;
      for (auto id : item.tokens) {
        if (tokens == 0) ttft = std::chrono::duration<double>(Clock::now() - t0).count();
        if (!text_mode) std::printf("%s%d", tokens == 0 ? "" : " ", id);
        ++tokens;
      }
      if (text_mode) std::fwrite(item.text.data(), 1, item.text.size(), stdout);
      std::fflush(stdout);
    }
  }
  if (auto err = (*stream)->error()) return fail(*err);
  const double total = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("\n");
  std::fflush(stdout);
  std::fprintf(
      stderr,
      "prompt: %zu tokens, time to first token %.3f s; generated: %d tokens, %.2f tok/s after "
      "the first; finish: %s; backend: %s\n",
      prompt->size(), ttft, tokens, tokens > 1 ? (tokens - 1) / (total - ttft) : 0.0,
      std::string(engine::finish_reason_name(finish)).c_str(), backend.describe().c_str());
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = parent.add_subcommand("generate", "Generate from a model directory, streamed");
  cmd->add_option("--model", args->model_dir, "Hugging Face model directory")->required();
  auto* text = cmd->add_option("--prompt", args->prompt, "Prompt text (needs tokenizer.json)");
  cmd->add_option("--prompt-ids", args->prompt_ids, "Prompt token ids, comma-separated")
      ->excludes(text);
  cmd->add_flag("--chat", args->chat,
                "Wrap --prompt as a user message in the model's chat template");
  cmd->add_option("--system", args->system, "System message (with --chat)");
  cmd->add_option("--max-tokens", args->max_tokens, "Tokens to generate")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--temperature", args->temperature, "0 = greedy")->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-p", args->top_p, "Nucleus sampling")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--top-k", args->top_k, "Top-k sampling (0 = off)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("--min-p", args->min_p, "Min-p sampling")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--repetition-penalty", args->repetition_penalty, "Repetition penalty")
      ->check(CLI::Range(0.01, 10.0));
  cmd->add_option("--seed", args->seed, "Sampling seed");
  cmd->add_option("--stop", args->stop, "Stop string (repeatable)");
  cmd->add_option("--quantization", args->quantization,
                  "Quantize float weights at load (int4, int8: MLX affine, group 64; fp8: e4m3 "
                  "per channel); on a quantized model, a consistency check")
      ->check(CLI::IsMember({"none", "int4", "int8", "fp8"}));
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)")
      ->check(CLI::Range(0, 1024));
  add_backend_options(cmd, &args->backend);
  add_tensor_parallel_option(cmd, &args->tensor_parallel);
  add_max_batch_tokens_option(cmd, &args->max_batch_tokens);
  add_kv_cache_dtype_option(cmd, &args->backend.kv_cache_dtype);
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->add_flag("--ids", args->print_ids, "Print token ids even when the model has a tokenizer");
  cmd->callback([args, action] { *action = [args] { return run_generate(*args); }; });
}

}  // namespace mlxs::cli
