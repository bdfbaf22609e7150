#include "engine/block_pool.h"

#include <cassert>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace mlxs::engine {

BlockHash hash_block(BlockHash parent, std::span<const std::int32_t> tokens) {
  // Seeded with the parent so equal blocks under different prefixes differ;
  // 0 is reserved to mean "no parent".
  const BlockHash h = XXH3_64bits_withSeed(tokens.data(), tokens.size_bytes(), parent);
  return h == 0 ? 1 : h;
}

BlockPool::BlockPool(int num_blocks, int block_size, bool prefix_caching)
    : block_size_(block_size),
      prefix_caching_(prefix_caching),
      ref_(static_cast<std::size_t>(num_blocks), 0),
      prev_(static_cast<std::size_t>(num_blocks), kNone),
      next_(static_cast<std::size_t>(num_blocks), kNone),
      hash_(static_cast<std::size_t>(num_blocks)) {
  for (std::int32_t b = 0; b < num_blocks; ++b) push_free_tail(b);
  by_hash_.reserve(static_cast<std::size_t>(num_blocks));
}

void BlockPool::unlink_free(std::int32_t b) {
  const auto i = static_cast<std::size_t>(b);
  if (prev_[i] != kNone) {
    next_[static_cast<std::size_t>(prev_[i])] = next_[i];
  } else {
    head_ = next_[i];
  }
  if (next_[i] != kNone) {
    prev_[static_cast<std::size_t>(next_[i])] = prev_[i];
  } else {
    tail_ = prev_[i];
  }
  prev_[i] = next_[i] = kNone;
  --free_count_;
  if (hash_[i]) --cached_free_;
}

void BlockPool::push_free_tail(std::int32_t b) {
  const auto i = static_cast<std::size_t>(b);
  prev_[i] = tail_;
  next_[i] = kNone;
  if (tail_ != kNone) {
    next_[static_cast<std::size_t>(tail_)] = b;
  } else {
    head_ = b;
  }
  tail_ = b;
  ++free_count_;
  if (hash_[i]) ++cached_free_;
}

std::optional<std::int32_t> BlockPool::allocate() {
  if (head_ == kNone) return std::nullopt;
  const std::int32_t b = head_;
  unlink_free(b);
  auto& h = hash_[static_cast<std::size_t>(b)];
  if (h) {
    by_hash_.erase(*h);  // the cached prefix is evicted
    h.reset();
  }
  ref_[static_cast<std::size_t>(b)] = 1;
  return b;
}

void BlockPool::retain(std::int32_t block) {
  auto& r = ref_[static_cast<std::size_t>(block)];
  if (r == 0) unlink_free(block);
  ++r;
}

void BlockPool::release(std::int32_t block) {
  auto& r = ref_[static_cast<std::size_t>(block)];
  assert(r > 0 && "releasing a free block");
  if (--r == 0) push_free_tail(block);
}

std::optional<std::int32_t> BlockPool::lookup(BlockHash hash) {
  if (!prefix_caching_) return std::nullopt;
  ++queries_;
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  ++hits_;
  retain(it->second);
  return it->second;
}

void BlockPool::register_full(std::int32_t block, BlockHash hash) {
  if (!prefix_caching_) return;
  auto& h = hash_[static_cast<std::size_t>(block)];
  if (h) return;  // already registered (e.g. a shared prefix block)
  if (by_hash_.count(hash) != 0) return;
  h = hash;
  by_hash_.emplace(hash, block);
}

BlockPoolStats BlockPool::stats() const {
  BlockPoolStats s;
  s.total = num_blocks();
  s.free = free_count_;
  s.used = s.total - s.free;
  s.cached_free = cached_free_;
  s.prefix_queries = queries_;
  s.prefix_hits = hits_;
  return s;
}

void BlockPool::reset_stats() {
  queries_ = hits_ = 0;
}

}  // namespace mlxs::engine
