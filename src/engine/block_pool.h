#pragma once
// The paged KV cache's bookkeeping: fixed-size blocks with reference counts,
// O(1) allocate and release, and prefix reuse. A full block is registered
// under the hash of its tokens chained with its parent's hash; when its last
// user releases it, it keeps that hash in an LRU list of free blocks until the
// space is needed, so a later request with the same prefix can take it back.
// Pure data structure: no device calls (the KV storage itself lives in the
// backend).

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace mlxs::engine {

using BlockHash = std::uint64_t;

// Hash of one full block of tokens given its parent block's hash (0 for the
// first block).
BlockHash hash_block(BlockHash parent, std::span<const std::int32_t> tokens);

struct BlockPoolStats {
  int total = 0;
  int used = 0;                      // referenced by at least one sequence
  int free = 0;                      // unreferenced (cached or empty)
  int cached_free = 0;               // unreferenced but still holding a registered prefix
  std::uint64_t prefix_queries = 0;  // blocks looked up
  std::uint64_t prefix_hits = 0;     // blocks found
};

class BlockPool {
 public:
  BlockPool(int num_blocks, int block_size, bool prefix_caching = true);

  int block_size() const { return block_size_; }
  int num_blocks() const { return static_cast<int>(ref_.size()); }
  int free_blocks() const { return free_count_; }
  bool prefix_caching() const { return prefix_caching_; }

  // A fresh block with one reference (evicting the least recently freed
  // cached prefix), or nullopt when every block is in use.
  std::optional<std::int32_t> allocate();
  void retain(std::int32_t block);
  void release(std::int32_t block);
  int ref_count(std::int32_t block) const { return ref_[static_cast<std::size_t>(block)]; }

  // Takes a reference on the block registered under `hash`, if any.
  std::optional<std::int32_t> lookup(BlockHash hash);
  // Registers a block that now holds a full block of tokens (first writer
  // wins: a hash already registered keeps its block).
  void register_full(std::int32_t block, BlockHash hash);

  BlockPoolStats stats() const;
  void reset_stats();

 private:
  static constexpr std::int32_t kNone = -1;
  void unlink_free(std::int32_t block);
  void push_free_tail(std::int32_t block);

  int block_size_;
  bool prefix_caching_;
  std::vector<int> ref_;
  std::vector<std::int32_t> prev_, next_;  // intrusive LRU list of free blocks
  std::vector<std::optional<BlockHash>> hash_;
  std::int32_t head_ = kNone, tail_ = kNone;
  int free_count_ = 0;
  int cached_free_ = 0;
  std::unordered_map<BlockHash, std::int32_t> by_hash_;
  std::uint64_t queries_ = 0, hits_ = 0;
};

}  // namespace mlxs::engine
