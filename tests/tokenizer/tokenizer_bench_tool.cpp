// Runs the tokenizer benchmark until `mlx-serving bench tokenizer` is wired:
//   tokenizer_bench_tool MODEL_DIR [MB per kind] [threads]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tokenizer_bench.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [MB per kind] [threads]\n", argv[0]);
    return 2;
  }
  mlxs::bench::TokenizerBenchOptions o;
  o.model_dir = argv[1];
  if (argc > 2) o.text_bytes = static_cast<std::size_t>(std::atof(argv[2]) * 1e6);
  if (argc > 3) o.threads = std::atoi(argv[3]);
  auto r = mlxs::bench::run_tokenizer_bench(o);
  if (!r.is_ok()) {
    std::fprintf(stderr, "%s\n", r.status().to_string().c_str());
    return 1;
  }
  std::printf("%s\n%s\n", mlxs::bench::format_tokenizer_table(*r).c_str(), r->dump().c_str());
  return 0;
}
