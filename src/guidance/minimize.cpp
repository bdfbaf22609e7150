#include "guidance/minimize.h"

#include <algorithm>

namespace mlxs::guidance {

std::vector<std::uint32_t> minimize_partition(std::uint32_t states, std::uint32_t classes,
                                              std::span<const std::uint32_t> next,
                                              std::span<const std::uint8_t> accept,
                                              std::uint32_t* block_count) {
  const std::uint32_t n = states;
  const std::uint32_t k = classes;
  // Predecessors per (class, target) in one CSR array.
  std::vector<std::uint32_t> offset(static_cast<std::size_t>(k) * n + 1, 0);
  for (std::uint32_t s = 0; s < n; ++s) {
    for (std::uint32_t c = 0; c < k; ++c)
      ++offset[static_cast<std::size_t>(c) * n + next[s * k + c] + 1];
  }
  for (std::size_t i = 1; i < offset.size(); ++i) offset[i] += offset[i - 1];
  std::vector<std::uint32_t> preds(static_cast<std::size_t>(n) * k);
  {
    std::vector<std::uint32_t> fill(offset.begin(), offset.end() - 1);
    for (std::uint32_t s = 0; s < n; ++s) {
      for (std::uint32_t c = 0; c < k; ++c)
        preds[fill[static_cast<std::size_t>(c) * n + next[s * k + c]]++] = s;
    }
  }

  // The refinable partition: each block is a segment [first, end) of elems.
  std::vector<std::uint32_t> block(n), elems(n), pos(n);
  std::vector<std::uint32_t> first, end, marked_count;
  std::vector<std::uint8_t> marked(n, 0), in_work;
  std::vector<std::uint32_t> work;
  {
    std::uint32_t i = 0;
    for (int pass = 0; pass < 2; ++pass) {
      const std::uint32_t begin = i;
      for (std::uint32_t s = 0; s < n; ++s) {
        if ((accept[s] != 0) == (pass == 0)) {
          elems[i] = s;
          pos[s] = i++;
        }
      }
      if (i > begin) {
        const auto b = static_cast<std::uint32_t>(first.size());
        first.push_back(begin);
        end.push_back(i);
        marked_count.push_back(0);
        in_work.push_back(0);
        for (std::uint32_t j = begin; j < i; ++j) block[elems[j]] = b;
      }
    }
  }
  if (first.size() == 2) {
    const std::uint32_t smaller = end[0] - first[0] <= end[1] - first[1] ? 0 : 1;
    work.push_back(smaller);
    in_work[smaller] = 1;
  }

  std::vector<std::uint32_t> splitter, touched;
  while (!work.empty()) {
    const std::uint32_t a = work.back();
    work.pop_back();
    in_work[a] = 0;
    splitter.assign(elems.begin() + first[a], elems.begin() + end[a]);
    for (std::uint32_t c = 0; c < k; ++c) {
      touched.clear();
      for (const std::uint32_t t : splitter) {
        const std::size_t key = static_cast<std::size_t>(c) * n + t;
        for (std::uint32_t p = offset[key]; p < offset[key + 1]; ++p) {
          const std::uint32_t s = preds[p];
          if (marked[s] != 0) continue;
          marked[s] = 1;
          const std::uint32_t b = block[s];
          // Move s to the marked front of its block.
          const std::uint32_t to = first[b] + marked_count[b];
          const std::uint32_t other = elems[to];
          std::swap(elems[pos[s]], elems[to]);
          pos[other] = pos[s];
          pos[s] = to;
          if (marked_count[b]++ == 0) touched.push_back(b);
        }
      }
      for (const std::uint32_t b : touched) {
        const std::uint32_t m = marked_count[b];
        marked_count[b] = 0;
        for (std::uint32_t i = first[b]; i < first[b] + m; ++i) marked[elems[i]] = 0;
        if (m == end[b] - first[b]) continue;
        const auto nb = static_cast<std::uint32_t>(first.size());
        first.push_back(first[b]);
        end.push_back(first[b] + m);
        marked_count.push_back(0);
        in_work.push_back(0);
        first[b] += m;
        for (std::uint32_t i = first[nb]; i < end[nb]; ++i) block[elems[i]] = nb;
        if (in_work[b] != 0) {
          work.push_back(nb);
          in_work[nb] = 1;
        } else {
          const std::uint32_t smaller = end[nb] - first[nb] <= end[b] - first[b] ? nb : b;
          work.push_back(smaller);
          in_work[smaller] = 1;
        }
      }
    }
  }
  *block_count = static_cast<std::uint32_t>(first.size());
  return block;
}

}  // namespace mlxs::guidance
