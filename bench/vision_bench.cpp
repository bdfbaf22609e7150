#include "vision_bench.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "backend/cpu/thread_pool.h"
#include "core/progress.h"
#include "core/rng.h"
#include "machine.h"
#include "model/model.h"
#include "model/runner.h"
#include "runtime/backend_choice.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

core::Result<nlohmann::json> run_vision_bench(const VisionBenchOptions& o) {
  if (o.text_tokens < 1 || o.repeats < 1 || o.warmup < 0) {
    return core::Status(core::ErrorCode::kInvalidParams,
                        "text tokens and repeats must be positive");
  }
  core::Progress progress(o.progress);
  runtime::BackendChoice choice;
  choice.kind = o.backend;
  choice.device = o.device;
  const int threads = o.threads > 0 ? o.threads : backend::cpu::ThreadPool::available_cpus();
  MLXS_ASSIGN_OR_RETURN(
      std::unique_ptr<tensor::Backend> be,
      runtime::make_backend(choice, std::make_shared<backend::cpu::ThreadPool>(threads)));
  progress.note("loading model");
  if (o.grid < 2 || o.grid > 128) {
    return core::Status(core::ErrorCode::kInvalidParams, "the patch grid must be 2 to 128");
  }
  model::LoadOptions load;
  load.max_seqs = 1;
  load.max_logit_rows = 1;
  // Large enough for the prompt and its image rows in one prefill step, and
  // (Qwen) for the tower's patch rows in one linear.
  const std::int64_t patches = static_cast<std::int64_t>(o.grid) * o.grid;
  load.max_batch_tokens = static_cast<int>(std::max<std::int64_t>(4096, patches));
  load.max_context = static_cast<int>(std::max<std::int64_t>(4096, patches + o.text_tokens + 8));
  load.max_image_patches = patches;
  MLXS_ASSIGN_OR_RETURN(auto model, model::Model::load(o.model_dir, *be, load));
  const model::VisionConfig* vc = model->vision();
  if (vc == nullptr) {
    return core::Status(core::ErrorCode::kInvalidParams, "bench vision needs a vision model");
  }
  const bool qwen = vc->projector == model::ProjectorKind::kQwenMerger;
  if (qwen && o.grid % vc->merge != 0) {
    return core::Status(
        core::ErrorCode::kInvalidParams,
        fmt::format("the patch grid must be whole {} x {} merge units", vc->merge, vc->merge));
  }
  MLXS_ASSIGN_OR_RETURN(auto runner, model::Runner::create(*model, 1, load.max_batch_tokens));

  // A random image (values as normalised pixels): the tower's size, or for
  // Qwen a grid x grid patch image in its flattened [patches, C·T·P·P] form.
  core::Xoshiro256 rng(7);
  const std::size_t values =
      qwen ? static_cast<std::size_t>(patches * vc->patch_values())
           : static_cast<std::size_t>(vc->channels * vc->image_size * vc->image_size);
  std::vector<float> pixels(values);
  for (auto& p : pixels) p = rng.uniform() * 2.0f - 1.0f;
  const model::ImageInput image =
      qwen ? model::ImageInput{pixels, 1, o.grid, o.grid} : model::ImageInput{pixels, 1, 0, 0};
  const std::int32_t merged = qwen ? static_cast<std::int32_t>(o.grid / vc->merge) : 0;
  MLXS_ASSIGN_OR_RETURN(const std::int64_t rows, model->image_tokens(image));
  const std::int64_t hidden = model->config().hidden;
  std::vector<float> features(static_cast<std::size_t>(rows * hidden));

  // Half the text before the image (its start and end markers around it),
  // half after; text ids drawn below the image token.
  const std::int64_t vocab = model->config().vocab;
  const auto text_id = [&] {
    return static_cast<std::int32_t>(
        rng.below(static_cast<std::uint64_t>(std::min<std::int64_t>(vocab, 32000))));
  };
  std::vector<std::int32_t> prompt;
  for (int i = 0; i < o.text_tokens / 2; ++i) prompt.push_back(text_id());
  if (vc->image_start_id) prompt.push_back(static_cast<std::int32_t>(*vc->image_start_id));
  const auto begin = static_cast<std::int32_t>(prompt.size());
  for (std::int64_t i = 0; i < rows; ++i)
    prompt.push_back(static_cast<std::int32_t>(std::max<std::int64_t>(vc->image_token_id, 0)));
  if (vc->image_end_id) prompt.push_back(static_cast<std::int32_t>(*vc->image_end_id));
  while (static_cast<int>(prompt.size()) < o.text_tokens + rows + 2) prompt.push_back(text_id());

  std::vector<double> tower_ms, prefill_ms, ttft_ms;
  for (int r = 0; r < o.warmup + o.repeats; ++r) {
    progress.note(fmt::format("request {} of {}", r + 1, o.warmup + o.repeats));
    const int seq = runner->add_sequence();
    const auto t0 = Clock::now();
    MLXS_RETURN_IF_ERROR(model->encode_image(image, features));
    const double tower = ms_since(t0);
    model::PlacedImage placed{begin, static_cast<std::int32_t>(rows), merged, merged,
                              features.data()};
    MLXS_RETURN_IF_ERROR(runner->place_image(seq, placed));
    const auto t1 = Clock::now();
    const model::SeqFeed feed{seq, prompt, false};
    MLXS_ASSIGN_OR_RETURN(auto ids, runner->step_greedy(std::span<const model::SeqFeed>(&feed, 1)));
    (void)ids;
    const double prefill = ms_since(t1);
    runner->remove_sequence(seq);
    if (r < o.warmup) continue;
    tower_ms.push_back(tower);
    prefill_ms.push_back(prefill);
    ttft_ms.push_back(tower + prefill);
  }
  nlohmann::json out;
  out["machine"] = describe_machine();
  out["backend"] = be->describe();
  out["model"] = {{"dir_name", std::filesystem::path(o.model_dir).filename().string()},
                  {"model_type", vc->model_type},
                  {"vision_hidden", vc->hidden},
                  {"vision_layers", vc->layers},
                  {"vision_heads", vc->heads},
                  {"image_size", qwen ? o.grid * vc->patch : vc->image_size},
                  {"patch", vc->patch},
                  {"patches", qwen ? patches : vc->fixed_patches()},
                  {"image_tokens", rows},
                  {"text_hidden", hidden},
                  {"text_layers", model->config().layers}};
  out["prompt_tokens"] = prompt.size();
  out["repeats"] = o.repeats;
  out["warmup"] = o.warmup;
  out["tower_ms"] = tower_ms;
  out["prefill_ms"] = prefill_ms;
  out["ttft_ms"] = ttft_ms;
  out["tower_ms_p50"] = median(tower_ms);
  out["prefill_ms_p50"] = median(prefill_ms);
  out["ttft_ms_p50"] = median(ttft_ms);
  return out;
}

std::string format_vision_table(const nlohmann::json& r) {
  const auto& m = r["model"];
  std::string out = fmt::format(
      "vision TTFT: {} ({}: tower {} x {} layers over {} patches -> {} image tokens; decoder {} "
      "layers) on {}; prompt {} tokens, median of {} requests\n",
      m["dir_name"].get<std::string>(), m["model_type"].get<std::string>(),
      m["vision_hidden"].get<std::int64_t>(), m["vision_layers"].get<std::int64_t>(),
      m["patches"].get<std::int64_t>(), m["image_tokens"].get<std::int64_t>(),
      m["text_layers"].get<std::int64_t>(), r["backend"].get<std::string>(),
      r["prompt_tokens"].get<std::size_t>(), r["repeats"].get<int>());
  out += fmt::format("{:>12} {:>12} {:>12}\n", "tower", "prefill", "TTFT");
  out += fmt::format("{:>10.1f}ms {:>10.1f}ms {:>10.1f}ms\n", r["tower_ms_p50"].get<double>(),
                     r["prefill_ms_p50"].get<double>(), r["ttft_ms_p50"].get<double>());
  return out;
}

}  // namespace mlxs::bench
