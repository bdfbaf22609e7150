// `mlx-serving generate`: stream a greedy continuation of a prompt from a
// model directory on the CPU, printing tokens as they come and tokens/s.
#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>

#include <fmt/format.h>

#include "backend/cpu/cpu_backend.h"
#include "cli/commands.h"
#include "model/model.h"
#include "model/runner.h"

namespace mlxs::cli {
namespace {

struct GenerateArgs {
  std::string model_dir;
  std::string prompt_ids;
  int max_tokens = 32;
  int threads = 0;
  bool ignore_eos = false;
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
  return ids;
}

int run_generate(const GenerateArgs& a) {
  using Clock = std::chrono::steady_clock;
  auto pool = std::make_shared<backend::cpu::ThreadPool>(a.threads);
  backend::cpu::CpuBackend backend(pool);
  model::LoadOptions load;
  load.max_batch_tokens = 512;
  load.max_seqs = 1;
  load.max_logit_rows = 1;
  auto model = model::Model::load(a.model_dir, backend, load);
  if (!model) return report_error(std::string(model.status().code_name()), model.status().message());
  const auto& cfg = (*model)->config();
  const auto& gen = (*model)->generation_config();

  std::vector<std::int32_t> prompt;
  if (!a.prompt_ids.empty()) {
    auto ids = parse_ids(a.prompt_ids);
    if (!ids) return report_error("InvalidParams", ids.status().message());
    prompt = *ids;
  } else {
    const auto bos = gen.bos_token_id ? gen.bos_token_id : cfg.bos_token_id;
    prompt.push_back(static_cast<std::int32_t>(bos.value_or(1)));
  }
  for (auto id : prompt) {
    if (id >= cfg.vocab) {
      return report_error("InvalidParams", fmt::format("prompt id {} is not below the vocabulary "
                                                       "size {}", id, cfg.vocab));
    }
  }
  const int context = static_cast<int>(prompt.size()) + a.max_tokens;
  if (context > (*model)->max_context()) {
    return report_error("InvalidParams", fmt::format("prompt + max tokens ({}) exceed the model's "
                                                     "context ({})", context, (*model)->max_context()));
  }
  auto runner = model::Runner::create(**model, 1, context);
  if (!runner) return report_error(std::string(runner.status().code_name()), runner.status().message());
  std::vector<std::int64_t> eos = gen.eos_token_ids.empty() ? cfg.eos_token_ids : gen.eos_token_ids;

  const int seq = (*runner)->add_sequence();
  const auto t0 = Clock::now();
  model::SeqFeed feed{seq, prompt, false};
  auto logits = (*runner)->step(std::span<const model::SeqFeed>(&feed, 1));
  if (!logits) return report_error(std::string(logits.status().code_name()), logits.status().message());
  const double prefill_s = std::chrono::duration<double>(Clock::now() - t0).count();

  const auto t1 = Clock::now();
  int generated = 0;
  std::string finish = "length";
  for (; generated < a.max_tokens; ++generated) {
    const float* row = logits->data();
    std::int32_t next = 0;
    for (std::int64_t i = 1; i < cfg.vocab; ++i) {
      if (row[i] > row[next]) next = static_cast<std::int32_t>(i);
    }
    std::printf("%s%d", generated == 0 ? "" : " ", next);
    std::fflush(stdout);
    const bool is_eos = std::find(eos.begin(), eos.end(), next) != eos.end();
    if (is_eos && !a.ignore_eos) {
      ++generated;
      finish = "stop";
      break;
    }
    if (generated + 1 == a.max_tokens) {
      ++generated;
      break;
    }
    model::SeqFeed step{seq, std::span<const std::int32_t>(&next, 1), false};
    logits = (*runner)->step(std::span<const model::SeqFeed>(&step, 1));
    if (!logits) return report_error(std::string(logits.status().code_name()), logits.status().message());
  }
  const double decode_s = std::chrono::duration<double>(Clock::now() - t1).count();
  std::printf("\n");
  std::fprintf(stderr,
               "prompt: %zu tokens in %.3f s (%.1f tok/s); generated: %d tokens in %.3f s "
               "(%.2f tok/s); finish: %s; backend: %s\n",
               prompt.size(), prefill_s, static_cast<double>(prompt.size()) / prefill_s, generated,
               decode_s, generated > 1 ? (generated - 1) / decode_s : 0.0, finish.c_str(),
               backend.describe().c_str());
  return 0;
}

}  // namespace

void add_generate_command(CLI::App& parent, Action* action) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* cmd = parent.add_subcommand("generate", "Generate a greedy continuation on the CPU");
  cmd->add_option("--model", args->model_dir, "Hugging Face model directory")->required();
  cmd->add_option("--prompt-ids", args->prompt_ids, "Prompt token ids, comma-separated (default: BOS)");
  cmd->add_option("--max-tokens", args->max_tokens, "Tokens to generate")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--threads", args->threads, "CPU threads (default: all)")->check(CLI::Range(0, 1024));
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->callback([args, action] { *action = [args] { return run_generate(*args); }; });
}

}  // namespace mlxs::cli
