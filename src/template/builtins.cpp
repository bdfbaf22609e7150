#include "template/builtins.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

#include "template/args.h"
#include "template/interpreter.h"
#include "template/operators.h"

namespace mlxs::template_ {
namespace {

constexpr std::int64_t kMaxRange = 100000;  // jinja2.sandbox.MAX_RANGE

core::Result<Value> b_range(Interpreter& in, const Value&, const CallArgs& args) {
  if (!args.keywords.empty()) return type_error("range() takes no keyword arguments");
  if (args.positional.empty() || args.positional.size() > 3) {
    return type_error("range expected at most 3 arguments, got " +
                      std::to_string(args.positional.size()));
  }
  std::int64_t v[3] = {0, 0, 1};
  for (std::size_t i = 0; i < args.positional.size(); ++i) {
    const Value& a = args.positional[i];
    if (a.is_undefined()) return undefined_error(a);
    if (!a.is_int() && !a.is_bool()) {
      return type_error("'" + type_name(a) + "' object cannot be interpreted as an integer");
    }
  }
  if (args.positional.size() == 1) {
    v[1] = args.positional[0].as_int();
  } else {
    v[0] = args.positional[0].as_int();
    v[1] = args.positional[1].as_int();
    if (args.positional.size() == 3) v[2] = args.positional[2].as_int();
  }
  if (v[2] == 0) return type_error("range() arg 3 must not be zero");
  // Count without overflow: (stop - start) may not fit in int64.
  const double span =
      (static_cast<double>(v[1]) - static_cast<double>(v[0])) / static_cast<double>(v[2]);
  if (span > static_cast<double>(kMaxRange)) {
    return type_error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  }
  List out;
  if (v[2] > 0) {
    for (std::int64_t i = v[0]; i < v[1]; i += v[2]) out.push_back(Value::integer(i));
  } else {
    for (std::int64_t i = v[0]; i > v[1]; i += v[2]) out.push_back(Value::integer(i));
  }
  MLXS_RETURN_IF_ERROR(in.charge(16 * out.size()));
  return Value::list(std::move(out));
}

// namespace(mapping?, **attrs) and dict(mapping?, **items) share their binding.
core::Result<Dict> dict_from_args(std::string_view name, const CallArgs& args) {
  Dict d;
  if (args.positional.size() > 1) {
    return type_error(std::string(name) + " expected at most 1 argument, got " +
                      std::to_string(args.positional.size()));
  }
  if (args.positional.size() == 1) {
    const Value& src = args.positional[0];
    if (src.is_dict()) {
      d = src.as_dict();
    } else if (!src.is_undefined() && !src.is_none() && !src.is_number()) {
      MLXS_ASSIGN_OR_RETURN(auto pairs, iterate_value(src));
      for (const auto& pair : pairs) {
        if (!pair.is_sequence() || pair.as_list().size() != 2) {
          return type_error("dictionary update sequence element has wrong length; 2 is required");
        }
        d.set(pair.as_list()[0], pair.as_list()[1]);
      }
    } else if (src.is_undefined()) {
      return undefined_error(src);
    } else {
      return type_error("'" + type_name(src) + "' object is not iterable");
    }
  }
  for (const auto& [k, v] : args.keywords) d.set(Value::string(k), v);
  return d;
}

core::Result<Value> b_namespace(Interpreter& in, const Value&, const CallArgs& args) {
  auto ns = std::make_shared<Namespace>();
  MLXS_ASSIGN_OR_RETURN(ns->attrs, dict_from_args("namespace", args));
  in.track(ns);
  return Value::ns(std::move(ns));
}

core::Result<Value> b_dict(Interpreter&, const Value&, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto d, dict_from_args("dict", args));
  return Value::dict(std::move(d));
}

core::Result<Value> b_raise_exception(Interpreter& in, const Value&, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("raise_exception", args, {"message"}, 1));
  MLXS_ASSIGN_OR_RETURN(auto text, in.str(b.get(0)));
  return type_error(std::move(text));
}

// datetime.now().strftime(fmt): a naive local time, so %z and %Z are empty
// and %f is the microseconds, as Python does before calling the C library.
core::Result<Value> b_strftime_now(Interpreter& in, const Value&, const CallArgs& args) {
  MLXS_ASSIGN_OR_RETURN(auto b, BoundArgs::bind("strftime_now", args, {"format"}, 1));
  if (!b.get(0).is_string()) {
    return type_error("strftime() argument 1 must be str, not " + type_name(b.get(0)));
  }
  const std::string& format = b.get(0).as_string();
  if (format.size() > 4096) return type_error("strftime format too long");
  const auto now = in.options().now ? in.options().now() : std::chrono::system_clock::now();
  const auto since = now.time_since_epoch();
  const auto secs = std::chrono::floor<std::chrono::seconds>(since);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  const std::time_t t = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  localtime_r(&t, &tm);
  std::string fmt;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      const char c = format[i + 1];
      if (c == 'f') {
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%06lld", static_cast<long long>(micros));
        fmt += buf;
        ++i;
        continue;
      }
      if (c == 'z' || c == 'Z') {
        ++i;
        continue;
      }
      fmt.push_back('%');
      fmt.push_back(c);
      ++i;
      continue;
    }
    fmt.push_back(format[i]);
  }
  if (fmt.empty()) return Value::string("");
  // strftime returns 0 both for "no room" and for an empty result. The
  // format is the template's, as with Python's strftime.
  for (std::size_t size = 256; size <= (1u << 20); size *= 4) {
    std::string out(size, '\0');
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    const std::size_t n = std::strftime(out.data(), out.size(), fmt.c_str(), &tm);
#pragma GCC diagnostic pop
    if (n > 0) {
      out.resize(n);
      return Value::string(std::move(out));
    }
  }
  return Value::string("");
}

std::shared_ptr<Frame> make_builtins() {
  auto frame = std::make_shared<Frame>();
  const auto add = [&](const char* name, Callable::Fn fn) {
    auto c = std::make_shared<Callable>();
    c->kind = Callable::Kind::kBuiltin;
    c->name = name;
    c->fn = fn;
    frame->set(name, Value::callable(std::move(c)));
  };
  add("range", b_range);
  add("namespace", b_namespace);
  add("dict", b_dict);
  add("raise_exception", b_raise_exception);
  add("strftime_now", b_strftime_now);
  return frame;
}

}  // namespace

std::shared_ptr<Frame> builtins_frame() {
  static const std::shared_ptr<Frame> kFrame = make_builtins();
  return kFrame;
}

}  // namespace mlxs::template_
