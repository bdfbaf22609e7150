#pragma once
// An engine set up in this process exactly as the runtime worker sets one up
// (backend from the options, model, engine configuration, the tokenizer),
// for the benchmarks that step an engine themselves, and the random prompts
// they feed it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/thread_pool.h"
#include "core/clock.h"
#include "core/status.h"
#include "engine/engine.h"
#include "model/model.h"
#include "runtime/options.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::bench {

struct EngineRig {
  core::SteadyClock clock;
  std::shared_ptr<backend::cpu::ThreadPool> pool;
  std::unique_ptr<tensor::Backend> backend;
  std::unique_ptr<model::Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;  // may be null (see open)
  std::unique_ptr<engine::Engine> engine;

  // The tokenizer comes from `tokenizer_dir`, else the model's folder; when
  // `need_tokenizer` is false a model folder without one runs on ids only.
  static core::Result<std::unique_ptr<EngineRig>> open(const std::string& model_dir,
                                                       const runtime::RuntimeOptions& options,
                                                       const std::string& tokenizer_dir,
                                                       bool need_tokenizer);
};

// `count` prompts of `len` ids drawn past the first few (often special).
std::vector<std::vector<std::int32_t>> random_prompts(int count, int len, std::int64_t vocab,
                                                      std::uint64_t seed);

}  // namespace mlxs::bench
