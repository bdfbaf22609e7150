#include "guidance/matcher.h"

#include <algorithm>
#include <cstring>

#include "guidance/token_classes.h"

namespace mlxs::guidance {
namespace {

void set_bit(std::span<std::uint32_t> mask, std::int32_t id) {
  const auto i = static_cast<std::size_t>(id);
  if ((i >> 5) < mask.size()) mask[i >> 5] |= 1u << (i & 31);
}

std::span<const std::uint8_t> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace

Matcher::Matcher(std::shared_ptr<const CompiledGrammar> grammar, std::vector<std::int32_t> stop_ids)
    : grammar_(std::move(grammar)),
      vocab_(&grammar_->vocab()),
      parser_(grammar_->grammar()),
      stop_ids_(std::move(stop_ids)) {
  if (stop_ids_.empty()) stop_ids_ = vocab_->eos_ids();
  walk_.resize(vocab_->trie().max_depth() + 2);
  applied_.reserve(64);
  history_.reserve(256);
}

void Matcher::reset() {
  parser_.reset();
  history_.clear();
  terminated_ = false;
}

void Matcher::fill_mask(std::span<std::uint32_t> bitmask) {
  std::memset(bitmask.data(), 0, bitmask.size() * sizeof(std::uint32_t));
  if (terminated_) return;
  const std::size_t words = std::min(bitmask.size(), vocab_->words());
  const std::span<std::uint32_t> mask = bitmask.first(words);
  const Grammar& g = parser_.grammar();
  applied_.clear();
  const auto frontier = parser_.frontier();
  // The frontier span stays valid: speculative levels are pushed past it and
  // popped before the next entry is read (vectors keep their capacity).
  const std::size_t count = frontier.size();
  for (std::size_t k = 0; k < count; ++k) {
    const Parser::Entry e = parser_.frontier()[k];
    const Terminal& term = g.terminal(e.term);
    const StateClasses& classes = term.classes(e.state, *vocab_);
    const std::uint64_t key = (std::uint64_t{e.term} << 32) | e.state;
    if (std::find(applied_.begin(), applied_.end(), key) == applied_.end()) {
      applied_.push_back(key);
      classes.apply(mask);
    }
    if (!classes.rest.empty()) {
      const Parser::Checkpoint cp = parser_.checkpoint();
      parser_.complete_entry(e);
      walk_rest(classes.rest, mask);
      parser_.restore(cp);
    }
  }
  const bool can_end = parser_.can_accept();
  for (const std::int32_t id : stop_ids_) {
    const auto i = static_cast<std::size_t>(id);
    if ((i >> 5) >= bitmask.size()) continue;
    if (can_end) {
      bitmask[i >> 5] |= 1u << (i & 31);
    } else {
      bitmask[i >> 5] &= ~(1u << (i & 31));
    }
  }
}

void Matcher::walk_rest(const TokenTrie& rest, std::span<std::uint32_t> mask) {
  walk_[0] = parser_.checkpoint();
  const std::uint32_t n = rest.size();
  for (std::uint32_t i = 0; i < n;) {
    const std::uint32_t d = rest.depth(i);
    parser_.restore(walk_[d - 1]);
    if (!parser_.step(rest.byte(i))) {
      i = rest.skip(i);
      continue;
    }
    walk_[d] = parser_.checkpoint();
    for (const std::int32_t id : rest.tokens(i)) set_bit(mask, id);
    ++i;
  }
  parser_.restore(walk_[0]);
}

core::Status Matcher::advance(std::int32_t token) {
  if (terminated_) {
    return core::Status(core::ErrorCode::kGuidanceError, "the constraint already ended the output");
  }
  if (std::find(stop_ids_.begin(), stop_ids_.end(), token) != stop_ids_.end()) {
    if (!parser_.can_accept()) {
      return core::make_error(core::ErrorCode::kGuidanceError,
                              "token {} ends the output before the constraint is satisfied", token);
    }
    history_.push_back(parser_.checkpoint());
    terminated_ = true;
    return core::Status::ok();
  }
  if (token < 0 || static_cast<std::size_t>(token) >= vocab_->size() ||
      vocab_->bytes(token).empty()) {
    return core::make_error(core::ErrorCode::kGuidanceError,
                            "token {} is not allowed by the constraint", token);
  }
  const Parser::Checkpoint cp = parser_.checkpoint();
  if (!parser_.step_all(as_bytes(vocab_->bytes(token)))) {
    return core::make_error(core::ErrorCode::kGuidanceError,
                            "token {} is not allowed by the constraint", token);
  }
  history_.push_back(cp);
  return core::Status::ok();
}

bool Matcher::advance_bytes(std::string_view bytes) {
  if (terminated_) return false;
  const Parser::Checkpoint cp = parser_.checkpoint();
  if (!parser_.step_all(as_bytes(bytes))) return false;
  history_.push_back(cp);
  return true;
}

core::Status Matcher::rollback(int tokens) {
  if (tokens < 0 || static_cast<std::size_t>(tokens) > history_.size()) {
    return core::make_error(core::ErrorCode::kGuidanceError, "cannot roll back {} tokens (have {})",
                            tokens, history_.size());
  }
  if (tokens == 0) return core::Status::ok();
  const Parser::Checkpoint cp = history_[history_.size() - static_cast<std::size_t>(tokens)];
  history_.resize(history_.size() - static_cast<std::size_t>(tokens));
  parser_.restore(cp);
  terminated_ = false;
  return core::Status::ok();
}

bool Matcher::allows(std::int32_t token) {
  if (terminated_) return false;
  if (std::find(stop_ids_.begin(), stop_ids_.end(), token) != stop_ids_.end())
    return parser_.can_accept();
  if (token < 0 || static_cast<std::size_t>(token) >= vocab_->size() ||
      vocab_->bytes(token).empty())
    return false;
  const Parser::Checkpoint cp = parser_.checkpoint();
  const bool ok = parser_.step_all(as_bytes(vocab_->bytes(token)));
  parser_.restore(cp);
  return ok;
}

void Matcher::fill_mask_brute_force(std::span<std::uint32_t> bitmask) {
  std::memset(bitmask.data(), 0, bitmask.size() * sizeof(std::uint32_t));
  const auto limit = std::min<std::size_t>(vocab_->size(), bitmask.size() * 32);
  for (std::size_t id = 0; id < limit; ++id) {
    if (allows(static_cast<std::int32_t>(id))) set_bit(bitmask, static_cast<std::int32_t>(id));
  }
  if (can_terminate()) {
    for (const std::int32_t id : stop_ids_) set_bit(bitmask, id);
  }
}

}  // namespace mlxs::guidance
