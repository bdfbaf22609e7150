#include "guidance/regex_dfa.h"

#include <vector>

#include "guidance/nfa.h"

namespace mlxs::guidance {
namespace {

using Op = schema::RegexInst::Op;

// Whether `from` reaches Match by epsilon moves when the input ends here
// (`at_start`: and nothing has been read).
bool matches_at_end(const std::vector<schema::RegexInst>& prog, std::uint32_t from, bool at_start) {
  std::vector<std::uint8_t> seen(prog.size(), 0);
  std::vector<std::uint32_t> stack{from};
  while (!stack.empty()) {
    const std::uint32_t pc = stack.back();
    stack.pop_back();
    if (pc >= prog.size() || seen[pc] != 0) continue;
    seen[pc] = 1;
    const auto& inst = prog[pc];
    switch (inst.op) {
      case Op::kMatch:
        return true;
      case Op::kSplit:
        stack.push_back(inst.arg);
        stack.push_back(inst.alt);
        break;
      case Op::kJump:
        stack.push_back(inst.arg);
        break;
      case Op::kAssertEnd:
        stack.push_back(pc + 1);
        break;
      case Op::kAssertStart:
        if (at_start) stack.push_back(pc + 1);
        break;
      case Op::kChar:
      case Op::kWordBoundary:
      case Op::kNotWordBoundary:
        break;
    }
  }
  return false;
}

}  // namespace

core::Result<Dfa> regex_to_dfa(const schema::Regex& regex, RegexMode mode, std::size_t max_states) {
  const auto& prog = regex.program();
  const auto& sets = regex.sets();
  if (prog.empty()) return Dfa();
  bool has_start = false;
  for (const auto& inst : prog) {
    if (inst.op == Op::kWordBoundary || inst.op == Op::kNotWordBoundary) {
      return core::Status(core::ErrorCode::kGuidanceError,
                          "regex word boundaries (\\b, \\B) are not supported for generation");
    }
    has_start = has_start || inst.op == Op::kAssertStart;
  }
  const auto n = static_cast<std::uint32_t>(prog.size());
  // Layer 0: nothing read yet (^ holds); layer 1: after a character.
  const int layers = has_start ? 2 : 1;
  Nfa nfa;
  for (int l = 0; l < layers; ++l) {
    for (std::uint32_t pc = 0; pc < n; ++pc) nfa.add_state();
  }
  const auto id = [&](std::uint32_t pc, int layer) {
    return pc + (layers == 2 ? static_cast<std::uint32_t>(layer) * n : 0);
  };
  const std::uint32_t end_accept = nfa.add_state();  // accepts only when the input ends
  std::uint32_t match_loop = end_accept;
  if (mode == RegexMode::kSearch) {
    const Nfa::Frag any = nfa.any_code_point();
    match_loop = any.in;
    nfa.add_eps(any.out, any.in);
  }
  for (int l = 0; l < layers; ++l) {
    const int after = layers - 1;  // the layer after reading a character
    for (std::uint32_t pc = 0; pc < n; ++pc) {
      const auto& inst = prog[pc];
      const std::uint32_t here = id(pc, l);
      switch (inst.op) {
        case Op::kChar: {
          const Nfa::Frag f = nfa.code_points(sets[inst.arg]);
          nfa.add_eps(here, f.in);
          nfa.add_eps(f.out, id(pc + 1, after));
          break;
        }
        case Op::kSplit:
          nfa.add_eps(here, id(inst.arg, l));
          nfa.add_eps(here, id(inst.alt, l));
          break;
        case Op::kJump:
          nfa.add_eps(here, id(inst.arg, l));
          break;
        case Op::kAssertStart:
          if (l == 0) nfa.add_eps(here, id(pc + 1, l));
          break;
        case Op::kAssertEnd:
          if (matches_at_end(prog, pc + 1, l == 0 && layers == 2)) nfa.add_eps(here, end_accept);
          break;
        case Op::kMatch:
          nfa.add_eps(here, match_loop);
          break;
        case Op::kWordBoundary:
        case Op::kNotWordBoundary:
          break;
      }
    }
  }
  std::uint32_t start = id(0, 0);
  if (mode == RegexMode::kSearch) {
    // Anything may come before the match.
    start = nfa.add_state();
    nfa.add_eps(start, id(0, 0));
    const Nfa::Frag skip = nfa.any_code_point();
    nfa.add_eps(start, skip.in);
    nfa.add_eps(skip.out, skip.in);
    nfa.add_eps(skip.out, id(0, layers - 1));
  }
  std::vector<std::uint8_t> accept(nfa.size(), 0);
  accept[end_accept] = 1;
  accept[match_loop] = 1;
  return nfa_to_dfa(nfa, start, accept, max_states);
}

core::Result<Dfa> regex_to_dfa(std::string_view pattern, RegexMode mode, std::size_t max_states) {
  auto compiled = schema::Regex::compile(pattern);
  if (!compiled.is_ok()) {
    return core::Status(core::ErrorCode::kGuidanceError, compiled.status().message());
  }
  return regex_to_dfa(*compiled, mode, max_states);
}

}  // namespace mlxs::guidance
