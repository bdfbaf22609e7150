#include "tokenizer_bench.h"

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "core/rng.h"
#include "machine.h"
#include "tokenizer/tokenizer.h"

namespace mlxs::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kWords[] = {"the",          "of",
                                  "and",          "to",
                                  "in",           "a",
                                  "is",           "that",
                                  "for",          "it",
                                  "as",           "was",
                                  "with",         "be",
                                  "by",           "on",
                                  "not",          "he",
                                  "this",         "are",
                                  "or",           "his",
                                  "from",         "at",
                                  "which",        "but",
                                  "have",         "an",
                                  "had",          "they",
                                  "you",          "were",
                                  "their",        "one",
                                  "all",          "we",
                                  "can",          "her",
                                  "has",          "there",
                                  "been",         "if",
                                  "more",         "when",
                                  "will",         "would",
                                  "who",          "so",
                                  "no",           "time",
                                  "people",       "year",
                                  "way",          "day",
                                  "man",          "thing",
                                  "woman",        "life",
                                  "child",        "world",
                                  "school",       "state",
                                  "family",       "student",
                                  "group",        "country",
                                  "problem",      "hand",
                                  "part",         "place",
                                  "case",         "week",
                                  "company",      "system",
                                  "program",      "question",
                                  "work",         "government",
                                  "number",       "night",
                                  "point",        "home",
                                  "water",        "room",
                                  "mother",       "area",
                                  "money",        "story",
                                  "fact",         "month",
                                  "lot",          "right",
                                  "study",        "book",
                                  "eye",          "job",
                                  "word",         "business",
                                  "issue",        "side",
                                  "kind",         "head",
                                  "house",        "service",
                                  "friend",       "father",
                                  "power",        "hour",
                                  "game",         "line",
                                  "end",          "member",
                                  "law",          "car",
                                  "city",         "community",
                                  "name",         "president",
                                  "team",         "minute",
                                  "idea",         "kid",
                                  "body",         "information",
                                  "back",         "parent",
                                  "face",         "others",
                                  "level",        "office",
                                  "door",         "health",
                                  "person",       "art",
                                  "war",          "history",
                                  "party",        "result",
                                  "change",       "morning",
                                  "reason",       "research",
                                  "girl",         "guy",
                                  "moment",       "air",
                                  "teacher",      "force",
                                  "education",    "beautiful",
                                  "remarkable",   "quickly",
                                  "although",     "however",
                                  "nevertheless", "understanding",
                                  "development",  "environmental",
                                  "considerably", "straightforward",
                                  "Tuesday",      "London",
                                  "Mary",         "Einstein",
                                  "it's",         "don't",
                                  "we'll",        "they've",
                                  "1984",         "42",
                                  "3.14",         "twenty-first",
                                  "self-evident", "e-mail"};

constexpr const char* kCodeLines[] = {"for (int i = 0; i < {n}; ++i) {{",
                                      "  if ({a} > {b}) return {a} - {b};",
                                      "}}",
                                      "def {a}_{b}(self, {c}: int) -> list[str]:",
                                      "    return [x for x in self.{a} if x.{b}({c})]",
                                      "const auto {a} = std::make_unique<{B}>({n});",
                                      "  {a}.push_back({b}[{n}]);",
                                      "// {B}: {a} the {b} before {c}",
                                      "    {a} = {a} + {n} * {b}  # {c}",
                                      "import {a}.{b} as {c}",
                                      "std::vector<{B}> {a}_{b}({c}.size());",
                                      "  printf(\"%d\\n\", {a}_{b});",
                                      "class {B}({C}):",
                                      "    \"\"\"{B} of the {a}.\"\"\"",
                                      "{a}: {{ \"{b}\": {n}, \"{c}\": [{n}, {n}] }},",
                                      "\treturn nil, err"};

constexpr const char* kIdents[] = {"value",  "count",  "index", "buffer", "node",  "result",
                                   "items",  "key",    "data",  "offset", "token", "stream",
                                   "config", "parser", "size",  "name",   "total", "left"};

// Common CJK characters (Chinese, with kana and Hangul for variety) and punctuation.
constexpr const char* kCjk[] = {
    "的",   "一",   "是",   "不",   "了",   "在",   "人",  "有", "我", "他", "这", "个",   "们",
    "中",   "来",   "上",   "大",   "为",   "和",   "国",  "地", "到", "以", "说", "时",   "要",
    "就",   "出",   "会",   "可",   "也",   "你",   "对",  "生", "能", "而", "子", "那",   "得",
    "于",   "着",   "下",   "自",   "之",   "年",   "过",  "发", "后", "作", "里", "用",   "道",
    "行",   "所",   "然",   "家",   "种",   "事",   "成",  "方", "多", "经", "么", "去",   "法",
    "学",   "如",   "都",   "同",   "现",   "当",   "没",  "动", "面", "起", "看", "定",   "天",
    "分",   "还",   "进",   "好",   "小",   "部",   "其",  "些", "主", "样", "理", "心",   "の",
    "に",   "は",   "を",   "た",   "が",   "で",   "て",  "と", "し", "れ", "さ", "ある", "いる",
    "する", "日本", "東京", "한국", "사람", "문화", "언어"};

std::string fill(const char* pattern, core::Xoshiro256& rng) {
  auto pick = [&] { return std::string(kIdents[rng.below(std::size(kIdents))]); };
  std::string a = pick(), b = pick(), c = pick();
  std::string up = b;
  up[0] = static_cast<char>(up[0] - 32);
  std::string up2 = c;
  up2[0] = static_cast<char>(up2[0] - 32);
  return fmt::format(fmt::runtime(pattern), fmt::arg("a", a), fmt::arg("b", b), fmt::arg("c", c),
                     fmt::arg("B", up), fmt::arg("C", up2), fmt::arg("n", rng.below(1000)));
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Measure {
  double seconds = 0;
  std::size_t bytes = 0, tokens = 0;
};

// Runs `work(document index)` over all documents on `threads` threads; the
// best of `repeats` wall times. The same threads run every repeat (after an
// untimed warm-up), as a server's long-lived threads would; `before` runs
// ahead of each repeat (encode clears the word memo there, so no repeat
// gains from having seen the same text before).
template <typename Work>
double timed(std::size_t documents, int threads, int repeats, Work work,
             const std::function<void()>& before = {}) {
  const int n = std::max(1, threads);
  std::barrier sync(n);
  std::atomic<std::size_t> next{0};
  double best = 1e100;
  Clock::time_point t0;
  auto body = [&](int index) {
    for (int r = -1; r < repeats; ++r) {
      sync.arrive_and_wait();
      if (index == 0) {
        next = 0;
        if (before) before();
        t0 = Clock::now();
      }
      sync.arrive_and_wait();
      for (std::size_t d = next.fetch_add(1); d < documents; d = next.fetch_add(1)) work(d);
      sync.arrive_and_wait();
      if (index == 0 && r >= 0) best = std::min(best, seconds_since(t0));
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(body, t);
  body(0);
  for (auto& th : pool) th.join();
  return best;
}

nlohmann::json rate(const Measure& m) {
  return {{"seconds", m.seconds},
          {"mb_per_s", static_cast<double>(m.bytes) / 1e6 / m.seconds},
          {"tokens_per_s", static_cast<double>(m.tokens) / m.seconds}};
}

// Cuts `text` into documents of about `size` bytes at UTF-8 boundaries.
std::vector<std::string> split_documents(const std::string& text, std::size_t size) {
  std::vector<std::string> docs;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = std::min(text.size(), pos + size);
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    docs.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return docs;
}

}  // namespace

std::string generate_bench_text(const std::string& kind, std::size_t bytes, std::uint64_t seed) {
  core::Xoshiro256 rng(seed * 7919 + kind.size());
  std::string out;
  out.reserve(bytes + 256);
  if (kind == "code") {
    while (out.size() < bytes)
      out.append(fill(kCodeLines[rng.below(std::size(kCodeLines))], rng)).push_back('\n');
  } else if (kind == "cjk") {
    while (out.size() < bytes) {
      const std::size_t n = 8 + rng.below(24);
      for (std::size_t i = 0; i < n; ++i) out.append(kCjk[rng.below(std::size(kCjk))]);
      out.append(rng.below(4) == 0 ? "。\n" : "，");
    }
  } else {
    while (out.size() < bytes) {
      const std::size_t n = 6 + rng.below(18);
      for (std::size_t i = 0; i < n; ++i) {
        std::string w = kWords[rng.below(std::size(kWords))];
        if (i == 0) w[0] = static_cast<char>(w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0]);
        out.append(w);
        if (i + 1 < n) out.append(rng.below(12) == 0 ? ", " : " ");
      }
      const auto end = rng.below(10);
      out.append(end == 0 ? "? " : end == 1 ? "! " : ". ");
      if (rng.below(6) == 0) out.append("\n\n");
    }
  }
  return out;
}

core::Result<nlohmann::json> run_tokenizer_bench(const TokenizerBenchOptions& o) {
  const auto load0 = Clock::now();
  MLXS_ASSIGN_OR_RETURN(auto tok, tokenizer::Tokenizer::load_dir(o.model_dir));
  const double load_s = seconds_since(load0);
  const int all_threads = o.threads > 0
                              ? o.threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  nlohmann::json result = {{"machine", describe_machine()},
                           {"tokenizer_load_seconds", load_s},
                           {"vocab_size", tok->vocab_size()},
                           {"threads_all", all_threads},
                           {"text_bytes", o.text_bytes},
                           {"document_bytes", o.document_bytes},
                           {"seed", o.seed},
                           {"rows", nlohmann::json::array()}};
  for (const auto& kind : o.kinds) {
    if (kind != "prose" && kind != "code" && kind != "cjk") {
      return core::make_error(core::ErrorCode::kInvalidParams,
                              "unknown text kind \"{}\" (prose, code, cjk)", kind);
    }
    if (o.progress) std::fprintf(stderr, "[bench tokenizer] %s\n", kind.c_str());
    const std::vector<std::string> docs =
        split_documents(generate_bench_text(kind, o.text_bytes, o.seed), o.document_bytes);
    std::vector<std::vector<std::int32_t>> ids(docs.size());
    std::size_t bytes = 0, tokens = 0;
    for (std::size_t d = 0; d < docs.size(); ++d) {
      MLXS_ASSIGN_OR_RETURN(ids[d], tok->encode(docs[d], false));
      bytes += docs[d].size();
      tokens += ids[d].size();
    }
    nlohmann::json row = {{"kind", kind}, {"bytes", bytes}, {"tokens", tokens}};
    for (const int threads : {1, all_threads}) {
      const std::string key = threads == 1 ? "1_thread" : "all_threads";
      std::atomic<bool> failed{false};
      Measure enc{timed(
                      docs.size(), threads, o.repeats,
                      [&](std::size_t d) {
                        std::vector<std::int32_t> out;
                        if (!tok->encode_into(docs[d], false, out).is_ok()) failed = true;
                      },
                      [&] { tok->clear_cache(); }),
                  bytes, tokens};
      Measure dec{timed(docs.size(), threads, o.repeats,
                        [&](std::size_t d) {
                          if (!tok->decode(ids[d], false).is_ok()) failed = true;
                        }),
                  bytes, tokens};
      if (failed)
        return core::make_error(core::ErrorCode::kTokenizerError,
                                "encode/decode failed during the bench");
      row["encode_" + key] = rate(enc);
      row["decode_" + key] = rate(dec);
      if (all_threads == 1) {
        row["encode_all_threads"] = row["encode_1_thread"];
        row["decode_all_threads"] = row["decode_1_thread"];
        break;
      }
    }
    result["rows"].push_back(row);
  }
  if (o.pathological) {
    // One repeated character at two sizes: equal MB/s at both means linear time.
    nlohmann::json patho = nlohmann::json::array();
    for (const char* unit : {"a", " ", "!", "\xE4\xBD\xA0" /* 你 */, "1"}) {
      nlohmann::json entry = {{"unit", unit}};
      for (const std::size_t size : {std::size_t{1} << 18, std::size_t{1} << 20}) {
        std::string text;
        while (text.size() < size) text.append(unit);
        std::size_t n = 0;
        const double s = timed(
            1, 1, 1,
            [&](std::size_t) {
              auto r = tok->encode(text, false);
              n = r.is_ok() ? r->size() : 0;
            },
            [&] { tok->clear_cache(); });
        entry[size == (std::size_t{1} << 18) ? "256KiB" : "1MiB"] = {
            {"seconds", s},
            {"mb_per_s", static_cast<double>(text.size()) / 1e6 / s},
            {"tokens", n}};
      }
      patho.push_back(entry);
    }
    result["pathological"] = patho;
  }
  return result;
}

std::string format_tokenizer_table(const nlohmann::json& r) {
  std::string out = fmt::format("tokenizer bench: vocab {}, load {:.2f} s, {} threads for 'all'\n",
                                r.value("vocab_size", 0), r.value("tokenizer_load_seconds", 0.0),
                                r.value("threads_all", 1));
  out += fmt::format("{:<6} {:>10} {:>10} | {:>11} {:>11} {:>11} {:>11} | {:>11} {:>11}\n", "text",
                     "MB", "tokens", "enc MB/s 1", "enc MB/s N", "dec MB/s 1", "dec MB/s N",
                     "enc tok/s 1", "dec tok/s 1");
  for (const auto& row : r["rows"]) {
    out += fmt::format(
        "{:<6} {:>10.2f} {:>10} | {:>11.1f} {:>11.1f} {:>11.1f} {:>11.1f} | {:>11.3g} {:>11.3g}\n",
        row["kind"].get<std::string>(), row["bytes"].get<double>() / 1e6,
        row["tokens"].get<std::size_t>(), row["encode_1_thread"]["mb_per_s"].get<double>(),
        row["encode_all_threads"]["mb_per_s"].get<double>(),
        row["decode_1_thread"]["mb_per_s"].get<double>(),
        row["decode_all_threads"]["mb_per_s"].get<double>(),
        row["encode_1_thread"]["tokens_per_s"].get<double>(),
        row["decode_1_thread"]["tokens_per_s"].get<double>());
  }
  if (r.contains("pathological")) {
    out += "pathological (one character repeated; equal MB/s at both sizes = linear time):\n";
    for (const auto& p : r["pathological"]) {
      out += fmt::format("  {:<8} 256 KiB: {:>8.1f} MB/s   1 MiB: {:>8.1f} MB/s ({} tokens)\n",
                         nlohmann::json(p["unit"].get<std::string>()).dump(),
                         p["256KiB"]["mb_per_s"].get<double>(), p["1MiB"]["mb_per_s"].get<double>(),
                         p["1MiB"]["tokens"].get<std::size_t>());
    }
  }
  return out;
}

}  // namespace mlxs::bench
