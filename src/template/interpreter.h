#pragma once
// Walks the AST with jinja2's semantics: scoping, Undefined, macros, loops,
// filters and tests. One Interpreter per render; it holds all mutable state,
// so a compiled template can be rendered from many threads at once.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "template/ast.h"
#include "template/chat_template.h"
#include "template/runtime.h"
#include "template/value.h"

namespace mlxs::template_ {

class Interpreter {
 public:
  Interpreter(const ast::Template& tmpl, const RenderOptions& options);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders with `vars` (the context) as the template's variables.
  core::Result<std::string> render(std::vector<std::pair<std::string, Value>> vars);

  // ----- for filters, tests, methods and builtins (errors without location;
  // the interpreter adds the line and column of the expression).
  const RenderOptions& options() const { return options_; }
  // Spends `units` of the work budget (bytes built or walked).
  core::Status charge(std::uint64_t units);
  // Fails when a value built by a filter/call nests deeper than allowed.
  core::Status check_depth(const Value& v) const;
  core::Result<Value> call(const Value& callee, const CallArgs& args);
  // jinja2's environment.getattr / getitem (Undefined when missing).
  core::Result<Value> getattr(const Value& obj, std::string_view name);
  core::Result<Value> getitem(const Value& obj, const Value& key);
  // Filters and tests by name, for map/select/reject.
  core::Result<Value> apply_filter(std::string_view name, const Value& input, const CallArgs& args);
  core::Result<bool> apply_test(std::string_view name, const Value& input, const CallArgs& args);
  // str(v), failing when it would pass the output limit.
  core::Result<std::string> str(const Value& v);
  core::Result<std::string> repr(const Value& v);
  // Registers a namespace() so cycles through it are broken after the render.
  void track(const std::shared_ptr<Namespace>& ns) { namespaces_.push_back(ns); }

 private:
  enum class Flow : std::uint8_t { kNormal, kBreak, kContinue };

  core::Status step();
  core::Status fail(const ast::Location& loc, std::string_view message) const;
  core::Status locate(const ast::Location& loc, const core::Status& status) const;

  core::Result<Flow> exec_body(const ast::Body& body);
  core::Result<Flow> exec(const ast::Stmt& stmt);
  core::Result<Flow> exec_for(const ast::For& node);
  core::Result<Flow> run_loop(const ast::For& node, const Value& iterable, int depth0);
  core::Status assign(const ast::Target& target, const Value& value);
  core::Result<std::string> capture(const ast::Body& body, const ast::Locals& locals);
  core::Status emit(const Value& v);
  core::Status emit_text(std::string_view text);

  core::Result<Value> eval(const ast::Expr& expr);
  core::Result<Value> eval_name(const ast::Name& node);
  core::Result<Value> eval_call(const ast::Call& node, const Value* caller);
  core::Result<Value> eval_filter(const ast::Filter& node);
  core::Result<Value> eval_test(const ast::Test& node);
  core::Result<Value> eval_compare(const ast::Compare& node);
  core::Result<Value> eval_getitem(const ast::Getitem& node);
  core::Status eval_args(const ast::Args& args, CallArgs& out);

  core::Result<Value> call_macro(const Callable& macro, const CallArgs& args);
  core::Result<Value> call_loop(LoopState& loop, const CallArgs& args);
  core::Result<List> iterate(const Value& v) const;

  const ast::Template& tmpl_;
  const RenderOptions& options_;
  std::shared_ptr<Frame> frame_;
  std::string* out_ = nullptr;
  std::int64_t steps_ = 0;
  std::uint64_t work_ = 0;
  int call_depth_ = 0;
  const Value* block_input_ = nullptr;  // the body a {% filter %} block applies to
  std::vector<std::shared_ptr<Namespace>> namespaces_;
  std::vector<std::shared_ptr<Frame>> captured_frames_;
};

// Iteration as Python's iter(): list/tuple items, dict keys, string
// characters, what is left of a generator (which this consumes). The partial
// form hands back a generator's pending error instead of raising it, for
// consumers (a for loop with `break`) that may stop before reaching it.
struct Iteration {
  List items;
  core::Status deferred;
};
core::Result<Iteration> iterate_partial(const Value& v);
core::Result<List> iterate_value(const Value& v);
// next(iter(v)): the first item (consuming it from a generator), or nullopt.
core::Result<std::optional<Value>> first_item(const Value& v);
// A generator over `items` that raises `deferred` once they are used up.
Value make_generator(std::string function, List items, core::Status deferred = core::Status::ok(),
                     std::string type = "generator");

}  // namespace mlxs::template_
