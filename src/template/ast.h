#pragma once
// The parsed template: expression and statement nodes, each with the line
// and column it came from so run-time errors can point at the source.
// Nodes are immutable after parsing; one tree serves concurrent renders.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "template/value.h"

namespace mlxs::template_ {

class Interpreter;
using FilterFn = core::Result<Value> (*)(Interpreter&, const Value& input, const CallArgs& args);
using TestFn = core::Result<bool> (*)(Interpreter&, const Value& input, const CallArgs& args);

namespace ast {

struct Location {
  int line = 0;
  int column = 0;
};

enum class ExprKind : std::uint8_t {
  kConst,
  kName,
  kGetattr,
  kGetitem,
  kSlice,
  kCall,
  kFilter,
  kTest,
  kNot,
  kNeg,
  kPos,
  kBinary,
  kAnd,
  kOr,
  kConcat,
  kCompare,
  kCond,
  kList,
  kTuple,
  kDict,
};

struct Expr {
  Expr(ExprKind k, Location l) : kind(k), loc(l) {}
  virtual ~Expr() = default;
  ExprKind kind;
  Location loc;
};
using ExprPtr = std::unique_ptr<Expr>;

struct Const final : Expr {
  Const(Location l, Value v) : Expr(ExprKind::kConst, l), value(std::move(v)) {}
  Value value;
};

struct Name final : Expr {
  Name(Location l, std::string n) : Expr(ExprKind::kName, l), name(std::move(n)) {}
  std::string name;
};

struct Getattr final : Expr {
  Getattr(Location l, ExprPtr o, std::string a)
      : Expr(ExprKind::kGetattr, l), object(std::move(o)), attr(std::move(a)) {}
  ExprPtr object;
  std::string attr;
};

struct Getitem final : Expr {
  Getitem(Location l, ExprPtr o, ExprPtr i)
      : Expr(ExprKind::kGetitem, l), object(std::move(o)), index(std::move(i)) {}
  ExprPtr object;
  ExprPtr index;
};

// Only as the index of a Getitem; each part may be null.
struct Slice final : Expr {
  explicit Slice(Location l) : Expr(ExprKind::kSlice, l) {}
  ExprPtr start, stop, step;
};

struct Keyword {
  std::string name;
  ExprPtr value;
};

struct Args {
  std::vector<ExprPtr> positional;
  std::vector<Keyword> keywords;
  ExprPtr star;       // *args
  ExprPtr star_star;  // **kwargs
};

struct Call final : Expr {
  Call(Location l, ExprPtr c) : Expr(ExprKind::kCall, l), callee(std::move(c)) {}
  ExprPtr callee;
  Args args;
};

// `input | name(args)`; input is null for the filter of a {% filter %} or
// {% set x | f %} block, which applies to the rendered body.
struct Filter final : Expr {
  Filter(Location l, ExprPtr in, std::string n, FilterFn f)
      : Expr(ExprKind::kFilter, l), input(std::move(in)), name(std::move(n)), fn(f) {}
  ExprPtr input;
  std::string name;
  FilterFn fn;
  Args args;
};

struct Test final : Expr {
  Test(Location l, ExprPtr in, std::string n, TestFn f)
      : Expr(ExprKind::kTest, l), input(std::move(in)), name(std::move(n)), fn(f) {}
  ExprPtr input;
  std::string name;
  TestFn fn;
  Args args;
};

// kNot, kNeg, kPos.
struct Unary final : Expr {
  Unary(ExprKind k, Location l, ExprPtr o) : Expr(k, l), operand(std::move(o)) {}
  ExprPtr operand;
};

enum class BinOp : std::uint8_t { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };

struct Binary final : Expr {
  Binary(Location l, BinOp o, ExprPtr a, ExprPtr b)
      : Expr(ExprKind::kBinary, l), op(o), left(std::move(a)), right(std::move(b)) {}
  BinOp op;
  ExprPtr left, right;
};

// kAnd, kOr (short-circuit, yielding an operand as Python does).
struct Logical final : Expr {
  Logical(ExprKind k, Location l, ExprPtr a, ExprPtr b)
      : Expr(k, l), left(std::move(a)), right(std::move(b)) {}
  ExprPtr left, right;
};

struct Concat final : Expr {
  explicit Concat(Location l) : Expr(ExprKind::kConcat, l) {}
  std::vector<ExprPtr> parts;
};

enum class CmpOp : std::uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kIn, kNotIn };

struct Compare final : Expr {
  Compare(Location l, ExprPtr f) : Expr(ExprKind::kCompare, l), first(std::move(f)) {}
  ExprPtr first;
  std::vector<std::pair<CmpOp, ExprPtr>> rest;
};

// `then if test else otherwise`; otherwise may be null (gives Undefined).
struct Cond final : Expr {
  explicit Cond(Location l) : Expr(ExprKind::kCond, l) {}
  ExprPtr test, then, otherwise;
};

// kList, kTuple.
struct Sequence final : Expr {
  Sequence(ExprKind k, Location l) : Expr(k, l) {}
  std::vector<ExprPtr> items;
};

struct DictLit final : Expr {
  explicit DictLit(Location l) : Expr(ExprKind::kDict, l) {}
  std::vector<std::pair<ExprPtr, ExprPtr>> items;
};

// ------------------------------------------------------------- statements

enum class StmtKind : std::uint8_t {
  kText,
  kPrint,
  kIf,
  kFor,
  kSet,
  kSetBlock,
  kMacro,
  kCallBlock,
  kFilterBlock,
  kWith,
  kBreak,
  kContinue,
  kScope,  // {% block %} and transformers' {% generation %}: the body, inline
};

struct Stmt {
  Stmt(StmtKind k, Location l) : kind(k), loc(l) {}
  virtual ~Stmt() = default;
  StmtKind kind;
  Location loc;
};
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

// Where {% set %} / {% for %} store: a name, `ns.attr`, or a tuple to unpack.
struct Target {
  enum class Kind : std::uint8_t { kName, kAttr, kTuple };
  Kind kind = Kind::kName;
  Location loc;
  std::string name;
  std::string attr;
  std::vector<Target> items;
};

struct Text final : Stmt {
  Text(Location l, std::string t) : Stmt(StmtKind::kText, l), text(std::move(t)) {}
  std::string text;
};

struct Print final : Stmt {
  Print(Location l, ExprPtr e) : Stmt(StmtKind::kPrint, l), expr(std::move(e)) {}
  ExprPtr expr;
};

struct If final : Stmt {
  explicit If(Location l) : Stmt(StmtKind::kIf, l) {}
  std::vector<std::pair<ExprPtr, Body>> branches;  // if, elif...
  Body otherwise;
};

// `locals` (here and on the other scope nodes): names the scope assigns that
// jinja2 binds to Undefined when the scope starts (see scopes.h).
using Locals = std::vector<std::string>;

struct For final : Stmt {
  explicit For(Location l) : Stmt(StmtKind::kFor, l) {}
  Target target;
  ExprPtr iter;
  ExprPtr filter;  // `for x in xs if cond`
  bool recursive = false;
  Body body;
  Body otherwise;
  Locals locals;
  Locals otherwise_locals;
};

struct Set final : Stmt {
  explicit Set(Location l) : Stmt(StmtKind::kSet, l) {}
  Target target;
  ExprPtr value;
};

struct SetBlock final : Stmt {
  explicit SetBlock(Location l) : Stmt(StmtKind::kSetBlock, l) {}
  Target target;
  ExprPtr filter;  // optional Filter chain whose innermost input is null
  Body body;
  Locals locals;
};

struct Macro final : Stmt {
  explicit Macro(Location l) : Stmt(StmtKind::kMacro, l) {}
  std::string name;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // for the last defaults.size() params
  Body body;
  Locals locals;
  // Whether the body reads these names; jinja2 then accepts extra arguments.
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
};

struct CallBlock final : Stmt {
  explicit CallBlock(Location l) : Stmt(StmtKind::kCallBlock, l) {}
  ExprPtr call;                   // a Call node
  std::unique_ptr<Macro> caller;  // the body, as the `caller` macro
};

struct FilterBlock final : Stmt {
  explicit FilterBlock(Location l) : Stmt(StmtKind::kFilterBlock, l) {}
  ExprPtr filter;
  Body body;
  Locals locals;
};

struct With final : Stmt {
  explicit With(Location l) : Stmt(StmtKind::kWith, l) {}
  std::vector<Target> targets;
  std::vector<ExprPtr> values;
  Body body;
  Locals locals;
};

// kBreak, kContinue.
struct LoopControl final : Stmt {
  LoopControl(StmtKind k, Location l) : Stmt(k, l) {}
};

struct Scope final : Stmt {
  explicit Scope(Location l) : Stmt(StmtKind::kScope, l) {}
  Body body;
  Locals locals;
};

struct Template {
  Body body;
  Locals locals;
};

}  // namespace ast
}  // namespace mlxs::template_
