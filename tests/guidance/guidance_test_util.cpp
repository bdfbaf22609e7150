#include "guidance_test_util.h"

#include <algorithm>
#include <mutex>
#include <unordered_map>

#include "model/synth.h"

namespace mlxs::guidance::test {

const tokenizer::Tokenizer* llama3() {
  static const std::unique_ptr<tokenizer::Tokenizer> tok =
      []() -> std::unique_ptr<tokenizer::Tokenizer> {
    const std::string dir = model::find_tokenizer_dir("llama3");
    if (dir.empty()) return nullptr;
    auto t = tokenizer::Tokenizer::load_dir(dir);
    return t.is_ok() ? std::move(t).value() : nullptr;
  }();
  return tok.get();
}

Compiler* llama3_compiler() {
  static const std::shared_ptr<Compiler> compiler = []() -> std::shared_ptr<Compiler> {
    const tokenizer::Tokenizer* tok = llama3();
    if (tok == nullptr) return nullptr;
    auto c = Compiler::for_tokenizer(*tok);
    return c.is_ok() ? std::move(c).value() : nullptr;
  }();
  return compiler.get();
}

namespace {

// Ids whose bytes close a string, array or object (walks prefer them so that
// they finish), per vocabulary.
const std::vector<std::int32_t>& closing_tokens(const TokenVocab& vocab) {
  static std::mutex mutex;
  static std::unordered_map<const TokenVocab*, std::vector<std::int32_t>> by_vocab;
  std::lock_guard lock(mutex);
  auto [it, fresh] = by_vocab.emplace(&vocab, std::vector<std::int32_t>{});
  if (fresh) {
    for (std::size_t id = 0; id < vocab.size(); ++id) {
      const std::string_view b = vocab.bytes(static_cast<std::int32_t>(id));
      if (b.find_first_of("\"]}") != std::string_view::npos)
        it->second.push_back(static_cast<std::int32_t>(id));
    }
  }
  return it->second;
}

// The k-th set bit of the mask.
std::int32_t nth_bit(const std::vector<std::uint32_t>& mask, std::uint64_t k) {
  for (std::size_t w = 0; w < mask.size(); ++w) {
    const auto n = static_cast<std::uint64_t>(__builtin_popcount(mask[w]));
    if (k < n) {
      std::uint32_t bits = mask[w];
      for (std::uint64_t i = 0; i < k; ++i) bits &= bits - 1;
      return static_cast<std::int32_t>(w * 32 + static_cast<std::size_t>(__builtin_ctz(bits)));
    }
    k -= n;
  }
  return -1;
}

}  // namespace

Walk random_walk(const std::shared_ptr<const CompiledGrammar>& g, core::Xoshiro256& rng,
                 const WalkOptions& o) {
  Walk w;
  Matcher m(g);
  const TokenVocab& vocab = g->vocab();
  const std::vector<std::int32_t>& closers = closing_tokens(vocab);
  std::vector<std::uint32_t> mask(vocab.words());
  std::vector<std::int32_t> closing;
  for (std::size_t step = 0; step < o.max_tokens; ++step) {
    m.fill_mask(mask);
    for (const std::int32_t id : m.stop_ids()) {
      const auto i = static_cast<std::size_t>(id);
      if ((i >> 5) < mask.size()) mask[i >> 5] &= ~(1u << (i & 31));
    }
    std::uint64_t count = 0;
    for (const std::uint32_t word : mask)
      count += static_cast<std::uint64_t>(__builtin_popcount(word));
    if (m.can_terminate() && (count == 0 || rng.uniform_double() < o.stop_probability)) {
      w.complete = true;
      return w;
    }
    if (count == 0) {
      w.stuck = true;
      w.error = "no allowed token at step " + std::to_string(step);
      return w;
    }
    closing.clear();
    if (rng.uniform_double() < o.closing_bias) {
      for (const std::int32_t id : closers) {
        if (has_bit(mask, id)) closing.push_back(id);
      }
    }
    const std::int32_t id =
        !closing.empty() ? closing[rng.below(closing.size())] : nth_bit(mask, rng.below(count));
    const core::Status st = m.advance(id);
    if (!st.is_ok()) {
      w.stuck = true;
      w.error = "mask allowed a token that advance refused: " + st.to_string();
      return w;
    }
    w.tokens.push_back(id);
    w.text += vocab.bytes(id);
  }
  w.complete = m.can_terminate();
  return w;
}

bool accepts_text(const std::shared_ptr<const CompiledGrammar>& g, const std::string& text) {
  const tokenizer::Tokenizer* tok = llama3();
  if (tok == nullptr) return false;
  auto ids = tok->encode(text, false);
  if (!ids.is_ok()) return false;
  Matcher m(g);
  std::vector<std::uint32_t> mask(g->vocab().words());
  for (const std::int32_t id : *ids) {
    m.fill_mask(mask);
    if (!has_bit(mask, id)) return false;
    if (!m.advance(id).is_ok()) return false;
  }
  return m.can_terminate();
}

}  // namespace mlxs::guidance::test
