#include "engine_rig.h"

#include <filesystem>

#include "core/rng.h"
#include "runtime/backend_choice.h"
#include "runtime/engine_setup.h"

namespace mlxs::bench {

core::Result<std::unique_ptr<EngineRig>> EngineRig::open(const std::string& model_dir,
                                                         const runtime::RuntimeOptions& options,
                                                         const std::string& tokenizer_dir,
                                                         bool need_tokenizer) {
  auto rig = std::make_unique<EngineRig>();
  rig->pool = std::make_shared<backend::cpu::ThreadPool>(options.threads);
  MLXS_ASSIGN_OR_RETURN(rig->backend, runtime::make_backend(options.backend, rig->pool));
  MLXS_ASSIGN_OR_RETURN(rig->model,
                        model::Model::load(model_dir, *rig->backend,
                                           runtime::load_options_for(options, std::nullopt)));
  MLXS_ASSIGN_OR_RETURN(auto setup, runtime::engine_setup_for(*rig->model, options, std::nullopt));
  const std::string tok_dir = tokenizer_dir.empty() ? model_dir : tokenizer_dir;
  std::error_code ec;
  if (need_tokenizer ||
      std::filesystem::exists(std::filesystem::path(tok_dir) / "tokenizer.json", ec)) {
    MLXS_ASSIGN_OR_RETURN(rig->tokenizer, tokenizer::Tokenizer::load_dir(tok_dir));
  }
  MLXS_ASSIGN_OR_RETURN(rig->engine, engine::Engine::create(*rig->model, rig->tokenizer.get(),
                                                            setup.config, rig->clock));
  return rig;
}

std::vector<std::vector<std::int32_t>> random_prompts(int count, int len, std::int64_t vocab,
                                                      std::uint64_t seed) {
  core::Xoshiro256 rng(seed);
  std::vector<std::vector<std::int32_t>> prompts(static_cast<std::size_t>(count));
  for (auto& p : prompts) {
    for (int i = 0; i < len; ++i) {
      p.push_back(static_cast<std::int32_t>(3 + rng.below(static_cast<std::uint64_t>(vocab - 3))));
    }
  }
  return prompts;
}

}  // namespace mlxs::bench
