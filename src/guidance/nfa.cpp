#include "guidance/nfa.h"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "guidance/utf8_ranges.h"

namespace mlxs::guidance {

std::uint32_t Nfa::add_state() {
  edges_.emplace_back();
  eps_.emplace_back();
  return static_cast<std::uint32_t>(edges_.size() - 1);
}

void Nfa::add_edge(std::uint32_t from, std::uint8_t lo, std::uint8_t hi, std::uint32_t to) {
  edges_[from].push_back(Edge{lo, hi, to});
}

void Nfa::add_eps(std::uint32_t from, std::uint32_t to) {
  eps_[from].push_back(to);
}

Nfa::Frag Nfa::empty() {
  const std::uint32_t s = add_state();
  return {s, s};
}

Nfa::Frag Nfa::literal(std::string_view bytes) {
  const std::uint32_t in = add_state();
  std::uint32_t at = in;
  for (const char ch : bytes) {
    const std::uint32_t to = add_state();
    const auto b = static_cast<std::uint8_t>(ch);
    add_edge(at, b, b, to);
    at = to;
  }
  return {in, at};
}

Nfa::Frag Nfa::byte_range(std::uint8_t lo, std::uint8_t hi) {
  const std::uint32_t in = add_state();
  const std::uint32_t out = add_state();
  add_edge(in, lo, hi, out);
  return {in, out};
}

Nfa::Frag Nfa::code_points(const schema::CodePointSet& set) {
  const std::uint32_t in = add_state();
  const std::uint32_t out = add_state();
  std::vector<Utf8Sequence> seqs;
  for (const auto& [lo, hi] : set.ranges()) utf8_sequences(lo, hi, seqs);
  // Sequences that share leading byte ranges share states (a small trie),
  // which keeps large Unicode classes compact.
  struct Key {
    std::uint32_t from;
    std::uint8_t lo, hi;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return (std::size_t{k.from} << 16) ^ (std::size_t{k.lo} << 8) ^ k.hi;
    }
  };
  std::unordered_map<Key, std::uint32_t, KeyHash> shared;
  for (const Utf8Sequence& seq : seqs) {
    std::uint32_t at = in;
    for (int i = 0; i < seq.length; ++i) {
      const ByteRange r = seq.bytes[i];
      if (i + 1 == seq.length) {
        add_edge(at, r.lo, r.hi, out);
        break;
      }
      const Key key{at, r.lo, r.hi};
      auto it = shared.find(key);
      if (it == shared.end()) {
        const std::uint32_t to = add_state();
        add_edge(at, r.lo, r.hi, to);
        it = shared.emplace(key, to).first;
      }
      at = it->second;
    }
  }
  return {in, out};
}

Nfa::Frag Nfa::any_code_point() {
  return code_points(schema::CodePointSet::all());
}

Nfa::Frag Nfa::concat(Frag a, Frag b) {
  add_eps(a.out, b.in);
  return {a.in, b.out};
}

Nfa::Frag Nfa::alt(Frag a, Frag b) {
  const std::uint32_t in = add_state();
  const std::uint32_t out = add_state();
  add_eps(in, a.in);
  add_eps(in, b.in);
  add_eps(a.out, out);
  add_eps(b.out, out);
  return {in, out};
}

Nfa::Frag Nfa::star(Frag a) {
  const std::uint32_t hub = add_state();
  add_eps(hub, a.in);
  add_eps(a.out, hub);
  return {hub, hub};
}

Nfa::Frag Nfa::plus(Frag a) {
  const std::uint32_t out = add_state();
  add_eps(a.out, a.in);
  add_eps(a.out, out);
  return {a.in, out};
}

Nfa::Frag Nfa::optional(Frag a) {
  add_eps(a.in, a.out);
  return a;
}

Nfa::Frag Nfa::repeat(const std::function<Frag()>& make, std::uint32_t min, std::uint32_t max) {
  Frag result = empty();
  for (std::uint32_t i = 0; i < min; ++i) result = concat(result, make());
  if (max == kUnbounded) return concat(result, star(make()));
  // Nested optionals: every skip jumps to the common end.
  const std::uint32_t end = add_state();
  for (std::uint32_t i = min; i < max; ++i) {
    add_eps(result.out, end);
    result = concat(result, make());
  }
  add_eps(result.out, end);
  return {result.in, end};
}

Nfa::Frag Nfa::embed(const Dfa& dfa) {
  const std::uint32_t base = size();
  const std::uint32_t n = dfa.num_states();
  for (std::uint32_t s = 0; s < n; ++s) add_state();
  const std::uint32_t out = add_state();
  for (std::uint32_t s = 1; s < n; ++s) {
    // Runs of bytes with the same target become one edge.
    int b = 0;
    while (b < 256) {
      const std::uint32_t t = dfa.next(s, static_cast<std::uint8_t>(b));
      int e = b;
      while (e + 1 < 256 && dfa.next(s, static_cast<std::uint8_t>(e + 1)) == t) ++e;
      if (t != kDead)
        add_edge(base + s, static_cast<std::uint8_t>(b), static_cast<std::uint8_t>(e), base + t);
      b = e + 1;
    }
    if (dfa.accepting(s)) add_eps(base + s, out);
  }
  return {base + (dfa.empty() ? 0 : dfa.start()), out};
}

namespace {

class Closure {
 public:
  explicit Closure(const Nfa& nfa) : nfa_(nfa), stamp_(nfa.size(), 0) {}

  // Sorts and closes `set` under epsilon moves, in place.
  void close(std::vector<std::uint32_t>& set) {
    ++gen_;
    stack_.clear();
    std::size_t kept = 0;
    for (const std::uint32_t s : set) {
      if (stamp_[s] != gen_) {
        stamp_[s] = gen_;
        set[kept++] = s;
        stack_.push_back(s);
      }
    }
    set.resize(kept);
    while (!stack_.empty()) {
      const std::uint32_t s = stack_.back();
      stack_.pop_back();
      for (const std::uint32_t t : nfa_.eps(s)) {
        if (stamp_[t] != gen_) {
          stamp_[t] = gen_;
          set.push_back(t);
          stack_.push_back(t);
        }
      }
    }
    std::sort(set.begin(), set.end());
  }

 private:
  const Nfa& nfa_;
  std::vector<std::uint32_t> stamp_;
  std::uint32_t gen_ = 0;
  std::vector<std::uint32_t> stack_;
};

std::string key_of(const std::vector<std::uint32_t>& set) {
  return std::string(reinterpret_cast<const char*>(set.data()), set.size() * sizeof(std::uint32_t));
}

}  // namespace

core::Result<Dfa> nfa_to_dfa(const Nfa& nfa, std::uint32_t start,
                             const std::vector<std::uint8_t>& accept, std::size_t max_states) {
  // Byte intervals that no edge boundary splits.
  std::array<std::uint8_t, 257> cut{};
  cut[0] = 1;
  cut[256] = 1;
  for (std::uint32_t s = 0; s < nfa.size(); ++s) {
    for (const auto& e : nfa.edges(s)) {
      cut[e.lo] = 1;
      cut[static_cast<std::size_t>(e.hi) + 1] = 1;
    }
  }
  std::array<std::uint16_t, 256> interval_of{};
  std::vector<int> interval_begin;
  for (int b = 0; b < 256; ++b) {
    if (cut[b] != 0) interval_begin.push_back(b);
    interval_of[b] = static_cast<std::uint16_t>(interval_begin.size() - 1);
  }
  interval_begin.push_back(256);
  const std::size_t intervals = interval_begin.size() - 1;

  Closure closure(nfa);
  RawDfa raw;
  std::unordered_map<std::string, std::uint32_t> ids;
  std::vector<std::vector<std::uint32_t>> sets;
  std::vector<std::uint32_t> init{start};
  closure.close(init);
  ids.emplace(key_of({}), kDead);
  sets.emplace_back();  // the dead state's (empty) set
  const auto add = [&](std::vector<std::uint32_t>& set) -> std::uint32_t {
    if (set.empty()) return kDead;
    auto [it, fresh] = ids.emplace(key_of(set), static_cast<std::uint32_t>(sets.size()));
    if (fresh) {
      bool acc = false;
      for (const std::uint32_t s : set) acc = acc || accept[s] != 0;
      raw.add_state(acc);
      sets.push_back(set);
    }
    return it->second;
  };
  raw.start = add(init);
  std::vector<std::vector<std::uint32_t>> buckets(intervals);
  for (std::size_t d = 1; d < sets.size(); ++d) {
    if (sets.size() > max_states) {
      return core::make_error(core::ErrorCode::kGuidanceError,
                              "automaton too large: more than {} states", max_states);
    }
    for (auto& b : buckets) b.clear();
    for (const std::uint32_t s : sets[d]) {
      for (const auto& e : nfa.edges(s)) {
        for (std::size_t i = interval_of[e.lo]; i <= interval_of[e.hi]; ++i)
          buckets[i].push_back(e.to);
      }
    }
    for (std::size_t i = 0; i < intervals; ++i) {
      if (buckets[i].empty()) continue;
      closure.close(buckets[i]);
      const std::uint32_t t = add(buckets[i]);
      for (int b = interval_begin[i]; b < interval_begin[i + 1]; ++b) raw.next[d][b] = t;
    }
  }
  return finalize(raw, max_states);
}

core::Result<Dfa> nfa_to_dfa(const Nfa& nfa, Nfa::Frag frag, std::size_t max_states) {
  std::vector<std::uint8_t> accept(nfa.size(), 0);
  accept[frag.out] = 1;
  return nfa_to_dfa(nfa, frag.in, accept, max_states);
}

}  // namespace mlxs::guidance
