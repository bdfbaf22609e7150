#pragma once
// Python string formatting as templates reach it: `"%s" % x` (and the
// `format` filter), str.format() and format specs ("{:>8.2f}").

#include <string>

#include "core/status.h"
#include "template/value.h"

namespace mlxs::template_ {

class Interpreter;

// printf-style: args is a tuple (positional), a dict (%(name)s) or one value.
// With `escape` (a Markup format), %s and %r arguments are HTML-escaped.
core::Result<std::string> percent_format(Interpreter& in, const std::string& format,
                                         const Value& args, bool escape = false);
// str.format(*args, **kwargs).
core::Result<std::string> brace_format(Interpreter& in, const std::string& format,
                                       const CallArgs& args);
// format(value, spec), Python's format mini-language.
core::Result<std::string> format_value(const Value& value, const std::string& spec);

}  // namespace mlxs::template_
