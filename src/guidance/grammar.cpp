#include "guidance/grammar.h"

#include <fmt/format.h>

namespace mlxs::guidance {

std::uint32_t GrammarBuilder::add_nonterminal(std::string name) {
  names_.push_back(std::move(name));
  return static_cast<std::uint32_t>(names_.size() - 1);
}

std::uint32_t GrammarBuilder::terminal(std::shared_ptr<const Terminal> t) {
  auto [it, fresh] = terminal_ids_.emplace(t.get(), static_cast<std::uint32_t>(terminals_.size()));
  if (fresh) terminals_.push_back(std::move(t));
  return it->second | kTerminalBit;
}

void GrammarBuilder::add_production(std::uint32_t lhs, std::vector<std::uint32_t> rhs) {
  prods_.emplace_back(lhs, std::move(rhs));
}

core::Result<std::shared_ptr<const Grammar>> GrammarBuilder::build(std::uint32_t start) const {
  const std::size_t nts = names_.size();
  // Productive nonterminals (derive some string), to a fixpoint.
  std::vector<std::uint8_t> productive(nts, 0);
  const auto sym_ok = [&](std::uint32_t sym) {
    return is_terminal(sym) ? !terminals_[terminal_index(sym)]->dfa().empty()
                            : productive[sym] != 0;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& [lhs, rhs] : prods_) {
      if (productive[lhs] != 0) continue;
      bool ok = true;
      for (const std::uint32_t sym : rhs) ok = ok && sym_ok(sym);
      if (ok) {
        productive[lhs] = 1;
        changed = true;
      }
    }
  }
  if (start >= nts || productive[start] == 0) {
    return core::Status(core::ErrorCode::kGuidanceError,
                        "the constraint matches nothing (no string satisfies it)");
  }
  std::vector<std::vector<std::uint32_t>> by_lhs(nts);
  for (std::uint32_t p = 0; p < prods_.size(); ++p) {
    bool ok = true;
    for (const std::uint32_t sym : prods_[p].second) ok = ok && sym_ok(sym);
    if (ok) by_lhs[prods_[p].first].push_back(p);
  }
  // Reachable from the start through productive productions.
  std::vector<std::uint32_t> nt_id(nts, ~0u), t_id(terminals_.size(), ~0u);
  std::vector<std::uint32_t> order{start};
  nt_id[start] = 1;  // 0 is the augmented start
  auto g = std::make_shared<Grammar>();
  g->names_.push_back("accept");
  g->names_.push_back(names_[start]);
  for (std::size_t i = 0; i < order.size(); ++i) {
    for (const std::uint32_t p : by_lhs[order[i]]) {
      for (const std::uint32_t sym : prods_[p].second) {
        if (is_terminal(sym)) {
          const std::uint32_t t = terminal_index(sym);
          if (t_id[t] == ~0u) {
            t_id[t] = static_cast<std::uint32_t>(g->terminals_.size());
            g->terminals_.push_back(terminals_[t]);
          }
        } else if (nt_id[sym] == ~0u) {
          nt_id[sym] = static_cast<std::uint32_t>(order.size() + 1);
          order.push_back(sym);
          g->names_.push_back(names_[sym]);
        }
      }
    }
  }
  const auto add = [&](std::uint32_t lhs, const std::vector<std::uint32_t>& rhs) {
    const auto index = static_cast<std::uint32_t>(g->prods_.size());
    g->prods_.push_back(
        {lhs, static_cast<std::uint32_t>(g->rhs_.size()), static_cast<std::uint32_t>(rhs.size())});
    for (const std::uint32_t sym : rhs) {
      g->rhs_.push_back(is_terminal(sym) ? (t_id[terminal_index(sym)] | kTerminalBit) : nt_id[sym]);
    }
    g->rhs_.push_back(index | kEndBit);
  };
  add(0, {start});
  for (const std::uint32_t nt : order) {
    for (const std::uint32_t p : by_lhs[nt]) add(nt_id[nt], prods_[p].second);
  }
  const std::uint32_t count = static_cast<std::uint32_t>(order.size() + 1);
  g->lhs_begin_.assign(count + 1, 0);
  for (const auto& prod : g->prods_) ++g->lhs_begin_[prod.lhs + 1];
  for (std::uint32_t n = 0; n < count; ++n) g->lhs_begin_[n + 1] += g->lhs_begin_[n];
  g->by_lhs_.resize(g->prods_.size());
  {
    std::vector<std::uint32_t> fill(g->lhs_begin_.begin(), g->lhs_begin_.end() - 1);
    for (std::uint32_t p = 0; p < g->prods_.size(); ++p) g->by_lhs_[fill[g->prods_[p].lhs]++] = p;
  }
  g->nullable_.assign(count, 0);
  for (bool changed = true; changed;) {
    changed = false;
    for (const auto& prod : g->prods_) {
      if (g->nullable_[prod.lhs] != 0) continue;
      bool all = true;
      for (std::uint32_t i = 0; i < prod.size && all; ++i) {
        const std::uint32_t sym = g->rhs_[prod.begin + i];
        all = !is_terminal(sym) && g->nullable_[sym] != 0;
      }
      if (all) {
        g->nullable_[prod.lhs] = 1;
        changed = true;
      }
    }
  }
  return std::shared_ptr<const Grammar>(std::move(g));
}

std::string Grammar::to_string() const {
  std::string out;
  for (const auto& prod : prods_) {
    out += names_[prod.lhs] + " ::=";
    for (std::uint32_t i = 0; i < prod.size; ++i) {
      const std::uint32_t sym = rhs_[prod.begin + i];
      out += is_terminal(sym) ? fmt::format(" T{}", terminal_index(sym)) : " " + names_[sym];
    }
    out += "\n";
  }
  return out;
}

}  // namespace mlxs::guidance
