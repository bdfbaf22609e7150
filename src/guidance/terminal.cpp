#include "guidance/terminal.h"

#include "guidance/token_classes.h"

namespace mlxs::guidance {

Terminal::Terminal(Dfa dfa)
    : dfa_(std::move(dfa)),
      slots_(std::make_unique<std::atomic<const StateClasses*>[]>(dfa_.num_states())) {
  for (std::uint32_t s = 0; s < dfa_.num_states(); ++s)
    slots_[s].store(nullptr, std::memory_order_relaxed);
}

Terminal::~Terminal() {
  for (std::uint32_t s = 0; s < dfa_.num_states(); ++s)
    delete slots_[s].load(std::memory_order_relaxed);
}

bool Terminal::has_classes(std::uint32_t state) const {
  return slots_[state].load(std::memory_order_acquire) != nullptr;
}

const StateClasses& Terminal::classes(std::uint32_t state, const TokenVocab& vocab) const {
  const StateClasses* have = slots_[state].load(std::memory_order_acquire);
  if (have != nullptr) return *have;
  // Computed outside any lock; when two threads race, one table wins and the
  // other is dropped (both are equal).
  auto fresh = std::make_unique<StateClasses>(compute_state_classes(dfa_, state, vocab));
  const StateClasses* expected = nullptr;
  if (slots_[state].compare_exchange_strong(expected, fresh.get(), std::memory_order_acq_rel)) {
    return *fresh.release();
  }
  return *expected;
}

std::shared_ptr<const Terminal> TerminalTable::intern(Dfa dfa) {
  std::lock_guard lock(mutex_);
  auto& bucket = by_hash_[dfa.hash()];
  for (auto it = bucket.begin(); it != bucket.end();) {
    if (auto t = it->lock()) {
      if (t->dfa() == dfa) return t;
      ++it;
    } else {
      it = bucket.erase(it);
    }
  }
  auto t = std::make_shared<const Terminal>(std::move(dfa));
  bucket.push_back(t);
  // Now and then, drop the buckets of terminals nobody uses any more.
  if (++inserts_ % 4096 == 0) {
    for (auto b = by_hash_.begin(); b != by_hash_.end();) {
      std::erase_if(b->second, [](const auto& w) { return w.expired(); });
      b = b->second.empty() ? by_hash_.erase(b) : std::next(b);
    }
  }
  return t;
}

namespace {
constexpr std::size_t kMemoEntries = 4096;
}

core::Result<std::shared_ptr<const Dfa>> TerminalTable::memo(
    const std::string& key, const std::function<core::Result<Dfa>()>& build) {
  {
    std::lock_guard lock(memo_mutex_);
    if (auto it = by_key_.find(key); it != by_key_.end()) return it->second;
  }
  MLXS_ASSIGN_OR_RETURN(Dfa built, build());
  auto ptr = std::make_shared<const Dfa>(std::move(built));
  std::lock_guard lock(memo_mutex_);
  if (by_key_.emplace(key, ptr).second) {
    key_order_.push_back(key);
    if (key_order_.size() > kMemoEntries) {
      by_key_.erase(key_order_.front());
      key_order_.erase(key_order_.begin());
    }
  }
  return ptr;
}

core::Result<std::shared_ptr<const Dfa>> TerminalTable::memo(
    std::uint32_t tag, const Dfa& input, const std::function<core::Result<Dfa>()>& build) {
  const std::uint64_t h = input.hash() * 31 + tag;
  {
    std::lock_guard lock(memo_mutex_);
    if (auto it = by_input_.find(h); it != by_input_.end()) {
      for (const auto& [in, out] : it->second) {
        if (*in == input) return out;
      }
    }
  }
  MLXS_ASSIGN_OR_RETURN(Dfa built, build());
  auto ptr = std::make_shared<const Dfa>(std::move(built));
  std::lock_guard lock(memo_mutex_);
  by_input_[h].emplace_back(std::make_shared<const Dfa>(input), ptr);
  input_order_.push_back(h);
  if (input_order_.size() > kMemoEntries) {
    auto it = by_input_.find(input_order_.front());
    if (it != by_input_.end()) {
      it->second.erase(it->second.begin());
      if (it->second.empty()) by_input_.erase(it);
    }
    input_order_.erase(input_order_.begin());
  }
  return ptr;
}

std::size_t TerminalTable::size() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& [h, bucket] : by_hash_) n += bucket.size();
  return n;
}

}  // namespace mlxs::guidance
