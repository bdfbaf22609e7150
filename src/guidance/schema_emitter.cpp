#include "guidance/schema_emitter.h"

#include <algorithm>

#include <fmt/format.h>

#include "guidance/dfa_ops.h"
#include "guidance/json_number.h"
#include "guidance/json_string.h"
#include "guidance/regex_dfa.h"

namespace mlxs::guidance {
namespace {

// Rules one object or array may expand to (counted min/max chains).
constexpr std::uint64_t kMaxStates = 20000;
constexpr std::size_t kMaxRegions = 64;
constexpr std::size_t kMaxUniqueValues = 8;

// All strings of an acyclic automaton, or nothing when cyclic or too many.
std::optional<std::vector<std::string>> enumerate(const Dfa& dfa, std::size_t limit) {
  if (dfa.empty()) return std::vector<std::string>{};
  if (longest_match(dfa) < 0) return std::nullopt;
  std::vector<std::string> out;
  std::string path;
  bool too_many = false;
  const auto walk = [&](auto&& self, std::uint32_t s) -> void {
    if (too_many) return;
    if (dfa.accepting(s)) {
      if (out.size() == limit) {
        too_many = true;
        return;
      }
      out.push_back(path);
    }
    for (int b = 0; b < 256; ++b) {
      const std::uint32_t t = dfa.next(s, static_cast<std::uint8_t>(b));
      if (t == kDead) continue;
      path.push_back(static_cast<char>(b));
      self(self, t);
      path.pop_back();
    }
  };
  walk(walk, dfa.start());
  if (too_many) return std::nullopt;
  return out;
}

const Dfa& canonical_numbers() {
  static const Dfa dfa = [] {
    Dfa spelled =
        std::move(regex_to_dfa("-?(0|[1-9][0-9]*)(\\.[0-9]*[1-9])?", RegexMode::kFullMatch))
            .value();
    return std::move(subtract(spelled, literal_dfa("-0"))).value();
  }();
  return dfa;
}

}  // namespace

SchemaEmitter::SchemaEmitter(SchemaLowering& lowering, TerminalTable& terminals, Whitespace ws,
                             GrammarBuilder& builder)
    : lowering_(lowering), terminals_(terminals), tokens_(ws), b_(builder) {}

core::Result<std::uint32_t> SchemaEmitter::emit(const Expr& root) {
  const std::uint32_t nt = value(root);
  while (!pending_.empty()) {
    auto [e, n] = pending_.front();
    pending_.pop_front();
    MLXS_RETURN_IF_ERROR(emit_value(e, n));
  }
  return nt;
}

std::uint32_t SchemaEmitter::value(const Expr& e) {
  const std::string key = e.key();
  if (auto it = values_.find(key); it != values_.end()) return it->second;
  const std::uint32_t nt = b_.add_nonterminal("value" + std::to_string(values_.size()));
  values_.emplace(key, nt);
  pending_.emplace_back(e, nt);
  return nt;
}

core::Result<bool> SchemaEmitter::is_empty(const Expr& e) {
  if (e.never) return true;
  MLXS_ASSIGN_OR_RETURN(auto shape, lowering_.shape_of(e));
  return shape->is_nothing();
}

core::Result<std::uint32_t> SchemaEmitter::sym(core::Result<Dfa> dfa) {
  if (!dfa.is_ok()) return std::move(dfa).take_status();
  return b_.terminal(terminals_.intern(std::move(dfa).value()));
}

core::Result<std::uint32_t> SchemaEmitter::token(const std::string& text) {
  if (auto it = token_syms_.find(text); it != token_syms_.end()) return it->second;
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t s, sym(tokens_.token(text)));
  token_syms_.emplace(text, s);
  return s;
}

core::Result<std::uint32_t> SchemaEmitter::separator() {
  static const std::string kKey = "\x01sep";
  if (auto it = token_syms_.find(kKey); it != token_syms_.end()) return it->second;
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t s, sym(tokens_.item_separator()));
  token_syms_.emplace(kKey, s);
  return s;
}

core::Result<std::uint32_t> SchemaEmitter::member_header(const std::string& name, bool sep) {
  const auto key = std::make_pair(name, sep);
  if (auto it = headers_.find(key); it != headers_.end()) return it->second;
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t s, sym(tokens_.member_header(name, sep)));
  headers_.emplace(key, s);
  return s;
}

core::Result<std::uint32_t> SchemaEmitter::string_terminal(const Domain& d) {
  const Dfa* content = d.all ? &utf8_any() : d.dfa.get();
  if (auto it = string_syms_.find(content); it != string_syms_.end()) return it->second;
  const Whitespace ws = tokens_.whitespace();
  MLXS_ASSIGN_OR_RETURN(auto dfa,
                        terminals_.memo(static_cast<std::uint32_t>(ws) + 1, *content,
                                        [&] { return json_string_terminal(*content, ws); }));
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t s, sym(*dfa));
  string_syms_.emplace(content, s);
  if (!d.all) keep_.push_back(d.dfa);
  return s;
}

core::Result<std::uint32_t> SchemaEmitter::number_terminal(const Domain& d, bool integers_only) {
  const Dfa* text = d.all ? &number_full_syntax() : d.dfa.get();
  if (auto it = number_syms_.find(text); it != number_syms_.end()) return it->second;
  const Whitespace ws = tokens_.whitespace();
  const bool plain = integers_only && !d.all;
  const auto build = [&]() -> core::Result<Dfa> {
    Dfa dfa = *text;
    // Integer values are written without a fraction (1, not 1.0).
    if (plain) {
      MLXS_ASSIGN_OR_RETURN(dfa, intersect(dfa, integer_plain()));
    }
    if (ws == Whitespace::kFlexible) return with_prefix_loop(dfa, kJsonWhitespace);
    return dfa;
  };
  MLXS_ASSIGN_OR_RETURN(
      auto dfa,
      terminals_.memo(100 + static_cast<std::uint32_t>(ws) * 2 + (plain ? 1 : 0), *text, build));
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t s, sym(*dfa));
  number_syms_.emplace(text, s);
  if (!d.all) keep_.push_back(d.dfa);
  return s;
}

core::Status SchemaEmitter::emit_value(const Expr& e, std::uint32_t nt) {
  core::Status st = emit_value_rules(e, nt);
  if (st.is_ok() || st.message().starts_with("#") || e.pos.empty()) return st;
  // Rules refused here name the schema they come from.
  return core::Status(
      st.code(), keyword_location(lowering_.schema().node(e.pos[0]), "") + ": " + st.message());
}

core::Status SchemaEmitter::emit_value_rules(const Expr& e, std::uint32_t nt) {
  MLXS_ASSIGN_OR_RETURN(auto shape, lowering_.shape_of(e));
  const Shape& s = *shape;
  if (s.null_ok) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t t, token("null"));
    b_.add_production(nt, {t});
  }
  if (s.true_ok) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t t, token("true"));
    b_.add_production(nt, {t});
  }
  if (s.false_ok) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t t, token("false"));
    b_.add_production(nt, {t});
  }
  if (!s.num.is_none()) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t t, number_terminal(s.num, s.integers_only));
    b_.add_production(nt, {t});
  }
  if (!s.str.is_none()) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t t, string_terminal(s.str));
    b_.add_production(nt, {t});
  }
  for (const ObjectAlt& alt : s.objects) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t o, object_rules(alt));
    if (o != kNone) b_.add_production(nt, {o});
  }
  for (const ArrayAlt& alt : s.arrays) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t a, array_rules(alt));
    if (a != kNone) b_.add_production(nt, {a});
  }
  for (const core::Json& l : s.literals) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t t, sym(tokens_.value_literal(l)));
    b_.add_production(nt, {t});
  }
  return core::Status::ok();
}

core::Result<std::uint32_t> SchemaEmitter::object_rules(const ObjectAlt& alt) {
  struct Prop {
    const std::string* name;
    Expr value;
    bool required;
  };
  std::vector<Prop> props;
  std::vector<std::string> named;
  for (const auto& p : alt.props) {
    named.push_back(p.name);
    Expr v = p.value;
    if (alt.names != nullptr && !alt.names->matches(p.name)) v = Expr::nothing();
    MLXS_ASSIGN_OR_RETURN(const bool empty, is_empty(v));
    if (empty) {
      if (p.required) return kNone;  // a required property that no value satisfies
      continue;
    }
    props.push_back({&p.name, std::move(v), p.required});
  }
  // Keys no property names, split by which patterns they match.
  struct Region {
    std::shared_ptr<const Dfa> key;
    Expr value;
  };
  std::vector<Region> regions;
  const bool no_keys = alt.names != nullptr && alt.names->empty();
  bool closed = false;
  for (const auto& side : alt.sides) {
    if (side.patterns.empty() && side.additional) {
      const auto& n = lowering_.schema().node(*side.additional);
      closed = closed || (n.boolean && !*n.boolean);
    }
  }
  if (!no_keys && !closed) {
    Dfa base = utf8_any();
    if (!named.empty()) {
      MLXS_ASSIGN_OR_RETURN(Dfa names, string_values(named));
      MLXS_ASSIGN_OR_RETURN(base, subtract(base, names));
    }
    if (alt.names != nullptr) {
      MLXS_ASSIGN_OR_RETURN(base, intersect(base, *alt.names));
    }
    regions.push_back({std::make_shared<const Dfa>(std::move(base)), Expr::any()});
    for (const auto& side : alt.sides) {
      std::vector<Region> next;
      for (const Region& r : regions) {
        std::vector<std::pair<std::shared_ptr<const Dfa>, Expr>> parts{{r.key, r.value}};
        std::vector<bool> matched_any{false};
        for (const auto& [pattern, node] : side.patterns) {
          std::vector<std::pair<std::shared_ptr<const Dfa>, Expr>> split;
          std::vector<bool> split_matched;
          for (std::size_t i = 0; i < parts.size(); ++i) {
            MLXS_ASSIGN_OR_RETURN(Dfa in, intersect(*parts[i].first, *pattern));
            MLXS_ASSIGN_OR_RETURN(Dfa out, subtract(*parts[i].first, *pattern));
            if (!in.empty()) {
              split.emplace_back(std::make_shared<const Dfa>(std::move(in)),
                                 parts[i].second & Expr::node(node));
              split_matched.push_back(true);
            }
            if (!out.empty()) {
              split.emplace_back(std::make_shared<const Dfa>(std::move(out)), parts[i].second);
              split_matched.push_back(matched_any[i]);
            }
          }
          parts = std::move(split);
          matched_any = std::move(split_matched);
          if (parts.size() > kMaxRegions) {
            return core::Status(core::ErrorCode::kGuidanceError,
                                "too many overlapping patternProperties");
          }
        }
        for (std::size_t i = 0; i < parts.size(); ++i) {
          Expr v = parts[i].second;
          if (!matched_any[i] && side.additional) v = v & Expr::node(*side.additional);
          MLXS_ASSIGN_OR_RETURN(const bool empty, is_empty(v));
          if (!empty) next.push_back({parts[i].first, std::move(v)});
        }
      }
      regions = std::move(next);
      if (regions.size() > kMaxRegions) {
        return core::Status(core::ErrorCode::kGuidanceError,
                            "too many overlapping patternProperties");
      }
    }
  }

  const std::uint64_t min = alt.min;
  const std::uint64_t max = alt.max;
  const bool counting = min > 0 || max != kUnbounded;
  const std::uint64_t cap =
      !counting ? 1 : (max != kUnbounded ? max : std::max<std::uint64_t>(min, 1));
  const std::uint64_t n = props.size();
  if ((n + 1) * (cap + 1) > kMaxStates) {
    return core::Status(
        core::ErrorCode::kGuidanceError,
        "minProperties/maxProperties are too large for an object with this many properties");
  }
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t open, token("{"));
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t close, token("}"));
  std::vector<std::array<std::uint32_t, 2>> region_headers(regions.size(), {kNone, kNone});
  const auto region_header = [&](std::size_t r, bool sep) -> core::Result<std::uint32_t> {
    std::uint32_t& h = region_headers[r][sep ? 1 : 0];
    if (h == kNone) {
      MLXS_ASSIGN_OR_RETURN(h, sym(tokens_.pattern_header(*regions[r].key, sep)));
    }
    return h;
  };
  std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint32_t> states;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> work;
  const auto state = [&](std::uint64_t i, std::uint64_t c) {
    auto [it, fresh] = states.emplace(std::make_pair(i, c), 0);
    if (fresh) {
      it->second = b_.add_nonterminal(fmt::format("obj{}_{}", i, c));
      work.emplace_back(i, c);
    }
    return it->second;
  };
  const auto next_count = [&](std::uint64_t c) { return std::min(c + 1, cap); };
  const std::uint32_t obj = b_.add_nonterminal("object");
  b_.add_production(obj, {open, state(0, 0)});
  while (!work.empty()) {
    const auto [i, c] = work.back();
    work.pop_back();
    const std::uint32_t here = states.at({i, c});
    if (i < n) {
      const Prop& p = props[i];
      if (c < max) {
        MLXS_ASSIGN_OR_RETURN(const std::uint32_t h, member_header(*p.name, c > 0));
        b_.add_production(here, {h, value(p.value), state(i + 1, next_count(c))});
      }
      if (!p.required) b_.add_production(here, {state(i + 1, c)});
      continue;
    }
    const bool saturated = max == kUnbounded && c == cap && c > 0;
    if (saturated && !regions.empty()) {
      // Any number of further members: a left-recursive loop.
      const std::uint32_t loop = b_.add_nonterminal("members");
      b_.add_production(loop, {});
      for (std::size_t r = 0; r < regions.size(); ++r) {
        MLXS_ASSIGN_OR_RETURN(const std::uint32_t h, region_header(r, true));
        b_.add_production(loop, {loop, h, value(regions[r].value)});
      }
      b_.add_production(here, {loop, close});
      continue;
    }
    if (c >= min) b_.add_production(here, {close});
    if (c < max) {
      for (std::size_t r = 0; r < regions.size(); ++r) {
        MLXS_ASSIGN_OR_RETURN(const std::uint32_t h, region_header(r, c > 0));
        b_.add_production(here, {h, value(regions[r].value), state(n, next_count(c))});
      }
    }
  }
  return obj;
}

core::Result<std::uint32_t> SchemaEmitter::array_rules(const ArrayAlt& alt) {
  if (alt.unique && alt.max > 1) return unique_array_rules(alt);
  const std::size_t k = alt.contains.size();
  if (k > 3)
    return core::Status(core::ErrorCode::kGuidanceError,
                        "more than 3 contains constraints on one array");
  const std::uint32_t full = (1u << k) - 1;
  const std::uint64_t p = alt.prefix.size();
  const std::uint64_t cap =
      alt.max != kUnbounded ? alt.max : std::max<std::uint64_t>({alt.min, p, 1});
  if ((cap + 1) * (full + 1) > kMaxStates) {
    return core::Status(core::ErrorCode::kGuidanceError, "minItems/maxItems are too large");
  }
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t open, token("["));
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t close, token("]"));
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t sep, separator());
  const auto elem = [&](std::uint64_t i) -> const Expr& {
    return i < p ? alt.prefix[i] : alt.items;
  };
  std::map<std::pair<std::uint64_t, std::uint32_t>, std::uint32_t> states;
  std::vector<std::pair<std::uint64_t, std::uint32_t>> work;
  const auto state = [&](std::uint64_t i, std::uint32_t m) {
    auto [it, fresh] = states.emplace(std::make_pair(i, m), 0);
    if (fresh) {
      it->second = b_.add_nonterminal(fmt::format("arr{}_{}", i, m));
      work.emplace_back(i, m);
    }
    return it->second;
  };
  const auto next_index = [&](std::uint64_t i) {
    return alt.max != kUnbounded ? i + 1 : std::min(i + 1, cap);
  };
  const std::uint32_t arr = b_.add_nonterminal("array");
  b_.add_production(arr, {open, state(0, 0)});
  while (!work.empty()) {
    const auto [i, m] = work.back();
    work.pop_back();
    const std::uint32_t here = states.at({i, m});
    const bool saturated = alt.max == kUnbounded && i == cap && i >= p && i > 0;
    if (saturated && m == full) {
      const std::uint32_t loop = b_.add_nonterminal("items");
      b_.add_production(loop, {});
      b_.add_production(loop, {loop, sep, value(alt.items)});
      b_.add_production(here, {loop, close});
      continue;
    }
    if (i >= alt.min && m == full) b_.add_production(here, {close});
    if (i >= alt.max) continue;
    std::vector<std::uint32_t> lead;
    if (i > 0) lead.push_back(sep);
    const std::uint64_t to = next_index(i);
    {
      std::vector<std::uint32_t> rhs = lead;
      rhs.push_back(value(elem(i)));
      rhs.push_back(state(to, m));
      b_.add_production(here, std::move(rhs));
    }
    for (std::size_t j = 0; j < k; ++j) {
      if ((m & (1u << j)) != 0) continue;
      std::vector<std::uint32_t> rhs = lead;
      rhs.push_back(value(elem(i) & alt.contains[j]));
      rhs.push_back(state(to, m | (1u << j)));
      b_.add_production(here, std::move(rhs));
    }
  }
  return arr;
}

core::Result<std::uint32_t> SchemaEmitter::unique_array_rules(const ArrayAlt& alt) {
  const auto refuse = [] {
    return core::Status(core::ErrorCode::kGuidanceError,
                        "uniqueItems is supported only for items with at most 8 possible values");
  };
  if (!alt.prefix.empty() || !alt.contains.empty()) return refuse();
  MLXS_ASSIGN_OR_RETURN(auto shape, lowering_.shape_of(alt.items));
  const Shape& s = *shape;
  if (!s.objects.empty() || !s.arrays.empty() || s.str.all || s.num.all) return refuse();
  std::vector<core::Json> values;
  if (s.null_ok) values.emplace_back(nullptr);
  if (s.true_ok) values.emplace_back(true);
  if (s.false_ok) values.emplace_back(false);
  for (const core::Json& l : s.literals) values.push_back(l);
  std::vector<std::string> texts;
  if (!s.str.is_none()) {
    auto strings = enumerate(*s.str.dfa, kMaxUniqueValues);
    if (!strings) return refuse();
    for (const auto& str : *strings) texts.push_back(json_quote(str));
  }
  if (!s.num.is_none()) {
    MLXS_ASSIGN_OR_RETURN(Dfa canon, intersect(*s.num.dfa, canonical_numbers()));
    if (s.integers_only) {
      MLXS_ASSIGN_OR_RETURN(canon, intersect(canon, integer_plain()));
    }
    auto numbers = enumerate(canon, kMaxUniqueValues);
    if (!numbers) return refuse();
    texts.insert(texts.end(), numbers->begin(), numbers->end());
  }
  std::vector<std::uint32_t> syms;
  for (const core::Json& v : values) {
    MLXS_ASSIGN_OR_RETURN(const std::uint32_t t, sym(tokens_.value_literal(v)));
    syms.push_back(t);
  }
  for (const std::string& text : texts) {
    MLXS_ASSIGN_OR_RETURN(
        const std::uint32_t t,
        sym(pieces_dfa({Piece{text, tokens_.whitespace() == Whitespace::kFlexible}})));
    syms.push_back(t);
  }
  if (syms.size() > kMaxUniqueValues) return refuse();
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t open, token("["));
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t close, token("]"));
  MLXS_ASSIGN_OR_RETURN(const std::uint32_t sep, separator());
  const std::uint32_t count = static_cast<std::uint32_t>(syms.size());
  std::vector<std::uint32_t> state(1u << count, kNone);
  const std::uint32_t arr = b_.add_nonterminal("unique_array");
  for (std::uint32_t set = 0; set < (1u << count); ++set)
    state[set] = b_.add_nonterminal(fmt::format("uniq{}", set));
  for (std::uint32_t set = 0; set < (1u << count); ++set) {
    const auto used = static_cast<std::uint64_t>(__builtin_popcount(set));
    if (used >= alt.min) b_.add_production(state[set], {close});
    if (used >= alt.max) continue;
    for (std::uint32_t v = 0; v < count; ++v) {
      if ((set & (1u << v)) != 0) continue;
      std::vector<std::uint32_t> rhs;
      if (set != 0) rhs.push_back(sep);
      rhs.push_back(syms[v]);
      rhs.push_back(state[set | (1u << v)]);
      b_.add_production(state[set], std::move(rhs));
    }
  }
  b_.add_production(arr, {open, state[0]});
  return arr;
}

}  // namespace mlxs::guidance
