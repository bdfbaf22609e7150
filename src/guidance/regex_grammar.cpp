#include "guidance/regex_grammar.h"

#include "guidance/dfa_ops.h"
#include "guidance/regex_dfa.h"

namespace mlxs::guidance {

core::Result<std::shared_ptr<const Grammar>> regex_grammar(std::string_view pattern,
                                                           TerminalTable& terminals) {
  auto dfa = regex_to_dfa(pattern, RegexMode::kFullMatch);
  if (!dfa.is_ok())
    return core::make_error(core::ErrorCode::kGuidanceError, "regex: {}", dfa.status().message());
  GrammarBuilder b;
  const std::uint32_t root = b.add_nonterminal("root");
  // Terminals never match the empty string; an empty match is an empty rule.
  if (accepts_empty(*dfa)) b.add_production(root, {});
  MLXS_ASSIGN_OR_RETURN(Dfa nonempty, without_empty(*dfa));
  if (!nonempty.empty())
    b.add_production(root, {b.terminal(terminals.intern(std::move(nonempty)))});
  auto g = b.build(root);
  if (!g.is_ok())
    return core::Status(core::ErrorCode::kGuidanceError, "regex: the pattern matches nothing");
  return g;
}

}  // namespace mlxs::guidance
