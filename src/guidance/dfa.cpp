#include "guidance/dfa.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "guidance/minimize.h"

namespace mlxs::guidance {
namespace {

std::uint64_t mix(std::uint64_t h, std::uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

// Groups bytes that every state in `states` sends to the same place, numbering
// classes by first appearance (byte 0 is in class 0). Columns are grouped by a
// hash and then checked, so a collision only costs the slow path.
template <typename Target>
std::uint32_t byte_classes(const std::vector<std::uint32_t>& states, Target target,
                           std::array<std::uint8_t, 256>& class_of) {
  std::array<std::uint64_t, 256> sig{};
  for (const std::uint32_t s : states) {
    for (int b = 0; b < 256; ++b) sig[b] = mix(sig[b], target(s, static_cast<std::uint8_t>(b)));
  }
  std::array<std::pair<std::uint64_t, int>, 256> sorted{};
  for (int b = 0; b < 256; ++b) sorted[b] = {sig[b], b};
  std::sort(sorted.begin(), sorted.end());
  std::array<int, 256> leader{};
  for (int i = 0; i < 256; ++i) {
    leader[sorted[i].second] = i > 0 && sorted[i].first == sorted[i - 1].first
                                   ? leader[sorted[i - 1].second]
                                   : sorted[i].second;
  }
  bool exact = true;
  for (const std::uint32_t s : states) {
    for (int b = 0; b < 256 && exact; ++b) {
      if (leader[b] != b && target(s, static_cast<std::uint8_t>(b)) !=
                                target(s, static_cast<std::uint8_t>(leader[b]))) {
        exact = false;
      }
    }
    if (!exact) break;
  }
  if (!exact) {
    // Refine one state at a time (a hash collision: practically never).
    std::array<std::uint32_t, 256> cls{};
    for (const std::uint32_t s : states) {
      std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> remap;
      std::array<std::uint32_t, 256> next_cls{};
      for (int b = 0; b < 256; ++b) {
        const auto key = std::make_pair(cls[b], target(s, static_cast<std::uint8_t>(b)));
        next_cls[b] = remap.emplace(key, static_cast<std::uint32_t>(remap.size())).first->second;
      }
      cls = next_cls;
    }
    for (int b = 0; b < 256; ++b) leader[b] = b;
    for (int b = 0; b < 256; ++b) {
      for (int a = 0; a < b; ++a) {
        if (cls[a] == cls[b]) {
          leader[b] = a;
          break;
        }
      }
    }
  }
  std::uint32_t count = 0;
  for (int b = 0; b < 256; ++b) {
    class_of[b] = leader[b] == b ? static_cast<std::uint8_t>(count++) : class_of[leader[b]];
  }
  return count;
}

}  // namespace

RawDfa::RawDfa() {
  next.emplace_back();
  next.back().fill(kDead);
  accept.push_back(0);
}

std::uint32_t RawDfa::add_state(bool accepting) {
  next.emplace_back();
  next.back().fill(kDead);
  accept.push_back(accepting ? 1 : 0);
  return static_cast<std::uint32_t>(next.size() - 1);
}

Dfa::Dfa() {
  class_of_.fill(0);
  repr_.fill(0);
  next_.assign(1, kDead);
  accept_.assign(1, 0);
  has_out_.assign(1, 0);
  hash_ = mix(0, 1);
}

bool Dfa::final_only(std::uint32_t state) const {
  return accepting(state) && !has_out(state);
}

bool Dfa::matches(std::string_view bytes) const {
  std::uint32_t s = start_;
  for (const char ch : bytes) {
    s = next(s, static_cast<std::uint8_t>(ch));
    if (s == kDead) return false;
  }
  return accepting(s);
}

bool operator==(const Dfa& a, const Dfa& b) {
  return a.hash_ == b.hash_ && a.start_ == b.start_ && a.num_classes_ == b.num_classes_ &&
         a.class_of_ == b.class_of_ && a.accept_ == b.accept_ && a.next_ == b.next_;
}

RawDfa Dfa::to_raw() const {
  RawDfa raw;
  for (std::uint32_t s = 1; s < num_states(); ++s) raw.add_state(accepting(s));
  for (std::uint32_t s = 0; s < num_states(); ++s) {
    for (int b = 0; b < 256; ++b) raw.next[s][b] = next(s, static_cast<std::uint8_t>(b));
  }
  raw.start = start_;
  return raw;
}

TableDfa::TableDfa(std::uint32_t num_classes) : classes(num_classes) {
  class_of.fill(0);
  next.assign(num_classes, kDead);
  accept.assign(1, 0);
}

std::uint32_t TableDfa::add_state(bool accepting) {
  next.resize(next.size() + classes, kDead);
  accept.push_back(accepting ? 1 : 0);
  return static_cast<std::uint32_t>(accept.size() - 1);
}

TableDfa Dfa::to_table() const {
  TableDfa t(num_classes_);
  t.class_of = class_of_;
  t.next = next_;
  t.accept = accept_;
  t.start = start_;
  return t;
}

core::Result<Dfa> finalize(const RawDfa& raw, std::size_t max_states) {
  const std::uint32_t n = raw.size();
  // States reachable from the start (the dead state first).
  std::vector<std::uint32_t> index(n, ~0u);
  std::vector<std::uint32_t> order{kDead};
  index[kDead] = 0;
  if (raw.start != kDead) {
    index[raw.start] = 1;
    order.push_back(raw.start);
  }
  for (std::size_t i = 1; i < order.size(); ++i) {
    for (const std::uint32_t t : raw.next[order[i]]) {
      if (index[t] == ~0u) {
        index[t] = static_cast<std::uint32_t>(order.size());
        order.push_back(t);
      }
    }
  }
  TableDfa table;
  const std::uint32_t k = byte_classes(
      order, [&](std::uint32_t s, std::uint8_t b) { return raw.next[s][b]; }, table.class_of);
  std::array<std::uint8_t, 256> repr{};
  for (int b = 255; b >= 0; --b) repr[table.class_of[b]] = static_cast<std::uint8_t>(b);
  table = [&] {
    TableDfa t(k);
    t.class_of = table.class_of;
    return t;
  }();
  for (std::size_t i = 1; i < order.size(); ++i) table.add_state(raw.accept[order[i]] != 0);
  for (std::size_t i = 1; i < order.size(); ++i) {
    for (std::uint32_t c = 0; c < k; ++c)
      table.at(static_cast<std::uint32_t>(i), c) = index[raw.next[order[i]][repr[c]]];
  }
  table.start = raw.start == kDead ? kDead : 1;
  return finalize(table, max_states);
}

core::Result<Dfa> finalize(const TableDfa& in, std::size_t max_states) {
  const std::uint32_t k = in.classes;
  const std::uint32_t n = in.size();
  const auto edge = [&](std::uint32_t s, std::uint32_t c) {
    return in.next[std::size_t{s} * k + c];
  };
  // 1. Reachable states, renumbered in discovery order (dead = 0).
  std::vector<std::uint32_t> index(n, ~0u);
  std::vector<std::uint32_t> order{kDead};
  index[kDead] = 0;
  if (in.start == kDead) return Dfa();
  index[in.start] = 1;
  order.push_back(in.start);
  for (std::size_t i = 1; i < order.size(); ++i) {
    for (std::uint32_t c = 0; c < k; ++c) {
      const std::uint32_t t = edge(order[i], c);
      if (index[t] == ~0u) {
        index[t] = static_cast<std::uint32_t>(order.size());
        order.push_back(t);
      }
    }
  }
  const auto m = static_cast<std::uint32_t>(order.size());
  std::vector<std::uint32_t> table(static_cast<std::size_t>(m) * k);
  std::vector<std::uint8_t> acc(m);
  for (std::uint32_t i = 0; i < m; ++i) {
    acc[i] = i == 0 ? 0 : in.accept[order[i]];
    for (std::uint32_t c = 0; c < k; ++c)
      table[static_cast<std::size_t>(i) * k + c] = index[edge(order[i], c)];
  }
  // 2. Trim: states that cannot reach an accepting state become dead.
  std::vector<std::uint32_t> pred_begin(m + 1, 0), preds(static_cast<std::size_t>(m) * k);
  for (std::size_t e = 0; e < table.size(); ++e) ++pred_begin[table[e] + 1];
  for (std::uint32_t i = 0; i < m; ++i) pred_begin[i + 1] += pred_begin[i];
  {
    std::vector<std::uint32_t> fill(pred_begin.begin(), pred_begin.end() - 1);
    for (std::uint32_t i = 0; i < m; ++i) {
      for (std::uint32_t c = 0; c < k; ++c)
        preds[fill[table[static_cast<std::size_t>(i) * k + c]]++] = i;
    }
  }
  std::vector<std::uint8_t> live(m, 0);
  std::vector<std::uint32_t> stack;
  for (std::uint32_t i = 1; i < m; ++i) {
    if (acc[i] != 0) {
      live[i] = 1;
      stack.push_back(i);
    }
  }
  while (!stack.empty()) {
    const std::uint32_t t = stack.back();
    stack.pop_back();
    for (std::uint32_t p = pred_begin[t]; p < pred_begin[t + 1]; ++p) {
      const std::uint32_t s = preds[p];
      if (live[s] == 0 && s != 0) {
        live[s] = 1;
        stack.push_back(s);
      }
    }
  }
  if (live[1] == 0) return Dfa();
  for (auto& t : table) {
    if (live[t] == 0) t = 0;
  }
  // 3. Minimise (trimmed states have only dead edges, so they join the dead block).
  std::uint32_t blocks = 0;
  const std::vector<std::uint32_t> block = minimize_partition(m, k, table, acc, &blocks);
  // 4. Canonical numbering: dead 0, start 1, then breadth first by class.
  std::vector<std::uint32_t> rep_of_block(blocks, ~0u);
  for (std::uint32_t i = 0; i < m; ++i) {
    if ((live[i] != 0 || i == 0) && rep_of_block[block[i]] == ~0u) rep_of_block[block[i]] = i;
  }
  // Classes in order of their smallest byte, so the walk order is canonical.
  std::vector<std::uint32_t> class_order;
  {
    std::vector<std::uint8_t> seen(k, 0);
    for (int b = 0; b < 256; ++b) {
      const std::uint32_t c = in.class_of[b];
      if (seen[c] == 0) {
        seen[c] = 1;
        class_order.push_back(c);
      }
    }
  }
  std::vector<std::uint32_t> canon(blocks, ~0u);
  std::vector<std::uint32_t> bfs{block[0], block[1]};
  canon[block[0]] = 0;
  canon[block[1]] = 1;
  for (std::size_t i = 1; i < bfs.size(); ++i) {
    const std::uint32_t r = rep_of_block[bfs[i]];
    for (const std::uint32_t c : class_order) {
      const std::uint32_t tb = block[table[static_cast<std::size_t>(r) * k + c]];
      if (canon[tb] == ~0u) {
        canon[tb] = static_cast<std::uint32_t>(bfs.size());
        bfs.push_back(tb);
      }
    }
  }
  const auto states = static_cast<std::uint32_t>(bfs.size());
  if (states > max_states) {
    return core::make_error(core::ErrorCode::kGuidanceError,
                            "automaton too large: {} states (the limit is {})", states, max_states);
  }
  // 5. Merge input classes the minimal automaton no longer tells apart.
  std::vector<std::uint64_t> sig(k, 0);
  for (std::uint32_t s = 0; s < states; ++s) {
    const std::uint32_t r = rep_of_block[bfs[s]];
    for (std::uint32_t c = 0; c < k; ++c)
      sig[c] = mix(sig[c], canon[block[table[static_cast<std::size_t>(r) * k + c]]]);
  }
  std::vector<std::uint32_t> leader(k);
  for (std::uint32_t c = 0; c < k; ++c) {
    leader[c] = c;
    for (const std::uint32_t d : class_order) {
      if (d == c) break;
      if (sig[d] != sig[c] || leader[d] != d) continue;
      bool same = true;
      for (std::uint32_t s = 0; s < states && same; ++s) {
        const std::uint32_t r = rep_of_block[bfs[s]];
        same = block[table[static_cast<std::size_t>(r) * k + c]] ==
               block[table[static_cast<std::size_t>(r) * k + d]];
      }
      if (same) {
        leader[c] = d;
        break;
      }
    }
  }
  Dfa out;
  std::vector<std::uint32_t> new_class(k, ~0u);
  std::uint32_t count = 0;
  for (int b = 0; b < 256; ++b) {
    const std::uint32_t c = leader[in.class_of[b]];
    if (new_class[c] == ~0u) {
      new_class[c] = count++;
      out.repr_[new_class[c]] = static_cast<std::uint8_t>(b);
    }
    out.class_of_[b] = static_cast<std::uint8_t>(new_class[c]);
  }
  out.num_classes_ = count;
  out.next_.assign(static_cast<std::size_t>(states) * count, kDead);
  out.accept_.assign(states, 0);
  for (std::uint32_t s = 0; s < states; ++s) {
    const std::uint32_t r = rep_of_block[bfs[s]];
    out.accept_[s] = s == 0 ? 0 : acc[r];
    for (std::uint32_t c = 0; c < count; ++c) {
      const std::uint32_t src = in.class_of[out.repr_[c]];
      out.next_[static_cast<std::size_t>(s) * count + c] =
          canon[block[table[static_cast<std::size_t>(r) * k + src]]];
    }
  }
  out.start_ = 1;
  out.has_out_.assign(states, 0);
  for (std::uint32_t s = 0; s < states; ++s) {
    for (std::uint32_t c = 0; c < count && out.has_out_[s] == 0; ++c) {
      out.has_out_[s] = out.next_[static_cast<std::size_t>(s) * count + c] != kDead ? 1 : 0;
    }
  }
  std::uint64_t h = mix(0, states);
  for (const auto c : out.class_of_) h = mix(h, c);
  for (const auto t : out.next_) h = mix(h, t);
  for (const auto a : out.accept_) h = mix(h, a);
  out.hash_ = h;
  return out;
}

}  // namespace mlxs::guidance
