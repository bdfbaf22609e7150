#include "schema/code_point_set.h"

#include <algorithm>

namespace mlxs::schema {

CodePointSet CodePointSet::range(char32_t first, char32_t last) {
  CodePointSet set;
  set.add(first, last);
  return set;
}

CodePointSet CodePointSet::from_ranges(std::vector<Range> ranges) {
  std::sort(ranges.begin(), ranges.end());
  CodePointSet set;
  for (const Range& r : ranges) {
    if (r.first > r.second) continue;
    if (!set.ranges_.empty() && r.first <= set.ranges_.back().second + 1) {
      set.ranges_.back().second = std::max(set.ranges_.back().second, r.second);
    } else {
      set.ranges_.push_back(r);
    }
  }
  return set;
}

void CodePointSet::add(char32_t first, char32_t last) {
  if (first > last) return;
  // Insert in order, then merge every range that overlaps or touches.
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), Range{first, last});
  it = ranges_.insert(it, Range{first, last});
  std::vector<Range> merged;
  merged.reserve(ranges_.size());
  for (const Range& r : ranges_) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  ranges_ = std::move(merged);
}

void CodePointSet::add(const CodePointSet& other) {
  if (ranges_.empty()) {
    ranges_ = other.ranges_;
    return;
  }
  std::vector<Range> all;
  all.reserve(ranges_.size() + other.ranges_.size());
  std::merge(ranges_.begin(), ranges_.end(), other.ranges_.begin(), other.ranges_.end(),
             std::back_inserter(all));
  ranges_.clear();
  for (const Range& r : all) {
    if (!ranges_.empty() && r.first <= ranges_.back().second + 1) {
      ranges_.back().second = std::max(ranges_.back().second, r.second);
    } else {
      ranges_.push_back(r);
    }
  }
}

CodePointSet CodePointSet::complement() const {
  CodePointSet out;
  char32_t next = 0;
  for (const Range& r : ranges_) {
    if (r.first > next) out.ranges_.emplace_back(next, r.first - 1);
    next = r.second + 1;
  }
  if (next <= kMaxCodePoint) out.ranges_.emplace_back(next, kMaxCodePoint);
  return out;
}

bool CodePointSet::contains(char32_t cp) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), cp,
                             [](char32_t v, const Range& r) { return v < r.first; });
  if (it == ranges_.begin()) return false;
  return cp <= std::prev(it)->second;
}

}  // namespace mlxs::schema
