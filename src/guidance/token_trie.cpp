#include "guidance/token_trie.h"

#include <algorithm>

namespace mlxs::guidance {

TokenTrie TokenTrie::build(std::vector<std::pair<std::string_view, std::int32_t>> entries) {
  std::erase_if(entries, [](const auto& e) { return e.first.empty(); });
  std::sort(entries.begin(), entries.end());
  TokenTrie t;
  std::vector<std::uint32_t> path;  // node index per depth on the current path
  std::string_view prev;
  for (const auto& [bytes, id] : entries) {
    std::size_t common = 0;
    while (common < prev.size() && common < bytes.size() && prev[common] == bytes[common]) ++common;
    if (common == bytes.size() && bytes.size() == prev.size() && !t.byte_.empty()) {
      // Another id with the same bytes: attach it to the same node.
      t.ids_.push_back(id);
      t.id_begin_.back() = static_cast<std::uint32_t>(t.ids_.size());
      continue;
    }
    // Close the nodes of the previous path deeper than the common prefix.
    while (path.size() > common) {
      t.skip_[path.back()] = static_cast<std::uint32_t>(t.byte_.size());
      path.pop_back();
    }
    for (std::size_t d = common; d < bytes.size(); ++d) {
      path.push_back(static_cast<std::uint32_t>(t.byte_.size()));
      t.byte_.push_back(static_cast<std::uint8_t>(bytes[d]));
      t.depth_.push_back(static_cast<std::uint16_t>(d + 1));
      t.skip_.push_back(0);
      if (t.id_begin_.empty()) t.id_begin_.push_back(0);
      t.id_begin_.push_back(static_cast<std::uint32_t>(t.ids_.size()));
    }
    t.ids_.push_back(id);
    t.id_begin_.back() = static_cast<std::uint32_t>(t.ids_.size());
    t.max_depth_ = std::max<std::uint32_t>(t.max_depth_, static_cast<std::uint32_t>(bytes.size()));
    prev = bytes;
  }
  while (!path.empty()) {
    t.skip_[path.back()] = static_cast<std::uint32_t>(t.byte_.size());
    path.pop_back();
  }
  if (t.id_begin_.empty()) t.id_begin_.push_back(0);
  return t;
}

std::size_t TokenTrie::memory_bytes() const {
  return byte_.size() * (1 + 2 + 4 + 4) + ids_.size() * 4;
}

}  // namespace mlxs::guidance
