#include "guidance/dfa_ops.h"

#include <map>
#include <unordered_map>

#include "guidance/nfa.h"

namespace mlxs::guidance {

core::Result<Dfa> combine(const Dfa& a, const Dfa& b, SetOp op, std::size_t max_states) {
  // Joint byte classes: the pairs of the operands' classes that occur.
  std::vector<std::int32_t> pair_class(static_cast<std::size_t>(a.num_classes()) * b.num_classes(),
                                       -1);
  std::vector<std::uint8_t> repr;
  std::array<std::uint8_t, 256> joint_of{};
  for (int byte = 0; byte < 256; ++byte) {
    const auto by = static_cast<std::uint8_t>(byte);
    std::int32_t& c = pair_class[std::size_t{a.class_of(by)} * b.num_classes() + b.class_of(by)];
    if (c < 0) {
      c = static_cast<std::int32_t>(repr.size());
      repr.push_back(by);
    }
    joint_of[byte] = static_cast<std::uint8_t>(c);
  }
  const auto live = [&](std::uint32_t sa, std::uint32_t sb) {
    switch (op) {
      case SetOp::kIntersect:
        return sa != kDead && sb != kDead;
      case SetOp::kUnion:
        return sa != kDead || sb != kDead;
      case SetOp::kSubtract:
        return sa != kDead;
    }
    return false;
  };
  const auto accepts = [&](std::uint32_t sa, std::uint32_t sb) {
    switch (op) {
      case SetOp::kIntersect:
        return a.accepting(sa) && b.accepting(sb);
      case SetOp::kUnion:
        return a.accepting(sa) || b.accepting(sb);
      case SetOp::kSubtract:
        return a.accepting(sa) && !b.accepting(sb);
    }
    return false;
  };
  TableDfa t(static_cast<std::uint32_t>(repr.size()));
  t.class_of = joint_of;
  std::unordered_map<std::uint64_t, std::uint32_t> ids;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> pairs{{kDead, kDead}};
  const auto id_of = [&](std::uint32_t sa, std::uint32_t sb) -> std::uint32_t {
    if (!live(sa, sb)) return kDead;
    const std::uint64_t key = (std::uint64_t{sa} << 32) | sb;
    auto [it, fresh] = ids.emplace(key, static_cast<std::uint32_t>(pairs.size()));
    if (fresh) {
      t.add_state(accepts(sa, sb));
      pairs.emplace_back(sa, sb);
    }
    return it->second;
  };
  t.start = id_of(a.start(), b.start());
  for (std::size_t s = 1; s < pairs.size(); ++s) {
    if (pairs.size() > max_states) {
      return core::make_error(core::ErrorCode::kGuidanceError,
                              "automaton too large: more than {} states", max_states);
    }
    const auto [sa, sb] = pairs[s];
    for (std::uint32_t c = 0; c < repr.size(); ++c) {
      const std::uint32_t to = id_of(a.next(sa, repr[c]), b.next(sb, repr[c]));
      t.at(static_cast<std::uint32_t>(s), c) = to;
    }
  }
  return finalize(t, max_states);
}

core::Result<Dfa> intersect(const Dfa& a, const Dfa& b) {
  return combine(a, b, SetOp::kIntersect);
}
core::Result<Dfa> unite(const Dfa& a, const Dfa& b) {
  return combine(a, b, SetOp::kUnion);
}
core::Result<Dfa> subtract(const Dfa& a, const Dfa& b) {
  return combine(a, b, SetOp::kSubtract);
}

core::Result<Dfa> literals_dfa(const std::vector<std::string>& words) {
  RawDfa raw;
  raw.start = raw.add_state();
  for (const std::string& w : words) {
    std::uint32_t at = raw.start;
    for (const char ch : w) {
      const auto b = static_cast<std::uint8_t>(ch);
      if (raw.next[at][b] == kDead) {
        const std::uint32_t fresh = raw.add_state();
        raw.next[at][b] = fresh;
      }
      at = raw.next[at][b];
    }
    raw.accept[at] = 1;
  }
  return finalize(raw);
}

Dfa literal_dfa(std::string_view bytes) {
  RawDfa raw;
  raw.start = raw.add_state();
  std::uint32_t at = raw.start;
  for (const char ch : bytes) {
    const std::uint32_t to = raw.add_state();
    raw.next[at][static_cast<std::uint8_t>(ch)] = to;
    at = to;
  }
  raw.accept[at] = 1;
  return std::move(finalize(raw)).value();  // a chain never exceeds the limit
}

Dfa byte_star(std::string_view bytes) {
  RawDfa raw;
  raw.start = raw.add_state(true);
  for (const char ch : bytes) raw.next[raw.start][static_cast<std::uint8_t>(ch)] = raw.start;
  return std::move(finalize(raw)).value();
}

core::Result<Dfa> concat(const Dfa& a, const Dfa& b) {
  if (a.empty() || b.empty()) return Dfa();
  Nfa nfa;
  const Nfa::Frag fa = nfa.embed(a);
  const Nfa::Frag fb = nfa.embed(b);
  return nfa_to_dfa(nfa, nfa.concat(fa, fb));
}

core::Result<Dfa> with_prefix_loop(const Dfa& dfa, std::string_view prefix) {
  if (dfa.empty() || prefix.empty()) return dfa;
  TableDfa t = refine_classes(dfa.to_table(), [&](std::uint8_t b) {
    return prefix.find(static_cast<char>(b)) != std::string_view::npos
               ? static_cast<std::int32_t>(b)
               : -1;
  });
  const std::uint32_t s = t.add_state(t.accept[t.start] != 0);
  for (std::uint32_t c = 0; c < t.classes; ++c) t.at(s, c) = t.at(t.start, c);
  for (const char ch : prefix) {
    const std::uint32_t c = t.class_of[static_cast<std::uint8_t>(ch)];
    if (t.at(s, c) != kDead) {
      return core::Status(core::ErrorCode::kInternalError,
                          "a prefix loop overlaps the automaton's first byte");
    }
    t.at(s, c) = s;
  }
  t.start = s;
  return finalize(t);
}

core::Result<Dfa> without_empty(const Dfa& dfa) {
  if (!accepts_empty(dfa)) return dfa;
  TableDfa t = dfa.to_table();
  const std::uint32_t s = t.add_state(false);
  for (std::uint32_t c = 0; c < t.classes; ++c) t.at(s, c) = t.at(t.start, c);
  t.start = s;
  return finalize(t);
}

bool accepts_empty(const Dfa& dfa) {
  return !dfa.empty() && dfa.accepting(dfa.start());
}

bool is_subset(const Dfa& a, const Dfa& b) {
  auto d = subtract(a, b);
  return d.is_ok() && d->empty();
}

bool is_disjoint(const Dfa& a, const Dfa& b) {
  auto d = intersect(a, b);
  return d.is_ok() && d->empty();
}

long longest_match(const Dfa& dfa) {
  if (dfa.empty()) return -2;
  // Live states only reach accepting ones, so any cycle among live states
  // makes the language infinite; otherwise the longest path is the answer.
  const std::uint32_t n = dfa.num_states();
  std::vector<int> color(n, 0);
  std::vector<long> best(n, 0);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> stack{{dfa.start(), 0}};
  color[dfa.start()] = 1;
  while (!stack.empty()) {
    auto& [s, c] = stack.back();
    if (c < dfa.num_classes()) {
      const std::uint32_t t = dfa.next_class(s, c++);
      if (t == kDead) continue;
      if (color[t] == 1) return -1;
      if (color[t] == 0) {
        color[t] = 1;
        stack.emplace_back(t, 0);
      }
      continue;
    }
    long longest = 0;
    for (std::uint32_t k = 0; k < dfa.num_classes(); ++k) {
      const std::uint32_t t = dfa.next_class(s, k);
      if (t != kDead) longest = std::max(longest, best[t] + 1);
    }
    best[s] = longest;
    color[s] = 2;
    stack.pop_back();
  }
  return best[dfa.start()];
}

}  // namespace mlxs::guidance
