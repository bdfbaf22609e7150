#include "sampler_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <fmt/format.h>

#include "core/rng.h"
#include "engine/sampler.h"
#include "machine.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Mode {
  const char* name;
  engine::SamplingParams params;
};

std::vector<Mode> modes() {
  std::vector<Mode> m(6);
  m[0].name = "greedy";
  m[0].params.temperature = 0;
  m[1].name = "temperature 1";
  m[2].name = "top_k 50";
  m[2].params.top_k = 50;
  m[3].name = "top_p 0.9";
  m[3].params.top_p = 0.9f;
  m[4].name = "min_p 0.05";
  m[4].params.min_p = 0.05f;
  m[5].name = "top_k 40 + top_p 0.95, T 0.7";
  m[5].params.top_k = 40;
  m[5].params.top_p = 0.95f;
  m[5].params.temperature = 0.7f;
  return m;
}

// Peaked: a heavy-tailed spread around a few favourites (a trained model's
// logits); flat: uniform in [-8, 8] (a random-weight model's).
std::vector<float> make_row(core::Xoshiro256& rng, std::size_t vocab, bool peaked) {
  std::vector<float> row(vocab);
  for (auto& x : row) {
    const float u = rng.uniform() * 2.0f - 1.0f;
    x = peaked ? -4.0f + 3.0f * u : 8.0f * u;
  }
  if (peaked) {
    for (int i = 0; i < 8; ++i) row[rng.below(vocab)] = 12.0f + static_cast<float>(i);
  }
  return row;
}

}  // namespace

core::Result<json> run_sampler_bench(const SamplerBenchOptions& o) {
  if (o.vocab < 2 || o.rows < 1) {
    return core::Status(core::ErrorCode::kInvalidParams, "vocab >= 2 and rows >= 1");
  }
  const auto V = static_cast<std::size_t>(o.vocab);
  engine::Sampler sampler(o.vocab);
  core::Xoshiro256 rng(41);
  json results = json::array();
  for (bool peaked : {true, false}) {
    // A few distinct rows, copied before each sample (the sampler works in
    // place); the copy is timed apart and subtracted.
    std::vector<std::vector<float>> rows(4);
    for (auto& row : rows) row = make_row(rng, V, peaked);
    std::vector<float> work(V);
    auto t0 = Clock::now();
    for (int i = 0; i < o.rows; ++i) work = rows[static_cast<std::size_t>(i) % rows.size()];
    const double copy_us =
        std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / o.rows;
    for (const Mode& m : modes()) {
      std::int64_t checksum = 0;
      t0 = Clock::now();
      for (int i = 0; i < o.rows; ++i) {
        work = rows[static_cast<std::size_t>(i) % rows.size()];
        checksum += sampler.sample(work, m.params, {}, {}, rng).token;
      }
      const double us =
          std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / o.rows;
      results.push_back(json{{"shape", peaked ? "peaked" : "flat"},
                             {"mode", m.name},
                             {"us_per_row", std::max(0.0, us - copy_us)},
                             {"checksum", checksum}});
    }
  }
  return json{{"benchmark", "sampler"},
              {"machine", describe_machine()},
              {"vocab", o.vocab},
              {"rows", o.rows},
              {"results", results},
              {"what", "host Sampler::sample per logit row, one thread, row copy subtracted"}};
}

std::string format_sampler_table(const json& r) {
  std::string out = fmt::format("host sampler, vocabulary {}, one thread\n", r["vocab"].get<int>());
  out += fmt::format("  {:<30} {:>12} {:>12}\n", "mode", "peaked µs", "flat µs");
  const auto& res = r["results"];
  const std::size_t half = res.size() / 2;
  for (std::size_t i = 0; i < half; ++i) {
    out +=
        fmt::format("  {:<30} {:>12.1f} {:>12.1f}\n", res[i]["mode"].get<std::string>(),
                    res[i]["us_per_row"].get<double>(), res[i + half]["us_per_row"].get<double>());
  }
  return out;
}

}  // namespace mlxs::bench
