#pragma once
// Run-time objects behind Value's shared kinds: variable frames (jinja2's
// scoping), callables (macros, builtins, bound methods) and loop state.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "template/ast.h"
#include "template/value.h"

namespace mlxs::template_ {

// One scope of variables. jinja2 opens a scope per loop iteration, macro
// call, {% with %}, {% filter %} and block {% set %}; `if` opens none.
//
// `declare` binds the scope's names that jinja2 starts as Undefined (see
// scopes.h): until assigned they read as Undefined, not as an outer value.
struct Frame {
  struct Var {
    std::string name;
    Value value;
    bool pending = false;  // declared Undefined by the scope, not assigned yet
  };
  explicit Frame(std::shared_ptr<Frame> p = nullptr) : parent(std::move(p)) {}
  std::shared_ptr<Frame> parent;
  std::vector<Var> vars;

  enum class Found : std::uint8_t { kValue, kPending, kMissing };
  // This frame, then its parents; kPending: a pending name (reads Undefined).
  Found lookup(std::string_view name, const Value** value) const;
  void set(std::string_view name, Value value);  // in this frame
  void declare(const std::vector<std::string>& names);
};

struct Callable {
  enum class Kind : std::uint8_t { kBuiltin, kMethod, kMacro };
  using Fn = core::Result<Value> (*)(Interpreter&, const Value& self, const CallArgs& args);

  Kind kind = Kind::kBuiltin;
  std::string name;
  Fn fn = nullptr;  // builtins and methods
  Value self;       // the object a method is bound to
  const ast::Macro* macro = nullptr;
  std::shared_ptr<Frame> closure;  // where the macro was defined
  Value caller;                    // a call block's body, passed as `caller`
};

struct LoopState {
  std::int64_t index0 = 0;
  std::int64_t length = 0;
  int depth0 = 0;
  std::shared_ptr<const List> items;
  Value last_changed;  // loop.changed() memory
  bool has_changed = false;
  const ast::For* node = nullptr;  // for `loop(...)` in recursive loops
  std::shared_ptr<Frame> outer;    // the frame the loop runs in
};

// jinja2's select/map/unique/... return Python generators: single-pass, no
// len(), always truthy. Their items are computed when the filter runs (filters
// have no side effects), but an error met on the way is only raised when a
// consumer reads that far, and a second pass sees what the first left.
struct GeneratorState {
  std::string type = "generator";  // Python's type name
  std::string function;            // for printing: <generator object NAME ...>
  List items;
  std::size_t pos = 0;
  core::Status deferred;  // raised when a consumer reads past `items`
};

}  // namespace mlxs::template_
