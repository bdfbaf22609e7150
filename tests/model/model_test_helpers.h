#pragma once
// Helpers shared by the model tests: a model and its runner loaded on a
// backend the test made, and the logits of a prompt fed as one sequence.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "model/model.h"
#include "model/runner.h"

namespace mlxs::model {

// `dir` loaded on `backend` with `o` into `model`, and a runner over it of
// o.max_seqs sequences of o.max_context positions into `runner`; a failure
// of either is a test failure and leaves the pointer empty.
inline void load_model_and_runner(const std::string& dir, tensor::Backend& backend,
                                  const LoadOptions& o, std::unique_ptr<Model>& model,
                                  std::unique_ptr<Runner>& runner) {
  auto loaded = Model::load(dir, backend, o);
  EXPECT_TRUE(loaded.is_ok()) << dir << ": " << loaded.status().to_string();
  if (!loaded) return;
  model = std::move(loaded).value();
  auto made = Runner::create(*model, o.max_seqs, o.max_context);
  EXPECT_TRUE(made.is_ok()) << made.status().to_string();
  if (made) runner = std::move(made).value();
}

// The logits of every position of a prompt fed as one new sequence.
inline std::vector<float> sequence_logits(Runner& runner, const std::vector<std::int32_t>& ids) {
  const int seq = runner.add_sequence();
  const SeqFeed feed{seq, ids, true};
  auto out = runner.step(std::span<const SeqFeed>(&feed, 1));
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  runner.remove_sequence(seq);
  return out.is_ok() ? *out : std::vector<float>();
}

}  // namespace mlxs::model
