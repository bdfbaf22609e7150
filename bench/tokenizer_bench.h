#pragma once
// `mlx-serving bench tokenizer`: encode and decode throughput (MB/s of text and
// tokens/s) of one tokenizer on generated English prose, source code and CJK
// text, on one thread and on every thread; plus pathological inputs (1 MB of
// one repeated character) at two sizes, whose times show that encoding is
// linear in the input. Texts are generated from a seed, so runs compare.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace mlxs::bench {

struct TokenizerBenchOptions {
  std::string model_dir;  // holds tokenizer.json (+ tokenizer_config.json)
  std::vector<std::string> kinds{"prose", "code", "cjk"};
  std::size_t text_bytes = std::size_t{8} << 20;       // per kind
  std::size_t document_bytes = std::size_t{64} << 10;  // unit of work for the threads
  int threads = 0;                                     // 0: every CPU
  int repeats = 3;                                     // the best repeat is reported
  std::uint64_t seed = 0;
  bool pathological = true;
  bool progress = true;
};

core::Result<nlohmann::json> run_tokenizer_bench(const TokenizerBenchOptions& options);

// The human table of a run_tokenizer_bench result.
std::string format_tokenizer_table(const nlohmann::json& result);

// The generated text of one kind ("prose", "code", "cjk"), about `bytes` long.
std::string generate_bench_text(const std::string& kind, std::size_t bytes, std::uint64_t seed);

}  // namespace mlxs::bench
