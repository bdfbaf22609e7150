#pragma once
// The logits of every position of a prompt fed as one new sequence (test
// helper shared by the model tests).

#include <cstdint>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "model/runner.h"

namespace mlxs::model {

inline std::vector<float> sequence_logits(Runner& runner, const std::vector<std::int32_t>& ids) {
  const int seq = runner.add_sequence();
  const SeqFeed feed{seq, ids, true};
  auto out = runner.step(std::span<const SeqFeed>(&feed, 1));
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  runner.remove_sequence(seq);
  return out.is_ok() ? *out : std::vector<float>();
}

}  // namespace mlxs::model
