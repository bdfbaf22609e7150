#include "template/scopes.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace mlxs::template_ {
namespace {

using Names = std::unordered_set<std::string>;

// The references one scope makes itself, in text order.
struct ScopeRefs {
  struct Ref {
    bool first_is_store = false;
    bool conditional = false;  // first stored inside an if-branch
  };
  std::unordered_map<std::string, Ref> refs;
  std::vector<std::string> order;  // names in order of first reference

  void load(const std::string& name) {
    if (refs.count(name) == 0) {
      refs.emplace(name, Ref{false, false});
      order.push_back(name);
    }
  }
  void store(const std::string& name, bool conditional) {
    if (refs.count(name) == 0) {
      refs.emplace(name, Ref{true, conditional});
      order.push_back(name);
    }
  }
};

class Analyzer {
 public:
  // Analyzes one scope whose statements are `body`, then its nested scopes.
  void scope(ast::Body& body, ast::Locals& locals, const Names& outer,
             const ast::Expr* scope_expr = nullptr,
             const std::vector<const ast::Expr*>& extra_loads = {}) {
    ScopeRefs refs;
    // Expressions evaluated inside this scope before its body (a loop filter,
    // macro defaults, a block's filter) are read in it.
    if (scope_expr != nullptr) expr(scope_expr, refs);
    for (const ast::Expr* e : extra_loads) expr(e, refs);
    std::vector<ast::Stmt*> nested;
    stmts(body, refs, false, nested);
    locals.clear();
    for (const auto& name : refs.order) {
      const auto& r = refs.refs.at(name);
      if (r.first_is_store && !r.conditional && outer.count(name) == 0) locals.push_back(name);
    }
    Names inner = outer;
    for (const auto& name : refs.order) inner.insert(name);
    for (ast::Stmt* s : nested) nested_scope(*s, inner);
  }

 private:
  void stmts(ast::Body& body, ScopeRefs& refs, bool conditional, std::vector<ast::Stmt*>& nested) {
    for (auto& s : body) stmt(*s, refs, conditional, nested);
  }

  void stmt(ast::Stmt& s, ScopeRefs& refs, bool conditional, std::vector<ast::Stmt*>& nested) {
    switch (s.kind) {
      case ast::StmtKind::kText:
      case ast::StmtKind::kBreak:
      case ast::StmtKind::kContinue:
        return;
      case ast::StmtKind::kPrint:
        expr(static_cast<ast::Print&>(s).expr.get(), refs);
        return;
      case ast::StmtKind::kIf: {
        auto& n = static_cast<ast::If&>(s);
        for (auto& [test, b] : n.branches) {
          expr(test.get(), refs);
          stmts(b, refs, true, nested);
        }
        stmts(n.otherwise, refs, true, nested);
        return;
      }
      case ast::StmtKind::kFor:
        expr(static_cast<ast::For&>(s).iter.get(), refs);  // the iterable is read outside the loop
        nested.push_back(&s);
        return;
      case ast::StmtKind::kSet: {
        auto& n = static_cast<ast::Set&>(s);
        expr(n.value.get(), refs);  // the value is read before the target is stored
        target(n.target, refs, conditional);
        return;
      }
      case ast::StmtKind::kSetBlock:
        target(static_cast<ast::SetBlock&>(s).target, refs, conditional);
        nested.push_back(&s);
        return;
      case ast::StmtKind::kMacro:
        refs.store(static_cast<ast::Macro&>(s).name, conditional);
        nested.push_back(&s);
        return;
      case ast::StmtKind::kCallBlock:
        expr(static_cast<ast::CallBlock&>(s).call.get(), refs);
        nested.push_back(&s);
        return;
      case ast::StmtKind::kWith:
        for (auto& v : static_cast<ast::With&>(s).values) expr(v.get(), refs);
        nested.push_back(&s);
        return;
      case ast::StmtKind::kFilterBlock:
      case ast::StmtKind::kScope:
        nested.push_back(&s);
        return;
    }
  }

  void target(const ast::Target& t, ScopeRefs& refs, bool conditional) {
    switch (t.kind) {
      case ast::Target::Kind::kName:
        refs.store(t.name, conditional);
        return;
      case ast::Target::Kind::kAttr:
        refs.load(t.name);
        return;  // ns.attr reads ns
      case ast::Target::Kind::kTuple:
        for (const auto& item : t.items) target(item, refs, conditional);
        return;
    }
  }

  void nested_scope(ast::Stmt& s, const Names& outer) {
    switch (s.kind) {
      case ast::StmtKind::kFor: {
        auto& n = static_cast<ast::For&>(s);
        Names with_target = outer;
        add_targets(n.target, with_target);
        scope(n.body, n.locals, with_target, n.filter.get());
        scope(n.otherwise, n.otherwise_locals, outer);
        return;
      }
      case ast::StmtKind::kMacro:
        macro(static_cast<ast::Macro&>(s), outer);
        return;
      case ast::StmtKind::kCallBlock:
        macro(*static_cast<ast::CallBlock&>(s).caller, outer);
        return;
      case ast::StmtKind::kSetBlock: {
        auto& n = static_cast<ast::SetBlock&>(s);
        scope(n.body, n.locals, outer, n.filter.get());
        return;
      }
      case ast::StmtKind::kFilterBlock: {
        auto& n = static_cast<ast::FilterBlock&>(s);
        scope(n.body, n.locals, outer, n.filter.get());
        return;
      }
      case ast::StmtKind::kWith: {
        auto& n = static_cast<ast::With&>(s);
        Names with_targets = outer;
        for (const auto& t : n.targets) add_targets(t, with_targets);
        scope(n.body, n.locals, with_targets);
        return;
      }
      case ast::StmtKind::kScope: {
        auto& n = static_cast<ast::Scope&>(s);
        scope(n.body, n.locals, outer);
        return;
      }
      case ast::StmtKind::kText:
      case ast::StmtKind::kPrint:
      case ast::StmtKind::kIf:
      case ast::StmtKind::kSet:
      case ast::StmtKind::kBreak:
      case ast::StmtKind::kContinue:
        return;
    }
  }

  void macro(ast::Macro& m, const Names& outer) {
    Names params = outer;
    for (const auto& p : m.params) params.insert(p);
    for (const char* special : {"varargs", "kwargs", "caller"}) params.insert(special);
    std::vector<const ast::Expr*> defaults;
    for (const auto& d : m.defaults) defaults.push_back(d.get());
    scope(m.body, m.locals, params, nullptr, defaults);
  }

  static void add_targets(const ast::Target& t, Names& names) {
    if (t.kind == ast::Target::Kind::kName) names.insert(t.name);
    for (const auto& item : t.items) add_targets(item, names);
    names.insert("loop");
  }

  void args(const ast::Args& a, ScopeRefs& refs) {
    for (const auto& e : a.positional) expr(e.get(), refs);
    for (const auto& k : a.keywords) expr(k.value.get(), refs);
    expr(a.star.get(), refs);
    expr(a.star_star.get(), refs);
  }

  void expr(const ast::Expr* e, ScopeRefs& refs) {
    if (e == nullptr) return;
    switch (e->kind) {
      case ast::ExprKind::kConst:
        return;
      case ast::ExprKind::kName:
        refs.load(static_cast<const ast::Name*>(e)->name);
        return;
      case ast::ExprKind::kGetattr:
        expr(static_cast<const ast::Getattr*>(e)->object.get(), refs);
        return;
      case ast::ExprKind::kGetitem: {
        const auto* n = static_cast<const ast::Getitem*>(e);
        expr(n->object.get(), refs);
        expr(n->index.get(), refs);
        return;
      }
      case ast::ExprKind::kSlice: {
        const auto* n = static_cast<const ast::Slice*>(e);
        expr(n->start.get(), refs);
        expr(n->stop.get(), refs);
        expr(n->step.get(), refs);
        return;
      }
      case ast::ExprKind::kCall: {
        const auto* n = static_cast<const ast::Call*>(e);
        expr(n->callee.get(), refs);
        args(n->args, refs);
        return;
      }
      case ast::ExprKind::kFilter: {
        const auto* n = static_cast<const ast::Filter*>(e);
        expr(n->input.get(), refs);
        args(n->args, refs);
        return;
      }
      case ast::ExprKind::kTest: {
        const auto* n = static_cast<const ast::Test*>(e);
        expr(n->input.get(), refs);
        args(n->args, refs);
        return;
      }
      case ast::ExprKind::kNot:
      case ast::ExprKind::kNeg:
      case ast::ExprKind::kPos:
        expr(static_cast<const ast::Unary*>(e)->operand.get(), refs);
        return;
      case ast::ExprKind::kBinary: {
        const auto* n = static_cast<const ast::Binary*>(e);
        expr(n->left.get(), refs);
        expr(n->right.get(), refs);
        return;
      }
      case ast::ExprKind::kAnd:
      case ast::ExprKind::kOr: {
        const auto* n = static_cast<const ast::Logical*>(e);
        expr(n->left.get(), refs);
        expr(n->right.get(), refs);
        return;
      }
      case ast::ExprKind::kConcat:
        for (const auto& p : static_cast<const ast::Concat*>(e)->parts) expr(p.get(), refs);
        return;
      case ast::ExprKind::kCompare: {
        const auto* n = static_cast<const ast::Compare*>(e);
        expr(n->first.get(), refs);
        for (const auto& [op, operand] : n->rest) expr(operand.get(), refs);
        return;
      }
      case ast::ExprKind::kCond: {
        const auto* n = static_cast<const ast::Cond*>(e);
        expr(n->then.get(), refs);
        expr(n->test.get(), refs);
        expr(n->otherwise.get(), refs);
        return;
      }
      case ast::ExprKind::kList:
      case ast::ExprKind::kTuple:
        for (const auto& i : static_cast<const ast::Sequence*>(e)->items) expr(i.get(), refs);
        return;
      case ast::ExprKind::kDict:
        for (const auto& [k, v] : static_cast<const ast::DictLit*>(e)->items) {
          expr(k.get(), refs);
          expr(v.get(), refs);
        }
        return;
    }
  }
};

}  // namespace

void analyze_scopes(ast::Template& tmpl) {
  Analyzer().scope(tmpl.body, tmpl.locals, Names{});
}

}  // namespace mlxs::template_
