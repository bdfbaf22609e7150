#include "template/parser.h"

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "template/filters.h"
#include "template/predicates.h"
#include "template/scopes.h"

namespace mlxs::template_ {
namespace {

using ast::ExprKind;
using ast::ExprPtr;
using ast::Location;

std::string describe(const Token& t) {
  switch (t.kind) {
    case TokenKind::kData:
      return "template data / text";
    case TokenKind::kVarBegin:
      return "begin of print statement";
    case TokenKind::kVarEnd:
      return "end of print statement";
    case TokenKind::kBlockBegin:
      return "begin of statement block";
    case TokenKind::kBlockEnd:
      return "end of statement block";
    case TokenKind::kName:
    case TokenKind::kOperator:
      return t.text;
    case TokenKind::kString:
      return "string";
    case TokenKind::kInteger:
      return "integer";
    case TokenKind::kFloat:
      return "float";
    case TokenKind::kEof:
      return "end of template";
  }
  return "token";
}

class Parser {
 public:
  Parser(const std::vector<Token>& tokens, const ParseLimits& limits)
      : toks_(tokens), limits_(limits) {}

  core::Result<std::unique_ptr<ast::Template>> run() {
    auto tmpl = std::make_unique<ast::Template>();
    MLXS_ASSIGN_OR_RETURN(tmpl->body, subparse({}));
    if (cur().kind != TokenKind::kEof) return fail(cur(), "unexpected " + quoted(cur()));
    return tmpl;
  }

 private:
  // ------------------------------------------------------------ helpers
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(std::size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
  void advance() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  static Location loc(const Token& t) { return {t.line, t.column}; }
  static std::string quoted(const Token& t) { return "'" + describe(t) + "'"; }

  bool is_op(std::string_view op) const {
    return cur().kind == TokenKind::kOperator && cur().text == op;
  }
  bool is_name(std::string_view n) const {
    return cur().kind == TokenKind::kName && cur().text == n;
  }
  bool skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    advance();
    return true;
  }
  bool skip_name(std::string_view n) {
    if (!is_name(n)) return false;
    advance();
    return true;
  }

  core::Status fail(const Token& t, std::string_view message) const {
    return template_error(t.line, t.column, message);
  }
  core::Status expect_op(std::string_view op) {
    if (skip_op(op)) return core::Status::ok();
    return fail(cur(), "expected token '" + std::string(op) + "', got " + quoted(cur()));
  }
  core::Status expect_kind(TokenKind kind, std::string_view what) {
    if (cur().kind == kind) {
      advance();
      return core::Status::ok();
    }
    return fail(cur(), "expected token '" + std::string(what) + "', got " + quoted(cur()));
  }
  core::Result<std::string> expect_name() {
    if (cur().kind != TokenKind::kName) {
      return fail(cur(), "expected token 'name', got " + quoted(cur()));
    }
    std::string n = cur().text;
    advance();
    return n;
  }

  // Every nesting step (statement in a body, sub-expression, link of an
  // operator chain) goes through here, so the tree's height stays bounded.
  core::Status enter() {
    if (++depth_ > limits_.max_depth) {
      return fail(cur(), "template nested too deeply (more than " +
                             std::to_string(limits_.max_depth) + " levels)");
    }
    return core::Status::ok();
  }
  struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d), saved(d) {}
    ~DepthGuard() { depth = saved; }
    DepthGuard(const DepthGuard&) = delete;
    DepthGuard& operator=(const DepthGuard&) = delete;
    int& depth;
    int saved;
  };

  // ---------------------------------------------------------- statements
  using EndTags = std::initializer_list<std::string_view>;

  bool at_end_tag(const std::vector<std::string>& end_tags) const {
    return cur().kind == TokenKind::kName &&
           std::find(end_tags.begin(), end_tags.end(), cur().text) != end_tags.end();
  }

  // Parses until one of end_tags (left as the current token, just after `{%`).
  core::Result<ast::Body> subparse(EndTags end_tags) {
    DepthGuard guard(depth_);
    MLXS_RETURN_IF_ERROR(enter());
    std::vector<std::string> ends(end_tags.begin(), end_tags.end());
    ast::Body body;
    while (true) {
      const Token& t = cur();
      switch (t.kind) {
        case TokenKind::kData:
          body.push_back(std::make_unique<ast::Text>(loc(t), t.text));
          advance();
          break;
        case TokenKind::kVarBegin: {
          advance();
          MLXS_ASSIGN_OR_RETURN(auto expr, parse_tuple(false, true, {}, false));
          MLXS_RETURN_IF_ERROR(expect_kind(TokenKind::kVarEnd, "end of print statement"));
          body.push_back(std::make_unique<ast::Print>(loc(t), std::move(expr)));
          break;
        }
        case TokenKind::kBlockBegin: {
          advance();
          if (!ends.empty() && at_end_tag(ends)) return body;
          MLXS_ASSIGN_OR_RETURN(auto stmt, parse_statement());
          if (stmt) body.push_back(std::move(stmt));
          MLXS_RETURN_IF_ERROR(expect_kind(TokenKind::kBlockEnd, "end of statement block"));
          break;
        }
        case TokenKind::kEof:
          if (!ends.empty()) return eof_error(t, ends);
          return body;
        case TokenKind::kVarEnd:
        case TokenKind::kBlockEnd:
        case TokenKind::kName:
        case TokenKind::kString:
        case TokenKind::kInteger:
        case TokenKind::kFloat:
        case TokenKind::kOperator:
          return fail(t, "unexpected " + quoted(t));
      }
    }
  }

  core::Status eof_error(const Token& t, const std::vector<std::string>& ends) const {
    std::string looking;
    for (const auto& e : ends) looking += (looking.empty() ? "'" : " or '") + e + "'";
    std::string msg =
        "Unexpected end of template. Jinja was looking for the following tags: " + looking + ".";
    if (!tag_stack_.empty())
      msg += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
    return fail(t, msg);
  }

  // body up to one of end_tags; consumes the end tag name when drop is set.
  core::Result<ast::Body> parse_statements(EndTags end_tags, bool drop_needle) {
    skip_op(":");
    MLXS_RETURN_IF_ERROR(expect_kind(TokenKind::kBlockEnd, "end of statement block"));
    MLXS_ASSIGN_OR_RETURN(auto body, subparse(end_tags));
    if (drop_needle) advance();
    return body;
  }

  core::Result<ast::StmtPtr> parse_statement() {
    const Token& t = cur();
    if (t.kind != TokenKind::kName) return fail(t, "tag name expected");
    const std::string tag = t.text;
    tag_stack_.push_back(tag);
    auto result = dispatch_statement(tag);
    tag_stack_.pop_back();
    return result;
  }

  core::Result<ast::StmtPtr> dispatch_statement(const std::string& tag) {
    const Token& t = cur();
    if (tag == "if") return parse_if();
    if (tag == "for") return parse_for();
    if (tag == "set") return parse_set();
    if (tag == "macro") return parse_macro();
    if (tag == "call") return parse_call_block();
    if (tag == "filter") return parse_filter_block();
    if (tag == "with") return parse_with();
    if (tag == "block" || tag == "generation") return parse_scope(tag);
    if (tag == "print") {
      advance();
      // {% print a, b %} prints each in turn: the same as a ~ b.
      auto parts = std::make_unique<ast::Concat>(loc(t));
      while (cur().kind != TokenKind::kBlockEnd) {
        if (!parts->parts.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
        MLXS_ASSIGN_OR_RETURN(auto e, parse_expression(true));
        parts->parts.push_back(std::move(e));
      }
      return ast::StmtPtr(std::make_unique<ast::Print>(loc(t), std::move(parts)));
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) return fail(t, "'" + tag + "' is only allowed inside a loop");
      advance();
      return ast::StmtPtr(std::make_unique<ast::LoopControl>(
          tag == "break" ? ast::StmtKind::kBreak : ast::StmtKind::kContinue, loc(t)));
    }
    if (tag == "include" || tag == "extends" || tag == "import" || tag == "from") {
      return fail(t, "'" + tag + "' is not supported: a chat template cannot load other templates");
    }
    return fail(t, "Encountered unknown tag '" + tag + "'.");
  }

  core::Result<ast::StmtPtr> parse_if() {
    auto node = std::make_unique<ast::If>(loc(cur()));
    advance();
    while (true) {
      MLXS_ASSIGN_OR_RETURN(auto test, parse_tuple(false, false, {}, false));
      MLXS_ASSIGN_OR_RETURN(auto body, parse_statements({"elif", "else", "endif"}, false));
      node->branches.emplace_back(std::move(test), std::move(body));
      const std::string which = cur().text;
      advance();
      if (which == "elif") continue;
      if (which == "else") {
        MLXS_ASSIGN_OR_RETURN(node->otherwise, parse_statements({"endif"}, true));
      }
      break;
    }
    return ast::StmtPtr(std::move(node));
  }

  core::Result<ast::StmtPtr> parse_for() {
    auto node = std::make_unique<ast::For>(loc(cur()));
    advance();
    MLXS_ASSIGN_OR_RETURN(node->target, parse_target(false, {"in"}));
    if (!skip_name("in")) return fail(cur(), "expected token 'in', got " + quoted(cur()));
    MLXS_ASSIGN_OR_RETURN(node->iter, parse_tuple(false, false, {"recursive"}, false));
    if (skip_name("if")) {
      MLXS_ASSIGN_OR_RETURN(node->filter, parse_expression(true));
    }
    node->recursive = skip_name("recursive");
    ++loop_depth_;
    auto body = parse_statements({"endfor", "else"}, false);
    --loop_depth_;
    if (!body) return std::move(body).take_status();
    node->body = std::move(body).value();
    const std::string which = cur().text;
    advance();
    if (which == "else") {
      MLXS_ASSIGN_OR_RETURN(node->otherwise, parse_statements({"endfor"}, true));
    }
    return ast::StmtPtr(std::move(node));
  }

  core::Result<ast::StmtPtr> parse_set() {
    const Location l = loc(cur());
    advance();
    MLXS_ASSIGN_OR_RETURN(auto target, parse_target(true, {}));
    if (skip_op("=")) {
      auto node = std::make_unique<ast::Set>(l);
      node->target = std::move(target);
      MLXS_ASSIGN_OR_RETURN(node->value, parse_tuple(false, true, {}, false));
      return ast::StmtPtr(std::move(node));
    }
    auto node = std::make_unique<ast::SetBlock>(l);
    node->target = std::move(target);
    if (is_op("|")) {
      MLXS_ASSIGN_OR_RETURN(node->filter, parse_filter(nullptr, false));
    }
    MLXS_ASSIGN_OR_RETURN(node->body, parse_statements({"endset"}, true));
    return ast::StmtPtr(std::move(node));
  }

  // Names, `ns.attr` (with_namespace) and tuples of them, as jinja2 allows.
  core::Result<ast::Target> parse_target(bool with_namespace, EndTags extra_end) {
    DepthGuard guard(depth_);
    MLXS_RETURN_IF_ERROR(enter());
    std::vector<std::string> ends(extra_end.begin(), extra_end.end());
    ast::Target tuple;
    tuple.kind = ast::Target::Kind::kTuple;
    tuple.loc = loc(cur());
    bool is_tuple = false;
    while (true) {
      if (!tuple.items.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
      if (cur().kind == TokenKind::kBlockEnd || is_op(")") || (!ends.empty() && at_end_tag(ends)))
        break;
      MLXS_ASSIGN_OR_RETURN(auto one, parse_target_primary(with_namespace));
      tuple.items.push_back(std::move(one));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (tuple.items.empty())
      return fail(cur(), "expected an assignment target, got " + quoted(cur()));
    if (!is_tuple) return std::move(tuple.items[0]);
    return tuple;
  }

  core::Result<ast::Target> parse_target_primary(bool with_namespace) {
    const Token& t = cur();
    if (skip_op("(")) {
      MLXS_ASSIGN_OR_RETURN(auto inner, parse_target(with_namespace, {}));
      MLXS_RETURN_IF_ERROR(expect_op(")"));
      return inner;
    }
    if (t.kind != TokenKind::kName) return fail(t, "can't assign to " + quoted(t));
    static constexpr std::string_view kConstNames[] = {"true",  "false", "True",
                                                       "False", "none",  "None"};
    for (const auto c : kConstNames) {
      if (t.text == c) return fail(t, "can't assign to 'const'");
    }
    ast::Target target;
    target.loc = loc(t);
    target.name = t.text;
    advance();
    if (with_namespace && is_op(".")) {
      advance();
      MLXS_ASSIGN_OR_RETURN(target.attr, expect_name());
      target.kind = ast::Target::Kind::kAttr;
    }
    return target;
  }

  core::Status parse_signature(ast::Macro& macro) {
    MLXS_RETURN_IF_ERROR(expect_op("("));
    while (!is_op(")")) {
      if (!macro.params.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
      if (is_op(")")) break;
      MLXS_ASSIGN_OR_RETURN(auto name, expect_name());
      if (skip_op("=")) {
        MLXS_ASSIGN_OR_RETURN(auto def, parse_expression(true));
        macro.defaults.push_back(std::move(def));
      } else if (!macro.defaults.empty()) {
        return fail(cur(), "non-default argument follows default argument");
      }
      macro.params.push_back(std::move(name));
    }
    return expect_op(")");
  }

  core::Result<ast::Body> parse_macro_body(ast::Macro& macro, EndTags end) {
    macro_stack_.push_back(&macro);
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;  // break/continue cannot leave a macro
    auto body = parse_statements(end, true);
    loop_depth_ = saved_loops;
    macro_stack_.pop_back();
    return body;
  }

  core::Result<ast::StmtPtr> parse_macro() {
    auto node = std::make_unique<ast::Macro>(loc(cur()));
    advance();
    MLXS_ASSIGN_OR_RETURN(node->name, expect_name());
    MLXS_RETURN_IF_ERROR(parse_signature(*node));
    MLXS_ASSIGN_OR_RETURN(node->body, parse_macro_body(*node, {"endmacro"}));
    return ast::StmtPtr(std::move(node));
  }

  core::Result<ast::StmtPtr> parse_call_block() {
    const Token& t = cur();
    auto node = std::make_unique<ast::CallBlock>(loc(t));
    advance();
    node->caller = std::make_unique<ast::Macro>(loc(t));
    node->caller->name = "caller";
    if (is_op("(")) MLXS_RETURN_IF_ERROR(parse_signature(*node->caller));
    MLXS_ASSIGN_OR_RETURN(node->call, parse_expression(true));
    if (node->call->kind != ExprKind::kCall) return fail(t, "expected call");
    MLXS_ASSIGN_OR_RETURN(node->caller->body, parse_macro_body(*node->caller, {"endcall"}));
    return ast::StmtPtr(std::move(node));
  }

  core::Result<ast::StmtPtr> parse_filter_block() {
    auto node = std::make_unique<ast::FilterBlock>(loc(cur()));
    advance();
    MLXS_ASSIGN_OR_RETURN(node->filter, parse_filter(nullptr, true));
    MLXS_ASSIGN_OR_RETURN(node->body, parse_statements({"endfilter"}, true));
    return ast::StmtPtr(std::move(node));
  }

  core::Result<ast::StmtPtr> parse_with() {
    auto node = std::make_unique<ast::With>(loc(cur()));
    advance();
    while (cur().kind != TokenKind::kBlockEnd) {
      if (!node->targets.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
      MLXS_ASSIGN_OR_RETURN(auto target, parse_target_primary(false));
      MLXS_RETURN_IF_ERROR(expect_op("="));
      MLXS_ASSIGN_OR_RETURN(auto value, parse_expression(true));
      node->targets.push_back(std::move(target));
      node->values.push_back(std::move(value));
    }
    MLXS_ASSIGN_OR_RETURN(node->body, parse_statements({"endwith"}, true));
    return ast::StmtPtr(std::move(node));
  }

  core::Result<ast::StmtPtr> parse_scope(const std::string& tag) {
    auto node = std::make_unique<ast::Scope>(loc(cur()));
    advance();
    if (tag == "block") {
      MLXS_ASSIGN_OR_RETURN(auto name, expect_name());
      skip_name("scoped");
      skip_name("required");
      MLXS_ASSIGN_OR_RETURN(node->body, parse_statements({"endblock"}, true));
      skip_name(name);
    } else {
      MLXS_ASSIGN_OR_RETURN(node->body, parse_statements({"endgeneration"}, true));
    }
    return ast::StmtPtr(std::move(node));
  }

  // --------------------------------------------------------- expressions
  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    if (cur().kind == TokenKind::kVarEnd || cur().kind == TokenKind::kBlockEnd || is_op(")"))
      return true;
    return !extra_end.empty() && at_end_tag(extra_end);
  }

  core::Result<ExprPtr> parse_tuple(bool simplified, bool with_condexpr, EndTags extra_end,
                                    bool explicit_parentheses) {
    std::vector<std::string> ends(extra_end.begin(), extra_end.end());
    auto seq = std::make_unique<ast::Sequence>(ExprKind::kTuple, loc(cur()));
    bool is_tuple = false;
    while (true) {
      if (!seq->items.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
      if (is_tuple_end(ends)) break;
      ExprPtr item;
      if (simplified) {
        MLXS_ASSIGN_OR_RETURN(item, parse_primary());
      } else {
        MLXS_ASSIGN_OR_RETURN(item, parse_expression(with_condexpr));
      }
      seq->items.push_back(std::move(item));
      if (is_op(",")) {
        is_tuple = true;
      } else {
        break;
      }
    }
    if (!is_tuple) {
      if (!seq->items.empty()) return std::move(seq->items[0]);
      if (!explicit_parentheses) return fail(cur(), "Expected an expression, got " + quoted(cur()));
    }
    return ExprPtr(std::move(seq));
  }

  core::Result<ExprPtr> parse_expression(bool with_condexpr) {
    DepthGuard guard(depth_);
    MLXS_RETURN_IF_ERROR(enter());
    if (with_condexpr) return parse_condexpr();
    return parse_or();
  }

  core::Result<ExprPtr> parse_condexpr() {
    DepthGuard guard(depth_);
    const Location l = loc(cur());
    MLXS_ASSIGN_OR_RETURN(auto expr, parse_or());
    while (skip_name("if")) {
      MLXS_RETURN_IF_ERROR(enter());
      auto cond = std::make_unique<ast::Cond>(l);
      MLXS_ASSIGN_OR_RETURN(cond->test, parse_or());
      if (skip_name("else")) {
        MLXS_ASSIGN_OR_RETURN(cond->otherwise, parse_condexpr());
      }
      cond->then = std::move(expr);
      expr = std::move(cond);
    }
    return expr;
  }

  core::Result<ExprPtr> parse_or() {
    DepthGuard guard(depth_);
    MLXS_ASSIGN_OR_RETURN(auto left, parse_and());
    while (is_name("or")) {
      const Location l = loc(cur());
      advance();
      MLXS_RETURN_IF_ERROR(enter());
      MLXS_ASSIGN_OR_RETURN(auto right, parse_and());
      left = std::make_unique<ast::Logical>(ExprKind::kOr, l, std::move(left), std::move(right));
    }
    return left;
  }

  core::Result<ExprPtr> parse_and() {
    DepthGuard guard(depth_);
    MLXS_ASSIGN_OR_RETURN(auto left, parse_not());
    while (is_name("and")) {
      const Location l = loc(cur());
      advance();
      MLXS_RETURN_IF_ERROR(enter());
      MLXS_ASSIGN_OR_RETURN(auto right, parse_not());
      left = std::make_unique<ast::Logical>(ExprKind::kAnd, l, std::move(left), std::move(right));
    }
    return left;
  }

  core::Result<ExprPtr> parse_not() {
    if (is_name("not")) {
      DepthGuard guard(depth_);
      const Location l = loc(cur());
      advance();
      MLXS_RETURN_IF_ERROR(enter());
      MLXS_ASSIGN_OR_RETURN(auto operand, parse_not());
      return ExprPtr(std::make_unique<ast::Unary>(ExprKind::kNot, l, std::move(operand)));
    }
    return parse_compare();
  }

  core::Result<ExprPtr> parse_compare() {
    const Location l = loc(cur());
    MLXS_ASSIGN_OR_RETURN(auto first, parse_math1());
    std::unique_ptr<ast::Compare> cmp;
    while (true) {
      ast::CmpOp op;
      if (is_op("==")) {
        op = ast::CmpOp::kEq;
      } else if (is_op("!=")) {
        op = ast::CmpOp::kNe;
      } else if (is_op("<")) {
        op = ast::CmpOp::kLt;
      } else if (is_op("<=")) {
        op = ast::CmpOp::kLe;
      } else if (is_op(">")) {
        op = ast::CmpOp::kGt;
      } else if (is_op(">=")) {
        op = ast::CmpOp::kGe;
      } else if (is_name("in")) {
        op = ast::CmpOp::kIn;
      } else if (is_name("not") && peek().kind == TokenKind::kName && peek().text == "in") {
        advance();
        op = ast::CmpOp::kNotIn;
      } else {
        break;
      }
      advance();
      MLXS_ASSIGN_OR_RETURN(auto operand, parse_math1());
      if (!cmp) cmp = std::make_unique<ast::Compare>(l, std::move(first));
      cmp->rest.emplace_back(op, std::move(operand));
    }
    if (!cmp) return first;
    return ExprPtr(std::move(cmp));
  }

  core::Result<ExprPtr> parse_binary_chain(
      std::initializer_list<std::pair<std::string_view, ast::BinOp>> ops,
      core::Result<ExprPtr> (Parser::*next)()) {
    DepthGuard guard(depth_);
    MLXS_ASSIGN_OR_RETURN(auto left, (this->*next)());
    while (true) {
      const ast::BinOp* found = nullptr;
      for (const auto& [text, op] : ops) {
        if (is_op(text)) found = &op;
      }
      if (found == nullptr) break;
      const Location l = loc(cur());
      advance();
      MLXS_RETURN_IF_ERROR(enter());
      MLXS_ASSIGN_OR_RETURN(auto right, (this->*next)());
      left = std::make_unique<ast::Binary>(l, *found, std::move(left), std::move(right));
    }
    return left;
  }

  core::Result<ExprPtr> parse_math1() {
    return parse_binary_chain({{"+", ast::BinOp::kAdd}, {"-", ast::BinOp::kSub}},
                              &Parser::parse_concat);
  }

  core::Result<ExprPtr> parse_concat() {
    const Location l = loc(cur());
    MLXS_ASSIGN_OR_RETURN(auto first, parse_math2());
    if (!is_op("~")) return first;
    auto node = std::make_unique<ast::Concat>(l);
    node->parts.push_back(std::move(first));
    while (skip_op("~")) {
      MLXS_ASSIGN_OR_RETURN(auto part, parse_math2());
      node->parts.push_back(std::move(part));
    }
    return ExprPtr(std::move(node));
  }

  core::Result<ExprPtr> parse_math2() {
    return parse_binary_chain({{"*", ast::BinOp::kMul},
                               {"/", ast::BinOp::kDiv},
                               {"//", ast::BinOp::kFloorDiv},
                               {"%", ast::BinOp::kMod}},
                              &Parser::parse_pow);
  }

  core::Result<ExprPtr> parse_pow() {
    return parse_binary_chain({{"**", ast::BinOp::kPow}}, &Parser::parse_unary_filtered);
  }

  core::Result<ExprPtr> parse_unary_filtered() { return parse_unary(true); }

  core::Result<ExprPtr> parse_unary(bool with_filter) {
    DepthGuard guard(depth_);
    ExprPtr node;
    const Location l = loc(cur());
    if (is_op("-") || is_op("+")) {
      const bool neg = is_op("-");
      advance();
      MLXS_RETURN_IF_ERROR(enter());
      MLXS_ASSIGN_OR_RETURN(auto operand, parse_unary(false));
      node = std::make_unique<ast::Unary>(neg ? ExprKind::kNeg : ExprKind::kPos, l,
                                          std::move(operand));
    } else {
      MLXS_ASSIGN_OR_RETURN(node, parse_primary());
    }
    MLXS_ASSIGN_OR_RETURN(node, parse_postfix(std::move(node)));
    if (with_filter) {
      MLXS_ASSIGN_OR_RETURN(node, parse_filter_expr(std::move(node)));
    }
    return node;
  }

  core::Result<ExprPtr> parse_primary() {
    const Token& t = cur();
    const Location l = loc(t);
    switch (t.kind) {
      case TokenKind::kName: {
        advance();
        if (t.text == "true" || t.text == "True")
          return ExprPtr(std::make_unique<ast::Const>(l, Value::boolean(true)));
        if (t.text == "false" || t.text == "False") {
          return ExprPtr(std::make_unique<ast::Const>(l, Value::boolean(false)));
        }
        if (t.text == "none" || t.text == "None")
          return ExprPtr(std::make_unique<ast::Const>(l, Value::none()));
        if (!macro_stack_.empty()) {
          ast::Macro* m = macro_stack_.back();
          if (t.text == "varargs") m->uses_varargs = true;
          if (t.text == "kwargs") m->uses_kwargs = true;
          if (t.text == "caller") m->uses_caller = true;
        }
        return ExprPtr(std::make_unique<ast::Name>(l, t.text));
      }
      case TokenKind::kString: {
        std::string text = t.text;
        advance();
        while (cur().kind == TokenKind::kString) {  // adjacent literals concatenate
          text += cur().text;
          advance();
        }
        return ExprPtr(std::make_unique<ast::Const>(l, Value::string(std::move(text))));
      }
      case TokenKind::kInteger:
        advance();
        return ExprPtr(std::make_unique<ast::Const>(l, Value::integer(t.int_value)));
      case TokenKind::kFloat:
        advance();
        return ExprPtr(std::make_unique<ast::Const>(l, Value::number(t.float_value)));
      case TokenKind::kOperator:
        if (t.text == "(") {
          advance();
          MLXS_ASSIGN_OR_RETURN(auto inner, parse_tuple(false, true, {}, true));
          MLXS_RETURN_IF_ERROR(expect_op(")"));
          return inner;
        }
        if (t.text == "[") return parse_list();
        if (t.text == "{") return parse_dict();
        break;
      case TokenKind::kData:
      case TokenKind::kVarBegin:
      case TokenKind::kVarEnd:
      case TokenKind::kBlockBegin:
      case TokenKind::kBlockEnd:
      case TokenKind::kEof:
        break;
    }
    return fail(t, "unexpected " + quoted(t));
  }

  core::Result<ExprPtr> parse_list() {
    auto node = std::make_unique<ast::Sequence>(ExprKind::kList, loc(cur()));
    advance();
    while (!is_op("]")) {
      if (!node->items.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
      if (is_op("]")) break;
      MLXS_ASSIGN_OR_RETURN(auto item, parse_expression(true));
      node->items.push_back(std::move(item));
    }
    MLXS_RETURN_IF_ERROR(expect_op("]"));
    return ExprPtr(std::move(node));
  }

  core::Result<ExprPtr> parse_dict() {
    auto node = std::make_unique<ast::DictLit>(loc(cur()));
    advance();
    while (!is_op("}")) {
      if (!node->items.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
      if (is_op("}")) break;
      MLXS_ASSIGN_OR_RETURN(auto key, parse_expression(true));
      MLXS_RETURN_IF_ERROR(expect_op(":"));
      MLXS_ASSIGN_OR_RETURN(auto value, parse_expression(true));
      node->items.emplace_back(std::move(key), std::move(value));
    }
    MLXS_RETURN_IF_ERROR(expect_op("}"));
    return ExprPtr(std::move(node));
  }

  core::Result<ExprPtr> parse_postfix(ExprPtr node) {
    while (is_op(".") || is_op("[") || is_op("(")) {
      MLXS_RETURN_IF_ERROR(enter());
      if (is_op("(")) {
        MLXS_ASSIGN_OR_RETURN(node, parse_call(std::move(node)));
      } else {
        MLXS_ASSIGN_OR_RETURN(node, parse_subscript(std::move(node)));
      }
    }
    return node;
  }

  core::Result<ExprPtr> parse_filter_expr(ExprPtr node) {
    while (true) {
      if (is_op("|")) {
        MLXS_RETURN_IF_ERROR(enter());
        MLXS_ASSIGN_OR_RETURN(node, parse_filter(std::move(node), false));
      } else if (is_name("is")) {
        MLXS_RETURN_IF_ERROR(enter());
        MLXS_ASSIGN_OR_RETURN(node, parse_test(std::move(node)));
      } else if (is_op("(")) {
        MLXS_RETURN_IF_ERROR(enter());
        MLXS_ASSIGN_OR_RETURN(node, parse_call(std::move(node)));
      } else {
        return node;
      }
    }
  }

  core::Result<ExprPtr> parse_subscript(ExprPtr node) {
    const Token& t = cur();
    const Location l = loc(t);
    if (skip_op(".")) {
      const Token& attr = cur();
      if (attr.kind == TokenKind::kName) {
        advance();
        return ExprPtr(std::make_unique<ast::Getattr>(l, std::move(node), attr.text));
      }
      if (attr.kind != TokenKind::kInteger) return fail(attr, "expected name or number");
      advance();
      auto index = std::make_unique<ast::Const>(loc(attr), Value::integer(attr.int_value));
      return ExprPtr(std::make_unique<ast::Getitem>(l, std::move(node), std::move(index)));
    }
    advance();  // '['
    std::vector<ExprPtr> args;
    while (!is_op("]")) {
      if (!args.empty()) MLXS_RETURN_IF_ERROR(expect_op(","));
      MLXS_ASSIGN_OR_RETURN(auto arg, parse_subscribed());
      args.push_back(std::move(arg));
    }
    MLXS_RETURN_IF_ERROR(expect_op("]"));
    ExprPtr index;  // x[] indexes with the empty tuple, as in jinja2
    if (args.size() == 1) {
      index = std::move(args[0]);
    } else {
      auto tuple = std::make_unique<ast::Sequence>(ExprKind::kTuple, l);
      tuple->items = std::move(args);
      index = std::move(tuple);
    }
    return ExprPtr(std::make_unique<ast::Getitem>(l, std::move(node), std::move(index)));
  }

  core::Result<ExprPtr> parse_subscribed() {
    const Location l = loc(cur());
    ExprPtr start;
    if (!is_op(":")) {
      MLXS_ASSIGN_OR_RETURN(start, parse_expression(true));
      if (!is_op(":")) return start;
    }
    advance();  // ':'
    auto slice = std::make_unique<ast::Slice>(l);
    slice->start = std::move(start);
    if (!is_op(":") && !is_op("]") && !is_op(",")) {
      MLXS_ASSIGN_OR_RETURN(slice->stop, parse_expression(true));
    }
    if (skip_op(":")) {
      if (!is_op("]") && !is_op(",")) {
        MLXS_ASSIGN_OR_RETURN(slice->step, parse_expression(true));
      }
    }
    return ExprPtr(std::move(slice));
  }

  core::Status parse_call_args(ast::Args& args) {
    const Token& open = cur();
    MLXS_RETURN_IF_ERROR(expect_op("("));
    bool need_comma = false;
    const auto ensure = [&](bool ok) -> core::Status {
      return ok ? core::Status::ok() : fail(open, "invalid syntax for function call expression");
    };
    while (!is_op(")")) {
      if (need_comma) {
        MLXS_RETURN_IF_ERROR(expect_op(","));
        if (is_op(")")) break;
      }
      if (is_op("*")) {
        MLXS_RETURN_IF_ERROR(ensure(!args.star && !args.star_star));
        advance();
        MLXS_ASSIGN_OR_RETURN(args.star, parse_expression(true));
      } else if (is_op("**")) {
        MLXS_RETURN_IF_ERROR(ensure(!args.star_star));
        advance();
        MLXS_ASSIGN_OR_RETURN(args.star_star, parse_expression(true));
      } else if (cur().kind == TokenKind::kName && peek().kind == TokenKind::kOperator &&
                 peek().text == "=") {
        MLXS_RETURN_IF_ERROR(ensure(!args.star_star));
        std::string key = cur().text;
        advance();
        advance();
        MLXS_ASSIGN_OR_RETURN(auto value, parse_expression(true));
        args.keywords.push_back({std::move(key), std::move(value)});
      } else {
        MLXS_RETURN_IF_ERROR(ensure(!args.star && !args.star_star && args.keywords.empty()));
        MLXS_ASSIGN_OR_RETURN(auto value, parse_expression(true));
        args.positional.push_back(std::move(value));
      }
      need_comma = true;
    }
    return expect_op(")");
  }

  core::Result<ExprPtr> parse_call(ExprPtr callee) {
    const Location at = callee->loc;  // errors point at what is called
    auto node = std::make_unique<ast::Call>(at, std::move(callee));
    MLXS_RETURN_IF_ERROR(parse_call_args(node->args));
    return ExprPtr(std::move(node));
  }

  core::Result<std::string> dotted_name() {
    MLXS_ASSIGN_OR_RETURN(auto name, expect_name());
    while (skip_op(".")) {
      MLXS_ASSIGN_OR_RETURN(auto part, expect_name());
      name += "." + part;
    }
    return name;
  }

  core::Result<ExprPtr> parse_filter(ExprPtr node, bool start_inline) {
    DepthGuard guard(depth_);
    while (is_op("|") || start_inline) {
      if (!start_inline) advance();
      start_inline = false;
      MLXS_RETURN_IF_ERROR(enter());
      const Token& name_token = cur();
      MLXS_ASSIGN_OR_RETURN(auto name, dotted_name());
      // Unknown filters are checked after parsing (see check_names).
      const FilterFn fn = find_filter(name);
      auto filter = std::make_unique<ast::Filter>(loc(name_token), std::move(node), name, fn);
      if (is_op("(")) MLXS_RETURN_IF_ERROR(parse_call_args(filter->args));
      node = std::move(filter);
    }
    return node;
  }

  core::Result<ExprPtr> parse_test(ExprPtr node) {
    const Location l = loc(cur());
    advance();  // 'is'
    const bool negated = skip_name("not");
    const Token& name_token = cur();
    MLXS_ASSIGN_OR_RETURN(auto name, dotted_name());
    const TestFn fn = find_test(name);
    auto test = std::make_unique<ast::Test>(loc(name_token), std::move(node), name, fn);
    const Token& t = cur();
    const bool arg_start = t.kind == TokenKind::kName || t.kind == TokenKind::kString ||
                           t.kind == TokenKind::kInteger || t.kind == TokenKind::kFloat ||
                           (t.kind == TokenKind::kOperator && (t.text == "[" || t.text == "{"));
    if (is_op("(")) {
      MLXS_RETURN_IF_ERROR(parse_call_args(test->args));
    } else if (arg_start && !is_name("else") && !is_name("or") && !is_name("and")) {
      if (is_name("is")) return fail(t, "You cannot chain multiple tests with is");
      MLXS_ASSIGN_OR_RETURN(auto arg, parse_primary());
      MLXS_ASSIGN_OR_RETURN(arg, parse_postfix(std::move(arg)));
      test->args.positional.push_back(std::move(arg));
    }
    if (negated) return ExprPtr(std::make_unique<ast::Unary>(ExprKind::kNot, l, std::move(test)));
    return ExprPtr(std::move(test));
  }

  const std::vector<Token>& toks_;
  ParseLimits limits_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::string> tag_stack_;
  std::vector<ast::Macro*> macro_stack_;
};

// jinja2 rejects an unknown filter or test at compile time, except inside an
// `if` (test and branches) or an inline if-expression, where it fails only if
// run (templates guard optional filters with `{% if 'x' is filter %}`).
// Bodies that jinja2 compiles in a fresh frame (loops, macros, blocks) are
// strict again.
class NameChecker {
 public:
  core::Status body(const ast::Body& b, bool soft) {
    for (const auto& s : b) MLXS_RETURN_IF_ERROR(stmt(*s, soft));
    return core::Status::ok();
  }

 private:
  core::Status stmt(const ast::Stmt& s, bool soft) {
    switch (s.kind) {
      case ast::StmtKind::kText:
      case ast::StmtKind::kBreak:
      case ast::StmtKind::kContinue:
        return core::Status::ok();
      case ast::StmtKind::kPrint:
        return expr(static_cast<const ast::Print&>(s).expr.get(), soft);
      case ast::StmtKind::kIf: {
        const auto& n = static_cast<const ast::If&>(s);
        for (const auto& [test, b] : n.branches) {
          MLXS_RETURN_IF_ERROR(expr(test.get(), true));
          MLXS_RETURN_IF_ERROR(body(b, true));
        }
        return body(n.otherwise, true);
      }
      case ast::StmtKind::kFor: {
        const auto& n = static_cast<const ast::For&>(s);
        MLXS_RETURN_IF_ERROR(expr(n.iter.get(), soft));
        MLXS_RETURN_IF_ERROR(expr(n.filter.get(), false));
        MLXS_RETURN_IF_ERROR(body(n.body, false));
        return body(n.otherwise, soft);
      }
      case ast::StmtKind::kSet:
        return expr(static_cast<const ast::Set&>(s).value.get(), soft);
      case ast::StmtKind::kSetBlock: {
        const auto& n = static_cast<const ast::SetBlock&>(s);
        MLXS_RETURN_IF_ERROR(expr(n.filter.get(), false));
        return body(n.body, false);
      }
      case ast::StmtKind::kMacro:
        return macro(static_cast<const ast::Macro&>(s));
      case ast::StmtKind::kCallBlock: {
        const auto& n = static_cast<const ast::CallBlock&>(s);
        MLXS_RETURN_IF_ERROR(expr(n.call.get(), soft));
        return macro(*n.caller);
      }
      case ast::StmtKind::kFilterBlock: {
        const auto& n = static_cast<const ast::FilterBlock&>(s);
        MLXS_RETURN_IF_ERROR(expr(n.filter.get(), false));
        return body(n.body, false);
      }
      case ast::StmtKind::kWith: {
        const auto& n = static_cast<const ast::With&>(s);
        for (const auto& v : n.values) MLXS_RETURN_IF_ERROR(expr(v.get(), soft));
        return body(n.body, false);
      }
      case ast::StmtKind::kScope:
        return body(static_cast<const ast::Scope&>(s).body, false);
    }
    return core::Status::ok();
  }

  core::Status macro(const ast::Macro& m) {
    for (const auto& d : m.defaults) MLXS_RETURN_IF_ERROR(expr(d.get(), false));
    return body(m.body, false);
  }

  core::Status args(const ast::Args& a, bool soft) {
    for (const auto& e : a.positional) MLXS_RETURN_IF_ERROR(expr(e.get(), soft));
    for (const auto& k : a.keywords) MLXS_RETURN_IF_ERROR(expr(k.value.get(), soft));
    MLXS_RETURN_IF_ERROR(expr(a.star.get(), soft));
    return expr(a.star_star.get(), soft);
  }

  core::Status expr(const ast::Expr* e, bool soft) {
    if (e == nullptr) return core::Status::ok();
    switch (e->kind) {
      case ExprKind::kConst:
      case ExprKind::kName:
        return core::Status::ok();
      case ExprKind::kGetattr:
        return expr(static_cast<const ast::Getattr*>(e)->object.get(), soft);
      case ExprKind::kGetitem: {
        const auto* n = static_cast<const ast::Getitem*>(e);
        MLXS_RETURN_IF_ERROR(expr(n->object.get(), soft));
        return expr(n->index.get(), soft);
      }
      case ExprKind::kSlice: {
        const auto* n = static_cast<const ast::Slice*>(e);
        MLXS_RETURN_IF_ERROR(expr(n->start.get(), soft));
        MLXS_RETURN_IF_ERROR(expr(n->stop.get(), soft));
        return expr(n->step.get(), soft);
      }
      case ExprKind::kCall: {
        const auto* n = static_cast<const ast::Call*>(e);
        MLXS_RETURN_IF_ERROR(expr(n->callee.get(), soft));
        return args(n->args, soft);
      }
      case ExprKind::kFilter: {
        const auto* n = static_cast<const ast::Filter*>(e);
        if (n->fn == nullptr && !soft) {
          return template_error(n->loc.line, n->loc.column, "unknown filter '" + n->name + "'");
        }
        MLXS_RETURN_IF_ERROR(expr(n->input.get(), soft));
        return args(n->args, soft);
      }
      case ExprKind::kTest: {
        const auto* n = static_cast<const ast::Test*>(e);
        if (n->fn == nullptr && !soft) {
          return template_error(n->loc.line, n->loc.column, "unknown test '" + n->name + "'");
        }
        MLXS_RETURN_IF_ERROR(expr(n->input.get(), soft));
        return args(n->args, soft);
      }
      case ExprKind::kNot:
      case ExprKind::kNeg:
      case ExprKind::kPos:
        return expr(static_cast<const ast::Unary*>(e)->operand.get(), soft);
      case ExprKind::kBinary: {
        const auto* n = static_cast<const ast::Binary*>(e);
        MLXS_RETURN_IF_ERROR(expr(n->left.get(), soft));
        return expr(n->right.get(), soft);
      }
      case ExprKind::kAnd:
      case ExprKind::kOr: {
        const auto* n = static_cast<const ast::Logical*>(e);
        MLXS_RETURN_IF_ERROR(expr(n->left.get(), soft));
        return expr(n->right.get(), soft);
      }
      case ExprKind::kConcat:
        for (const auto& p : static_cast<const ast::Concat*>(e)->parts)
          MLXS_RETURN_IF_ERROR(expr(p.get(), soft));
        return core::Status::ok();
      case ExprKind::kCompare: {
        const auto* n = static_cast<const ast::Compare*>(e);
        MLXS_RETURN_IF_ERROR(expr(n->first.get(), soft));
        for (const auto& [op, operand] : n->rest) MLXS_RETURN_IF_ERROR(expr(operand.get(), soft));
        return core::Status::ok();
      }
      case ExprKind::kCond: {
        const auto* n = static_cast<const ast::Cond*>(e);
        MLXS_RETURN_IF_ERROR(expr(n->test.get(), true));
        MLXS_RETURN_IF_ERROR(expr(n->then.get(), true));
        return expr(n->otherwise.get(), true);
      }
      case ExprKind::kList:
      case ExprKind::kTuple:
        for (const auto& i : static_cast<const ast::Sequence*>(e)->items)
          MLXS_RETURN_IF_ERROR(expr(i.get(), soft));
        return core::Status::ok();
      case ExprKind::kDict:
        for (const auto& [k, v] : static_cast<const ast::DictLit*>(e)->items) {
          MLXS_RETURN_IF_ERROR(expr(k.get(), soft));
          MLXS_RETURN_IF_ERROR(expr(v.get(), soft));
        }
        return core::Status::ok();
    }
    return core::Status::ok();
  }
};

}  // namespace

core::Result<std::unique_ptr<ast::Template>> parse(const std::vector<Token>& tokens,
                                                   const ParseLimits& limits) {
  if (tokens.empty() || tokens.back().kind != TokenKind::kEof) {
    return template_error(1, 1, "internal error: token stream without end");
  }
  MLXS_ASSIGN_OR_RETURN(auto tree, Parser(tokens, limits).run());
  MLXS_RETURN_IF_ERROR(NameChecker().body(tree->body, false));
  analyze_scopes(*tree);
  return tree;
}

}  // namespace mlxs::template_
