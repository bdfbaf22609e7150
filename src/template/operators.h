#pragma once
// Python's operators on template values: arithmetic (+ - * / // % **), the
// comparisons, `in`, with Python's results and TypeError messages. Errors
// carry no location; the interpreter adds it.

#include "core/status.h"
#include "template/ast.h"
#include "template/value.h"

namespace mlxs::template_ {

class Interpreter;

core::Result<Value> binary_op(Interpreter& in, ast::BinOp op, const Value& a, const Value& b);
core::Result<Value> negate(const Value& v);
core::Result<Value> positive(const Value& v);
// ==, !=, <, <=, >, >=, in, not in.
core::Result<bool> compare(Interpreter& in, ast::CmpOp op, const Value& a, const Value& b);
// Python's `<` for sorting: true when a < b; TypeError for unorderable pairs.
core::Result<bool> less_than(const Value& a, const Value& b);
core::Result<bool> contains(const Value& container, const Value& item);
// The error an Undefined raises when it is used ("'x' is undefined").
core::Status undefined_error(const Value& v);
// A TemplateError without location.
core::Status type_error(std::string message);

}  // namespace mlxs::template_
