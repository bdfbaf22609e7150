#include "guidance/gbnf.h"

#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "guidance/dfa_ops.h"
#include "guidance/nfa.h"
#include "guidance/utf8_ranges.h"
#include "schema/code_point_set.h"

namespace mlxs::guidance {
namespace {

using schema::CodePointSet;

constexpr std::uint32_t kUnbounded = Nfa::kUnbounded;
constexpr std::uint32_t kMaxRepeat = 1000;         // {m,n} bounds
constexpr std::size_t kMaxNodes = 1u << 20;        // parsed expression nodes
constexpr std::uint32_t kMaxNfaStates = 1u << 20;  // per regular run

struct Node {
  enum class Kind : std::uint8_t { kAlt, kSeq, kLit, kClass, kRef, kRepeat };
  Kind kind = Kind::kSeq;
  std::vector<std::uint32_t> kids;
  std::string bytes;               // kLit
  CodePointSet set;                // kClass
  std::uint32_t rule = 0;          // kRef
  std::uint32_t min = 0, max = 0;  // kRepeat
};

struct Rule {
  std::string name;
  std::int64_t body = -1;     // node; -1 while undefined
  std::size_t first_use = 0;  // where it was first named (for errors)
};

// The text to nodes and rules.
class Reader {
 public:
  explicit Reader(std::string_view text) : t_(text) {}

  core::Status read() {
    skip_space();
    while (!at_end()) {
      const std::size_t at = pos_;
      const std::string name = read_name();
      if (name.empty()) return error(at, "expected a rule name");
      skip_space();
      if (t_.substr(pos_, 3) != "::=") return error(pos_, "expected '::=' after the rule name");
      pos_ += 3;
      skip_space();
      const std::uint32_t r = rule_id(name, at);
      if (rules_[r].body >= 0) return error(at, fmt::format("rule '{}' is defined twice", name));
      MLXS_ASSIGN_OR_RETURN(std::uint32_t body, read_alternatives(0));
      rules_[r].body = body;
      skip_space();
    }
    for (const Rule& r : rules_) {
      if (r.body < 0) return error(r.first_use, fmt::format("undefined rule '{}'", r.name));
    }
    return core::Status::ok();
  }

  std::vector<Node>& nodes() { return nodes_; }
  std::vector<Rule>& rules() { return rules_; }
  std::int64_t find_rule(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? -1 : static_cast<std::int64_t>(it->second);
  }

 private:
  bool at_end() const { return pos_ >= t_.size(); }
  char peek() const { return at_end() ? '\0' : t_[pos_]; }
  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  }

  core::Status error(std::size_t at, const std::string& what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < at && i < t_.size(); ++i) {
      if (t_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return core::make_error(core::ErrorCode::kGuidanceError, "grammar: line {} column {}: {}", line,
                            col, what);
  }

  void skip_space() {
    while (!at_end()) {
      const char c = t_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '#') {
        while (!at_end() && t_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string read_name() {
    const std::size_t start = pos_;
    while (!at_end() && name_char(t_[pos_])) ++pos_;
    return std::string(t_.substr(start, pos_ - start));
  }

  // A rule name followed by ::= starts here (the current rule ends).
  bool at_rule_start() {
    const std::size_t save = pos_;
    const bool named = !read_name().empty();
    skip_space();
    const bool yes = named && t_.substr(pos_, 3) == "::=";
    pos_ = save;
    return yes;
  }

  std::uint32_t rule_id(const std::string& name, std::size_t at) {
    auto [it, fresh] = by_name_.emplace(name, static_cast<std::uint32_t>(rules_.size()));
    if (fresh) rules_.push_back(Rule{name, -1, at});
    return it->second;
  }

  core::Result<std::uint32_t> add(Node n) {
    if (nodes_.size() >= kMaxNodes) return error(pos_, "grammar too large");
    nodes_.push_back(std::move(n));
    return static_cast<std::uint32_t>(nodes_.size() - 1);
  }

  core::Result<std::uint32_t> read_alternatives(int depth) {
    if (depth > 200) return error(pos_, "groups nested too deeply");
    std::vector<std::uint32_t> alts;
    MLXS_ASSIGN_OR_RETURN(std::uint32_t first, read_sequence(depth));
    alts.push_back(first);
    while (peek() == '|') {
      ++pos_;
      skip_space();
      MLXS_ASSIGN_OR_RETURN(std::uint32_t next, read_sequence(depth));
      alts.push_back(next);
    }
    if (alts.size() == 1) return alts[0];
    Node n;
    n.kind = Node::Kind::kAlt;
    n.kids = std::move(alts);
    return add(std::move(n));
  }

  core::Result<std::uint32_t> read_sequence(int depth) {
    Node seq;
    seq.kind = Node::Kind::kSeq;
    for (;;) {
      skip_space();
      const char c = peek();
      if (at_end() || c == '|' || c == ')') break;
      if (depth == 0 && name_char(c) && at_rule_start()) break;
      MLXS_ASSIGN_OR_RETURN(std::uint32_t atom, read_atom(depth));
      for (;;) {
        skip_space();
        const char op = peek();
        std::uint32_t lo = 0, hi = 0;
        if (op == '*') {
          lo = 0;
          hi = kUnbounded;
          ++pos_;
        } else if (op == '+') {
          lo = 1;
          hi = kUnbounded;
          ++pos_;
        } else if (op == '?') {
          lo = 0;
          hi = 1;
          ++pos_;
        } else if (op == '{') {
          MLXS_RETURN_IF_ERROR(read_braces(lo, hi));
        } else {
          break;
        }
        Node r;
        r.kind = Node::Kind::kRepeat;
        r.kids = {atom};
        r.min = lo;
        r.max = hi;
        MLXS_ASSIGN_OR_RETURN(atom, add(std::move(r)));
      }
      seq.kids.push_back(atom);
    }
    if (seq.kids.size() == 1) return seq.kids[0];
    return add(std::move(seq));
  }

  core::Result<std::uint32_t> read_count() {
    const std::size_t start = pos_;
    std::uint64_t v = 0;
    while (!at_end() && t_[pos_] >= '0' && t_[pos_] <= '9') {
      v = v * 10 + static_cast<std::uint64_t>(t_[pos_] - '0');
      if (v > kMaxRepeat) return error(start, fmt::format("repetition count above {}", kMaxRepeat));
      ++pos_;
    }
    if (pos_ == start) return error(start, "expected a number");
    return static_cast<std::uint32_t>(v);
  }

  core::Status read_braces(std::uint32_t& lo, std::uint32_t& hi) {
    const std::size_t at = pos_;
    ++pos_;  // {
    skip_space();
    lo = 0;
    if (peek() != ',') {
      MLXS_ASSIGN_OR_RETURN(lo, read_count());
      skip_space();
    }
    hi = lo;
    if (peek() == ',') {
      ++pos_;
      skip_space();
      hi = kUnbounded;
      if (peek() != '}') {
        MLXS_ASSIGN_OR_RETURN(hi, read_count());
        skip_space();
      }
    }
    if (peek() != '}') return error(pos_, "expected '}'");
    ++pos_;
    if (hi < lo) return error(at, "repetition maximum below minimum");
    return core::Status::ok();
  }

  // One code point of the source: raw UTF-8 or an escape.
  core::Result<char32_t> read_char(bool& escaped) {
    const std::size_t at = pos_;
    escaped = false;
    const auto c = static_cast<unsigned char>(t_[pos_]);
    if (c == '\\') {
      escaped = true;
      ++pos_;
      if (at_end()) return error(at, "escape at the end of the grammar");
      const char e = t_[pos_++];
      int digits = 0;
      switch (e) {
        case 'n':
          return U'\n';
        case 'r':
          return U'\r';
        case 't':
          return U'\t';
        case '0':
          return U'\0';
        case '\\':
        case '"':
        case '\'':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
        case '.':
        case '(':
        case ')':
        case '|':
          return static_cast<char32_t>(e);
        case 'x':
          digits = 2;
          break;
        case 'u':
          digits = 4;
          break;
        case 'U':
          digits = 8;
          break;
        default:
          return error(at, fmt::format("unknown escape '\\{}'", e));
      }
      std::uint32_t v = 0;
      for (int i = 0; i < digits; ++i) {
        if (at_end()) return error(at, "incomplete escape");
        const char h = t_[pos_++];
        std::uint32_t d = 0;
        if (h >= '0' && h <= '9') {
          d = static_cast<std::uint32_t>(h - '0');
        } else if (h >= 'a' && h <= 'f') {
          d = static_cast<std::uint32_t>(h - 'a' + 10);
        } else if (h >= 'A' && h <= 'F') {
          d = static_cast<std::uint32_t>(h - 'A' + 10);
        } else {
          return error(at, "bad hexadecimal digit in escape");
        }
        v = v * 16 + d;
      }
      if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return error(at, "escape is not a Unicode scalar value");
      return static_cast<char32_t>(v);
    }
    // UTF-8.
    int len = 0;
    char32_t cp = 0;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return error(at, "invalid UTF-8");
    }
    if (pos_ + static_cast<std::size_t>(len) > t_.size()) return error(at, "invalid UTF-8");
    for (int i = 1; i < len; ++i) {
      const auto b = static_cast<unsigned char>(t_[pos_ + static_cast<std::size_t>(i)]);
      if ((b & 0xC0) != 0x80) return error(at, "invalid UTF-8");
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return error(at, "invalid UTF-8");
    pos_ += static_cast<std::size_t>(len);
    return cp;
  }

  core::Result<std::uint32_t> read_atom(int depth) {
    const std::size_t at = pos_;
    const char c = peek();
    if (c == '"') {
      ++pos_;
      Node n;
      n.kind = Node::Kind::kLit;
      while (peek() != '"') {
        if (at_end()) return error(at, "unterminated string");
        bool escaped = false;
        MLXS_ASSIGN_OR_RETURN(char32_t cp, read_char(escaped));
        std::uint8_t buf[4];
        const int len = utf8_encode(cp, buf);
        n.bytes.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(len));
      }
      ++pos_;
      if (n.bytes.empty()) {
        Node empty;
        empty.kind = Node::Kind::kSeq;
        return add(std::move(empty));
      }
      return add(std::move(n));
    }
    if (c == '[') {
      ++pos_;
      bool negate = false;
      if (peek() == '^') {
        negate = true;
        ++pos_;
      }
      CodePointSet set;
      while (peek() != ']') {
        if (at_end()) return error(at, "unterminated character class");
        bool escaped = false;
        MLXS_ASSIGN_OR_RETURN(char32_t lo, read_char(escaped));
        char32_t hi = lo;
        if (peek() == '-' && pos_ + 1 < t_.size() && t_[pos_ + 1] != ']') {
          ++pos_;
          MLXS_ASSIGN_OR_RETURN(hi, read_char(escaped));
          if (hi < lo) return error(at, "character range out of order");
        }
        set.add(lo, hi);
      }
      ++pos_;
      Node n;
      n.kind = Node::Kind::kClass;
      n.set = negate ? set.complement() : set;
      return add(std::move(n));
    }
    if (c == '.') {
      ++pos_;
      Node n;
      n.kind = Node::Kind::kClass;
      n.set = CodePointSet::all();
      return add(std::move(n));
    }
    if (c == '(') {
      ++pos_;
      skip_space();
      MLXS_ASSIGN_OR_RETURN(std::uint32_t inner, read_alternatives(depth + 1));
      skip_space();
      if (peek() != ')') return error(pos_, "expected ')'");
      ++pos_;
      return inner;
    }
    if (name_char(c)) {
      const std::string name = read_name();
      Node n;
      n.kind = Node::Kind::kRef;
      n.rule = rule_id(name, at);
      return add(std::move(n));
    }
    if (c == '<') return error(at, "token references (<...>) are not supported");
    return error(at, fmt::format("unexpected '{}'", c));
  }

  std::string_view t_;
  std::size_t pos_ = 0;
  std::vector<Node> nodes_;
  std::vector<Rule> rules_;
  std::unordered_map<std::string, std::uint32_t> by_name_;
};

// Nodes to grammar rules and terminals.
class Lowering {
 public:
  Lowering(std::vector<Node>& nodes, std::vector<Rule>& rules, TerminalTable& terminals)
      : nodes_(nodes), rules_(rules), terminals_(terminals) {}

  core::Result<std::shared_ptr<const Grammar>> run(std::uint32_t root) {
    find_regular();
    rule_nt_.resize(rules_.size());
    for (std::size_t r = 0; r < rules_.size(); ++r)
      rule_nt_[r] = b_.add_nonterminal(rules_[r].name);
    for (std::size_t r = 0; r < rules_.size(); ++r) {
      std::vector<std::uint32_t> rhs;
      MLXS_RETURN_IF_ERROR(lower(static_cast<std::uint32_t>(rules_[r].body), rhs));
      b_.add_production(rule_nt_[r], std::move(rhs));
    }
    auto g = b_.build(rule_nt_[root]);
    if (!g.is_ok())
      return core::Status(core::ErrorCode::kGuidanceError, "grammar: root matches nothing");
    return g;
  }

 private:
  // A rule is regular when it reaches no rule that reaches itself.
  void find_regular() {
    enum : std::uint8_t { kNew, kActive, kDone };
    std::vector<std::uint8_t> mark(rules_.size(), kNew);
    rule_regular_.assign(rules_.size(), 1);
    node_regular_.assign(nodes_.size(), 2);  // 2: not yet known
    // Iterative DFS over rule references.
    std::function<bool(std::uint32_t)> visit_rule = [&](std::uint32_t r) -> bool {
      if (mark[r] == kDone) return rule_regular_[r] != 0;
      if (mark[r] == kActive) return false;  // recursion
      mark[r] = kActive;
      bool ok = true;
      std::vector<std::uint32_t> stack{static_cast<std::uint32_t>(rules_[r].body)};
      while (!stack.empty()) {
        const Node& n = nodes_[stack.back()];
        stack.pop_back();
        if (n.kind == Node::Kind::kRef) {
          if (!visit_rule(n.rule)) ok = false;
        }
        for (std::uint32_t k : n.kids) stack.push_back(k);
      }
      mark[r] = kDone;
      rule_regular_[r] = ok ? 1 : 0;
      return ok;
    };
    for (std::uint32_t r = 0; r < rules_.size(); ++r) visit_rule(r);
  }

  bool regular(std::uint32_t n) {
    if (node_regular_[n] != 2) return node_regular_[n] != 0;
    const Node& node = nodes_[n];
    bool ok = node.kind != Node::Kind::kRef || rule_regular_[node.rule] != 0;
    for (std::uint32_t k : node.kids) ok = regular(k) && ok;
    node_regular_[n] = ok ? 1 : 0;
    return ok;
  }

  core::Result<Nfa::Frag> frag(std::uint32_t n, int depth) {
    if (nfa_.size() > kMaxNfaStates || depth > 400) {
      return core::Status(core::ErrorCode::kGuidanceError,
                          "grammar: a non-recursive part is too large");
    }
    const Node& node = nodes_[n];
    switch (node.kind) {
      case Node::Kind::kLit:
        return nfa_.literal(node.bytes);
      case Node::Kind::kClass:
        return nfa_.code_points(node.set);
      case Node::Kind::kRef:
        return frag(static_cast<std::uint32_t>(rules_[node.rule].body), depth + 1);
      case Node::Kind::kSeq: {
        Nfa::Frag f = nfa_.empty();
        for (std::uint32_t k : node.kids) {
          MLXS_ASSIGN_OR_RETURN(Nfa::Frag next, frag(k, depth + 1));
          f = nfa_.concat(f, next);
        }
        return f;
      }
      case Node::Kind::kAlt: {
        MLXS_ASSIGN_OR_RETURN(Nfa::Frag f, frag(node.kids[0], depth + 1));
        for (std::size_t i = 1; i < node.kids.size(); ++i) {
          MLXS_ASSIGN_OR_RETURN(Nfa::Frag next, frag(node.kids[i], depth + 1));
          f = nfa_.alt(f, next);
        }
        return f;
      }
      case Node::Kind::kRepeat: {
        core::Status failed = core::Status::ok();
        const std::uint32_t kid = node.kids[0];
        const auto make = [&]() -> Nfa::Frag {
          auto f = frag(kid, depth + 1);
          if (!f.is_ok()) {
            failed = f.status();
            return nfa_.empty();
          }
          return *f;
        };
        Nfa::Frag f = nfa_.repeat(make, node.min, node.max);
        if (!failed.is_ok()) return failed;
        return f;
      }
    }
    return core::Status(core::ErrorCode::kGuidanceError, "grammar: unknown node");
  }

  // Appends the symbols of a regular run (nodes `run`) to `out`.
  core::Status emit_regular(const std::vector<std::uint32_t>& run,
                            std::vector<std::uint32_t>& out) {
    nfa_ = Nfa();
    Nfa::Frag f = nfa_.empty();
    for (std::uint32_t k : run) {
      MLXS_ASSIGN_OR_RETURN(Nfa::Frag next, frag(k, 0));
      f = nfa_.concat(f, next);
    }
    auto dfa = nfa_to_dfa(nfa_, f);
    if (!dfa.is_ok())
      return core::make_error(core::ErrorCode::kGuidanceError, "grammar: {}",
                              dfa.status().message());
    if (dfa->empty()) {
      out.push_back(b_.add_nonterminal("nothing"));  // no productions: derives nothing
      return core::Status::ok();
    }
    const bool empty_too = accepts_empty(*dfa);
    MLXS_ASSIGN_OR_RETURN(Dfa nonempty, without_empty(*dfa));
    if (nonempty.empty()) return core::Status::ok();  // only the empty string
    const std::uint32_t t = b_.terminal(terminals_.intern(std::move(nonempty)));
    if (!empty_too) {
      out.push_back(t);
      return core::Status::ok();
    }
    const std::uint32_t opt = b_.add_nonterminal("optional");
    b_.add_production(opt, {});
    b_.add_production(opt, {t});
    out.push_back(opt);
    return core::Status::ok();
  }

  core::Status lower(std::uint32_t n, std::vector<std::uint32_t>& out) {
    const Node& node = nodes_[n];
    if (node.kind == Node::Kind::kSeq) {
      std::vector<std::uint32_t> run;
      for (std::uint32_t k : node.kids) {
        if (regular(k)) {
          run.push_back(k);
          continue;
        }
        if (!run.empty()) MLXS_RETURN_IF_ERROR(emit_regular(run, out));
        run.clear();
        MLXS_RETURN_IF_ERROR(lower(k, out));
      }
      if (!run.empty()) MLXS_RETURN_IF_ERROR(emit_regular(run, out));
      return core::Status::ok();
    }
    if (regular(n)) return emit_regular({n}, out);
    switch (node.kind) {
      case Node::Kind::kRef:
        out.push_back(rule_nt_[node.rule]);
        return core::Status::ok();
      case Node::Kind::kAlt: {
        const std::uint32_t nt = b_.add_nonterminal("alternatives");
        for (std::uint32_t k : node.kids) {
          std::vector<std::uint32_t> rhs;
          MLXS_RETURN_IF_ERROR(lower(k, rhs));
          b_.add_production(nt, std::move(rhs));
        }
        out.push_back(nt);
        return core::Status::ok();
      }
      case Node::Kind::kRepeat: {
        std::vector<std::uint32_t> body;
        MLXS_RETURN_IF_ERROR(lower(node.kids[0], body));
        for (std::uint32_t i = 0; i < node.min; ++i)
          out.insert(out.end(), body.begin(), body.end());
        if (node.max == kUnbounded) {
          const std::uint32_t star = b_.add_nonterminal("repeat");
          b_.add_production(star, {});
          std::vector<std::uint32_t> rhs = body;
          rhs.push_back(star);
          b_.add_production(star, std::move(rhs));
          out.push_back(star);
        } else if (node.max > node.min) {
          // (body (body (...)?)?)? for the optional copies.
          std::uint32_t tail = b_.add_nonterminal("optional");
          b_.add_production(tail, {});
          b_.add_production(tail, body);
          for (std::uint32_t i = node.min + 1; i < node.max; ++i) {
            const std::uint32_t outer = b_.add_nonterminal("optional");
            b_.add_production(outer, {});
            std::vector<std::uint32_t> rhs = body;
            rhs.push_back(tail);
            b_.add_production(outer, std::move(rhs));
            tail = outer;
          }
          out.push_back(tail);
        }
        return core::Status::ok();
      }
      case Node::Kind::kSeq:
      case Node::Kind::kLit:
      case Node::Kind::kClass:
        break;
    }
    return core::Status(core::ErrorCode::kGuidanceError, "grammar: unexpected node");
  }

  std::vector<Node>& nodes_;
  std::vector<Rule>& rules_;
  TerminalTable& terminals_;
  GrammarBuilder b_;
  Nfa nfa_;
  std::vector<std::uint32_t> rule_nt_;
  std::vector<std::uint8_t> rule_regular_, node_regular_;
};

}  // namespace

core::Result<std::shared_ptr<const Grammar>> gbnf_grammar(std::string_view text,
                                                          TerminalTable& terminals) {
  Reader reader(text);
  MLXS_RETURN_IF_ERROR(reader.read());
  const std::int64_t root = reader.find_rule("root");
  if (root < 0) return core::Status(core::ErrorCode::kGuidanceError, "grammar: no 'root' rule");
  Lowering lowering(reader.nodes(), reader.rules(), terminals);
  return lowering.run(static_cast<std::uint32_t>(root));
}

}  // namespace mlxs::guidance
