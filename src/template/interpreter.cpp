#include "template/interpreter.h"

#include <algorithm>

#include "template/builtins.h"
#include "template/filters.h"
#include "template/lexer.h"
#include "template/methods.h"
#include "template/operators.h"
#include "template/predicates.h"
#include "template/unicode.h"

namespace mlxs::template_ {
namespace {

bool is_located(const core::Status& s) {
  const std::string& m = s.message();
  return m.rfind("line ", 0) == 0 && m.find(", column ") != std::string::npos;
}

bool is_hashable(const Value& v) {
  return !(v.is_list() || v.is_dict() || v.is_namespace());
}

// Python's slice.indices().
core::Result<List> slice_list(const List& items, const Value& start, const Value& stop,
                              const Value& step) {
  const auto len = static_cast<std::int64_t>(items.size());
  std::int64_t st = 1;
  if (!step.is_none()) st = step.as_int();
  if (st == 0) return type_error("slice step cannot be zero");
  const std::int64_t lower = st > 0 ? 0 : -1;
  const std::int64_t upper = st > 0 ? len : len - 1;
  const auto clamp = [&](const Value& v, std::int64_t dflt) {
    if (v.is_none()) return dflt;
    std::int64_t i = v.as_int();
    if (i < 0) {
      i += len;
      if (i < lower) i = lower;
    } else if (i > upper) {
      i = upper;
    }
    return i;
  };
  const std::int64_t a = clamp(start, st > 0 ? lower : upper);
  const std::int64_t b = clamp(stop, st > 0 ? upper : lower);
  List out;
  if (st > 0) {
    for (std::int64_t i = a; i < b; i += st) out.push_back(items[static_cast<std::size_t>(i)]);
  } else {
    for (std::int64_t i = a; i > b; i += st) out.push_back(items[static_cast<std::size_t>(i)]);
  }
  return out;
}

bool slice_index_ok(const Value& v) {
  return v.is_none() || v.is_int() || v.is_bool();
}

}  // namespace

// ------------------------------------------------------------------ frames

Frame::Found Frame::lookup(std::string_view name, const Value** value) const {
  for (const Frame* f = this; f != nullptr; f = f->parent.get()) {
    for (const auto& var : f->vars) {
      if (var.name != name) continue;
      if (var.pending) return Found::kPending;
      *value = &var.value;
      return Found::kValue;
    }
  }
  return Found::kMissing;
}

void Frame::set(std::string_view name, Value value) {
  for (auto& var : vars) {
    if (var.name == name) {
      var.value = std::move(value);
      var.pending = false;
      return;
    }
  }
  vars.push_back(Var{std::string(name), std::move(value), false});
}

void Frame::declare(const std::vector<std::string>& names) {
  for (const auto& n : names) {
    bool present = false;
    for (const auto& var : vars) present = present || var.name == n;
    if (!present) vars.push_back(Var{n, Value(), true});
  }
}

Value make_generator(std::string function, List items, core::Status deferred, std::string type) {
  auto g = std::make_shared<GeneratorState>();
  g->type = std::move(type);
  g->function = std::move(function);
  g->items = std::move(items);
  g->deferred = std::move(deferred);
  return Value::generator(std::move(g));
}

core::Result<Iteration> iterate_partial(const Value& v) {
  if (v.is_generator()) {
    GeneratorState& g = v.as_generator();
    Iteration it;
    it.items.assign(g.items.begin() + static_cast<std::ptrdiff_t>(g.pos), g.items.end());
    g.pos = g.items.size();
    it.deferred = std::move(g.deferred);  // a generator raises once, then is exhausted
    g.deferred = core::Status::ok();
    return it;
  }
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  return Iteration{std::move(items), core::Status::ok()};
}

core::Result<std::optional<Value>> first_item(const Value& v) {
  if (v.is_generator()) {
    GeneratorState& g = v.as_generator();
    if (g.pos < g.items.size()) return std::optional<Value>(g.items[g.pos++]);
    core::Status pending = std::move(g.deferred);
    g.deferred = core::Status::ok();
    if (!pending.is_ok()) return pending;
    return std::optional<Value>();
  }
  if (v.is_sequence()) {
    if (v.as_list().empty()) return std::optional<Value>();
    return std::optional<Value>(v.as_list().front());
  }
  MLXS_ASSIGN_OR_RETURN(auto items, iterate_value(v));
  if (items.empty()) return std::optional<Value>();
  return std::optional<Value>(items.front());
}

core::Result<List> iterate_value(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kGenerator: {
      MLXS_ASSIGN_OR_RETURN(auto it, iterate_partial(v));
      if (!it.deferred.is_ok()) return it.deferred;
      return std::move(it.items);
    }
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      return v.as_list();
    case Value::Kind::kDict: {
      List keys;
      keys.reserve(v.as_dict().size());
      for (const auto& [k, val] : v.as_dict().items) keys.push_back(k);
      return keys;
    }
    case Value::Kind::kString: {
      List chars;
      const std::string& s = v.as_string();
      for (std::size_t pos = 0; pos < s.size();) {
        const std::size_t start = pos;
        unicode::decode(s, pos);
        chars.push_back(Value::string(s.substr(start, pos - start)));
      }
      return chars;
    }
    case Value::Kind::kUndefined:
      return List{};
    case Value::Kind::kLoop: {
      const LoopState& l = v.as_loop();
      return l.items ? *l.items : List{};
    }
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
      break;
  }
  return type_error("'" + type_name(v) + "' object is not iterable");
}

// ------------------------------------------------------------ interpreter

Interpreter::Interpreter(const ast::Template& tmpl, const RenderOptions& options)
    : tmpl_(tmpl), options_(options) {}

Interpreter::~Interpreter() {
  // Macros close over their frame and namespaces can hold themselves: empty
  // every such object while all are still alive, so no cycle leaks and no
  // long chain is destroyed recursively.
  frame_.reset();
  for (auto& f : captured_frames_) f->vars.clear();
  for (auto& n : namespaces_) n->attrs.clear();
  captured_frames_.clear();
  namespaces_.clear();
}

core::Result<std::string> Interpreter::render(std::vector<std::pair<std::string, Value>> vars) {
  // The context sits under the template's own scope, so a name the template
  // assigns reads the context's value until the assignment runs.
  auto context = std::make_shared<Frame>(builtins_frame());
  for (auto& [name, value] : vars)
    context->vars.push_back(Frame::Var{std::move(name), std::move(value), false});
  frame_ = std::make_shared<Frame>(std::move(context));
  frame_->declare(tmpl_.locals);
  std::string out;
  out_ = &out;
  MLXS_ASSIGN_OR_RETURN(const Flow flow, exec_body(tmpl_.body));
  (void)flow;
  return out;
}

core::Status Interpreter::step() {
  if (++steps_ > options_.limits.max_steps) {
    return type_error("template exceeded its step limit (" +
                      std::to_string(options_.limits.max_steps) + ")");
  }
  return core::Status::ok();
}

core::Status Interpreter::charge(std::uint64_t units) {
  work_ = units > UINT64_MAX - work_ ? UINT64_MAX : work_ + units;
  if (work_ > options_.limits.max_work) {
    return type_error("template exceeded its work limit (" +
                      std::to_string(options_.limits.max_work) + " bytes)");
  }
  return core::Status::ok();
}

core::Status Interpreter::check_depth(const Value& v) const {
  if (v.depth() > options_.limits.max_value_depth) {
    return type_error("value nested too deeply (more than " +
                      std::to_string(options_.limits.max_value_depth) + " levels)");
  }
  return core::Status::ok();
}

core::Status Interpreter::fail(const ast::Location& loc, std::string_view message) const {
  return template_error(loc.line, loc.column, message);
}

core::Status Interpreter::locate(const ast::Location& loc, const core::Status& status) const {
  if (status.is_ok() || is_located(status)) return status;
  return template_error(loc.line, loc.column, status.message());
}

core::Result<std::string> Interpreter::str(const Value& v) {
  if (v.is_string()) {
    MLXS_RETURN_IF_ERROR(charge(v.as_string().size()));
    return v.as_string();
  }
  std::string out;
  if (!append_str(out, v, options_.limits.max_output_bytes))
    return type_error("value too large to convert to a string");
  MLXS_RETURN_IF_ERROR(charge(out.size()));
  return out;
}

core::Result<std::string> Interpreter::repr(const Value& v) {
  std::string out;
  if (!append_repr(out, v, options_.limits.max_output_bytes))
    return type_error("value too large to convert to a string");
  MLXS_RETURN_IF_ERROR(charge(out.size()));
  return out;
}

core::Status Interpreter::emit_text(std::string_view text) {
  if (out_->size() + text.size() > options_.limits.max_output_bytes) {
    return type_error("rendered text exceeds the output limit (" +
                      std::to_string(options_.limits.max_output_bytes) + " bytes)");
  }
  MLXS_RETURN_IF_ERROR(charge(text.size()));
  out_->append(text);
  return core::Status::ok();
}

core::Status Interpreter::emit(const Value& v) {
  if (v.is_string()) return emit_text(v.as_string());
  const std::size_t before = out_->size();
  if (!append_str(*out_, v, options_.limits.max_output_bytes)) {
    out_->resize(before);
    return type_error("rendered text exceeds the output limit (" +
                      std::to_string(options_.limits.max_output_bytes) + " bytes)");
  }
  return charge(out_->size() - before);
}

// -------------------------------------------------------------- statements

core::Result<Interpreter::Flow> Interpreter::exec_body(const ast::Body& body) {
  for (const auto& stmt : body) {
    MLXS_ASSIGN_OR_RETURN(const Flow flow, exec(*stmt));
    if (flow != Flow::kNormal) return flow;
  }
  return Flow::kNormal;
}

// Renders a {% set %} / {% filter %} block body into a string, in its own
// scope as jinja2 does (what the body sets stays inside).
core::Result<std::string> Interpreter::capture(const ast::Body& body, const ast::Locals& locals) {
  std::string buffer;
  std::string* saved = out_;
  auto saved_frame = frame_;
  out_ = &buffer;
  frame_ = std::make_shared<Frame>(saved_frame);
  frame_->declare(locals);
  auto flow = exec_body(body);
  out_ = saved;
  frame_ = std::move(saved_frame);
  if (!flow) return std::move(flow).take_status();
  return buffer;
}

core::Result<Interpreter::Flow> Interpreter::exec(const ast::Stmt& stmt) {
  if (++steps_ > options_.limits.max_steps) return locate(stmt.loc, step());
  switch (stmt.kind) {
    case ast::StmtKind::kText:
      MLXS_RETURN_IF_ERROR(locate(stmt.loc, emit_text(static_cast<const ast::Text&>(stmt).text)));
      return Flow::kNormal;
    case ast::StmtKind::kPrint: {
      const auto& node = static_cast<const ast::Print&>(stmt);
      MLXS_ASSIGN_OR_RETURN(auto v, eval(*node.expr));
      MLXS_RETURN_IF_ERROR(locate(node.expr->loc, emit(v)));
      return Flow::kNormal;
    }
    case ast::StmtKind::kIf: {
      const auto& node = static_cast<const ast::If&>(stmt);
      for (const auto& [test, body] : node.branches) {
        MLXS_ASSIGN_OR_RETURN(auto v, eval(*test));
        if (truthy(v)) return exec_body(body);
      }
      return exec_body(node.otherwise);
    }
    case ast::StmtKind::kFor:
      return exec_for(static_cast<const ast::For&>(stmt));
    case ast::StmtKind::kSet: {
      const auto& node = static_cast<const ast::Set&>(stmt);
      MLXS_ASSIGN_OR_RETURN(auto v, eval(*node.value));
      MLXS_RETURN_IF_ERROR(assign(node.target, v));
      return Flow::kNormal;
    }
    case ast::StmtKind::kSetBlock: {
      const auto& node = static_cast<const ast::SetBlock&>(stmt);
      MLXS_ASSIGN_OR_RETURN(auto text, capture(node.body, node.locals));
      Value v = Value::string(std::move(text));
      if (node.filter) {
        const Value* saved = block_input_;
        block_input_ = &v;
        auto filtered = eval(*node.filter);
        block_input_ = saved;
        if (!filtered) return std::move(filtered).take_status();
        v = std::move(filtered).value();
      }
      MLXS_RETURN_IF_ERROR(assign(node.target, v));
      return Flow::kNormal;
    }
    case ast::StmtKind::kMacro: {
      const auto& node = static_cast<const ast::Macro&>(stmt);
      auto c = std::make_shared<Callable>();
      c->kind = Callable::Kind::kMacro;
      c->name = node.name;
      c->macro = &node;
      c->closure = frame_;
      if (captured_frames_.empty() || captured_frames_.back() != frame_)
        captured_frames_.push_back(frame_);
      frame_->set(node.name, Value::callable(std::move(c)));
      return Flow::kNormal;
    }
    case ast::StmtKind::kCallBlock: {
      const auto& node = static_cast<const ast::CallBlock&>(stmt);
      auto c = std::make_shared<Callable>();
      c->kind = Callable::Kind::kMacro;
      c->name = "caller";
      c->macro = node.caller.get();
      c->closure = frame_;
      if (captured_frames_.empty() || captured_frames_.back() != frame_)
        captured_frames_.push_back(frame_);
      const Value caller = Value::callable(std::move(c));
      MLXS_ASSIGN_OR_RETURN(auto v, eval_call(static_cast<const ast::Call&>(*node.call), &caller));
      MLXS_RETURN_IF_ERROR(locate(node.loc, emit(v)));
      return Flow::kNormal;
    }
    case ast::StmtKind::kFilterBlock: {
      const auto& node = static_cast<const ast::FilterBlock&>(stmt);
      MLXS_ASSIGN_OR_RETURN(auto text, capture(node.body, node.locals));
      const Value body = Value::string(std::move(text));
      const Value* saved = block_input_;
      block_input_ = &body;
      auto filtered = eval(*node.filter);
      block_input_ = saved;
      if (!filtered) return std::move(filtered).take_status();
      MLXS_RETURN_IF_ERROR(locate(node.loc, emit(filtered.value())));
      return Flow::kNormal;
    }
    case ast::StmtKind::kWith: {
      const auto& node = static_cast<const ast::With&>(stmt);
      std::vector<Value> values;
      for (const auto& e : node.values) {
        MLXS_ASSIGN_OR_RETURN(auto v, eval(*e));
        values.push_back(std::move(v));
      }
      auto saved = frame_;
      frame_ = std::make_shared<Frame>(saved);
      frame_->declare(node.locals);
      core::Status status;
      for (std::size_t i = 0; i < values.size() && status.is_ok(); ++i)
        status = assign(node.targets[i], values[i]);
      auto flow = status.is_ok() ? exec_body(node.body) : core::Result<Flow>(status);
      frame_ = std::move(saved);
      return flow;
    }
    case ast::StmtKind::kBreak:
      return Flow::kBreak;
    case ast::StmtKind::kContinue:
      return Flow::kContinue;
    case ast::StmtKind::kScope: {
      const auto& node = static_cast<const ast::Scope&>(stmt);
      auto saved = frame_;
      frame_ = std::make_shared<Frame>(saved);
      frame_->declare(node.locals);
      auto flow = exec_body(node.body);
      frame_ = std::move(saved);
      return flow;
    }
  }
  return Flow::kNormal;
}

core::Status Interpreter::assign(const ast::Target& target, const Value& value) {
  switch (target.kind) {
    case ast::Target::Kind::kName:
      frame_->set(target.name, value);
      return core::Status::ok();
    case ast::Target::Kind::kAttr: {
      const Value* obj = nullptr;
      if (frame_->lookup(target.name, &obj) != Frame::Found::kValue || !obj->is_namespace()) {
        return fail(target.loc, "cannot assign attribute on non-namespace object");
      }
      obj->as_namespace().attrs.set(Value::string(target.attr), value);
      return core::Status::ok();
    }
    case ast::Target::Kind::kTuple: {
      auto items = iterate_value(value);
      if (!items) return locate(target.loc, items.status());
      const std::size_t want = target.items.size();
      if (items->size() > want) {
        return fail(target.loc,
                    "too many values to unpack (expected " + std::to_string(want) + ")");
      }
      if (items->size() < want) {
        return fail(target.loc, "not enough values to unpack (expected " + std::to_string(want) +
                                    ", got " + std::to_string(items->size()) + ")");
      }
      for (std::size_t i = 0; i < want; ++i)
        MLXS_RETURN_IF_ERROR(assign(target.items[i], (*items)[i]));
      return core::Status::ok();
    }
  }
  return core::Status::ok();
}

core::Result<Interpreter::Flow> Interpreter::exec_for(const ast::For& node) {
  MLXS_ASSIGN_OR_RETURN(auto iterable, eval(*node.iter));
  MLXS_RETURN_IF_ERROR(run_loop(node, iterable, 0).status());
  return Flow::kNormal;
}

core::Result<Interpreter::Flow> Interpreter::run_loop(const ast::For& node, const Value& iterable,
                                                      int depth0) {
  auto iteration = iterate_partial(iterable);
  if (!iteration) return locate(node.iter->loc, iteration.status());
  List* all = &iteration->items;
  const core::Status pending = iteration->deferred;  // raised if the loop runs past the items
  MLXS_RETURN_IF_ERROR(locate(node.loc, charge(16 * all->size())));
  // jinja2 gives every iteration a fresh scope: what the body sets is gone
  // at the next iteration and after the loop.
  auto outer = frame_;
  struct Restore {
    Interpreter* self;
    std::shared_ptr<Frame> frame;
    ~Restore() { self->frame_ = std::move(frame); }
  } restore{this, outer};

  auto items = std::make_shared<List>();
  if (node.filter) {
    for (auto& item : *all) {
      frame_ = std::make_shared<Frame>(outer);
      MLXS_RETURN_IF_ERROR(assign(node.target, item));
      MLXS_ASSIGN_OR_RETURN(auto keep, eval(*node.filter));
      if (truthy(keep)) items->push_back(std::move(item));
    }
  } else {
    *items = std::move(*all);
  }
  auto state = std::make_shared<LoopState>();
  state->length = static_cast<std::int64_t>(items->size());
  state->items = items;
  state->depth0 = depth0;
  state->node = &node;
  state->outer = outer;
  const Value loop_value = Value::loop(state);
  bool broke = false;
  for (std::size_t i = 0; i < items->size(); ++i) {
    state->index0 = static_cast<std::int64_t>(i);
    frame_ = std::make_shared<Frame>(outer);
    frame_->declare(node.locals);
    MLXS_RETURN_IF_ERROR(assign(node.target, (*items)[i]));
    frame_->set("loop", loop_value);
    MLXS_ASSIGN_OR_RETURN(const Flow flow, exec_body(node.body));
    if (flow == Flow::kBreak) {
      broke = true;
      break;
    }
  }
  if (!broke && !pending.is_ok()) return locate(node.iter->loc, pending);
  if (items->empty() && !node.otherwise.empty()) {
    frame_ = std::make_shared<Frame>(outer);  // the else block is a scope of its own too
    frame_->declare(node.otherwise_locals);
    return exec_body(node.otherwise);
  }
  return Flow::kNormal;
}

// -------------------------------------------------------------- expressions

core::Result<Value> Interpreter::eval(const ast::Expr& expr) {
  if (++steps_ > options_.limits.max_steps) return locate(expr.loc, step());
  switch (expr.kind) {
    case ast::ExprKind::kConst:
      return static_cast<const ast::Const&>(expr).value;
    case ast::ExprKind::kName:
      return eval_name(static_cast<const ast::Name&>(expr));
    case ast::ExprKind::kGetattr: {
      const auto& node = static_cast<const ast::Getattr&>(expr);
      MLXS_ASSIGN_OR_RETURN(auto obj, eval(*node.object));
      auto r = getattr(obj, node.attr);
      if (!r) return locate(node.loc, r.status());
      return r;
    }
    case ast::ExprKind::kGetitem:
      return eval_getitem(static_cast<const ast::Getitem&>(expr));
    case ast::ExprKind::kSlice:
      return fail(expr.loc, "a slice is only allowed inside []");
    case ast::ExprKind::kCall:
      return eval_call(static_cast<const ast::Call&>(expr), nullptr);
    case ast::ExprKind::kFilter:
      return eval_filter(static_cast<const ast::Filter&>(expr));
    case ast::ExprKind::kTest:
      return eval_test(static_cast<const ast::Test&>(expr));
    case ast::ExprKind::kNot: {
      MLXS_ASSIGN_OR_RETURN(auto v, eval(*static_cast<const ast::Unary&>(expr).operand));
      return Value::boolean(!truthy(v));
    }
    case ast::ExprKind::kNeg:
    case ast::ExprKind::kPos: {
      MLXS_ASSIGN_OR_RETURN(auto v, eval(*static_cast<const ast::Unary&>(expr).operand));
      auto r = expr.kind == ast::ExprKind::kNeg ? negate(v) : positive(v);
      if (!r) return locate(expr.loc, r.status());
      return r;
    }
    case ast::ExprKind::kBinary: {
      const auto& node = static_cast<const ast::Binary&>(expr);
      MLXS_ASSIGN_OR_RETURN(auto a, eval(*node.left));
      MLXS_ASSIGN_OR_RETURN(auto b, eval(*node.right));
      auto r = binary_op(*this, node.op, a, b);
      if (!r) return locate(node.loc, r.status());
      MLXS_RETURN_IF_ERROR(locate(node.loc, check_depth(r.value())));
      return r;
    }
    case ast::ExprKind::kAnd:
    case ast::ExprKind::kOr: {
      const auto& node = static_cast<const ast::Logical&>(expr);
      MLXS_ASSIGN_OR_RETURN(auto a, eval(*node.left));
      if (truthy(a) == (expr.kind == ast::ExprKind::kOr)) return a;
      return eval(*node.right);
    }
    case ast::ExprKind::kConcat: {
      std::string out;
      for (const auto& part : static_cast<const ast::Concat&>(expr).parts) {
        MLXS_ASSIGN_OR_RETURN(auto v, eval(*part));
        auto text = str(v);
        if (!text) return locate(part->loc, text.status());
        if (out.size() + text->size() > options_.limits.max_output_bytes) {
          return fail(expr.loc, "string too long");
        }
        out += text.value();
      }
      return Value::string(std::move(out));
    }
    case ast::ExprKind::kCompare:
      return eval_compare(static_cast<const ast::Compare&>(expr));
    case ast::ExprKind::kCond: {
      const auto& node = static_cast<const ast::Cond&>(expr);
      MLXS_ASSIGN_OR_RETURN(auto test, eval(*node.test));
      if (truthy(test)) return eval(*node.then);
      if (node.otherwise) return eval(*node.otherwise);
      return Value::undefined("the inline if-expression on line " + std::to_string(node.loc.line) +
                              " evaluated to false and no else section was defined.");
    }
    case ast::ExprKind::kList:
    case ast::ExprKind::kTuple: {
      const auto& node = static_cast<const ast::Sequence&>(expr);
      List items;
      items.reserve(node.items.size());
      for (const auto& item : node.items) {
        MLXS_ASSIGN_OR_RETURN(auto v, eval(*item));
        items.push_back(std::move(v));
      }
      MLXS_RETURN_IF_ERROR(locate(expr.loc, charge(16 * items.size())));
      Value v = expr.kind == ast::ExprKind::kList ? Value::list(std::move(items))
                                                  : Value::tuple(std::move(items));
      MLXS_RETURN_IF_ERROR(locate(expr.loc, check_depth(v)));
      return v;
    }
    case ast::ExprKind::kDict: {
      const auto& node = static_cast<const ast::DictLit&>(expr);
      Dict d;
      for (const auto& [ke, ve] : node.items) {
        MLXS_ASSIGN_OR_RETURN(auto k, eval(*ke));
        MLXS_ASSIGN_OR_RETURN(auto v, eval(*ve));
        if (!is_hashable(k)) return fail(ke->loc, "unhashable type: '" + type_name(k) + "'");
        d.set(std::move(k), std::move(v));
      }
      MLXS_RETURN_IF_ERROR(locate(expr.loc, charge(32 * d.size())));
      Value v = Value::dict(std::move(d));
      MLXS_RETURN_IF_ERROR(locate(expr.loc, check_depth(v)));
      return v;
    }
  }
  return fail(expr.loc, "unsupported expression");
}

core::Result<Value> Interpreter::eval_name(const ast::Name& node) {
  const Value* v = nullptr;
  if (frame_->lookup(node.name, &v) == Frame::Found::kValue) return *v;
  return Value::undefined("'" + node.name + "' is undefined");
}

core::Status Interpreter::eval_args(const ast::Args& args, CallArgs& out) {
  for (const auto& e : args.positional) {
    MLXS_ASSIGN_OR_RETURN(auto v, eval(*e));
    out.positional.push_back(std::move(v));
  }
  for (const auto& kw : args.keywords) {
    MLXS_ASSIGN_OR_RETURN(auto v, eval(*kw.value));
    out.keywords.emplace_back(kw.name, std::move(v));
  }
  if (args.star) {
    MLXS_ASSIGN_OR_RETURN(auto v, eval(*args.star));
    auto items = iterate_value(v);
    if (!items) return locate(args.star->loc, items.status());
    for (auto& item : *items) out.positional.push_back(std::move(item));
  }
  if (args.star_star) {
    MLXS_ASSIGN_OR_RETURN(auto v, eval(*args.star_star));
    if (!v.is_dict())
      return fail(args.star_star->loc, "argument after ** must be a mapping, not " + type_name(v));
    for (const auto& [k, val] : v.as_dict().items) {
      if (!k.is_string()) return fail(args.star_star->loc, "keywords must be strings");
      out.keywords.emplace_back(k.as_string(), val);
    }
  }
  return core::Status::ok();
}

core::Result<Value> Interpreter::eval_call(const ast::Call& node, const Value* caller) {
  MLXS_ASSIGN_OR_RETURN(auto callee, eval(*node.callee));
  CallArgs args;
  MLXS_RETURN_IF_ERROR(eval_args(node.args, args));
  if (caller != nullptr) args.keywords.emplace_back("caller", *caller);
  auto r = call(callee, args);
  if (!r) return locate(node.loc, r.status());
  MLXS_RETURN_IF_ERROR(locate(node.loc, check_depth(r.value())));
  return r;
}

core::Result<Value> Interpreter::eval_filter(const ast::Filter& node) {
  Value input;
  if (node.input) {
    MLXS_ASSIGN_OR_RETURN(input, eval(*node.input));
  } else if (block_input_ != nullptr) {
    input = *block_input_;
  }
  if (node.fn == nullptr) return fail(node.loc, "No filter named '" + node.name + "' found.");
  CallArgs args;
  MLXS_RETURN_IF_ERROR(eval_args(node.args, args));
  MLXS_RETURN_IF_ERROR(locate(node.loc, charge(input.weight())));
  auto r = node.fn(*this, input, args);
  if (!r) return locate(node.loc, r.status());
  MLXS_RETURN_IF_ERROR(locate(node.loc, check_depth(r.value())));
  return r;
}

core::Result<Value> Interpreter::eval_test(const ast::Test& node) {
  MLXS_ASSIGN_OR_RETURN(auto input, eval(*node.input));
  if (node.fn == nullptr) return fail(node.loc, "No test named '" + node.name + "' found.");
  CallArgs args;
  MLXS_RETURN_IF_ERROR(eval_args(node.args, args));
  auto r = node.fn(*this, input, args);
  if (!r) return locate(node.loc, r.status());
  return Value::boolean(r.value());
}

core::Result<Value> Interpreter::eval_compare(const ast::Compare& node) {
  MLXS_ASSIGN_OR_RETURN(auto left, eval(*node.first));
  for (const auto& [op, operand] : node.rest) {
    MLXS_ASSIGN_OR_RETURN(auto right, eval(*operand));
    auto r = compare(*this, op, left, right);
    if (!r) return locate(operand->loc, r.status());
    if (!r.value()) return Value::boolean(false);
    left = std::move(right);
  }
  return Value::boolean(true);
}

core::Result<Value> Interpreter::eval_getitem(const ast::Getitem& node) {
  MLXS_ASSIGN_OR_RETURN(auto obj, eval(*node.object));
  if (node.index->kind != ast::ExprKind::kSlice) {
    MLXS_ASSIGN_OR_RETURN(auto key, eval(*node.index));
    auto r = getitem(obj, key);
    if (!r) return locate(node.loc, r.status());
    return r;
  }
  const auto& slice = static_cast<const ast::Slice&>(*node.index);
  Value parts[3] = {Value::none(), Value::none(), Value::none()};
  const ast::ExprPtr* exprs[3] = {&slice.start, &slice.stop, &slice.step};
  for (int i = 0; i < 3; ++i) {
    if (*exprs[i]) {
      MLXS_ASSIGN_OR_RETURN(parts[i], eval(**exprs[i]));
    }
  }
  // jinja2 compiles slices to plain Python subscripts (not environment.getitem),
  // so a failing slice raises instead of giving Undefined.
  if (obj.is_undefined()) return locate(node.loc, undefined_error(obj));
  const bool sliceable = obj.is_string() || obj.is_sequence();
  if (!sliceable) {
    if (obj.is_dict()) return fail(node.loc, "unhashable type: 'slice'");
    return fail(node.loc, "'" + type_name(obj) + "' object is not subscriptable");
  }
  for (const auto& part : parts) {
    if (part.is_undefined()) return locate(node.loc, undefined_error(part));
  }
  if (!(slice_index_ok(parts[0]) && slice_index_ok(parts[1]) && slice_index_ok(parts[2]))) {
    return fail(node.loc, "slice indices must be integers or None or have an __index__ method");
  }
  if (obj.is_sequence()) {
    auto r = slice_list(obj.as_list(), parts[0], parts[1], parts[2]);
    if (!r) return locate(node.loc, r.status());
    MLXS_RETURN_IF_ERROR(locate(node.loc, charge(16 * r->size())));
    return obj.is_tuple() ? Value::tuple(std::move(r).value()) : Value::list(std::move(r).value());
  }
  {
    const std::string& s = obj.as_string();
    MLXS_RETURN_IF_ERROR(locate(node.loc, charge(s.size())));
    const auto cps = unicode::code_points(s);
    // Reuse the list slicer on code points.
    List chars;
    chars.reserve(cps.size());
    for (const char32_t cp : cps) chars.push_back(Value::integer(cp));
    auto r = slice_list(chars, parts[0], parts[1], parts[2]);
    if (!r) return locate(node.loc, r.status());
    std::string out;
    for (const auto& c : *r) unicode::append(out, static_cast<char32_t>(c.as_int()));
    return obj.is_markup() ? Value::markup(std::move(out)) : Value::string(std::move(out));
  }
}

// ------------------------------------------------------- attribute access

core::Result<Value> Interpreter::getattr(const Value& obj, std::string_view name) {
  const auto missing = [&] {
    return Value::undefined("'" + object_type_repr(obj) + "' has no attribute '" +
                            std::string(name) + "'");
  };
  switch (obj.kind()) {
    case Value::Kind::kUndefined:
      return undefined_error(obj);
    case Value::Kind::kString:
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kDict:
    case Value::Kind::kLoop: {
      if (const Callable::Fn fn = find_method(obj, name)) {
        auto c = std::make_shared<Callable>();
        c->kind = Callable::Kind::kMethod;
        c->name = std::string(name);
        c->fn = fn;
        c->self = obj;
        return Value::callable(std::move(c));
      }
      if (is_unsafe_method(obj, name)) {
        return Value::undefined("access to attribute '" + std::string(name) + "' of '" +
                                type_name(obj) + "' object is unsafe.");
      }
      if (obj.is_dict()) {
        if (const Value* v = obj.as_dict().find(name)) return *v;
      }
      if (obj.is_group() && (name == "grouper" || name == "list"))
        return obj.as_list()[name == "grouper" ? 0 : 1];
      if (obj.is_loop()) return loop_attribute(obj, name);
      return missing();
    }
    case Value::Kind::kNamespace:
      if (const Value* v = obj.as_namespace().attrs.find(name)) return *v;
      return missing();
    case Value::Kind::kInt:
    case Value::Kind::kBool:
    case Value::Kind::kFloat:
      if (name == "real") return obj.is_float() ? obj : Value::integer(obj.as_int());
      if (name == "imag") return obj.is_float() ? Value::number(0.0) : Value::integer(0);
      return missing();
    case Value::Kind::kCallable:
      if (name == "name" && obj.as_callable().kind == Callable::Kind::kMacro)
        return Value::string(obj.as_callable().name);
      return missing();
    case Value::Kind::kGenerator:
    case Value::Kind::kNone:
      return missing();
  }
  return missing();
}

core::Result<Value> Interpreter::getitem(const Value& obj, const Value& key) {
  if (obj.is_undefined()) return undefined_error(obj);
  const bool int_key = key.is_int() || key.is_bool();
  switch (obj.kind()) {
    case Value::Kind::kList:
    case Value::Kind::kTuple:
      if (int_key) {
        const List& items = obj.as_list();
        std::int64_t i = key.as_int();
        const auto n = static_cast<std::int64_t>(items.size());
        if (i < 0) i += n;
        if (i >= 0 && i < n) return items[static_cast<std::size_t>(i)];
      }
      break;
    case Value::Kind::kString:
      if (int_key) {
        const std::string& s = obj.as_string();
        std::int64_t i = key.as_int();
        const auto n = static_cast<std::int64_t>(unicode::length(s));
        if (i < 0) i += n;
        if (i >= 0 && i < n) {
          std::size_t pos = unicode::byte_offset(s, static_cast<std::size_t>(i));
          const std::size_t start = pos;
          unicode::decode(s, pos);
          return obj.is_markup() ? Value::markup(s.substr(start, pos - start))
                                 : Value::string(s.substr(start, pos - start));
        }
      }
      break;
    case Value::Kind::kDict:
      if (is_hashable(key)) {
        if (const Value* v = obj.as_dict().find(key)) return *v;
      }
      break;
    case Value::Kind::kUndefined:
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kGenerator:
    case Value::Kind::kNamespace:
    case Value::Kind::kCallable:
    case Value::Kind::kLoop:
      break;
  }
  // obj[key] failed: a string key falls back to the attribute, as in jinja2.
  if (key.is_string()) return getattr(obj, key.as_string());
  std::string shown;
  append_repr(shown, key, 200);
  return Value::undefined(object_type_repr(obj) + " has no element " + shown);
}

// ------------------------------------------------------------------- calls

core::Result<Value> Interpreter::call(const Value& callee, const CallArgs& args) {
  switch (callee.kind()) {
    case Value::Kind::kCallable: {
      const Callable& c = callee.as_callable();
      switch (c.kind) {
        case Callable::Kind::kBuiltin:
          return c.fn(*this, c.self, args);
        case Callable::Kind::kMethod: {
          MLXS_ASSIGN_OR_RETURN(auto r, c.fn(*this, c.self, args));
          if (!c.self.is_markup()) return r;
          // Markup's methods give Markup back (and lists of it from split()).
          const auto mark = [](const Value& v) {
            return v.is_string() ? Value::markup(v.as_string()) : v;
          };
          if (r.is_string()) return mark(r);
          if (r.is_sequence()) {
            List items;
            for (const auto& item : r.as_list()) items.push_back(mark(item));
            return r.is_tuple() ? Value::tuple(std::move(items)) : Value::list(std::move(items));
          }
          return r;
        }
        case Callable::Kind::kMacro:
          return call_macro(c, args);
      }
      break;
    }
    case Value::Kind::kLoop:
      return call_loop(callee.as_loop(), args);
    case Value::Kind::kUndefined:
      return undefined_error(callee);
    case Value::Kind::kNone:
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
    case Value::Kind::kString:
    case Value::Kind::kList:
    case Value::Kind::kTuple:
    case Value::Kind::kGenerator:
    case Value::Kind::kDict:
    case Value::Kind::kNamespace:
      break;
  }
  return type_error("'" + type_name(callee) + "' object is not callable");
}

core::Result<Value> Interpreter::call_macro(const Callable& c, const CallArgs& args) {
  const ast::Macro& m = *c.macro;
  if (call_depth_ >= options_.limits.max_call_depth) {
    return type_error("maximum macro call depth exceeded (" +
                      std::to_string(options_.limits.max_call_depth) + ")");
  }
  auto frame = std::make_shared<Frame>(c.closure);
  std::vector<bool> given(m.params.size(), false);
  List varargs;
  for (std::size_t i = 0; i < args.positional.size(); ++i) {
    if (i < m.params.size()) {
      frame->set(m.params[i], args.positional[i]);
      given[i] = true;
    } else if (m.uses_varargs) {
      varargs.push_back(args.positional[i]);
    } else {
      return type_error("macro '" + m.name + "' takes not more than " +
                        std::to_string(m.params.size()) + " argument(s)");
    }
  }
  Dict kwargs;
  bool caller_given = false;
  for (const auto& [key, value] : args.keywords) {
    const auto it = std::find(m.params.begin(), m.params.end(), key);
    if (it != m.params.end()) {
      const auto i = static_cast<std::size_t>(it - m.params.begin());
      if (given[i])
        return type_error("macro '" + m.name + "' got multiple values for argument '" + key + "'");
      frame->set(key, value);
      given[i] = true;
    } else if (key == "caller" && m.uses_caller) {
      frame->set("caller", value);
      caller_given = true;
    } else if (m.uses_kwargs) {
      kwargs.set(Value::string(key), value);
    } else if (key == "caller") {
      return type_error("macro '" + m.name +
                        "' was invoked with two values for the special 'caller' argument. This is "
                        "most likely a bug.");
    } else {
      return type_error("macro '" + m.name + "' takes no keyword argument '" + key + "'");
    }
  }
  ++call_depth_;
  auto saved_frame = frame_;
  std::string* saved_out = out_;
  std::string buffer;
  frame_ = frame;
  out_ = &buffer;
  struct Restore {
    Interpreter* self;
    std::shared_ptr<Frame> frame;
    std::string* out;
    ~Restore() {
      self->frame_ = std::move(frame);
      self->out_ = out;
      --self->call_depth_;
    }
  } restore{this, saved_frame, saved_out};

  const std::size_t first_default = m.params.size() - m.defaults.size();
  for (std::size_t i = 0; i < m.params.size(); ++i) {
    if (given[i]) continue;
    if (i >= first_default) {
      MLXS_ASSIGN_OR_RETURN(auto v, eval(*m.defaults[i - first_default]));
      frame->set(m.params[i], std::move(v));
    } else {
      frame->set(m.params[i], Value::undefined("parameter '" + m.params[i] + "' was not provided"));
    }
  }
  frame->declare(m.locals);
  if (m.uses_varargs) frame->set("varargs", Value::tuple(std::move(varargs)));
  if (m.uses_kwargs) frame->set("kwargs", Value::dict(std::move(kwargs)));
  if (m.uses_caller && !caller_given) frame->set("caller", Value::undefined("No caller defined"));
  MLXS_RETURN_IF_ERROR(exec_body(m.body).status());
  return Value::string(std::move(buffer));
}

core::Result<Value> Interpreter::call_loop(LoopState& loop, const CallArgs& args) {
  if (loop.node == nullptr || !loop.node->recursive) {
    return type_error(
        "Tried to call non recursive loop.  Maybe you forgot the 'recursive' modifier.");
  }
  if (args.positional.size() != 1 || !args.keywords.empty())
    return type_error("loop() takes exactly one argument");
  if (call_depth_ >= options_.limits.max_call_depth) {
    return type_error("maximum loop recursion depth exceeded (" +
                      std::to_string(options_.limits.max_call_depth) + ")");
  }
  ++call_depth_;
  auto saved_frame = frame_;
  std::string* saved_out = out_;
  std::string buffer;
  frame_ = loop.outer;
  out_ = &buffer;
  auto r = run_loop(*loop.node, args.positional[0], loop.depth0 + 1);
  frame_ = std::move(saved_frame);
  out_ = saved_out;
  --call_depth_;
  if (!r) return std::move(r).take_status();
  return Value::string(std::move(buffer));
}

core::Result<Value> Interpreter::apply_filter(std::string_view name, const Value& input,
                                              const CallArgs& args) {
  const FilterFn fn = find_filter(name);
  if (fn == nullptr) return type_error("No filter named '" + std::string(name) + "'.");
  MLXS_RETURN_IF_ERROR(step());
  return fn(*this, input, args);
}

core::Result<bool> Interpreter::apply_test(std::string_view name, const Value& input,
                                           const CallArgs& args) {
  const TestFn fn = find_test(name);
  if (fn == nullptr) return type_error("No test named '" + std::string(name) + "'.");
  MLXS_RETURN_IF_ERROR(step());
  return fn(*this, input, args);
}

}  // namespace mlxs::template_
