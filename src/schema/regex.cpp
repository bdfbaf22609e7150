#include "schema/regex.h"

#include <utility>

#include <fmt/format.h>

#include "schema/regex_syntax.h"
#include "schema/utf8.h"

namespace mlxs::schema {
namespace {

using Op = RegexInst::Op;
using Kind = RegexAst::Kind;

// Thompson construction from the syntax tree.
class Emitter {
 public:
  Emitter(const RegexAst& ast, std::size_t max_size) : ast_(ast), max_size_(max_size) {}

  core::Status emit_program(std::vector<RegexInst>& out) {
    if (!emit(ast_.root)) return core::Status(core::ErrorCode::kInvalidParams, error_);
    if (!push({Op::kMatch, 0, 0})) return core::Status(core::ErrorCode::kInvalidParams, error_);
    out = std::move(insts_);
    return core::Status::ok();
  }

 private:
  std::uint32_t here() const { return static_cast<std::uint32_t>(insts_.size()); }

  bool push(RegexInst inst) {
    if (insts_.size() >= max_size_) {
      error_ = fmt::format("regex too large: its program exceeds {} instructions", max_size_);
      return false;
    }
    insts_.push_back(inst);
    return true;
  }

  bool emit(std::uint32_t id) {
    const RegexAst::Node& node = ast_.nodes[id];
    switch (node.kind) {
      case Kind::kEmpty:
        return true;
      case Kind::kSet:
        return push({Op::kChar, node.set, 0});
      case Kind::kConcat:
        for (std::uint32_t child : node.children) {
          if (!emit(child)) return false;
        }
        return true;
      case Kind::kGroup:
        return emit(node.children[0]);
      case Kind::kAlternation:
        return emit_alternation(node.children);
      case Kind::kRepeat:
        return emit_repeat(node);
      case Kind::kInputStart:
        return push({Op::kAssertStart, 0, 0});
      case Kind::kInputEnd:
        return push({Op::kAssertEnd, 0, 0});
      case Kind::kWordBoundary:
        return push({Op::kWordBoundary, 0, 0});
      case Kind::kNotWordBoundary:
        return push({Op::kNotWordBoundary, 0, 0});
      case Kind::kLookaround:
        error_ = "unsupported regex feature: lookaround has no linear-time matcher";
        return false;
      case Kind::kBackreference:
        error_ = "unsupported regex feature: backreferences have no linear-time matcher";
        return false;
    }
    return false;
  }

  // split L1, next; L1: a; jmp end; next: split L2, … ; last: z; end:
  bool emit_alternation(const std::vector<std::uint32_t>& children) {
    std::vector<std::uint32_t> jumps;
    for (std::size_t i = 0; i < children.size(); ++i) {
      const bool last = i + 1 == children.size();
      std::uint32_t split = 0;
      if (!last) {
        split = here();
        if (!push({Op::kSplit, split + 1, 0})) return false;
      }
      if (!emit(children[i])) return false;
      if (!last) {
        jumps.push_back(here());
        if (!push({Op::kJump, 0, 0})) return false;
        insts_[split].alt = here();
      }
    }
    for (std::uint32_t j : jumps) insts_[j].arg = here();
    return true;
  }

  // Optional copy: split body, skip (preferred branch first for greedy).
  bool emit_optional(std::uint32_t body, bool greedy, std::vector<std::uint32_t>& splits) {
    splits.push_back(here());
    if (!push({Op::kSplit, 0, 0})) return false;
    const std::uint32_t start = here();
    if (!emit(body)) return false;
    RegexInst& s = insts_[splits.back()];
    s.arg = greedy ? start : 0;
    s.alt = greedy ? 0 : start;
    return true;
  }

  bool emit_repeat(const RegexAst::Node& node) {
    const std::uint32_t body = node.children[0];
    // A body that emits no instructions (an empty group) matches the same
    // once or 2^32 times; repeating it would spin without ever reaching the
    // program-size limit, so it is emitted not at all.
    const std::uint32_t before = here();
    if (!emit(body)) return false;
    if (here() == before) return true;
    insts_.resize(before);
    for (std::uint32_t i = 0; i < node.min; ++i) {
      if (!emit(body)) return false;
    }
    if (node.max == RegexAst::kUnbounded) {
      // loop: split body, out; body; jmp loop; out:
      const std::uint32_t loop = here();
      if (!push({Op::kSplit, 0, 0})) return false;
      const std::uint32_t start = here();
      if (!emit(body)) return false;
      if (!push({Op::kJump, loop, 0})) return false;
      insts_[loop].arg = node.greedy ? start : here();
      insts_[loop].alt = node.greedy ? here() : start;
      return true;
    }
    // Nested optionals: (a(a(a)?)?)? — every skip jumps to the common end.
    std::vector<std::uint32_t> splits;
    for (std::uint32_t i = node.min; i < node.max; ++i) {
      if (!emit_optional(body, node.greedy, splits)) return false;
    }
    for (std::uint32_t s : splits) {
      RegexInst& inst = insts_[s];
      (node.greedy ? inst.alt : inst.arg) = here();
    }
    return true;
  }

  const RegexAst& ast_;
  std::size_t max_size_;
  std::vector<RegexInst> insts_;
  std::string error_;
};

bool is_word(char32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// A set of instruction indices with O(1) insert, test and clear.
class SparseSet {
 public:
  explicit SparseSet(std::size_t n) : dense_(n), sparse_(n) {}
  bool contains(std::uint32_t i) const {
    const std::uint32_t d = sparse_[i];
    return d < size_ && dense_[d] == i;
  }
  void insert(std::uint32_t i) {
    sparse_[i] = size_;
    dense_[size_++] = i;
  }
  void clear() { size_ = 0; }
  std::size_t size() const { return size_; }
  std::uint32_t operator[](std::size_t k) const { return dense_[k]; }

 private:
  std::vector<std::uint32_t> dense_;
  std::vector<std::uint32_t> sparse_;
  std::uint32_t size_ = 0;
};

}  // namespace

core::Result<Regex> Regex::compile(std::string_view pattern, const RegexOptions& options) {
  MLXS_ASSIGN_OR_RETURN(RegexAst ast, parse_regex(pattern, options.max_nesting));
  auto program = std::make_shared<Program>();
  Emitter emitter(ast, options.max_program_size);
  MLXS_RETURN_IF_ERROR(emitter.emit_program(program->insts));
  program->sets = std::move(ast.sets);
  Regex regex;
  regex.pattern_ = std::string(pattern);
  regex.program_ = std::move(program);
  return regex;
}

core::Status Regex::check_syntax(std::string_view pattern) {
  auto ast = parse_regex(pattern);
  return ast.is_ok() ? core::Status::ok() : ast.status();
}

std::size_t Regex::size() const {
  std::size_t n = program().size();
  for (const CodePointSet& set : sets()) n += set.ranges().size();
  return n;
}

bool Regex::search(std::string_view text) const {
  return run(text, false, false);
}
bool Regex::full_match(std::string_view text) const {
  return run(text, true, true);
}

// The Pike VM. `current` holds the instructions reached at this position
// before their epsilon closure; the closure is taken here because the
// assertions need both neighbours of the position.
bool Regex::run(std::string_view text, bool anchored, bool full) const {
  if (program_ == nullptr) return false;  // a default-constructed Regex matches nothing
  const auto& insts = program_->insts;
  const auto& sets = program_->sets;
  const std::size_t n = insts.size();
  SparseSet current(n);
  SparseSet next(n);
  SparseSet closure(n);
  std::vector<std::uint32_t> stack;
  stack.reserve(n);

  char32_t prev = 0;
  bool has_prev = false;
  std::size_t pos = 0;
  while (true) {
    const bool at_end = pos >= text.size();
    std::size_t after = pos;
    const char32_t cp = at_end ? 0 : utf8::decode(text, after);
    if ((!anchored || pos == 0) && !current.contains(0)) current.insert(0);
    if (current.size() == 0) return false;

    const bool word_before = has_prev && is_word(prev);
    const bool word_after = !at_end && is_word(cp);
    closure.clear();
    for (std::size_t k = 0; k < current.size(); ++k) stack.push_back(current[k]);
    while (!stack.empty()) {
      const std::uint32_t pc = stack.back();
      stack.pop_back();
      if (closure.contains(pc)) continue;
      closure.insert(pc);
      const RegexInst& inst = insts[pc];
      switch (inst.op) {
        case Op::kSplit:
          stack.push_back(inst.alt);
          stack.push_back(inst.arg);
          break;
        case Op::kJump:
          stack.push_back(inst.arg);
          break;
        case Op::kAssertStart:
          if (pos == 0) stack.push_back(pc + 1);
          break;
        case Op::kAssertEnd:
          if (at_end) stack.push_back(pc + 1);
          break;
        case Op::kWordBoundary:
          if (word_before != word_after) stack.push_back(pc + 1);
          break;
        case Op::kNotWordBoundary:
          if (word_before == word_after) stack.push_back(pc + 1);
          break;
        case Op::kMatch:
          if (!full || at_end) return true;
          break;
        case Op::kChar:
          if (!at_end && sets[inst.arg].contains(cp) && !next.contains(pc + 1)) next.insert(pc + 1);
          break;
      }
    }
    if (at_end) return false;
    std::swap(current, next);
    next.clear();
    prev = cp;
    has_prev = true;
    pos = after;
  }
}

}  // namespace mlxs::schema
